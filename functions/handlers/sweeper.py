"""EventBridge Scheduler, every 2 minutes -> one sweep of the `sweep-by-age` index (the Global Artifact
Sweeper and its Execution Watchdog, `functions.pipeline.sweeper`). The schedule's input is ignored: the
clock is the function's own, never the caller's."""

from __future__ import annotations

from typing import Any

from functions.naming import ToolsNames
from functions.pipeline.sweeper import SweeperClients, finalize_through, sweep

from . import clients
from .observability import logger, metric, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = clients.settings()
    finalizer = ToolsNames(settings.name_prefix, settings.tools_account_id, settings.region).function_arn("finalizer")
    result = sweep(
        SweeperClients(
            settings=settings,
            table=clients.table(context.function_name),
            sfn=clients.client("stepfunctions"),
            s3=clients.client("s3"),
            notify=clients.notifier(),
            metric=metric,
            reconcile=finalize_through(clients.client("lambda"), finalizer, settings.state_machine_arn),
        )
    )
    if result["corrections"]:
        logger.info("sweeper corrected", extra={"corrections": result["corrections"]})
    return result
