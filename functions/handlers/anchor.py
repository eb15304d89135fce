"""EventBridge Scheduler, every 10 minutes -> one anchor of the audit chain to the anchors bucket, the
`audit-anchor-publish` topic and CloudTrail Lake (`functions.audit.anchors`), or to the bucket and the
topic alone where the stack leaves the Lake out (`auditAnchorCloudTrailLake: false`, which the program
writes down as `ANCHOR_CLOUDTRAIL=off`). The schedule's input is ignored: the clock is the function's own.
A destination that refused fails the invocation (after the others were written), so the function's error
alarm fires."""

from __future__ import annotations

from typing import Any

from functions.audit.anchor_io import AnchorSources, bucket_destination, cloudtrail_destination, topic_destination
from functions.audit.anchors import Destination, publish_anchor
from functions.naming import ToolsNames
from functions.pipeline.settings import ANCHOR_CLOUDTRAIL_OFF, FunctionSettings, SettingsError

from . import clients
from .observability import logger, metrics, tracer

ANCHOR_VARIABLES = {"anchor_bucket": "ANCHOR_BUCKET", "anchor_topic_arn": "ANCHOR_TOPIC_ARN"}
CHANNEL_VARIABLE = "ANCHOR_CHANNEL_ARN"


def lake_left_out(settings: FunctionSettings) -> bool:
    return settings.anchor_cloudtrail == ANCHOR_CLOUDTRAIL_OFF


def anchor_settings() -> FunctionSettings:
    """The settings, with the anchor's destinations (the program writes them for this function alone). The
    bucket and the topic are always required; the channel unless the program said `ANCHOR_CLOUDTRAIL=off`:
    a channel merely missing is a misconfiguration, and an anchor silently kept out of the Lake would look
    like a choice nobody made."""
    settings = clients.settings()
    for field, variable in ANCHOR_VARIABLES.items():
        if not getattr(settings, field):
            raise SettingsError(f"environment variable {variable} is required: the anchor function writes there")
    if lake_left_out(settings) and settings.anchor_channel_arn:
        raise SettingsError(
            f"environment variables ANCHOR_CLOUDTRAIL={ANCHOR_CLOUDTRAIL_OFF} and {CHANNEL_VARIABLE} contradict "
            "each other: the program writes one or the other (auditAnchorCloudTrailLake)"
        )
    if not lake_left_out(settings) and not settings.anchor_channel_arn:
        raise SettingsError(
            f"environment variable {CHANNEL_VARIABLE} is required: the anchor function writes there (unless "
            f"ANCHOR_CLOUDTRAIL={ANCHOR_CLOUDTRAIL_OFF}, which the program writes when auditAnchorCloudTrailLake "
            "is false)"
        )
    return settings


anchor_settings()  # at cold start: a misconfigured function fails here, naming the variable


def destinations(settings: FunctionSettings, s3: Any) -> list[Destination]:
    """The bucket and the topic, and CloudTrail Lake unless the stack leaves it out."""
    chosen = [
        bucket_destination(s3, settings.anchor_bucket),
        topic_destination(clients.client("sns"), settings.anchor_topic_arn),
    ]
    if not lake_left_out(settings):
        actor = ToolsNames(settings.name_prefix, settings.tools_account_id, settings.region).function_arn("anchor")
        chosen.append(
            cloudtrail_destination(
                clients.client("cloudtrail-data"), settings.anchor_channel_arn, settings.tools_account_id, actor
            )
        )
    return chosen


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = anchor_settings()
    s3 = clients.client("s3")
    chosen = destinations(settings, s3)
    published = publish_anchor(
        AnchorSources(clients.client("dynamodb"), s3, settings.anchor_bucket, table=settings.audit_table_name),
        chosen,
    )
    # which destinations this run used, and which the stack leaves out: an operator reading the log sees why
    # an anchor is not in CloudTrail Lake
    result = {
        **published.result(),
        "destinations": [d.name for d in chosen],
        "left_out": ["cloudtrail"] if lake_left_out(settings) else [],
    }
    logger.info("audit chain anchored", extra=result)
    return result
