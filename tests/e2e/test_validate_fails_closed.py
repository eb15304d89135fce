"""Validate fails closed, end to end: the context an artifact was synthesized with is compared with the
service's blessed context (not with what CI declared), a null context hash is refused for a service
with lookups, and only approved CDK CLIs pass. Each invalid artifact ends `rejected` with nothing deployed."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3

from devtools.emulator import harness as harness_module
from devtools.emulator.harness import BLESSED_CONTEXT, Harness

COMMIT = "c" * 40
BLESSED = "orders/latest.context.json"


def _refused(pipeline: Harness, commit: str) -> dict[str, Any]:
    result = pipeline.run("stage", commit)
    assert result["status"] == "FAILED"
    assert "RecordInvalidArtifact" in result["states"] and "DeployStage" not in result["states"]
    item = pipeline.item(commit)
    assert item["status"] == "rejected" and item["environment_states"]["stage"]["status"] == "failed"
    assert pipeline.deploys() == [] and pipeline.objects(pipeline.release_bucket, commit) == []
    assert [e["type"] for e in pipeline.events()] == ["InvalidArtifact"]
    return item["environment_states"]["stage"]


def _blessed_sha256() -> str:
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("cdk-contexts-"))
    return hashlib.sha256(s3.get_object(Bucket=bucket, Key=BLESSED)["Body"].read()).hexdigest()


def test_an_artifact_synthesized_with_another_context_is_invalid_though_ci_declared_it(pipeline: Harness) -> None:
    # CI synthesizes with a context of its own (lookups it made itself); its manifest and metadata item
    # both declare that context's hash, consistently. Only the blessed context counts.
    poisoned = pipeline.tmp / "poisoned.context.json"
    poisoned.write_text('{"vpc-provider:account=222222222222:region=us-east-1": {"vpcId": "vpc-attacker"}}\n')
    manifest = pipeline.publish(COMMIT, context=poisoned)

    reason = _refused(pipeline, COMMIT)["failure_reason"]
    assert pipeline.item(COMMIT)["cdk_context_hash"] == manifest.cdk_context_hash  # as intake recorded it
    assert f"{manifest.cdk_context_hash} differs from {_blessed_sha256()}" in reason
    assert f"s3://{pipeline.contexts_bucket}/{BLESSED}" in reason


def test_a_null_context_hash_is_refused_for_a_service_with_lookups(pipeline: Harness) -> None:
    manifest = pipeline.publish(COMMIT, context=None)
    assert manifest.cdk_context_hash is None

    reason = _refused(pipeline, COMMIT)["failure_reason"]
    assert f"is null (the synth read no context file), but it must be {_blessed_sha256()}" in reason


def test_a_context_regenerated_after_the_build_makes_the_artifact_stale(pipeline: Harness) -> None:
    pipeline.publish(COMMIT)  # with the blessed context of the time
    pipeline.publish_context({**BLESSED_CONTEXT, "availability-zones:account=222222222222:region=us-east-1": ["x"]})

    assert "differs from" in _refused(pipeline, COMMIT)["failure_reason"]


def test_without_a_blessed_context_a_service_with_lookups_is_refused_naming_the_key(pipeline: Harness) -> None:
    pipeline.publish(COMMIT)
    s3 = boto3.client("s3", region_name="us-east-1")
    for suffix in (".context.json", ".context.sha256", ".context.json.sig"):
        s3.delete_object(Bucket=pipeline.contexts_bucket, Key=f"orders/latest{suffix}")

    reason = _refused(pipeline, COMMIT)["failure_reason"]
    assert f"no blessed context for orders at s3://{pipeline.contexts_bucket}/{BLESSED}" in reason


def test_a_blessed_context_signed_by_another_key_is_not_trusted(pipeline: Harness) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    impostor = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    forged = pipeline.publish_context(
        {"vpc-provider:account=222222222222": {"vpcId": "vpc-attacker"}},
        signer=harness_module.KmsSigner(impostor, kms),
    )
    pipeline.blessed_context = forged  # CI synthesizes with the forged "latest"
    pipeline.publish(COMMIT)

    reason = _refused(pipeline, COMMIT)["failure_reason"]
    assert "signature does not verify with the trusted context key" in reason


def test_an_unapproved_cdk_cli_is_refused(pipeline: Harness, monkeypatch) -> None:
    monkeypatch.setattr(harness_module, "CLI_VERSION", "2.1000.0")
    pipeline.publish(COMMIT)

    assert "2.1000.0 is not an approved version (2.1148.1)" in _refused(pipeline, COMMIT)["failure_reason"]
