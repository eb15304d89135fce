"""Logger, metrics and tracer shared by every handler (Powertools for AWS Lambda)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from functions.pipeline.lifecycle import METRICS_NAMESPACE, SECONDS_METRICS

logger = Logger(service="cdk-control-plane")
metrics = Metrics(namespace=METRICS_NAMESPACE, service="cdk-control-plane")
tracer = Tracer(service="cdk-control-plane")


def metric(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Seconds if name in SECONDS_METRICS else MetricUnit.Count, value=value)
