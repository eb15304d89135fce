"""The metadata item of an artifact (table `cdk-artifact-metadata`, key `{service, commit_sha}`), as
CI first writes it: the spec's Build Process attribute list, plus the TTL and the sweeper's index keys.

Vocabulary shared with the pipeline lives here too (status names, the sparse index), so the writer and
every reader agree on spelling.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

TTL_DAYS = 90
ARTIFACT_TYPE = "cdk"

STATUS_CANDIDATE = "candidate"
ENV_PENDING = "pending"
ENV_NOT_DEPLOYED = "not_deployed"
TEST_NOT_TESTED = "not_tested"

# Sparse global secondary index the sweeper queries (never a Scan): only items waiting for a phase
# carry `sweep_phase`; the pipeline removes it when the phase starts.
SWEEP_INDEX = "sweep-by-age"
SWEEP_PHASE = "sweep_phase"
SWEEP_SINCE = "sweep_since"


def expire_at(build_time: str, days: int = TTL_DAYS) -> int:
    built = datetime.strptime(build_time[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return int((built + timedelta(days=days)).timestamp())


def candidate_item(
    manifest: dict[str, Any], *, artifact_url: str, region: str, now: datetime | None = None
) -> dict[str, Any]:
    recorded_at = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "service": manifest["service"],
        "commit_sha": manifest["commit"],
        "git_commit": manifest["commit"],
        "previous_commit_sha": manifest["previous_commit"],
        "build_time": manifest["build_time"],
        "build_duration_seconds": manifest["build_duration_seconds"],
        "commit_signature_verified": manifest["git_signature_verified"],
        "artifact_sha256": manifest["artifact_sha256"],
        "status": STATUS_CANDIDATE,
        "artifact_url": artifact_url,
        "artifact_type": ARTIFACT_TYPE,
        "cdk_cli_version": manifest["cdk_cli_version"],
        "cdk_library_versions": manifest["cdk_library_versions"],
        "cdk_context_hash": manifest["cdk_context_hash"],
        "target_region": region,
        "environment_states": {
            "stage": {"status": ENV_PENDING, "test_status": TEST_NOT_TESTED, "region": region},
            "prod": {"status": ENV_NOT_DEPLOYED, "test_status": TEST_NOT_TESTED, "region": region},
        },
        "assets": {
            asset_id: {
                "hash": asset["hash"],
                **(
                    {"s3_uri": [d["s3Uri"] for d in asset["destinations"] if "s3Uri" in d]}
                    if asset["type"] == "file"
                    else {}
                ),
                **(
                    {"ecr_uri": [d["ecrUri"] for d in asset["destinations"] if "ecrUri" in d]}
                    if asset["type"] == "docker"
                    else {}
                ),
            }
            for asset_id, asset in manifest["assets"].items()
        },
        "signing_identity": manifest["signing_identity"],
        "expire_at": expire_at(manifest["build_time"]),
        "audit_event_ids": [],
        "recorded_at": recorded_at,
        SWEEP_PHASE: "stage",
        SWEEP_SINCE: recorded_at,
    }


def _plain_to_ddb(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _plain_to_ddb(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_to_ddb(v) for v in value]
    return value


def to_attribute_values(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed form (`{"S": ...}`) of a plain item; floats become numbers exactly."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(_plain_to_ddb(v)) for k, v in item.items()}


def from_attribute_values(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}
