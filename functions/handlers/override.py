"""The override function: one signed operator request (`functions.overrides.apply.submit`), invoked
synchronously by `artifactctl override submit` with `{"request": "<the request's JSON text>"}`."""

from __future__ import annotations

from typing import Any

from functions.overrides.apply import Deps, submit

from . import clients
from .observability import logger, metrics, tracer

clients.settings()  # at cold start: a misconfigured function fails here, naming the variable


def deps(function_name: str) -> Deps:
    return Deps(
        settings=clients.settings(),
        table=clients.table(function_name),
        sfn=clients.client("stepfunctions"),
        ssm=clients.client("ssm"),
        s3=clients.client("s3"),
        audit=clients.client("dynamodb"),
        notify=clients.notifier(),
        public_key=clients.override_public_key,
        anchor_topic_arn=clients.settings().anchor_topic_arn,
    )


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    text = event.get("request") if isinstance(event, dict) else None
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    outcome = submit(text, deps(context.function_name)).to_dict()
    logger.info("override", extra={"outcome": outcome})
    return outcome
