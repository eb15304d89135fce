"""The Validate function: every manifest check against the artifact as stored."""

from __future__ import annotations

from typing import Any

from functions.pipeline import validate as core
from functions.pipeline.transitions import Run

from . import clients
from .observability import logger, metric, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # InvalidArtifact propagates: its class name is the error the state machine catches.
    return core.validate(
        Run.from_event(event),
        settings=clients.settings(),
        catalog=clients.catalog(),
        keys=clients.service_keys(),
        table=clients.table(context.function_name),
        s3=clients.client("s3"),
        context_public_key_pem=clients.context_public_key_pem,
        metric=metric,
    )
