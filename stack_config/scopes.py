"""Settings only one account role's stack reads. Set in another stack they would be silently ignored, so
they are refused there, naming the key."""

from __future__ import annotations

from collections.abc import Collection

# field -> its key: the sweeper's settings, the alarms and the audit anchors live in the tools account
TOOLS_ONLY = {
    "max_attempts": "maxAttempts",
    "artifact_never_promoted_days": "artifactNeverPromotedDays",
    "alarms": "alarms",
    "audit_anchor_retention": "auditAnchorRetention",
    "audit_anchor_cloud_trail_lake": "auditAnchorCloudTrailLake",
}


def refuse_tools_only(account_role: str, fields_set: Collection[str]) -> None:
    if account_role == "tools":
        return
    stray = [key for field, key in TOOLS_ONLY.items() if field in fields_set]
    if stray:
        raise ValueError(
            f"{', '.join(stray)}: only the tools stack reads {'it' if len(stray) == 1 else 'them'} (the sweeper, "
            f"the alarms and the audit anchors run in the tools account); remove from the {account_role} stack"
        )
