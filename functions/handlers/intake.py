"""S3 `Object Created` (via EventBridge) for a manifest in the candidate bucket -> verified, recorded as
a candidate, and the stage run started; or refused with a reason (`functions.pipeline.intake`)."""

from __future__ import annotations

from typing import Any

from functions.pipeline.intake import IntakeClients, intake

from . import clients
from .observability import logger, metric, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = intake(
        event,
        IntakeClients(
            settings=clients.settings(),
            catalog=clients.catalog(),
            s3=clients.client("s3"),
            keys=clients.service_keys(),
            table=clients.table(context.function_name),
            sfn=clients.client("stepfunctions"),
            notify=clients.notifier(),
            metric=metric,
        ),
    )
    if not result["accepted"]:
        logger.warning("manifest refused at intake", extra=result)
    return result
