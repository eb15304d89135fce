"""The finalizer function: the end of every pipeline path (the state machine's `Finalize` state), and
of every run that ended FAILED, TIMED_OUT or ABORTED (EventBridge's Step Functions status change)."""

from __future__ import annotations

from typing import Any

from functions.pipeline import finalizer

from . import clients
from .observability import logger, metric, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return finalizer.finalize(
        event,
        table=clients.table(context.function_name),
        notify=clients.notifier(),
        metric=metric,
        cloudformation_for=clients.read_only_cloudformation,
        cloud_assembly_for=clients.cloud_assembly,
        stepfunctions=clients.client("stepfunctions"),
        codebuild=clients.client("codebuild"),
        state_machine_arn=clients.settings().state_machine_arn,
    )
