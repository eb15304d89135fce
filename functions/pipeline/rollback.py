"""Planning a prod rollback: which commit, after how long, and whether it may be trusted.

The target is the service's last known good prod commit. Before it is redeployed, its release
manifest's commit and `artifact_sha256` must match its metadata (the Validate rules for a rollback,
spec: "hash + commit must match known-good"); the deployer verifies every file again.
"""

from __future__ import annotations

import json
from typing import Any

from functions.artifacts.manifest import parse_manifest
from functions.artifacts.publish import MANIFEST_NAME, artifact_prefix

from . import vocabulary as v
from .settings import FunctionSettings
from .store import MetadataTable, Update


def plan(
    service: str,
    commit_sha: str,
    execution_id: str,
    previous: dict[str, Any] | None,
    max_attempts: int,
    *,
    settings: FunctionSettings,
    table: MetadataTable,
    s3: Any,
) -> dict[str, Any]:
    previous = (previous or {}).get("value", previous) or {}
    attempt = int(previous.get("attempt", 0)) + 1
    wait = settings.rollback_base_delay_seconds * 2 ** (attempt - 1)
    result = {"attempt": attempt, "max_attempts": max_attempts, "wait_seconds": wait}

    target = table.service_record(service).get("last_known_good_commit")
    if not target or target == commit_sha:
        return {**result, "possible": False, "reason": "no earlier last known good commit to roll back to"}
    target_item = table.get(service, target)
    if not target_item or target_item.get("status") not in (v.DEPLOYED, v.ROLLBACK_SUCCEEDED):
        return {**result, "possible": False, "reason": f"last known good {target} is not a deployed artifact"}
    key = artifact_prefix(service, target) + MANIFEST_NAME
    try:
        manifest_bytes = s3.get_object(Bucket=settings.release_bucket, Key=key)["Body"].read()
    except Exception as exc:
        return {**result, "possible": False, "reason": f"release manifest s3://{settings.release_bucket}/{key}: {exc}"}
    manifest, problems = parse_manifest(manifest_bytes)
    if manifest is None:
        return {**result, "possible": False, "reason": f"release manifest of {target} is invalid: {problems[0].line()}"}
    if manifest.commit != target or manifest.artifact_sha256 != target_item.get("artifact_sha256"):
        return {
            **result,
            "possible": False,
            "reason": f"release of {target} does not match its metadata (hash or commit)",
        }

    schedule = [settings.rollback_base_delay_seconds * 2**i for i in range(max_attempts)]
    table.update(
        service,
        commit_sha,
        Update(
            sets={"rollback_target_commit": target, "rollback_backoff_schedule": json.dumps(schedule)},
            conditions=[("execution_id", "=", execution_id)],
        ),
    )
    return {**result, "possible": True, "target_commit": target, "target_artifact_sha256": manifest.artifact_sha256}
