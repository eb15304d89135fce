"""Issue 9, hole 1 tried end to end: one repository's CI cannot ship another service. Each service signs
with its own KMS key and the pipeline verifies a service's artifact with that service's key only."""

from __future__ import annotations

from devtools.emulator.harness import Harness

COMMIT = "e" * 40


def test_a_payments_artifact_signed_with_the_orders_key_is_invalid_and_nothing_is_deployed(
    pipeline: Harness,
) -> None:
    # The orders repository's CI builds "payments" and signs it with the only key it can sign with.
    manifest = pipeline.publish(COMMIT, service="payments", signer=pipeline.signers["orders"])
    assert manifest.service == "payments"
    assert manifest.signing_identity == "kms:alias/cdk-ci-artifact-signer-orders"

    result = pipeline.run("stage", COMMIT, service="payments")

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
    pipeline.publish(COMMIT, service="payments")

    result = pipeline.run("stage", COMMIT, service="payments")

    assert "RecordInvalidArtifact" not in result["states"] and "DeployStage" in result["states"]
    assert pipeline.item(COMMIT, service="payments")["integrity_verified"] is True
