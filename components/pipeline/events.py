"""Where the pipeline's events go and come from: the custom EventBridge bus the spec's events go to,
the critical-alerts topic, the dead-letter queue of failed asynchronous invocations, and the triggers:
a manifest landing in the candidate bucket goes to intake (it verifies it, creates the candidate item
and starts the stage run), one landing in the release bucket (written by promotion) to the dispatcher
(it starts the prod run); a run that ended FAILED, TIMED_OUT or ABORTED to the finalizer (`endings.py`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.pipeline.common import adopted, rule_invokes_function
from components.pipeline.endings import finalizer_on_endings
from components.policies.common import document, statement
from functions import naming
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import Environment

EVENTS_TYPE = "cdk-control-plane:pipeline:PipelineEvents"
TRIGGERS_TYPE = "cdk-control-plane:pipeline:PipelineTriggers"
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class PipelineEventsArgs:
    names: ToolsNames
    alert_email_addresses: Sequence[str]  # subscribed to critical alerts
    alert_key_arn: pulumi.Input[str]  # the topic's customer-managed key (monitoring.AlertKey)


class PipelineEvents(pulumi.ComponentResource):
    event_bus_name: pulumi.Output[str]
    alert_topic_arn: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineEventsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(EVENTS_TYPE, name, None, opts)
        names = args.names
        child = adopted(self, opts)

        bus = aws.cloudwatch.EventBus(f"{name}-bus", name=names.event_bus_name, opts=child)
        topic = aws.sns.Topic(
            f"{name}-alerts", name=names.alert_topic_name, kms_master_key_id=args.alert_key_arn, opts=child
        )
        for i, address in enumerate(args.alert_email_addresses):
            aws.sns.TopicSubscription(
                f"{name}-alerts-{i}", topic=topic.arn, protocol="email", endpoint=address, opts=child
            )
        dead_letters = aws.sqs.Queue(
            f"{name}-dlq",
            name=names.dead_letter_queue_name,
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            opts=child,
        )

        self.event_bus_name = bus.name
        self.alert_topic_arn = topic.arn
        self.dead_letter_queue_arn = dead_letters.arn
        self.dead_letter_queue_url = dead_letters.url
        self.register_outputs(
            {
                "event_bus_name": self.event_bus_name,
                "alert_topic_arn": self.alert_topic_arn,
                "dead_letter_queue_arn": self.dead_letter_queue_arn,
            }
        )


@dataclass(frozen=True)
class PipelineTriggersArgs:
    names: ToolsNames
    dispatcher_arn: pulumi.Input[str]  # release manifests: the prod run
    dispatcher_name: pulumi.Input[str]
    intake_arn: pulumi.Input[str]  # candidate manifests: verified, recorded, the stage run
    intake_name: pulumi.Input[str]
    dead_letter_queue_arn: pulumi.Input[str]  # undeliverable trigger events land here
    dead_letter_queue_url: pulumi.Input[str]
    # Executions of this state machine that ended FAILED, TIMED_OUT or ABORTED go to the finalizer
    # (`endings.finalizer_on_endings`).
    state_machine_arn: pulumi.Input[str] | None = None
    finalizer_arn: pulumi.Input[str] | None = None
    finalizer_name: pulumi.Input[str] | None = None


def manifest_uploaded(bucket: str) -> str:
    """The event pattern of an artifact manifest written to `bucket` (it is written last)."""
    return json.dumps(
        {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": [bucket]},
                "object": {"key": [{"suffix": f"/{naming.MANIFEST_NAME}"}]},
            },
        },
        sort_keys=True,
    )


class PipelineTriggers(pulumi.ComponentResource):
    def __init__(self, name: str, args: PipelineTriggersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TRIGGERS_TYPE, name, None, opts)
        child = adopted(self, opts)

        rules = []
        receivers = {
            Environment.STAGE: ("intake", args.intake_arn, args.intake_name),
            Environment.PROD: ("the dispatcher", args.dispatcher_arn, args.dispatcher_name),
        }
        for environment in Environment:
            bucket = args.names.artifact_bucket(environment)
            receiver, function_arn, function_name = receivers[environment]
            rule = aws.cloudwatch.EventRule(
                f"{name}-trigger-{environment}",
                description=f"artifact manifest uploaded to {bucket}: {receiver} starts the {environment} pipeline",
                event_pattern=manifest_uploaded(bucket),
                opts=child,
            )
            rules.append(rule)
            rule_invokes_function(
                f"{name}-trigger-{environment}",
                rule,
                function_arn=function_arn,
                function_name=function_name,
                dead_letter_queue_arn=args.dead_letter_queue_arn,
                maximum_event_age_seconds=3600,
                maximum_retry_attempts=10,
                opts=child,
            )

        if args.state_machine_arn is not None:
            rules.append(
                finalizer_on_endings(
                    name,
                    state_machine_arn=args.state_machine_arn,
                    finalizer_arn=args.finalizer_arn,
                    finalizer_name=args.finalizer_name,
                    dead_letter_queue_arn=args.dead_letter_queue_arn,
                    opts=child,
                )
            )

        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=args.dead_letter_queue_url,
            policy=pulumi.Output.json_dumps(
                document(
                    statement(
                        "TriggerRulesDeadLetters",
                        ["sqs:SendMessage"],
                        [args.dead_letter_queue_arn],
                        principal={"Service": "events.amazonaws.com"},
                        conditions={"ArnLike": {"aws:SourceArn": [r.arn for r in rules]}},
                    )
                )
            ),
            opts=child,
        )
        self.register_outputs({})
