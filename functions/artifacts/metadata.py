"""The metadata item of an artifact (table `cdk-artifact-metadata`, key `{service, commit_sha}`), as
CI first writes it: the spec's Build Process attribute list, plus the TTL and the sweeper's index keys.

Status names are the lifecycle's (`functions.pipeline.lifecycle`); the sparse index's names live here,
so the writer and every reader agree on spelling.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from functions.pipeline.expressions import to_dynamo
from functions.pipeline.lifecycle import Environment, EnvStatus, Status, TestStatus
from functions.timestamps import parse_iso, utc_iso

if TYPE_CHECKING:
    from .manifest import Manifest

TTL_DAYS = 90
ARTIFACT_TYPE = "cdk"

# Sparse global secondary index the sweeper queries (never a Scan): only items waiting for a phase
# carry `sweep_phase`; the pipeline removes it when the phase starts.
SWEEP_INDEX = "sweep-by-age"
SWEEP_PHASE = "sweep_phase"
SWEEP_SINCE = "sweep_since"


def expire_at(build_time: str, days: int = TTL_DAYS) -> int:
    built = parse_iso(build_time).replace(microsecond=0)
    return int((built + timedelta(days=days)).timestamp())


def candidate_item(
    manifest: Manifest, *, artifact_url: str, region: str, now: datetime | None = None
) -> dict[str, Any]:
    recorded_at = utc_iso(now)
    return {
        "service": manifest.service,
        "commit_sha": manifest.commit,
        "git_commit": manifest.commit,
        "previous_commit_sha": manifest.previous_commit,
        # To the second, as every time the pipeline writes: releases are ordered by comparing it as a string.
        "build_time": utc_iso(parse_iso(manifest.build_time)),
        "build_duration_seconds": manifest.build_duration_seconds,
        "commit_signature_verified": manifest.git_signature_verified,
        "artifact_sha256": manifest.artifact_sha256,
        "status": Status.CANDIDATE.value,
        "artifact_url": artifact_url,
        "artifact_type": ARTIFACT_TYPE,
        "cdk_cli_version": manifest.cdk_cli_version,
        "cdk_library_versions": dict(manifest.cdk_library_versions),
        "cdk_context_hash": manifest.cdk_context_hash,
        "target_region": region,
        "environment_states": {
            Environment.STAGE.value: _environment_state(EnvStatus.PENDING, region),
            Environment.PROD.value: _environment_state(EnvStatus.NOT_DEPLOYED, region),
        },
        "assets": {asset_id: _asset_record(asset) for asset_id, asset in manifest.assets.items()},
        "signing_identity": manifest.signing_identity,
        "expire_at": expire_at(manifest.build_time),
        "audit_event_ids": [],
        "recorded_at": recorded_at,
        SWEEP_PHASE: Environment.STAGE.value,
        SWEEP_SINCE: recorded_at,
    }


def _environment_state(status: EnvStatus, region: str) -> dict[str, str]:
    return {"status": status.value, "test_status": TestStatus.NOT_TESTED.value, "region": region}


def _asset_record(asset: Mapping[str, Any]) -> dict[str, Any]:
    """An asset's hash and where it is published: `s3_uri` for files, `ecr_uri` for images."""
    record: dict[str, Any] = {"hash": asset["hash"]}
    if asset["type"] == "file":
        record["s3_uri"] = [d["s3Uri"] for d in asset["destinations"] if "s3Uri" in d]
    if asset["type"] == "docker":
        record["ecr_uri"] = [d["ecrUri"] for d in asset["destinations"] if "ecrUri" in d]
    return record


def to_attribute_values(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed form (`{"S": ...}`) of a plain item; floats become numbers exactly."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(to_dynamo(v)) for k, v in item.items()}


def from_attribute_values(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}
