"""Issue 9, hole 1 tried end to end: one repository's CI cannot ship another service. Each service signs
with its own KMS key and the pipeline verifies a service's artifact with that service's key only.

Intake refuses such an artifact first (tests/e2e/test_intake.py); these scenarios go past intake (the item
recorded and the run started as if intake had let it through) to show that Validate holds on its own."""

from __future__ import annotations

import boto3

from devtools.emulator.harness import REGION, Harness
from functions.artifacts.metadata import candidate_item
from functions.naming import execution_name
from functions.pipeline.store import MetadataTable

COMMIT = "e" * 40


def test_a_payments_artifact_signed_with_the_orders_key_is_invalid_and_nothing_is_deployed(
    pipeline: Harness,
) -> None:
    # The orders repository's CI builds "payments" and signs it with the only key it can sign with.
    manifest = pipeline.publish(COMMIT, service="payments", signer=pipeline.signers["orders"])
    assert manifest.service == "payments"
    assert manifest.signing_identity == "kms:alias/cdk-ci-artifact-signer-orders"

    result = _past_intake(pipeline, manifest)

    assert result["status"] == "FAILED"
    assert "RecordInvalidArtifact" in result["states"] and "DeployStage" not in result["states"]
    item = pipeline.item(COMMIT, service="payments")
    assert item["status"] == "rejected" and item["integrity_verified"] is False
    stage = item["environment_states"]["stage"]
    assert stage["status"] == "failed"
    assert "signature" in stage["failure_reason"] and "does not verify" in stage["failure_reason"]
    assert pipeline.deploys() == []
    assert pipeline.objects(pipeline.release_bucket, COMMIT, service="payments") == []
    assert [e["type"] for e in pipeline.events()] == ["InvalidArtifact"]


def test_the_same_artifact_signed_with_its_own_services_key_passes_validate(pipeline: Harness) -> None:
    """The control: only the key differs from the scenario above, and with the payments key Validate
    passes (the run then goes on to deploy)."""
    result = _past_intake(pipeline, pipeline.publish(COMMIT, service="payments"))

    assert "RecordInvalidArtifact" not in result["states"] and "DeployStage" in result["states"]
    assert pipeline.item(COMMIT, service="payments")["integrity_verified"] is True


def _past_intake(pipeline: Harness, manifest: object) -> dict:
    """The candidate item and the stage run, as intake would have made them had it let `manifest` in."""
    table = MetadataTable(
        boto3.resource("dynamodb", region_name=REGION).Table(pipeline.program.environment["TABLE_NAME"])
    )
    url = f"s3://{pipeline.candidate_bucket}/payments/{COMMIT}/"
    assert table.create(candidate_item(manifest, artifact_url=url, region=REGION)) is None  # type: ignore[arg-type]
    name = execution_name("payments", COMMIT, "stage")
    return pipeline.wait(pipeline.start(name, COMMIT, "stage", source="test", service="payments"))
