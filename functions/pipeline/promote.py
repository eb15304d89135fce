"""Promotion after stage tests pass: the artifact moves to the release bucket (whose manifest event
starts the prod run) and its metadata becomes `promoted` with itself as last known good."""

from __future__ import annotations

from typing import Any

from . import vocabulary as v
from .artifacts import copy_artifact
from .notify import Notifier
from .settings import Settings
from .store import MetadataTable, Update, now_iso, seconds_between


def promote(
    service: str,
    commit_sha: str,
    execution_id: str,
    *,
    settings: Settings,
    table: MetadataTable,
    s3: Any,
    notify: Notifier,
) -> dict[str, Any]:
    item = table.get(service, commit_sha) or {}
    now = now_iso()
    stage = item.get("environment_states", {}).get(v.STAGE, {})
    # Claim the promotion first (conditional), so a lost race copies nothing.
    claimed = table.update(
        service,
        commit_sha,
        Update(
            sets={
                "environment_states.stage.test_status": v.TEST_PASSED,
                "environment_states.stage.test_completed_at": now,
                "stage_test_duration_seconds": seconds_between(stage.get("test_started_at"), now),
                "environment_states.prod.status": v.PENDING,
                "environment_states.prod.test_status": v.NOT_TESTED,
                "status": v.PROMOTED,
                "lifecycle_status": v.PROMOTED,
                "last_known_good_commit": commit_sha,
                "promoted_at": now,
                "sweep_phase": v.PROD,
                "sweep_since": now,
                "execution_status": v.SUCCEEDED,
                "execution_completed_at": now,
            },
            conditions=[
                ("execution_id", "=", execution_id),
                ("status", "=", v.CANDIDATE),
                ("environment_states.stage.test_status", "=", v.TEST_RUNNING),
            ],
        ),
    )
    if not claimed:
        return {"action": "promote", "applied": False, "succeeded": False}
    copied = copy_artifact(s3, settings.candidate_bucket, settings.release_bucket, service, commit_sha)
    notify.event(
        v.ARTIFACT_PROMOTED,
        {
            "service": service,
            "commit_sha": commit_sha,
            "artifact_sha256": item.get("artifact_sha256"),
            "objects": copied,
        },
    )
    return {"action": "promote", "applied": True, "succeeded": True, "objects": copied}
