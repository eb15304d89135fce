"""`publish`: the S3 layout, the manifest last, refusals, and nothing written in DynamoDB; the candidate
item's attributes (intake writes it)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.artifacts import metadata, provenance
from functions.artifacts.errors import InvalidArtifact
from functions.artifacts.manifest import dumps
from functions.artifacts.publish import publish
from functions.artifacts.signing import sign_manifest, sign_message
from functions.artifacts.verify import verify_artifact
from functions.pipeline.lifecycle import EnvStatus, Status, TestStatus

from ..artifact_support import BUCKET, COMMIT

# The spec's Build Process attribute list for the candidate item.
SPEC_ATTRIBUTES = {
    "build_time",
    "build_duration_seconds",
    "git_commit",
    "commit_signature_verified",
    "artifact_sha256",
    "status",
    "artifact_url",
    "artifact_type",
    "cdk_cli_version",
    "cdk_library_versions",
    "cdk_context_hash",
    "target_region",
    "environment_states",
    "previous_commit_sha",
}


class RecordingS3:
    """The real (moto) client, remembering the order of uploads."""

    def __init__(self) -> None:
        self.client = boto3.client("s3")
        self.keys: list[str] = []

    def put_object(self, **kwargs: Any) -> Any:
        self.keys.append(kwargs["Key"])
        return self.client.put_object(**kwargs)


@pytest.fixture
def storage(aws) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})


def _publish(
    cdk_out: Path, data: bytes, s3: Any = None, provenance: bytes | None = None, public_key: Any = None
) -> Any:
    return publish(
        cdk_out,
        data,
        bucket=BUCKET,
        s3=s3 or boto3.client("s3"),
        provenance_bytes=provenance,
        public_key=public_key,
    )


def _objects() -> list[str]:
    return sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_publish_needs_no_dynamodb_and_touches_none(storage, artifact, monkeypatch) -> None:
    """CI has no DynamoDB permission: publishing must not even create a DynamoDB client."""
    cdk_out, manifest = artifact
    real_client = boto3.client

    def client(service: str, *args: Any, **kwargs: Any) -> Any:
        assert service != "dynamodb", "publish created a DynamoDB client"
        return real_client(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", client)
    result = _publish(cdk_out, dumps(manifest), s3=real_client("s3"))
    assert result.uploaded == len(manifest.file_hashes)
    import inspect

    assert not {"table", "dynamodb", "region"} & set(inspect.signature(publish).parameters)


def test_candidate_item_has_every_spec_attribute(artifact) -> None:
    cdk_out, manifest = artifact
    item = metadata.from_attribute_values(
        metadata.to_attribute_values(
            metadata.candidate_item(manifest, artifact_url=f"s3://{BUCKET}/orders/{COMMIT}/", region="us-east-1")
        )
    )
    assert set(item) >= SPEC_ATTRIBUTES
    assert item["service"] == "orders" and item["commit_sha"] == item["git_commit"] == COMMIT
    assert item["status"] == "candidate" and item["artifact_type"] == "cdk"
    assert item["artifact_sha256"] == manifest.artifact_sha256
    assert item["commit_signature_verified"] is True
    assert item["artifact_url"] == f"s3://{BUCKET}/orders/{COMMIT}/"
    assert item["target_region"] == "us-east-1"
    assert item["environment_states"] == {
        "stage": {"status": "pending", "test_status": "not_tested", "region": "us-east-1"},
        "prod": {"status": "not_deployed", "test_status": "not_tested", "region": "us-east-1"},
    }
    assert item["cdk_library_versions"]["aws-cdk-lib"] == "2.276.0"
    assert item["previous_commit_sha"] is None
    assert float(item["build_duration_seconds"]) == manifest.build_duration_seconds
    assert item["expire_at"] == metadata.expire_at(manifest.build_time)
    assert item["expire_at"] - metadata.expire_at(manifest.build_time, days=0) == 90 * 86400
    assert item[metadata.SWEEP_PHASE] == "stage"
    lambda_asset = next(a for a in item["assets"].values() if any(u.endswith(".zip") for u in a.get("s3_uri", [])))
    assert len(lambda_asset["s3_uri"]) == 2


def test_candidate_item_speaks_the_lifecycle_vocabulary_as_plain_strings(artifact) -> None:
    _, manifest = artifact
    item = metadata.candidate_item(manifest, artifact_url="s3://b/p/", region="us-east-1")
    states = item["environment_states"]
    assert item["status"] == Status.CANDIDATE and type(item["status"]) is str
    assert states["stage"]["status"] == EnvStatus.PENDING and states["prod"]["status"] == EnvStatus.NOT_DEPLOYED
    assert {state["test_status"] for state in states.values()} == {TestStatus.NOT_TESTED}
    plain = [item[metadata.SWEEP_PHASE], *states] + [v for state in states.values() for v in state.values()]
    assert all(type(value) is str for value in plain)
    assert item["recorded_at"] == item[metadata.SWEEP_SINCE] and item["recorded_at"].endswith("Z")


def test_files_go_under_the_commit_prefix_and_the_manifest_lands_last(storage, artifact, signer) -> None:
    cdk_out, manifest = artifact
    s3 = RecordingS3()
    envelope = json.dumps(provenance.envelope(manifest, signer)).encode()
    result = _publish(cdk_out, dumps(manifest), s3=s3, provenance=envelope, public_key=signer.private_key.public_key())

    prefix = f"orders/{COMMIT}/"
    assert result.uploaded == 19
    assert s3.keys[-1] == prefix + "artifact-manifest.json"
    assert s3.keys[-2] == prefix + "artifact-provenance.dsse.json"
    assert _objects() == sorted([prefix + "cdk.out/" + p for p in manifest.file_hashes] + s3.keys[-2:])
    uploaded = boto3.client("s3").get_object(Bucket=BUCKET, Key=prefix + "cdk.out/tree.json")["Body"].read()
    assert uploaded == (cdk_out / "tree.json").read_bytes()


def test_republishing_the_same_artifact_uploads_the_same_bytes_again(storage, artifact) -> None:
    cdk_out, manifest = artifact
    _publish(cdk_out, dumps(manifest))
    before = _contents()
    s3 = RecordingS3()
    result = _publish(cdk_out, dumps(manifest), s3=s3)
    assert result.uploaded == 19 and s3.keys[-1] == f"orders/{COMMIT}/artifact-manifest.json"
    assert _contents() == before  # intake then sees the same artifact_sha256: a duplicate, the same run


def _contents() -> dict[str, bytes]:
    s3 = boto3.client("s3")
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in _objects()}


def test_unsigned_or_mismatching_artifacts_are_not_published(storage, artifact) -> None:
    cdk_out, manifest = artifact
    with pytest.raises(InvalidArtifact, match="not signed"):
        _publish(cdk_out, dumps(replace(manifest, signature=None)))
    (cdk_out / "extra.json").write_text("{}")
    with pytest.raises(InvalidArtifact, match="extra.json: not listed"):
        _publish(cdk_out, dumps(manifest))
    assert _objects() == []


def test_publish_refuses_a_tree_with_the_findings_verification_reports(storage, artifact, signer) -> None:
    cdk_out, manifest = artifact
    (cdk_out / "tree.json").write_text('{"tampered": true}')
    (cdk_out / "manifest.json").unlink()
    (cdk_out / "extra.json").write_text("{}")
    with pytest.raises(InvalidArtifact) as refused:
        _publish(cdk_out, dumps(manifest))
    verified = verify_artifact(cdk_out, dumps(manifest), signer.private_key.public_key())
    assert refused.value.findings == verified.findings
    assert sorted(f.subject for f in verified.findings) == ["extra.json", "manifest.json", "tree.json"]
    assert _objects() == []


def _provenance_refused(cdk_out: Path, data: bytes, envelope: bytes, public_key: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArtifact) as refused:
        _publish(cdk_out, data, provenance=envelope, public_key=public_key)
    assert _objects() == []  # checked before anything is recorded or uploaded
    return [(f.check, f.detail) for f in refused.value.findings]


def test_provenance_signed_by_another_key_is_refused_before_anything_is_written(
    storage, artifact, signer, other_signer
) -> None:
    cdk_out, manifest = artifact
    forged = json.dumps(provenance.envelope(manifest, other_signer)).encode()
    [(check, detail)] = _provenance_refused(cdk_out, dumps(manifest), forged, signer.private_key.public_key())
    assert check == "provenance" and "signature that verifies with the manifest's key" in detail


def test_provenance_of_another_manifest_is_refused(storage, artifact, signer) -> None:
    cdk_out, manifest = artifact
    other = sign_manifest(replace(manifest, previous_commit="f" * 40), signer)
    envelope = json.dumps(provenance.envelope(other, signer)).encode()
    findings = _provenance_refused(cdk_out, dumps(manifest), envelope, signer.private_key.public_key())
    assert findings == [("provenance", "its statement does not describe this manifest")]


def test_a_manifest_signed_by_another_key_than_the_provenance_check_key_is_refused(
    storage, artifact, signer, other_signer
) -> None:
    cdk_out, manifest = artifact
    envelope = json.dumps(provenance.envelope(manifest, other_signer)).encode()
    [(check, detail)] = _provenance_refused(cdk_out, dumps(manifest), envelope, other_signer.private_key.public_key())
    assert check == "signature" and "different signer" in detail


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not json", b"[]", b'{"payloadType": "x"}', b'{"payload": 1, "payloadType": 2, "signatures": 3}'],
)
def test_provenance_that_is_no_envelope_is_refused(storage, artifact, signer, garbage: bytes) -> None:
    cdk_out, manifest = artifact
    [(check, _)] = _provenance_refused(cdk_out, dumps(manifest), garbage, signer.private_key.public_key())
    assert check == "provenance"


def test_signed_provenance_whose_payload_is_not_json_is_refused(storage, artifact, signer) -> None:
    cdk_out, manifest = artifact
    payload = b"not json"
    envelope = {
        "payloadType": provenance.PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "k", "sig": sign_message(signer, provenance.pae(provenance.PAYLOAD_TYPE, payload))}],
    }
    [(check, _)] = _provenance_refused(
        cdk_out, dumps(manifest), json.dumps(envelope).encode(), signer.private_key.public_key()
    )
    assert check == "provenance"
