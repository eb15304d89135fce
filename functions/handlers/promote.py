from __future__ import annotations

from typing import Any

from functions.pipeline import promote as core

from . import clients
from .observability import logger, metrics, tracer


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return core.promote(
        event["service"],
        event["commit_sha"],
        event["execution_id"],
        settings=clients.settings(),
        table=clients.table(),
        s3=clients.client("s3"),
        notify=clients.notifier(),
    )
