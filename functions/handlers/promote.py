"""The promote function: stage tests passed, the artifact becomes a release."""

from __future__ import annotations

from typing import Any

from functions.pipeline import promote as core
from functions.pipeline.transitions import Run

from . import clients
from .observability import logger, metric, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return core.promote(
        Run.from_event(event),
        settings=clients.settings(),
        table=clients.table(context.function_name),
        s3=clients.client("s3"),
        keys=clients.service_keys(),
        notify=clients.notifier(),
        metric=metric,
    )
