"""Intake end to end: the manifest's arrival in the candidate bucket is the only way a candidate enters
the table. Another repository's artifact, revoked content under a new commit and a conflicting
re-publish are refused there (no item, no execution, an event and an alert with the reason), and a
duplicate delivery is one run."""

from __future__ import annotations

import boto3

from devtools.emulator.harness import Harness
from functions.artifacts.manifest import dumps

GOOD = "a" * 40
BAD = "b" * 40
AGAIN = "c" * 40


def _executions(pipeline: Harness) -> list[str]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return sorted(e["name"] for e in sfn.list_executions(stateMachineArn=pipeline.state_machine_arn)["executions"])


def _refused_at_intake(pipeline: Harness, result: dict, check: str) -> dict:
    """Refused with a reason: an InvalidArtifact event (phase intake) and an alert, nothing started."""
    assert result["accepted"] is False and result["started"] is False and result["check"] == check, result
    [event] = [e for e in pipeline.events() if e["type"] == "InvalidArtifact"]
    assert event["phase"] == "intake" and event["check"] == check and event["reason"] == result["reason"]
    assert [s for s in pipeline.alerts() if s.startswith("Artifact refused at intake")]
    return event


def test_a_payments_artifact_signed_with_the_orders_key_is_refused_at_intake(pipeline: Harness) -> None:
    pipeline.publish(GOOD, service="payments", signer=pipeline.service_signer("orders"))
    assert pipeline.objects(pipeline.candidate_bucket, GOOD) == []  # it went under payments/
    result = pipeline.trigger(pipeline.candidate_bucket, GOOD, service="payments")

    event = _refused_at_intake(pipeline, result, "signature")
    assert (
        "does not verify with the signing key of 'payments' (kms:alias/cdk-ci-artifact-signer-payments)"
        in (event["reason"])
    )
    assert "claims to be signed by kms:alias/cdk-ci-artifact-signer-orders" in event["reason"]
    assert pipeline.item(GOOD, service="payments") == {} and _executions(pipeline) == []
    assert pipeline.deploys() == []


def test_an_orders_manifest_under_the_payments_prefix_is_refused_at_intake(pipeline: Harness) -> None:
    manifest = pipeline.publish(GOOD)
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=pipeline.candidate_bucket, Key=f"payments/{GOOD}/artifact-manifest.json", Body=dumps(manifest)
    )
    result = pipeline.trigger(pipeline.candidate_bucket, GOOD, service="payments")

    event = _refused_at_intake(pipeline, result, "prefix")
    assert event["reason"] == "manifest service 'orders' but the S3 key names 'payments'"
    assert event["service"] == "payments" and event["commit_sha"] == GOOD
    assert pipeline.item(GOOD, service="payments") == {} and pipeline.item(GOOD) == {}
    assert _executions(pipeline) == []


def test_revoked_content_under_a_new_commit_is_refused_at_intake(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"
    bad = pipeline.publish(BAD, previous=GOOD, content="the bad bytes")
    assert pipeline.run("stage", BAD)["status"] == "SUCCEEDED"
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    assert pipeline.run("prod", BAD)["status"] == "FAILED"  # smoke failed, rolled back, revoked
    pipeline.events(), pipeline.alerts()
    runs = _executions(pipeline)

    # The same bytes, rebuilt under a new commit id and signed by the service's own key.
    again = pipeline.publish(AGAIN, previous=GOOD, content="the bad bytes")
    assert again.artifact_sha256 == bad.artifact_sha256
    result = pipeline.trigger(pipeline.candidate_bucket, AGAIN)

    event = _refused_at_intake(pipeline, result, "revoked")
    assert event["reason"].startswith(f"artifact_sha256 {bad.artifact_sha256} was revoked under commit {BAD}: ")
    assert "prod failed and rolled back: " in event["reason"]
    assert pipeline.item(AGAIN) == {} and _executions(pipeline) == runs


def test_a_conflicting_republish_of_a_commit_changes_nothing(pipeline: Harness) -> None:
    first = pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    pipeline.events()
    before, runs = pipeline.item(GOOD), _executions(pipeline)

    other = pipeline.publish(GOOD, content="other bytes, same commit")  # CI may overwrite its own objects
    assert other.artifact_sha256 != first.artifact_sha256
    result = pipeline.trigger(pipeline.candidate_bucket, GOOD, event_id="evt-republish")

    event = _refused_at_intake(pipeline, result, "conflict")
    assert f"already recorded with artifact_sha256 {first.artifact_sha256}" in event["reason"]
    assert pipeline.item(GOOD) == before and _executions(pipeline) == runs
    # What stage verified and promoted is the release: prod deploys the recorded artifact.
    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"
    assert pipeline.item(GOOD)["artifact_sha256"] == first.artifact_sha256


def test_a_duplicate_delivery_is_one_item_and_one_execution(pipeline: Harness) -> None:
    manifest = pipeline.publish(GOOD)
    first = pipeline.trigger(pipeline.candidate_bucket, GOOD, event_id="evt-1")
    second = pipeline.trigger(pipeline.candidate_bucket, GOOD, event_id="evt-1")  # EventBridge redelivers
    assert first["accepted"] and first["recorded"] and first["started"]
    assert second["accepted"] and second["recorded"] is False
    assert second.get("duplicate") or second["execution_arn"] == first["execution_arn"]
    assert pipeline.wait(first["execution_arn"])["status"] == "SUCCEEDED"

    third = pipeline.trigger(pipeline.candidate_bucket, GOOD, event_id="evt-2")  # after the run ended
    assert third["accepted"] and third["recorded"] is False and third.get("duplicate")
    assert _executions(pipeline) == [f"orders-{GOOD}-stage-1"] and len(pipeline.deploys("stage")) == 1
    assert pipeline.item(GOOD)["artifact_sha256"] == manifest.artifact_sha256
    assert "InvalidArtifact" not in [e["type"] for e in pipeline.events()]


def test_content_revoked_after_intake_recorded_it_is_refused_by_validate(pipeline: Harness) -> None:
    """The race: the same bytes were recorded and promoted under another commit before a prod failure
    revoked them. The prod run of that commit fails at Validate and deploys nothing."""
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"
    bad = pipeline.publish(BAD, previous=GOOD, content="the bad bytes")
    assert pipeline.run("stage", BAD)["status"] == "SUCCEEDED"
    twin = pipeline.publish(AGAIN, previous=GOOD, content="the bad bytes")
    assert pipeline.run("stage", AGAIN)["status"] == "SUCCEEDED"  # recorded before the revocation
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    assert pipeline.run("prod", BAD)["status"] == "FAILED"  # smoke failed, rolled back, content revoked
    pipeline.events()
    prod_deploys = len(pipeline.deploys("prod"))

    result = pipeline.run("prod", AGAIN)
    assert twin.artifact_sha256 == bad.artifact_sha256
    assert result["status"] == "FAILED" and "RecordInvalidArtifact" in result["states"]
    assert "DeployProd" not in result["states"] and len(pipeline.deploys("prod")) == prod_deploys
    item = pipeline.item(AGAIN)
    assert item["environment_states"]["prod"]["status"] == "failed"
    assert f"revoked under commit {BAD}" in item["environment_states"]["prod"]["failure_reason"]
    assert "InvalidArtifact" in [e["type"] for e in pipeline.events()]
