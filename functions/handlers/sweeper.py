"""EventBridge Scheduler, every 2 minutes -> one sweep of the `sweep-by-age` index (the Global Artifact
Sweeper and its Execution Watchdog, `functions.pipeline.sweeper`). The schedule's input is ignored: the
clock is the function's own, never the caller's."""

from __future__ import annotations

from typing import Any

from functions.pipeline.sweeper import SweeperClients, sweep

from . import clients
from .observability import logger, metric, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = sweep(
        SweeperClients(
            settings=clients.settings(),
            table=clients.table(),
            sfn=clients.client("stepfunctions"),
            s3=clients.client("s3"),
            notify=clients.notifier(),
            metric=metric,
        )
    )
    if result["corrections"]:
        logger.info("sweeper corrected", extra={"corrections": result["corrections"]})
    return result
