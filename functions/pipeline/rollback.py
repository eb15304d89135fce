"""Planning a prod rollback: which commit, after how long, and whether it may be trusted.

The target is the service's last known good prod commit. Before it is redeployed, its release
manifest's commit and `artifact_sha256` must match its metadata (the Validate rules for a rollback,
spec: "hash + commit must match known-good"); the deployer verifies every file again.
"""

from __future__ import annotations

import json
from typing import Any

from functions.artifacts.manifest import parse_manifest
from functions.naming import MANIFEST_NAME, artifact_prefix

from . import lifecycle as lc
from .auditing import audit_lease
from .settings import FunctionSettings
from .store import MetadataTable
from .transitions import Context, Run, commit

# A rollback redeploys a release that ran in prod: only these may be targets (a rolled-back release is
# also revoked today, which the revocation check refuses; its status stays listed for overrides to come).
TARGET_STATUSES = (lc.Status.DEPLOYED, lc.Status.ROLLBACK_SUCCEEDED)


def plan(run: Run, max_attempts: int, *, settings: FunctionSettings, table: MetadataTable, s3: Any) -> dict[str, Any]:
    """The next attempt (`run.rollback` is the previous attempt's plan, None for the first)."""
    attempt = int((run.rollback or {}).get("attempt", 0)) + 1
    item = table.get(run.service, run.commit_sha) or {}
    if attempt == 1 and item.get(lc.MANUAL_ROLLBACK_TARGET):
        audit_lease(table, run, item)  # a manual rollback's bound lease skips Validate: its first step audits it
    wait = lc.rollback_wait_seconds(attempt, settings.rollback_base_delay_seconds)
    result = {"attempt": attempt, "max_attempts": max_attempts, "wait_seconds": wait}
    target, problem = _target(run, settings=settings, table=table, s3=s3)
    if problem:
        return {**result, "possible": False, "reason": problem}
    planned = {**result, "possible": True, "target_commit": target["commit"]}
    schedule = [lc.rollback_wait_seconds(n, settings.rollback_base_delay_seconds) for n in range(1, max_attempts + 1)]
    item = table.get(run.service, run.commit_sha) or {}
    context = Context(
        Run(run.service, run.commit_sha, run.environment, run.execution_id, rollback=planned),
        item,
        lc.transition(lc.Action.ROLLBACK_PLANNED, lc.Environment.PROD),
    )
    commit(table, context, {"rollback_backoff_schedule": json.dumps(schedule)})
    return {**planned, "target_artifact_sha256": target["artifact_sha256"]}


def _target(run: Run, *, settings: FunctionSettings, table: MetadataTable, s3: Any) -> tuple[dict[str, str], str]:
    """The verified target `{commit, artifact_sha256}`, or why there is none: the release a signed manual
    rollback named (`manual_rollback_target`), else the service's last known good."""
    manual = (table.get(run.service, run.commit_sha) or {}).get(lc.MANUAL_ROLLBACK_TARGET)
    target = manual or table.service_record(run.service).get(lc.LAST_KNOWN_GOOD)
    if not target or target == run.commit_sha:
        return {}, "no earlier last known good commit to roll back to"
    return known_good_release(run.service, target, settings=settings, table=table, s3=s3)


def known_good_release(
    service: str, target: str, *, settings: FunctionSettings, table: MetadataTable, s3: Any
) -> tuple[dict[str, str], str]:
    """`target` as a rollback target: a deployed, unrevoked release of `service` whose release manifest
    matches its metadata (commit and hash); `{commit, artifact_sha256}`, or why not. The planner's checks,
    and a signed manual rollback's before it starts the run."""
    target_item = table.get(service, target)
    if not target_item or target_item.get(lc.STATUS) not in TARGET_STATUSES:
        return {}, f"last known good {target} is not a deployed artifact"
    if target_item.get(lc.ELIGIBILITY_REVOKED):
        return {}, f"last known good {target} was revoked: {target_item.get(lc.ELIGIBILITY_REVOKED_REASON, '')}"
    content = target_item.get("artifact_sha256")
    revoked = table.revocation(service, content)
    if revoked is not None:  # the same bytes failed in prod under another commit (perhaps this very run)
        return (
            {},
            f"last known good {target} has revoked content {content} (revoked under {revoked.get(lc.REVOKED_COMMIT)})",
        )
    key = artifact_prefix(service, target) + MANIFEST_NAME
    try:
        manifest_bytes = s3.get_object(Bucket=settings.release_bucket, Key=key)["Body"].read()
    except Exception as exc:
        return {}, f"release manifest s3://{settings.release_bucket}/{key}: {exc}"
    manifest, problems = parse_manifest(manifest_bytes)
    if manifest is None:
        return {}, f"release manifest of {target} is invalid: {problems[0].line()}"
    if manifest.commit != target or manifest.artifact_sha256 != target_item.get("artifact_sha256"):
        return {}, f"release of {target} does not match its metadata (hash or commit)"
    return {"commit": target, "artifact_sha256": manifest.artifact_sha256}, ""
