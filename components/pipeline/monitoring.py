"""Who is told when the pipeline goes wrong: the alert topic's customer-managed key (`AlertKey`,
declared before the roles that are granted it), and `PipelineMonitoring`: the alarms
(`alarms.alarm_specs`), the alert rules on the custom bus, the topic policy that lets both publish,
the dashboard (`dashboard.dashboard_body`) and the log of every event of the bus (`event_log`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.kms import kms_key
from components.pipeline.alarms import AlarmSpec, alarm_specs
from components.pipeline.common import LogSettings
from components.pipeline.dashboard import dashboard_body
from components.pipeline.event_log import event_log
from components.policies.monitoring import alarm_name, alert_topic_policy, alerts_key_alias, alerts_key_policy
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import EVENT_SOURCE, Environment, Event
from stack_config.alarms import AlarmThresholds

KEY_TYPE = "cdk-control-plane:pipeline:AlertKey"
TYPE = "cdk-control-plane:pipeline:PipelineMonitoring"


@dataclass(frozen=True)
class AlertRule:
    """Events on the custom bus that page: the event type, detail filters beyond it, what the on-call
    engineer does, and detail fields the message shows first (present in every event the rule matches:
    EventBridge leaves out a variable whose path is missing)."""

    event: Event
    detail: Mapping[str, Any]
    action: str
    fields: tuple[str, ...] = ()


PROD = {"environment": [Environment.PROD.value]}
ALERT_RULES: dict[str, AlertRule] = {
    "invalid-artifact": AlertRule(
        Event.INVALID_ARTIFACT,
        {},
        "an artifact was refused (signature, provenance, hashes, prefix): check the service's CI and treat "
        "repeated refusals of one service as an attack; intake's refusals also arrive as their own message "
        "('Artifact refused at intake')",
    ),
    "rollback-failed": AlertRule(
        Event.ROLLBACK_FAILED,
        {},
        "prod may be broken (every rollback attempt failed, or the watchdog stopped a stuck rollback): bring "
        "the service's prod stacks back to the last known good commit by hand, then ship the fix as a new "
        "commit (signed overrides are issue 11, not built yet); the function's own 'CRITICAL: rollback' message "
        "arrives too",
    ),
    "stuck-pipeline": AlertRule(
        Event.STUCK_PIPELINE_TERMINATED,
        {},
        "the watchdog stopped a run that made no progress for 65 minutes. requeued true: the next sweep starts "
        "the next attempt; read the stopped run's execution history, a second stop of the same artifact needs "
        "a person. requeued false: it was a rollback, never requeued: act on the RollbackFailed alert",
        fields=("requeued",),
    ),
    "prod-deploy-failed": AlertRule(
        Event.DEPLOY_FAILED,
        {**PROD, "retryable": [{"exists": False}]},
        "a prod run failed, read detail.reason: a failed or timed-out deploy rolls back (RollbackInitiated, "
        "then RollbackSucceeded or a RollbackFailed alert); drift detected, an asset hash mismatch or a refused "
        "artifact deployed nothing and roll nothing back: fix the cause, then ship a new commit",
    ),
    "prod-deploy-retrying": AlertRule(
        Event.DEPLOY_FAILED,
        # Not phase lock_wait: a release queued behind a long run of its service would page every 10 minutes
        # (waiting is not failing: only leased attempts count, and the event log keeps every wait).
        {**PROD, "retryable": [True], "phase": [{"anything-but": ["lock_wait"]}]},
        "a prod run stopped before deploying anything (drift_check: the drift check gave no answer; validate or "
        "deploy: an AWS call failed): the release stays pending and the sweeper starts the next attempt; act "
        "only when attempts run out (the 'parked' message and the prod-parked alarm)",
        fields=("phase", "retryable"),
    ),
    "prod-deploy-superseded": AlertRule(
        Event.DEPLOY_FAILED,
        {**PROD, "retryable": [False], "phase": ["prod_ordering"]},
        "phase prod_ordering: a newer build is already in prod, this release never deploys; nothing to do "
        "unless the older build should win (ship it as a new commit). A release parked for a person (phase "
        "sweeper or finalizer) is its own 'parked' message and the prod-parked alarm, not this rule",
        fields=("phase", "retryable"),
    ),
}


def alert_pattern(event: Event, detail: Mapping[str, Any]) -> str:
    pattern: dict[str, Any] = {"source": [EVENT_SOURCE], "detail-type": [event.value]}
    if detail:
        pattern["detail"] = dict(detail)
    return json.dumps(pattern, sort_keys=True)


def alert_message(action: str, fields: tuple[str, ...] = ()) -> aws.cloudwatch.EventTargetInputTransformerArgs:
    """A readable alert: which event, when, what to do, the fields `fields` first, and the event's whole
    detail."""
    paths = {"alert": "$.detail-type", "time": "$.time", **{f: f"$.detail.{f}" for f in fields}, "detail": "$.detail"}
    shown = "".join(f'"{f}": <{f}>, ' for f in fields)
    return aws.cloudwatch.EventTargetInputTransformerArgs(
        input_paths=paths,
        input_template='{"alert": <alert>, "time": <time>, "onCall": '
        + json.dumps(action)
        + ", "
        + shown
        + '"detail": <detail>}',
    )


@dataclass(frozen=True)
class AlertKeyArgs:
    names: ToolsNames
    protect: bool


class AlertKey(pulumi.ComponentResource):
    """The critical-alerts topic's key (rotating yearly): its ARN goes into the publishing functions'
    policies, which exist before the pipeline that declares the topic."""

    arn: pulumi.Output[str]

    def __init__(self, name: str, args: AlertKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(KEY_TYPE, name, None, opts)
        key = kms_key(
            name,
            alias=alerts_key_alias(args.names),
            description="the critical-alerts topic: CloudWatch alarms, alert rules and the pipeline's functions",
            policy=alerts_key_policy(args.names),
            parent=self,
            protect=args.protect,
        )
        self.arn = key.arn
        self.register_outputs({"arn": self.arn})


@dataclass(frozen=True)
class PipelineMonitoringArgs:
    names: ToolsNames
    thresholds: AlarmThresholds
    alert_topic_arn: pulumi.Input[str]
    event_bus_name: pulumi.Input[str]
    logs: LogSettings | None = None  # where every event of the bus is kept (`event_log`)


def metric_alarm(
    resource_name: str, names: ToolsNames, spec: AlarmSpec, topic: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> aws.cloudwatch.MetricAlarm:
    """One alarm from its spec: a single metric (a percentile is an extended statistic) or metric math."""
    metric: dict[str, Any] = {}
    if spec.queries:
        metric["metric_queries"] = [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                **{k: v for k, v in q.items() if k != "metric"},
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(**q["metric"]) if "metric" in q else None,
            )
            for q in spec.queries
        ]
    else:
        percentile = spec.statistic is not None and spec.statistic.startswith("p")
        metric.update(
            namespace=spec.namespace,
            metric_name=spec.metric,
            dimensions=dict(spec.dimensions),
            period=spec.period,
            **({"extended_statistic": spec.statistic} if percentile else {"statistic": spec.statistic}),
        )
    return aws.cloudwatch.MetricAlarm(
        resource_name,
        name=alarm_name(names, spec.kind),
        alarm_description=spec.description,
        comparison_operator=spec.comparison,
        threshold=spec.threshold,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data=spec.missing_data,
        alarm_actions=[topic],
        ok_actions=[topic] if spec.notify_ok else [],
        **metric,
        opts=opts,
    )


class PipelineMonitoring(pulumi.ComponentResource):
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names, topic = args.names, args.alert_topic_arn
        child = pulumi.ResourceOptions(parent=self)

        for spec in alarm_specs(names, args.thresholds):
            metric_alarm(f"{name}-alarm-{spec.kind}", names, spec, topic, child)

        rules = []
        for kind, alert in ALERT_RULES.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-alert-{kind}",
                event_bus_name=args.event_bus_name,
                description=f"{alert.event.value} ({kind}) to the critical-alerts topic",
                event_pattern=alert_pattern(alert.event, alert.detail),
                opts=child,
            )
            rules.append(rule)
            aws.cloudwatch.EventTarget(
                f"{name}-alert-{kind}-target",
                rule=rule.name,
                event_bus_name=args.event_bus_name,
                arn=topic,
                input_transformer=alert_message(alert.action, alert.fields),
                opts=child,
            )
        aws.sns.TopicPolicy(
            f"{name}-alerts-policy",
            arn=topic,
            policy=pulumi.Output.json_dumps(alert_topic_policy(names, topic, [r.arn for r in rules])),
            opts=child,
        )
        if args.logs is not None:
            event_log(name, names, args.event_bus_name, args.logs, child)
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=f"{names.prefix}-control-plane",
            dashboard_body=json.dumps(dashboard_body(names), sort_keys=True),
            opts=child,
        )
        self.dashboard_name = dashboard.dashboard_name
        self.register_outputs({"dashboard_name": self.dashboard_name})
