"""The control plane's CloudWatch dashboard as plain data (`dashboard_body` is pure, no Pulumi): the
spec's seven metrics (TestFailureRate as its trailing 7-day rate), the runs by status, the sweeper's
in-flight and stuck gauges and its corrections, and the dead-letter queue."""

from __future__ import annotations

from typing import Any

from components.pipeline.alarms import SERVICE_DIMENSIONS, WEEK
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import METRICS_NAMESPACE, Metric

WIDTH, HEIGHT, COLUMNS = 8, 6, 3
EXECUTION_STATUSES = ("ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")


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
    for i, widget in enumerate(widgets):
        widget.update(x=(i % COLUMNS) * WIDTH, y=(i // COLUMNS) * HEIGHT, width=WIDTH, height=HEIGHT)
    return {"widgets": widgets}
