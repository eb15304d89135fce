"""Rollback planning: the target must be an earlier release that ran in prod, and its release manifest
must match its metadata; the wait doubles per attempt."""

from __future__ import annotations

import json

import boto3
import pytest

from functions.artifacts.manifest import dumps
from functions.pipeline import lifecycle as lc
from functions.pipeline.rollback import plan
from functions.pipeline.store import MetadataTable
from tests.functions.pipeline.conftest import COMMIT, SERVICE, item_in, run_of, seed

TARGET = "a" * 40
TARGET_SHA = "1" * 64


def _release(table: MetadataTable, *, status: str = "deployed", manifest: dict | None = None) -> None:
    seed(table, {"service": SERVICE, "commit_sha": lc.SERVICE_RECORD, "last_known_good_commit": TARGET})
    seed(table, {"service": SERVICE, "commit_sha": TARGET, "status": status, "artifact_sha256": TARGET_SHA})
    body = manifest if manifest is not None else _manifest()
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket="releases", Key=f"{SERVICE}/{TARGET}/artifact-manifest.json", Body=dumps(body)
    )


def _manifest(**overrides: object) -> dict:
    return {
        "schema": "cdk-control-plane/artifact-manifest/v1",
        "service": SERVICE,
        "commit": TARGET,
        "previous_commit": None,
        "git_signature_verified": True,
        "artifact_sha256": TARGET_SHA,
        "cdk_cli_version": "2.1148.1",
        "cdk_library_versions": {},
        "cdk_context_hash": None,
        "file_hashes": {"manifest.json": "2" * 64},
        "assets": {},
        "build_time": "2026-11-20T10:00:00Z",
        "build_duration_seconds": 1,
        "signing_identity": None,
        "signature": None,
        **overrides,
    }


def _plan(table: MetadataTable, settings, previous: dict | None = None) -> dict:
    return plan(run_of("prod", rollback=previous), 2, settings=settings, table=table, s3=boto3.client("s3"))


def test_the_plan_targets_the_verified_known_good(table: MetadataTable, settings) -> None:
    seed(table, item_in("prod", status="rollback_initiated"))
    _release(table)
    first = _plan(table, settings)
    assert first == {
        "attempt": 1,
        "max_attempts": 2,
        "wait_seconds": 60,
        "possible": True,
        "target_commit": TARGET,
        "target_artifact_sha256": TARGET_SHA,
    }
    item = table.get(SERVICE, COMMIT)
    assert item["rollback_target_commit"] == TARGET and json.loads(item["rollback_backoff_schedule"]) == [60, 120]
    assert _plan(table, settings, previous=first)["wait_seconds"] == 120


def test_the_backoff_doubles_up_to_its_cap_so_no_wait_outlasts_the_watchdog(table: MetadataTable, settings) -> None:
    seed(table, item_in("prod", status="rollback_initiated"))
    _release(table)
    waits = []
    previous = None
    for _ in range(10):  # the most rollback attempts the stack config allows
        previous = plan(run_of("prod", rollback=previous), 10, settings=settings, table=table, s3=boto3.client("s3"))
        waits.append(previous["wait_seconds"])
    assert waits == [60, 120, 240, 480, 900, 900, 900, 900, 900, 900]
    assert json.loads(table.get(SERVICE, COMMIT)["rollback_backoff_schedule"]) == waits
    assert max(waits) == lc.ROLLBACK_MAX_DELAY_SECONDS < lc.WATCHDOG_SECONDS


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("none", "no earlier last known good"),
        ("itself", "no earlier last known good"),
        ("rejected", "is not a deployed artifact"),
        ("promoted", "is not a deployed artifact"),  # stage-tested, never deployed in prod
        ("rollback_failed", "is not a deployed artifact"),
        ("revoked", "was revoked: smoke test failed later"),
        ("revoked-content", f"has revoked content {TARGET_SHA} (revoked under {COMMIT})"),
        ("no-manifest", "release manifest s3://releases/"),
        ("bad-json", "is invalid"),
        ("other-commit", "does not match its metadata"),
        ("other-hash", "does not match its metadata"),
    ],
)
def test_an_untrustworthy_target_is_refused(table: MetadataTable, settings, setup: str, reason: str) -> None:
    seed(table, item_in("prod", status="rollback_initiated"))
    if setup == "itself":
        seed(table, {"service": SERVICE, "commit_sha": lc.SERVICE_RECORD, "last_known_good_commit": COMMIT})
    elif setup in ("rejected", "promoted", "rollback_failed"):
        _release(table, status=setup)
    elif setup == "revoked":
        _release(table)
        seed(
            table,
            {
                "service": SERVICE,
                "commit_sha": TARGET,
                "status": "deployed",
                "artifact_sha256": TARGET_SHA,
                "eligibility_revoked": True,
                "eligibility_revoked_reason": "smoke test failed later",
            },
        )
    elif setup == "revoked-content":  # the same bytes failed in prod under another commit
        _release(table)
        record = lc.record_key(lc.REVOKED_CONTENT_RECORD, "prod", TARGET_SHA)
        seed(table, {"service": SERVICE, "commit_sha": record, lc.REVOKED_COMMIT: COMMIT})
    elif setup == "no-manifest":
        _release(table)
        boto3.client("s3").delete_object(Bucket="releases", Key=f"{SERVICE}/{TARGET}/artifact-manifest.json")
    elif setup == "bad-json":
        _release(table)
        boto3.client("s3").put_object(Bucket="releases", Key=f"{SERVICE}/{TARGET}/artifact-manifest.json", Body=b"{")
    elif setup == "other-commit":
        _release(table, manifest=_manifest(commit="9" * 40))
    elif setup == "other-hash":
        _release(table, manifest=_manifest(artifact_sha256="9" * 64))
    before = table.get(SERVICE, COMMIT)
    result = _plan(table, settings)
    assert result["possible"] is False and reason in result["reason"]
    assert table.get(SERVICE, COMMIT) == before  # nothing planned, nothing recorded
