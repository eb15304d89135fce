"""The control plane's CloudWatch dashboard as plain data (`dashboard_body` is pure, no Pulumi): the
spec's seven metrics (TestFailureRate as its trailing 7-day rate), the runs by status, the sweeper's
in-flight and stuck gauges and its corrections, and the dead-letter queue; then the spec's audit
dashboard: deployment history, overrides and rollbacks (Logs Insights over the event log, every event of
the bus), and the audit anchor function's health."""

from __future__ import annotations

from typing import Any

from components.pipeline.alarms import ANCHOR_SILENCE_SECONDS, SERVICE_DIMENSIONS, WEEK
from components.pipeline.event_log import event_log_group_name
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import METRICS_NAMESPACE, Event, Metric

WIDTH, HEIGHT, COLUMNS = 8, 6, 3
EXECUTION_STATUSES = ("ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")
DEPLOYMENT_EVENTS = (Event.DEPLOY_SUCCEEDED, Event.DEPLOY_FAILED, Event.ARTIFACT_PROMOTED, Event.INVALID_ARTIFACT)
OVERRIDE_EVENTS = (
    Event.OVERRIDE_REQUESTED,
    Event.OVERRIDE_APPLIED,
    Event.ROLLBACK_INITIATED,
    Event.ROLLBACK_SUCCEEDED,
    Event.ROLLBACK_FAILED,
    Event.STUCK_PIPELINE_TERMINATED,
    Event.SWEEPER_CORRECTED,
    Event.FINALIZER_CORRECTED_METADATA,
)


def _custom(metric: Metric, stat: str, label: str | None = None) -> list[Any]:
    ((dimension, value),) = SERVICE_DIMENSIONS.items()
    return [METRICS_NAMESPACE, metric.value, dimension, value, {"stat": stat, "label": label or metric.value}]


def _widget(title: str, metrics: list[list[Any]], region: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": region,
            "metrics": metrics,
            "view": "timeSeries",
            "period": 300,
            **properties,
        },
    }


def _test_failure_rate(region: str) -> dict[str, Any]:
    """One number: SUM / SAMPLE_COUNT of the 0/1 outcomes over the last 7 days."""
    ((dimension, value),) = SERVICE_DIMENSIONS.items()
    outcome = [METRICS_NAMESPACE, Metric.TEST_FAILURE_RATE.value, dimension, value]
    return _widget(
        "TestFailureRate (trailing 7 days)",
        [
            [{"expression": "IF(tests > 0, failures / tests, 0)", "label": "failed share of tests", "id": "rate"}],
            [*outcome, {"stat": "Sum", "id": "failures", "visible": False}],
            [*outcome, {"stat": "SampleCount", "id": "tests", "visible": False}],
        ],
        region,
        view="singleValue",
        period=WEEK,
        start="-P7D",
        setPeriodToTimeRange=True,
    )


def dashboard_body(names: ToolsNames) -> dict[str, Any]:
    region = names.region
    widgets = [
        _widget(
            "DeployLatency (candidate built to prod, seconds)",
            [_custom(Metric.DEPLOY_LATENCY, "p90", "p90"), _custom(Metric.DEPLOY_LATENCY, "Maximum", "max")],
            region,
            period=3600,
        ),
        _widget(
            "RollbackLatency (test failure to rollback done, seconds)",
            [_custom(Metric.ROLLBACK_LATENCY, "Maximum", "max"), _custom(Metric.ROLLBACK_LATENCY, "Average", "avg")],
            region,
            period=3600,
        ),
        _test_failure_rate(region),
        _widget(
            "Failures: rollbacks failed, asset hash mismatches",
            [_custom(Metric.ROLLBACK_FAILURE_RATE, "Sum"), _custom(Metric.ASSET_HASH_MISMATCH, "Sum")],
            region,
        ),
        _widget(
            "Corrections: finalizer, sweeper",
            [_custom(Metric.FINALIZER_CORRECTED, "Sum"), _custom(Metric.SWEEPER_CORRECTIONS, "Sum")],
            region,
        ),
        _widget(
            "Waiting for a person: candidates never promoted, releases parked in prod",
            [_custom(Metric.ARTIFACT_NEVER_PROMOTED, "Maximum"), _custom(Metric.PROD_PARKED, "Maximum")],
            region,
        ),
        _widget(
            "Pipeline runs by status",
            [
                ["AWS/States", status, "StateMachineArn", names.state_machine_arn, {"stat": "Sum", "label": status}]
                for status in EXECUTION_STATUSES
            ],
            region,
            stacked=True,
        ),
        _widget(
            "Runs in flight and stuck (sweeper)",
            [_custom(Metric.EXECUTIONS_IN_FLIGHT, "Maximum"), _custom(Metric.EXECUTIONS_STUCK, "Maximum")],
            region,
        ),
        _widget(
            "Dead-letter queue depth",
            [
                [
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    "QueueName",
                    names.dead_letter_queue_name,
                    {"stat": "Maximum", "label": "messages"},
                ]
            ],
            region,
        ),
    ]
    widgets += _audit_widgets(names)
    for i, widget in enumerate(widgets):
        widget.update(x=(i % COLUMNS) * WIDTH, y=(i // COLUMNS) * HEIGHT, width=WIDTH, height=HEIGHT)
    return {"widgets": widgets}


def events_query(names: ToolsNames, events: tuple[Event, ...]) -> str:
    """Logs Insights over the event log: the latest of `events`, newest first, one row each."""
    wanted = ", ".join(f'"{e.value}"' for e in events)
    return (
        f"SOURCE '{event_log_group_name(names)}' | fields @timestamp, `detail-type` as event, detail.service as "
        "service, detail.commit_sha as commit, detail.environment as environment, detail.reason as reason"
        f" | filter `detail-type` in [{wanted}] | sort @timestamp desc | limit 100"
    )


def _log_widget(title: str, query: str, region: str) -> dict[str, Any]:
    return {"type": "log", "properties": {"title": title, "region": region, "query": query, "view": "table"}}


def _anchor_metric(names: ToolsNames, metric: str, label: str) -> list[Any]:
    return ["AWS/Lambda", metric, "FunctionName", names.function_name("anchor"), {"stat": "Sum", "label": label}]


def _audit_widgets(names: ToolsNames) -> list[dict[str, Any]]:
    """The spec's audit dashboard: what was deployed, what was overridden or rolled back, and whether the
    chain is being anchored (runs, errors, throttles of the anchor function: one run every 10 minutes)."""
    region = names.region
    return [
        _log_widget("Audit: deployment history (event log)", events_query(names, DEPLOYMENT_EVENTS), region),
        _log_widget("Audit: overrides, rollbacks, corrections", events_query(names, OVERRIDE_EVENTS), region),
        _widget(
            "Audit anchors: runs (3 per 30 minutes), failures",
            [
                _anchor_metric(names, "Invocations", "runs"),
                _anchor_metric(names, "Errors", "failed (a destination refused)"),
                _anchor_metric(names, "Throttles", "throttled"),
            ],
            region,
            period=ANCHOR_SILENCE_SECONDS,
        ),
    ]
