"""Every path of the pipeline, executed: the final metadata item, the events and the S3 objects."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.emulator.harness import Harness
from functions.naming import ci_signer_alias, execution_name

GOOD = "a" * 40
BAD = "b" * 40


def test_happy_path_stage_to_prod(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    stage = pipeline.run("stage", GOOD)
    assert stage["status"] == "SUCCEEDED", stage
    item = pipeline.item(GOOD)
    assert item["status"] == "promoted"
    assert item["environment_states"]["stage"]["status"] == "deployed"
    assert item["environment_states"]["stage"]["test_status"] == "test_passed"
    assert item["environment_states"]["prod"] == {
        "status": "pending",
        "test_status": "not_tested",
        "region": "us-east-1",
    }
    assert item["last_known_good_commit"] == GOOD
    released = pipeline.objects(pipeline.release_bucket, GOOD)
    assert released == pipeline.objects(pipeline.candidate_bucket, GOOD)
    assert f"orders/{GOOD}/artifact-manifest.json" in released

    prod = pipeline.run("prod", GOOD)
    assert prod["status"] == "SUCCEEDED", prod
    item = pipeline.item(GOOD)
    assert item["status"] == "deployed" and item["global_health_status"] == "healthy"
    assert item["environment_states"]["prod"]["status"] == "deployed"
    assert item["environment_states"]["prod"]["test_status"] == "test_passed"
    assert item["execution_status"] == "succeeded" and item["finalizer_ran"] is True
    types = [e["type"] for e in pipeline.events()]
    assert types.count("ArtifactPromoted") == 1 and "DeploySucceeded" in types
    # Stage and prod are separate accounts, reached through STS; the tools account holds no stacks.
    # Our deployer deployed the real CDK fixture (two stacks, a nested stack, a Lambda asset) there.
    for environment, account in (("stage", "222222222222"), ("prod", "333333333333")):
        stacks = pipeline.account_client("cloudformation", account).describe_stacks()["Stacks"]
        statuses = {s["StackName"]: s["StackStatus"] for s in stacks}
        assert statuses[f"orders-{environment}-data"] == statuses[f"orders-{environment}-api"] == "CREATE_COMPLETE"
        assert any(name.startswith(f"orders-{environment}-api-Events") for name in statuses)  # the nested stack
        # What the finalizer read through the read-only role in that account (the artifact's stacks):
        assert item["environment_states"][environment]["stacks"] == {
            f"orders-{environment}-api": "CREATE_COMPLETE",
            f"orders-{environment}-data": "CREATE_COMPLETE",
        }
    assert boto3.client("cloudformation", region_name="us-east-1").describe_stacks()["Stacks"] == []
    print(f"transitions: stage {len(stage['states'])}, prod {len(prod['states'])}")


def _types(pipeline: Harness) -> list[str]:
    return [e["type"] for e in pipeline.events()]


def test_bad_signature_is_refused_at_intake_and_nothing_is_recorded_or_deployed(pipeline: Harness) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from functions.artifacts.signing import LocalKeySigner

    impostor = LocalKeySigner.from_pem(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pipeline.publish(GOOD, signer=impostor)
    result = pipeline.trigger(pipeline.candidate_bucket, GOOD)

    assert result["accepted"] is False and result["started"] is False and result["check"] == "signature"
    assert pipeline.item(GOOD) == {}  # intake writes no item for what it refuses
    assert pipeline.deploys() == [] and pipeline.objects(pipeline.release_bucket, GOOD) == []
    assert _types(pipeline) == ["InvalidArtifact"]


def test_stage_deploy_failure_keeps_the_candidate(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    pipeline.script.outcomes[("deploy", "stage", GOOD)] = "FAILED"
    result = pipeline.run("stage", GOOD)

    assert result["status"] == "FAILED" and "RecordDeployFailed" in result["states"]
    item = pipeline.item(GOOD)
    assert item["status"] == "candidate"
    assert item["environment_states"]["stage"]["status"] == "failed"
    assert item["execution_status"] == "failed" and item["finalizer_ran"] is True
    assert _types(pipeline) == ["DeployFailed"]
    assert pipeline.objects(pipeline.release_bucket, GOOD) == []


def test_stage_test_failure_rejects_the_artifact(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    pipeline.script.outcomes[("test", "stage", GOOD)] = "FAILED"
    result = pipeline.run("stage", GOOD)

    assert result["status"] == "FAILED" and "RecordTestFailed" in result["states"]
    item = pipeline.item(GOOD)
    assert item["status"] == "rejected"
    assert item["environment_states"]["stage"]["status"] == "deployed"
    assert item["environment_states"]["stage"]["test_status"] == "test_failed"
    assert "stage_test_duration_seconds" in item
    assert _types(pipeline) == ["DeploySucceeded", "TestFailed"]
    assert pipeline.objects(pipeline.release_bucket, GOOD) == []


def test_prod_drift_aborts_before_deploying(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    pipeline.events()
    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"  # deployed once: there is something to drift
    pipeline.events()
    # Someone changed the table by hand: DetectStackDrift reports it (moto bridge, devtools/emulator/cloudformation.py).
    pipeline.cloudformation.drifts["orders-prod-data"] = [
        {"LogicalResourceId": "OrdersTable", "ResourceType": "AWS::DynamoDB::Table"}
    ]
    pipeline.publish(BAD, previous=GOOD)
    assert pipeline.run("stage", BAD)["status"] == "SUCCEEDED"
    pipeline.events()
    deploys_before = len(pipeline.deploys("prod"))
    result = pipeline.run("prod", BAD)

    assert result["status"] == "FAILED" and "RecordDriftAborted" in result["states"]
    item = pipeline.item(BAD)
    assert item["stack_drift_detected"] is True
    assert item["environment_states"]["prod"]["status"] == "failed"
    assert len(pipeline.deploys("prod")) == deploys_before  # the drift gate deployed nothing
    drift_run = [r for r in pipeline.script.runs if r["mode"] == "drift-check"][-1]
    assert drift_run["exit_code"] == "3"  # the deployer's "drift detected"
    # ... which the buildspec turns into a succeeded build exporting DEPLOYER_OUTCOME=drift_detected
    assert (drift_run["status"], drift_run["outcome"]) == ("SUCCEEDED", "drift_detected")
    assert "DriftCheckOutcome" in result["states"] and "RecordDriftCheckFailed" not in result["states"]
    assert _types(pipeline) == ["DeployFailed"]


def _refuse_to_assume(monkeypatch, role_name: str) -> None:
    """STS refuses the role (a broken trust policy, an external id that does not match)."""
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role

    def assume_role(backend, **kwargs):
        if kwargs["role_arn"].endswith(f":role/{role_name}"):
            raise STSClientError("AccessDenied", f"not authorized to perform sts:AssumeRole on {kwargs['role_arn']}")
        return original(backend, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", assume_role)


# moto warns that STS has no modelled AccessDenied shape; the client still receives AccessDenied.
@pytest.mark.filterwarnings("ignore:Exception\\(STSClientError\\) with code AccessDenied")
def test_a_drift_check_that_cannot_run_is_retryable_and_the_next_attempt_deploys(
    pipeline: Harness, monkeypatch
) -> None:
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    pipeline.events()
    with monkeypatch.context() as patch:
        _refuse_to_assume(patch, "cdkcp-orders-prod-deploy")
        result = pipeline.run("prod", GOOD)

    assert result["status"] == "FAILED" and "RecordDriftCheckFailed" in result["states"]
    assert "RecordDriftAborted" not in result["states"] and "DeployProd" not in result["states"]
    drift_run = pipeline.script.runs[-1]
    assert (drift_run["mode"], drift_run["exit_code"], drift_run["status"]) == ("drift-check", "1", "FAILED")
    item = pipeline.item(GOOD)
    assert item["status"] == "promoted" and "eligibility_revoked" not in item
    assert "stack_drift_detected" not in item
    prod = item["environment_states"]["prod"]
    assert (
        prod["status"] == "pending"
        and "build cdkcp-deployer-prod:" in prod["failure_reason"]
        and "FAILED" in prod["failure_reason"]
    )
    assert item["execution_status"] == "failed" and item["sweep_phase"] == "prod"
    assert [(e["type"], e.get("phase"), e.get("retryable")) for e in pipeline.events()] == [
        ("DeployFailed", "drift_check", True)
    ]
    assert pipeline.deploys("prod") == []

    retry = pipeline.wait(pipeline.start(execution_name("orders", GOOD, "prod", 2), GOOD, "prod", source="operator"))
    assert retry["status"] == "SUCCEEDED" and "DeployProd" in retry["states"]
    item = pipeline.item(GOOD)
    assert item["status"] == "deployed" and item["environment_states"]["prod"]["status"] == "deployed"
    assert item["deployment_id"] == execution_name("orders", GOOD, "prod", 2)


def test_a_drift_check_without_an_answer_deploys_nothing(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    # A build that succeeded without exporting DEPLOYER_OUTCOME (not the deploy buildspec): no answer.
    pipeline.script.outcomes[("drift-check", "prod", GOOD)] = "SUCCEEDED"
    result = pipeline.run("prod", GOOD)

    assert result["status"] == "FAILED" and "RecordDriftCheckFailed" in result["states"]
    assert pipeline.deploys("prod") == []
    assert pipeline.item(GOOD)["environment_states"]["prod"]["status"] == "pending"


def _good_release_in_prod(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"
    pipeline.publish(BAD, previous=GOOD)
    assert pipeline.run("stage", BAD)["status"] == "SUCCEEDED"
    pipeline.events()


def test_prod_smoke_failure_rolls_back_to_the_last_known_good(pipeline: Harness) -> None:
    _good_release_in_prod(pipeline)
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    result = pipeline.run("prod", BAD)

    assert result["status"] == "FAILED" and "RecordRollbackSucceeded" in result["states"]
    item = pipeline.item(BAD)
    assert item["status"] == "rollback_succeeded"
    assert item["environment_states"]["prod"]["status"] == "rollback_succeeded"
    assert item["environment_states"]["prod"]["test_status"] == "test_failed"
    assert item["rollback_target_commit"] == GOOD and item["rollback_attempts"] == 1
    assert item["eligibility_revoked"] is True
    assert pipeline.waits == [60]
    last = pipeline.deploys("prod")[-1]
    assert (last["project"], last["mode"], last["commit"], last["status"]) == (
        "cdkcp-deployer-prod", "rollback", GOOD, "SUCCEEDED"
    )  # fmt: skip
    assert _types(pipeline) == ["DeploySucceeded", "SmokeTestFailed", "RollbackInitiated", "RollbackSucceeded"]
    assert pipeline.item(GOOD)["status"] == "deployed"  # the good release is untouched


def test_rollback_failing_every_attempt_needs_manual_intervention(pipeline: Harness) -> None:
    _good_release_in_prod(pipeline)
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    pipeline.script.outcomes[("rollback", "prod", GOOD)] = "FAILED"
    result = pipeline.run("prod", BAD)

    assert result["status"] == "FAILED" and "RecordRollbackFailed" in result["states"]
    item = pipeline.item(BAD)
    assert item["status"] == "rollback_failed"
    assert item["rollback_attempts"] == 2 and item["rollback_attempts_exhausted"] is True
    assert item["manual_intervention_required"] is True
    assert item["environment_states"]["prod"]["status"] == "rollback_failed"
    assert pipeline.waits == [60, 120]
    assert [r["mode"] for r in pipeline.deploys("prod")].count("rollback") == 2
    assert "RollbackFailed" in _types(pipeline)
    assert any("CRITICAL: rollback of orders failed" in subject for subject in pipeline.alerts())


def test_a_rollback_refused_as_an_asset_mismatch_is_a_failed_attempt_and_a_hash_mismatch(
    pipeline: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """The deployer refuses the first rollback (exit 6: an object was not the known good's signed content,
    nothing deployed); the pipeline records a failed attempt that is an asset hash mismatch, waits, and
    the second attempt rolls back."""
    from functions.deployer.errors import EXIT_ASSET_MISMATCH
    from tests.emf import spec_points

    _good_release_in_prod(pipeline)
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    deploy, rollbacks = pipeline.script.deployer, []

    def first_rollback_refused(project: str, variables: dict[str, str]) -> int:
        if variables["MODE"] == "rollback":
            rollbacks.append(variables["COMMIT_SHA"])
            if len(rollbacks) == 1:
                return EXIT_ASSET_MISMATCH
        return deploy(project, variables)

    pipeline.script.deployer = first_rollback_refused
    capsys.readouterr()
    result = pipeline.run("prod", BAD)

    assert result["status"] == "FAILED" and "RollbackAssetMismatchFound" in result["states"]
    assert "RecordRollbackAttemptFailed" in result["states"] and "RecordRollbackSucceeded" in result["states"]
    item = pipeline.item(BAD)
    assert item["status"] == "rollback_succeeded" and item["rollback_attempts"] == 2
    assert item["rollback_failure_reason"].startswith("AssetMismatch: ")
    assert rollbacks == [GOOD, GOOD] and pipeline.waits == [60, 120]
    emitted = spec_points(capsys.readouterr().out)
    assert emitted["AssetHashMismatch"] == [1.0] and emitted["RollbackFailureRate"] == [1.0]
    assert emitted["TestFailureRate"] == [1.0] and len(emitted["RollbackLatency"]) == 1


def test_the_same_trigger_twice_deploys_once(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    import boto3

    first = pipeline.trigger(pipeline.candidate_bucket, GOOD, event_id="evt-1")
    second = pipeline.trigger(pipeline.candidate_bucket, GOOD, event_id="evt-1")
    assert pipeline.wait(first["execution_arn"])["status"] == "SUCCEEDED"
    # Step Functions answers a repeated name either with the same execution or ExecutionAlreadyExists.
    assert second.get("duplicate") or second["execution_arn"] == first["execution_arn"]
    third = pipeline.trigger(pipeline.candidate_bucket, GOOD, event_id="evt-2")  # after it finished
    assert third.get("duplicate") or third["execution_arn"] == first["execution_arn"]
    executions = boto3.client("stepfunctions", region_name="us-east-1").list_executions(
        stateMachineArn=pipeline.state_machine_arn
    )["executions"]
    assert len(executions) == 1
    assert len(pipeline.deploys("stage")) == 1


def test_a_second_execution_loses_the_lease_and_changes_nothing(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    before = pipeline.item(GOOD)
    late = pipeline.start(execution_name("orders", GOOD, "stage", 2), GOOD, "stage", source="sweeper")
    result = pipeline.wait(late)
    assert result["status"] == "SUCCEEDED" and "LostRace" in result["states"]
    assert pipeline.item(GOOD) == before
    assert len(pipeline.deploys("stage")) == 1


def test_a_phase_timeout_leaves_consistent_state(pipeline: Harness, monkeypatch) -> None:
    from functions.pipeline import transitions
    from functions.pipeline.lifecycle import Action

    original = transitions.apply

    def crash(run, *args):  # the recording step is lost too: only the finalizer is left to clean up
        if run.action is Action.TIMED_OUT:
            raise RuntimeError("transition lost")
        return original(run, *args)

    monkeypatch.setattr(transitions, "apply", crash)
    pipeline.publish(GOOD)
    pipeline.script.outcomes[("deploy", "stage", GOOD)] = "TIMED_OUT"
    result = pipeline.run("stage", GOOD)

    assert result["status"] == "FAILED" and "RecordTimedOut" in result["states"] and "Finalize" in result["states"]
    item = pipeline.item(GOOD)
    assert item["environment_states"]["stage"]["status"] == "failed"  # not left "deploying"
    assert item["execution_status"] == "timeout"
    assert item["finalizer_correction_applied"] is True and item["finalizer_corrected"] is True
    assert _types(pipeline) == ["FinalizerCorrectedMetadata"]


def test_a_failed_prod_deploy_rolls_back_too(pipeline: Harness) -> None:
    _good_release_in_prod(pipeline)
    pipeline.script.outcomes[("deploy", "prod", BAD)] = "FAILED"
    result = pipeline.run("prod", BAD)

    assert result["status"] == "FAILED" and "RecordProdDeployFailed" in result["states"]
    assert "RecordRollbackSucceeded" in result["states"] and "TestProd" not in result["states"]
    item = pipeline.item(BAD)
    assert item["status"] == "rollback_succeeded" and item["rollback_target_commit"] == GOOD
    assert item["eligibility_revoked"] is True
    assert _types(pipeline) == ["DeployFailed", "RollbackInitiated", "RollbackSucceeded"]


def test_a_revoked_release_is_refused_not_reported_as_a_duplicate(pipeline: Harness) -> None:
    import json

    _good_release_in_prod(pipeline)
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    assert pipeline.run("prod", BAD)["status"] == "FAILED"  # smoke failed, rolled back, revoked
    before = pipeline.item(BAD)
    again = pipeline.start(execution_name("orders", BAD, "prod", 2), BAD, "prod", source="manual")
    result = pipeline.wait(again)
    assert result["status"] == "FAILED" and "LostRace" in result["states"]
    assert pipeline.item(BAD) == before
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    history = sfn.get_execution_history(executionArn=again, maxResults=1000)["events"]
    exited = [e["stateExitedEventDetails"] for e in history if e["type"] == "TaskStateExited"]
    lost = json.loads(next(e["output"] for e in exited if e["name"] == "LostRace"))["outcome"]
    assert lost["outcome"] == "refused" and "not eligible" in lost["reason"]


@pytest.mark.parametrize("error", ["TransientAwsError", "SigningError"])
def test_a_validate_that_cannot_read_the_key_fails_without_rejecting_and_a_retry_succeeds(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    """Intake read the key; Validate (its own function, its own role) cannot: KMS throttled or denied it
    (`TransientAwsError`), or the key was disabled since (`SigningError`). Not the artifact's fault, so
    the run fails without rejecting it."""
    from functions.artifacts import errors
    from functions.pipeline import validate as core

    alias = ci_signer_alias("orders")
    verify = core.validate
    refused = {"on": True}

    class RefusingKms:
        def public_key(self, service: str) -> None:
            raise getattr(errors, error)(f"KMS GetPublicKey for {ci_signer_alias(service)} failed: {error}")

    def validate(run: Any, **kwargs: Any) -> Any:
        return verify(run, **{**kwargs, **({"keys": RefusingKms()} if refused["on"] else {})})

    monkeypatch.setattr(core, "validate", validate)
    pipeline.publish(GOOD)
    result = pipeline.run("stage", GOOD)

    assert result["status"] == "FAILED" and "RecordNotStarted" in result["states"]
    assert "DeployStage" not in result["states"]
    item = pipeline.item(GOOD)
    assert item["status"] == "candidate" and item["environment_states"]["stage"]["status"] == "failed"
    assert alias in item["environment_states"]["stage"]["failure_reason"]
    assert [(e["type"], e["phase"], e["retryable"]) for e in pipeline.events()] == [("DeployFailed", "validate", True)]
    # A service that did not answer is asked again (2 s, doubling, three times: Validate's 900-second
    # attempts stay within the 60-minute phase, `components/pipeline/budget.py`) before the run gives up.
    assert pipeline.retry_waits == ([2, 4, 8] if error == "TransientAwsError" else [])

    refused["on"] = False
    retry = pipeline.wait(pipeline.start(execution_name("orders", GOOD, "stage", 2), GOOD, "stage", source="operator"))
    assert retry["status"] == "SUCCEEDED" and pipeline.item(GOOD)["status"] == "promoted"


def _validate_refusing(monkeypatch: pytest.MonkeyPatch, error: Exception) -> dict[str, bool]:
    """Validate raises `error` (KMS, S3 or the catalog not answering) while the returned switch is on."""
    from functions.pipeline import validate as core

    verify = core.validate
    refused = {"on": True}

    def validate(run: Any, **kwargs: Any) -> Any:
        if refused["on"]:
            raise error
        return verify(run, **kwargs)

    monkeypatch.setattr(core, "validate", validate)
    return refused


def _pending_in_prod_and_nothing_revoked(pipeline: Harness, commit: str) -> dict[str, Any]:
    from functions.pipeline.lifecycle import revoked_content_key

    item = pipeline.item(commit)
    assert item["status"] == "promoted" and "eligibility_revoked" not in item
    assert item["environment_states"]["prod"]["status"] == "pending"  # what a prod lease takes
    assert item["sweep_phase"] == "prod" and item["execution_status"] == "failed"
    assert "rollback_initiated_at" not in item
    assert pipeline.item(revoked_content_key(item["artifact_sha256"])) == {}
    return item


def test_a_prod_validate_that_fails_for_a_transient_reason_leaves_prod_pending_and_a_retry_deploys(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validate in prod cannot answer (KMS throttled): not the release's fault, so prod is `pending` again
    (never the `failed` no prod lease takes), nothing is revoked, and the next attempt deploys it."""
    from functions.artifacts.errors import TransientAwsError

    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    pipeline.events()
    refused = _validate_refusing(monkeypatch, TransientAwsError("KMS GetPublicKey got no answer: ThrottlingException"))
    result = pipeline.run("prod", GOOD)

    assert result["status"] == "FAILED" and "RecordNotStarted" in result["states"]
    assert "DriftGate" not in result["states"] and "RecordFailed" not in result["states"]
    item = _pending_in_prod_and_nothing_revoked(pipeline, GOOD)
    assert "ThrottlingException" in item["environment_states"]["prod"]["failure_reason"]
    assert [(e["type"], e["phase"], e["retryable"]) for e in pipeline.events()] == [("DeployFailed", "validate", True)]
    assert pipeline.deploys("prod") == []

    refused["on"] = False
    retry = pipeline.wait(pipeline.start(execution_name("orders", GOOD, "prod", 2), GOOD, "prod", source="operator"))
    assert retry["status"] == "SUCCEEDED" and "DeployProd" in retry["states"]
    assert pipeline.item(GOOD)["status"] == "deployed"


def test_a_prod_deploy_build_that_stops_before_any_change_set_neither_rolls_back_nor_revokes(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prod deploy build cannot read the service's key (KMS throttled) before any change set: the
    build succeeds exporting DEPLOYER_OUTCOME=not_started, and the release stays good and retryable."""
    from functions.artifacts.errors import TransientAwsError
    from functions.deployer import codebuild

    deploy, throttled = pipeline.script.deployer, {"on": True}

    def no_key(*args: Any) -> None:
        raise TransientAwsError("KMS GetPublicKey got no answer: ThrottlingException")

    def deployer(project: str, variables: dict[str, str]) -> int:
        if throttled["on"] and (variables["MODE"], variables["ENVIRONMENT"]) == ("deploy", "prod"):
            with monkeypatch.context() as patch:
                patch.setattr(codebuild, "_service_key", no_key)
                return deploy(project, variables)
        return deploy(project, variables)

    pipeline.script.deployer = deployer
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    pipeline.events()
    result = pipeline.run("prod", GOOD)

    assert result["status"] == "FAILED" and "RecordNotStarted" in result["states"]
    assert {"DeployNotStarted", "DeployNotStartedReason"} <= set(result["states"])
    assert not {"RecordProdDeployFailed", "PlanRollback", "RollbackDeploy"} & set(result["states"])
    build = pipeline.script.runs[-1]
    assert (build["mode"], build["exit_code"], build["outcome"], build["status"]) == (
        "deploy", "7", "not_started", "SUCCEEDED"
    )  # fmt: skip
    item = _pending_in_prod_and_nothing_revoked(pipeline, GOOD)
    assert "DeployNotStarted" in item["environment_states"]["prod"]["failure_reason"]
    assert [(e["type"], e["phase"], e["retryable"]) for e in pipeline.events()] == [("DeployFailed", "deploy", True)]
    assert [r["mode"] for r in pipeline.deploys("prod")] == ["deploy"]  # no rollback

    throttled["on"] = False
    retry = pipeline.wait(pipeline.start(execution_name("orders", GOOD, "prod", 2), GOOD, "prod", source="operator"))
    assert retry["status"] == "SUCCEEDED" and "RecordDeployed" in retry["states"]
    assert pipeline.item(GOOD)["status"] == "deployed"


def test_a_promotion_that_fails_leaves_the_candidate_retryable(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 fails while promotion copies the objects (before its claim): the stage run fails, the item stays
    a candidate, no prod run starts, and the next stage attempt promotes it."""
    from functions.artifacts.errors import TransientAwsError
    from functions.pipeline import promote

    copy, failing = promote.copy_verified_objects, {"on": True}

    def copy_verified_objects(*args: Any) -> int:
        if failing["on"]:
            raise TransientAwsError("S3 CopyObject got no answer: SlowDown")
        return copy(*args)

    monkeypatch.setattr(promote, "copy_verified_objects", copy_verified_objects)
    pipeline.publish(GOOD)
    result = pipeline.run("stage", GOOD)

    assert result["status"] == "FAILED" and "RecordFailed" in result["states"]
    item = pipeline.item(GOOD)
    assert item["status"] == "candidate" and item["environment_states"]["stage"]["status"] == "failed"
    assert "SlowDown" in item["environment_states"]["stage"]["failure_reason"]

    failing["on"] = False
    retry = pipeline.wait(pipeline.start(execution_name("orders", GOOD, "stage", 2), GOOD, "stage", source="operator"))
    assert retry["status"] == "SUCCEEDED" and pipeline.item(GOOD)["status"] == "promoted"
