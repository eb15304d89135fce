"""S3 `Object Created` (via EventBridge) for `*/artifact-manifest.json` -> one pipeline execution."""

from __future__ import annotations

from typing import Any

from functions.pipeline import dispatch

from . import clients
from .observability import logger, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch.dispatch(event, settings=clients.settings(), sfn=clients.client("stepfunctions"))
