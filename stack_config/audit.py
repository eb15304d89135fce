"""Settings of the audit chain's anchors (`auditAnchorRetention:` in the tools stack). No Pulumi import:
used by the program, the offline preview and the tests."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_ANCHOR_RETENTION_DAYS = 3653  # ten years: also the longest CloudTrail Lake keeps an event


class AnchorRetention(BaseModel):
    """Object Lock default retention of every anchor in the anchors bucket (the CloudTrail Lake store keeps
    its events as long, at least its minimum of 7 days). GOVERNANCE: a principal granted
    s3:BypassGovernanceRetention could shorten it (the bucket policy denies that action to everyone);
    COMPLIANCE: nobody, the root user included, until the days have passed."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True)

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    days: int = Field(default=365, ge=1, le=MAX_ANCHOR_RETENTION_DAYS)
