"""Promotion after stage tests pass: the artifact moves to the release bucket (whose manifest event
starts the prod run) and its metadata becomes `promoted` with itself as last known good."""

from __future__ import annotations

from typing import Any

from . import vocabulary as v
from .artifacts import copy_artifact
from .notify import Notifier
from .settings import FunctionSettings
from .store import MetadataTable, Update, now_iso, seconds_between


def promote(
    service: str,
    commit_sha: str,
    execution_id: str,
    *,
    settings: FunctionSettings,
    table: MetadataTable,
    s3: Any,
    notify: Notifier,
) -> dict[str, Any]:
    item = table.get(service, commit_sha) or {}
    if item.get("execution_id") != execution_id:
        return {"action": "promote", "applied": False, "succeeded": False}
    now = now_iso()
    stage = item.get("environment_states", {}).get(v.STAGE, {})
    # 1. every object but the manifest (idempotent: a retry copies the same bytes again);
    copied = copy_artifact(
        s3, settings.candidate_bucket, settings.release_bucket, service, commit_sha, include_manifest=False
    )
    # 2. the claim (conditional); a retry after it finds the item already promoted by this execution;
    already_claimed = item.get("status") == v.PROMOTED
    claimed = already_claimed or table.update(
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
            # A promoted release is kept: rollback needs it long after the 90-day TTL of candidates.
            removes=["expire_at"],
            conditions=[
                ("execution_id", "=", execution_id),
                ("status", "=", v.CANDIDATE),
                ("environment_states.stage.test_status", "=", v.TEST_RUNNING),
            ],
        ),
    )
    if not claimed:
        return {"action": "promote", "applied": False, "succeeded": False}
    # 3. the manifest last: its upload starts the prod run, which finds the item promoted.
    copied += copy_artifact(
        s3, settings.candidate_bucket, settings.release_bucket, service, commit_sha, only_manifest=True
    )
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
