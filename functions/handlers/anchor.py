"""EventBridge Scheduler, every 10 minutes -> one anchor of the audit chain to the anchors bucket, the
`audit-anchor-publish` topic and CloudTrail Lake (`functions.audit.anchors`). The schedule's input is
ignored: the clock is the function's own. A destination that refused fails the invocation (after the
others were written), so the function's error alarm fires."""

from __future__ import annotations

from typing import Any

from functions.audit.anchor_io import AnchorSources, bucket_destination, cloudtrail_destination, topic_destination
from functions.audit.anchors import publish_anchor
from functions.naming import ToolsNames
from functions.pipeline.settings import FunctionSettings, SettingsError

from . import clients
from .observability import logger, metrics, tracer

ANCHOR_VARIABLES = {
    "anchor_bucket": "ANCHOR_BUCKET",
    "anchor_topic_arn": "ANCHOR_TOPIC_ARN",
    "anchor_channel_arn": "ANCHOR_CHANNEL_ARN",
}


def anchor_settings() -> FunctionSettings:
    """The settings, with the anchor's destinations (the program writes them for this function alone)."""
    settings = clients.settings()
    for field, variable in ANCHOR_VARIABLES.items():
        if not getattr(settings, field):
            raise SettingsError(f"environment variable {variable} is required: the anchor function writes there")
    return settings


anchor_settings()  # at cold start: a misconfigured function fails here, naming the variable


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = anchor_settings()
    s3 = clients.client("s3")
    actor = ToolsNames(settings.name_prefix, settings.tools_account_id, settings.region).function_arn("anchor")
    published = publish_anchor(
        AnchorSources(clients.client("dynamodb"), s3, settings.anchor_bucket, table=settings.audit_table_name),
        [
            bucket_destination(s3, settings.anchor_bucket),
            topic_destination(clients.client("sns"), settings.anchor_topic_arn),
            cloudtrail_destination(
                clients.client("cloudtrail-data"), settings.anchor_channel_arn, settings.tools_account_id, actor
            ),
        ],
    )
    logger.info("audit chain anchored", extra=published.result())
    return published.result()
