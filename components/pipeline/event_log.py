"""Every event the control plane puts on its custom bus, kept: a rule on the bus (source
`cdk-control-plane`) to a CloudWatch Logs group, so that the on-call actions that say "read the
FinalizerCorrectedMetadata / TestFailed / StuckPipelineTerminated events" have events to read (Logs
Insights, README "Operations").

EventBridge writes to a log group through a CloudWatch Logs resource policy (not an IAM role), and only
to a group whose name starts with `/aws/events/`. The policy lets `events.amazonaws.com` and
`delivery.logs.amazonaws.com` create streams and put events in this group only, for this rule only
(`aws:SourceArn`). The group has the retention and the log key of every other pipeline group."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.pipeline.common import LogSettings, log_group
from components.policies.common import document, statement
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import EVENT_SOURCE

WRITERS = ("events.amazonaws.com", "delivery.logs.amazonaws.com")


def event_log_group_name(names: ToolsNames) -> str:
    return f"/aws/events/{names.prefix}-control-plane"


def event_log_policy(group_arn: str, rule_arn: pulumi.Input[str]) -> dict:
    """EventBridge (and its log delivery) writes this rule's events into this group, nothing else."""
    return document(
        statement(
            "ControlPlaneEventsToLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"{group_arn}:*"],
            principal={"Service": list(WRITERS)},
            conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
        )
    )


def event_log(
    name: str, names: ToolsNames, event_bus_name: pulumi.Input[str], logs: LogSettings, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.LogGroup:
    group_name = event_log_group_name(names)
    group = log_group(f"{name}-event-log-group", group_name, logs, opts)
    rule = aws.cloudwatch.EventRule(
        f"{name}-event-log",
        event_bus_name=event_bus_name,
        description=f"every event of the control plane to {group_name}",
        event_pattern=json.dumps({"source": [EVENT_SOURCE]}),
        opts=opts,
    )
    group_arn = names.log_group_arn(group_name)
    policy = aws.cloudwatch.LogResourcePolicy(
        f"{name}-event-log-policy",
        policy_name=f"{names.prefix}-control-plane-events",
        policy_document=pulumi.Output.json_dumps(event_log_policy(group_arn, rule.arn)),
        opts=opts,
    )
    aws.cloudwatch.EventTarget(
        f"{name}-event-log-target",
        rule=rule.name,
        event_bus_name=event_bus_name,
        arn=group.arn.apply(lambda arn: arn.removesuffix(":*")),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[policy])),
    )
    return group
