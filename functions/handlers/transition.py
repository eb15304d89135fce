from __future__ import annotations

from typing import Any

from functions.pipeline import transitions

from . import clients
from .observability import logger, metric, metrics, tracer


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = transitions.Request.from_event(event)
    logger.append_keys(service_name=request.service, commit_sha=request.commit_sha, environment=request.environment)
    result = transitions.apply(request, clients.table(), clients.notifier(), metric)
    logger.info("transition", extra={"result": result})
    return result
