"""The transition function: one action of the lifecycle table (`functions.pipeline.lifecycle`)."""

from __future__ import annotations

from typing import Any

from functions.pipeline import transitions

from . import clients
from .observability import logger, metric, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    run = transitions.Run.from_event(event, needs_action=True)
    logger.append_keys(service_name=run.service, commit_sha=run.commit_sha, environment=run.environment.value)
    result = transitions.apply(run, clients.table(context.function_name), clients.notifier(), metric)
    logger.info("transition", extra={"result": result})
    return result
