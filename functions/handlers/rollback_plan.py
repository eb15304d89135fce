"""The rollback planner: the next attempt's target, wait and trust checks."""

from __future__ import annotations

from typing import Any

from functions.pipeline import rollback
from functions.pipeline.transitions import Run

from . import clients
from .observability import logger, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return rollback.plan(
        Run.from_event(event),
        int(event.get("max_attempts") or clients.settings().max_rollback_attempts),
        settings=clients.settings(),
        table=clients.table(context.function_name),
        s3=clients.client("s3"),
    )
