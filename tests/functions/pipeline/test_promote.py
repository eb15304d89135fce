"""Promotion: objects first, then the conditional claim, then the manifest that starts prod."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import boto3
import pytest

from functions.artifacts.errors import InvalidArtifact
from functions.artifacts.manifest import Manifest, dumps
from functions.artifacts.provenance import envelope
from functions.pipeline import lifecycle as lc
from functions.pipeline.promote import promote
from functions.pipeline.settings import FunctionSettings
from functions.pipeline.store import MetadataTable
from tests.functions.artifact_support import new_signer
from tests.functions.pipeline.conftest import COMMIT, SERVICE, Captured, item_in, run_of, seed

PREFIX = f"{SERVICE}/{COMMIT}/"
PROVENANCE = "artifact-provenance.dsse.json"
OBJECTS = ["cdk.out/manifest.json", "cdk.out/orders-stage-api.template.json", PROVENANCE]
SIGNER = new_signer()


class Keys:
    """The service's signing key, as `ServiceKeys` would read it from KMS."""

    def public_key(self, service: str) -> Any:
        return SIGNER.private_key.public_key()


def _manifest_naming_the_objects(artifact_manifest: Manifest, **changes: str) -> Manifest:
    hashes = {
        k.removeprefix("cdk.out/"): hashlib.sha256(b"{}").hexdigest() for k in OBJECTS if k.startswith("cdk.out/")
    }
    return replace(artifact_manifest, file_hashes=hashes, **changes)


VERIFIED: dict[str, str] = {}  # the manifest version stage's Validate recorded (set by `candidate_objects`)


def _publish(bucket: str, manifest: Manifest) -> str:
    """CI's objects and signed provenance, then the manifest; the manifest's version."""
    s3 = boto3.client("s3", region_name="us-east-1")
    for key in OBJECTS:
        body = json.dumps(envelope(manifest, SIGNER)).encode() if key == PROVENANCE else b"{}"
        s3.put_object(Bucket=bucket, Key=PREFIX + key, Body=body)
    return s3.put_object(Bucket=bucket, Key=PREFIX + "artifact-manifest.json", Body=dumps(manifest))["VersionId"]


@pytest.fixture(autouse=True)
def candidate_objects(settings: FunctionSettings, artifact_manifest: Manifest) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_bucket_versioning(Bucket=settings.candidate_bucket, VersioningConfiguration={"Status": "Enabled"})
    VERIFIED["version"] = _publish(settings.candidate_bucket, _manifest_naming_the_objects(artifact_manifest))


def _released() -> list[str]:
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="releases")
    return sorted(o["Key"].removeprefix(PREFIX) for o in listed.get("Contents", []))


def _promote(table: MetadataTable, captured: Captured, settings: FunctionSettings) -> dict:
    s3 = boto3.client("s3", region_name="us-east-1")
    return promote(
        run_of("stage"),
        settings=settings,
        table=table,
        s3=s3,
        keys=Keys(),
        notify=captured,
        metric=captured.metric,  # type: ignore[arg-type]
    )


def _testing() -> dict:
    testing = item_in("stage", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"})
    testing["environment_states"]["stage"]["manifest_version_id"] = VERIFIED["version"]
    return testing


def test_promotion_copies_claims_and_starts_prod(table: MetadataTable, captured: Captured, settings) -> None:
    seed(table, _testing())
    result = _promote(table, captured, settings)
    assert result["succeeded"] and result["objects"] == 4
    assert _released() == sorted([*OBJECTS, "artifact-manifest.json"])
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == "promoted" and item["last_known_good_commit"] == COMMIT
    assert item["environment_states"]["prod"]["status"] == "pending" and "expire_at" not in item
    assert item["sweep_phase"] == "prod" and item["execution_status"] == "succeeded"
    assert captured.types == ["ArtifactPromoted"] and captured.events[0][1]["objects"] == 4
    assert captured.metrics == [("TestFailureRate", 0.0)]  # stage's tests passed: a sample of the rate


def test_a_retry_after_the_claim_finishes_the_copy(table: MetadataTable, captured: Captured, settings) -> None:
    seed(table, _testing())
    _promote(table, captured, settings)
    again = _promote(table, captured, settings)
    assert again["succeeded"] and _released() == sorted([*OBJECTS, "artifact-manifest.json"])


def test_a_retry_after_the_claim_releases_the_manifest_even_if_the_candidate_changed_since(
    table: MetadataTable, captured: Captured, settings
) -> None:
    """The claim follows a complete verified copy: a retry after it (the first attempt lost before the
    manifest) does not copy the candidate's objects again, so an overwrite since cannot strand it."""
    seed(table, _testing())
    _promote(table, captured, settings)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.delete_object(Bucket="releases", Key=PREFIX + "artifact-manifest.json")  # as if lost before step 3
    s3.put_object(Bucket=settings.candidate_bucket, Key=PREFIX + OBJECTS[1], Body=b'{"Resources": {}}')

    assert _promote(table, captured, settings)["succeeded"]
    assert s3.get_object(Bucket="releases", Key=PREFIX + OBJECTS[1])["Body"].read() == b"{}"
    assert "artifact-manifest.json" in _released()


def test_another_runs_item_is_not_promoted_and_nothing_is_copied(table, captured, settings) -> None:
    seeded = seed(table, {**_testing(), "execution_id": "arn:another-run"})
    assert _promote(table, captured, settings)["applied"] is False
    assert _released() == [] and table.get(SERVICE, COMMIT) == seeded and captured.events == []


def test_a_refused_claim_never_copies_the_manifest(table: MetadataTable, captured: Captured, settings) -> None:
    seeded = seed(table, {**_testing(), "status": "rejected"})
    assert _promote(table, captured, settings)["applied"] is False
    assert "artifact-manifest.json" not in _released()  # so no prod run starts
    assert table.get(SERVICE, COMMIT) == seeded and captured.events == []


def _versioned_candidates(settings: FunctionSettings, artifact_manifest: Manifest, table: MetadataTable) -> bytes:
    """The candidate bucket versioned, the verified manifest's version recorded as Validate does, then
    the manifest overwritten; the verified manifest's bytes."""
    s3 = boto3.client("s3", region_name="us-east-1")
    candidates = settings.candidate_bucket
    manifest = _manifest_naming_the_objects(artifact_manifest, cdk_cli_version="2.1000.0")
    verified = _publish(candidates, manifest)
    s3.put_object(Bucket=candidates, Key=PREFIX + "artifact-manifest.json", Body=b'{"forged": 1}')
    testing = _testing()
    testing["environment_states"]["stage"]["manifest_version_id"] = verified
    seed(table, testing)
    return dumps(manifest)


def test_the_manifest_promoted_is_the_version_validate_verified(
    table: MetadataTable, captured: Captured, settings, artifact_manifest: Manifest
) -> None:
    """A manifest overwritten in the candidate bucket after stage's Validate is not what reaches the
    release bucket: promotion copies the version id the item records."""
    verified = _versioned_candidates(settings, artifact_manifest, table)
    assert _promote(table, captured, settings)["succeeded"]
    s3 = boto3.client("s3", region_name="us-east-1")
    released = s3.get_object(Bucket="releases", Key=PREFIX + "artifact-manifest.json")["Body"].read()
    assert released == verified


def test_an_object_overwritten_after_validate_fails_promotion_and_starts_no_prod_run(
    table: MetadataTable, captured: Captured, settings, artifact_manifest: Manifest
) -> None:
    """The release copy is re-verified as it is made: a template overwritten during stage tests is not
    the bytes the verified manifest names; nothing is claimed and the manifest is never released."""
    _versioned_candidates(settings, artifact_manifest, table)
    seeded = table.get(SERVICE, COMMIT)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=settings.candidate_bucket, Key=PREFIX + OBJECTS[1], Body=b'{"Resources": {}}')

    with pytest.raises(InvalidArtifact, match="orders-stage-api.template.json: changed in the candidate bucket"):
        _promote(table, captured, settings)
    assert "artifact-manifest.json" not in _released()
    assert table.get(SERVICE, COMMIT) == seeded and captured.events == []
    assert captured.metrics == [("AssetHashMismatch", 1)]  # a copy that is not the verified bytes


def test_a_provenance_not_signed_by_the_services_key_is_never_released(
    table: MetadataTable, captured: Captured, settings, artifact_manifest: Manifest
) -> None:
    seed(table, _testing())
    forged = json.dumps(envelope(_manifest_naming_the_objects(artifact_manifest), new_signer())).encode()
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=settings.candidate_bucket, Key=PREFIX + PROVENANCE, Body=forged
    )
    with pytest.raises(InvalidArtifact):
        _promote(table, captured, settings)
    assert _released() == [] and table.get(SERVICE, COMMIT)["status"] == "candidate"
    assert captured.metrics == []  # invalid, but not a hash mismatch


def test_without_the_verified_manifest_version_nothing_is_promoted(
    table: MetadataTable, captured: Captured, settings
) -> None:
    testing = _testing()
    del testing["environment_states"]["stage"]["manifest_version_id"]
    seed(table, testing)
    with pytest.raises(ValueError, match="no verified manifest version"):
        _promote(table, captured, settings)
    assert _released() == [] and table.get(SERVICE, COMMIT)["status"] == "candidate"
