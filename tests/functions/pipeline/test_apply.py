"""The transition function's core: what each recorded outcome writes and announces, and why a lost
lease is a quiet duplicate or a refusal."""

from __future__ import annotations

import json

import pytest

from functions.pipeline import lifecycle as lc
from functions.pipeline.store import MetadataTable
from functions.pipeline.transitions import Run, apply, explain_lease_lost
from tests.functions.pipeline.conftest import BUILD_TIME, COMMIT, EXECUTION, SERVICE, Captured, item_in, run_of, seed

SMOKE_ERROR = {"Error": "States.TaskFailed", "Cause": '{"errorMessage": "smoke test: 500 from /health"}'}


def _apply(table: MetadataTable, captured: Captured, run: Run) -> dict:
    return apply(run, table, captured, captured.metric)  # type: ignore[arg-type]


def test_deployed_starts_the_tests_and_announces_the_deploy(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage"))
    result = _apply(table, captured, run_of("stage", "deployed", deploy={"build_id": "cdkcp-deployer-stage:7"}))
    assert result == {"action": "deployed", "applied": True, "succeeded": True}
    item = table.get(SERVICE, COMMIT)
    assert item["environment_states"]["stage"]["status"] == "deployed"
    assert item["environment_states"]["stage"]["test_status"] == "test_running"
    assert item["deploy_build_id"] == "cdkcp-deployer-stage:7"
    assert item["stage_deploy_duration_seconds"] > 0
    assert captured.events == [
        (
            "DeploySucceeded",
            {
                "service": SERVICE,
                "commit_sha": COMMIT,
                "environment": "stage",
                "execution_id": EXECUTION,
                "phase": "deploy",
            },
        )
    ]


def test_smoke_failure_starts_a_rollback_and_revokes_the_release(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("prod", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"}))
    result = _apply(table, captured, run_of("prod", "smoke_failed", error=SMOKE_ERROR))
    assert result["applied"] and not result["succeeded"]
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == "rollback_initiated" and item["eligibility_revoked"] is True
    assert (
        item["eligibility_revoked_reason"] == "prod smoke test failed: States.TaskFailed: smoke test: 500 from /health"
    )
    assert item["environment_states"]["prod"]["test_status"] == "test_failed" and item["rollback_attempts"] == 0
    assert captured.types == ["SmokeTestFailed", "RollbackInitiated"]
    assert captured.events[0][1]["reason"] == "States.TaskFailed: smoke test: 500 from /health"
    assert captured.metrics == [("TestFailureRate", 1.0)]


def test_prod_success_moves_the_known_good_forward_only(table: MetadataTable, captured: Captured) -> None:
    newer = {"service": SERVICE, "commit_sha": lc.SERVICE_RECORD, "last_known_good_commit": "f" * 40}
    seed(table, {**newer, "last_known_good_build_time": "2026-11-30T00:00:00Z"})
    seed(table, item_in("prod", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"}))
    assert _apply(table, captured, run_of("prod", "prod_succeeded"))["succeeded"]
    assert table.service_record(SERVICE)["last_known_good_commit"] == "f" * 40  # a newer build stays

    table.table.delete_item(Key={"service": SERVICE, "commit_sha": lc.SERVICE_RECORD})
    seed(table, item_in("prod", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"}))
    assert _apply(table, captured, run_of("prod", "prod_succeeded"))["succeeded"]
    record = table.service_record(SERVICE)
    assert record["last_known_good_commit"] == COMMIT and record["last_known_good_build_time"] == "2026-11-20T10:00:00Z"
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == "deployed" and "expire_at" not in item and "lifecycle_status" not in item
    assert ("TestFailureRate", 0.0) in captured.metrics
    assert any(name == "DeployLatency" and value > 0 for name, value in captured.metrics)


def test_a_stale_run_writes_nothing_and_announces_nothing(table: MetadataTable, captured: Captured) -> None:
    seeded = seed(table, item_in("stage", execution_id="arn:...:another-run"))
    result = _apply(table, captured, run_of("stage", "deployed"))
    assert result == {"action": "deployed", "applied": False, "succeeded": False}
    assert table.get(SERVICE, COMMIT) == seeded and captured.events == [] and captured.metrics == []


def test_events_are_best_effort_after_a_committed_transition(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage"))
    captured.fail_events = True
    result = _apply(table, captured, run_of("stage", "deployed"))
    assert result["applied"] and result["succeeded"]
    assert result["notification_failures"] == ["DeploySucceeded: EventBridge is down"]


@pytest.mark.parametrize(("attempt", "retry"), [(1, True), (2, False)])
def test_a_failed_rollback_attempt_retries_until_the_limit(
    table: MetadataTable, captured: Captured, attempt: int, retry: bool
) -> None:
    seed(table, item_in("prod", status="rollback_initiated", rollback_attempts=attempt - 1))
    plan = {"attempt": attempt, "max_attempts": 2, "target_commit": "a" * 40}
    result = _apply(table, captured, run_of("prod", "rollback_attempt_failed", rollback=plan))
    assert (result["retry"], result["attempt"]) == (retry, attempt)
    assert table.get(SERVICE, COMMIT)["rollback_attempts"] == attempt
    assert table.get(SERVICE, COMMIT)["rollback_failure_reason"] == "rollback deploy failed"


def test_an_exhausted_rollback_pages_the_operator(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("prod", status="rollback_initiated", rollback_attempts=2))
    plan = {"possible": False, "reason": "last known good is not a deployed artifact"}
    _apply(table, captured, run_of("prod", "rollback_failed", rollback=plan))
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == "rollback_failed" and item["manual_intervention_required"] is True
    assert item["rollback_failure_reason"] == plan["reason"]
    assert captured.alerts == ["CRITICAL: rollback of orders failed, manual intervention required"]
    assert captured.events[0][1]["severity"] == "critical" and captured.events[0][1]["attempts"] == 2


def test_an_invalid_artifact_is_rejected_in_stage_only(table: MetadataTable, captured: Captured) -> None:
    error = {"Error": "InvalidArtifact", "Cause": '{"errorMessage": "signature: does not verify"}'}
    seed(table, item_in("stage"))
    _apply(table, captured, run_of("stage", "invalid_artifact", error=error))
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == "rejected" and item["integrity_verified"] is False
    assert item["environment_states"]["stage"]["failure_reason"] == "InvalidArtifact: signature: does not verify"
    assert captured.metrics == []  # AssetHashMismatch counts the deployer's asset check only
    assert "asset_verification_passed" not in item

    seed(table, item_in("prod"))
    _apply(table, captured, run_of("prod", "invalid_artifact", error=error))
    assert table.get(SERVICE, COMMIT)["status"] == "promoted"


def test_an_asset_mismatch_counts_asset_hash_mismatch_and_keeps_the_release(
    table: MetadataTable, captured: Captured
) -> None:
    error = {"Error": "AssetMismatch", "Cause": "an object CloudFormation reads was not the signed content"}
    for environment, status in (("stage", "candidate"), ("prod", "promoted")):
        seed(table, item_in(environment))
        _apply(table, captured, run_of(environment, "asset_mismatch", error=error))
        item = table.get(SERVICE, COMMIT)
        assert item["status"] == status and item["asset_verification_passed"] is False
        assert item["environment_states"][environment]["status"] == "failed"
        assert item["environment_states"][environment]["failure_reason"].startswith("AssetMismatch: ")
    assert captured.metrics == [("AssetHashMismatch", 1.0)] * 2


def test_a_failure_while_testing_leaves_the_tests_not_tested(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"}))
    _apply(table, captured, run_of("stage", "timed_out", error={"Error": "States.Timeout", "Cause": ""}))
    item = table.get(SERVICE, COMMIT)
    assert item["environment_states"]["stage"]["test_status"] == "not_tested"
    assert item["execution_status"] == "timeout"


def test_an_unknown_action_or_environment_is_named() -> None:
    with pytest.raises(ValueError, match="'promote_all' is not a valid Action"):
        run_of("stage", "promote_all")
    with pytest.raises(ValueError, match="'qa' is not a valid Environment"):
        run_of("qa", "deployed")
    with pytest.raises(ValueError, match="lacks execution_id"):
        Run.from_event({"service": SERVICE, "commit_sha": COMMIT, "environment": "stage"})
    with pytest.raises(ValueError, match="names no artifact: 'orders' @ 'HEAD'"):
        Run.from_event({"service": SERVICE, "commit_sha": "HEAD", "environment": "stage", "execution_id": "x"})
    with pytest.raises(ValueError, match="rollback must be an object or null"):
        run_of("prod", "rollback_failed", rollback="oops")


@pytest.mark.parametrize(
    ("environment", "overrides", "outcome", "reason"),
    [
        (
            "prod",
            {"eligibility_revoked": True, "eligibility_revoked_reason": "smoke"},
            "refused",
            "not eligible: smoke",
        ),
        ("stage", {"execution_id": "arn:other-run"}, "duplicate", "another run holds stage: arn:other-run"),
        ("stage", {"status": "promoted", lc.ENV_STATUS: "deployed"}, "duplicate", "already run: status promoted"),
        ("stage", {"status": "rejected", lc.ENV_STATUS: "failed"}, "refused", "a stage run needs candidate"),
        ("prod", {lc.ENV_STATUS: "failed"}, "refused", "prod is failed"),
    ],
)
def test_a_lost_lease_says_why(environment: str, overrides: dict, outcome: str, reason: str) -> None:
    run = run_of(environment, "lease_lost")
    result = explain_lease_lost(run, item_in(environment, **overrides))
    assert result["outcome"] == outcome and reason in result["reason"]
    assert result["succeeded"] is (outcome == "duplicate") and result["applied"] is False


@pytest.mark.parametrize("action", sorted(set(lc.Action) - lc.RECORDED_BY_THE_STATE_MACHINE))
def test_the_transition_function_refuses_what_only_other_steps_write(
    table: MetadataTable, captured: Captured, action: lc.Action
) -> None:
    seeded = seed(table, item_in("prod", status="rejected", execution_id="arn:another-run"))
    with pytest.raises(ValueError, match="does not record"):
        _apply(table, captured, run_of("prod", action.value))
    assert table.get(SERVICE, COMMIT) == seeded and table.service_record(SERVICE) == {}
    assert captured.events == [] and captured.metrics == []


def test_a_refused_prod_success_does_not_move_the_known_good(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("prod", execution_id="arn:another-run", **{lc.ENV_STATUS: "deployed"}))
    result = _apply(table, captured, run_of("prod", "prod_succeeded"))
    assert result["applied"] is False and table.service_record(SERVICE) == {}


def test_a_refused_rollback_attempt_is_not_retried(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("prod", status="rollback_initiated", execution_id="arn:another-run"))
    plan = {"attempt": 1, "max_attempts": 3, "target_commit": "a" * 40}
    result = _apply(table, captured, run_of("prod", "rollback_attempt_failed", rollback=plan))
    assert result["applied"] is False and result["retry"] is False


def test_a_failed_build_is_reported_by_its_id_and_phase_not_its_json() -> None:
    cause = {
        "Build": {
            "Id": "cdkcp-smoke-prod:7",
            "BuildStatus": "FAILED",
            "Phases": [
                {"PhaseType": "INSTALL", "PhaseStatus": "SUCCEEDED"},
                {"PhaseType": "BUILD", "PhaseStatus": "FAILED"},
            ],
        }
    }
    run = run_of("prod", "smoke_failed", error={"Error": "States.TaskFailed", "Cause": json.dumps(cause)})
    assert run.error_text() == "States.TaskFailed: build cdkcp-smoke-prod:7 FAILED in BUILD (see its log)"


# --- the lease's terms and why its transaction was cancelled --------------------------------------------


def _pending(environment: str) -> dict:
    return item_in(environment, execution_id=None, execution_status=None, **{lc.ENV_STATUS: "pending"})


def test_the_lease_terms_are_the_locks_expiry_and_the_build_time(table: MetadataTable, captured: Captured) -> None:
    seed(table, _pending("prod"))
    run = run_of("prod", "lease_terms", execution_started_at="2026-11-21T10:00:00.123Z")
    result = _apply(table, captured, run)
    assert result == {"action": "lease_terms", "expires_at": "2026-11-22T12:00:00Z", "build_time": BUILD_TIME}
    assert lc.LOCK_EXPIRY_SECONDS == 26 * 3600 and captured.events == []


def test_the_lease_terms_are_given_even_without_an_item(table: MetadataTable, captured: Captured) -> None:
    # the lease then fails on the item's guard, and LostRace says why; the terms must not break the run
    result = _apply(table, captured, run_of("stage", "lease_terms", execution_started_at="2026-11-21T10:00:00Z"))
    assert result["expires_at"] == "2026-11-22T12:00:00Z" and result["build_time"]


def test_a_held_lock_is_waited_for(table: MetadataTable, captured: Captured) -> None:
    seed(table, _pending("stage"))
    holder = {lc.LOCK_HOLDER: "arn:other", lc.LOCK_HOLDER_NAME: "orders-dddd-stage-1", lc.LOCK_COMMIT: "d" * 40}
    seed(table, {"service": SERVICE, "commit_sha": "_lock#stage", **holder, lc.LOCK_EXPIRES_AT: "2999-01-01T00:00:00Z"})
    result = _apply(table, captured, run_of("stage", "lease_lost"))
    assert result["outcome"] == lc.LOCK_BUSY and result["holder"] == "arn:other"
    assert "locked by orders-dddd-stage-1" in result["reason"] and not result["succeeded"]
    assert captured.events == []


def test_a_duplicate_is_not_told_to_wait_even_while_the_lock_is_held(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage", execution_id="arn:other"))  # deploying, by the lock's holder
    seed(table, {"service": SERVICE, "commit_sha": "_lock#stage", lc.LOCK_HOLDER: "arn:other"})
    result = _apply(table, captured, run_of("stage", "lease_lost"))
    assert result["outcome"] == "duplicate" and result["succeeded"] is True


def test_an_older_build_than_the_prod_known_good_is_superseded(table: MetadataTable, captured: Captured) -> None:
    seed(table, _pending("prod"))
    record = {lc.LAST_KNOWN_GOOD: "f" * 40, lc.KNOWN_GOOD_BUILD_TIME: "2026-11-20T10:00:01Z"}
    seed(table, {"service": SERVICE, "commit_sha": lc.SERVICE_RECORD, **record})
    result = _apply(table, captured, run_of("prod", "lease_lost"))
    assert (result["outcome"], result["applied"], result["succeeded"]) == ("superseded", True, False)
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == "promoted" and item["environment_states"]["prod"]["status"] == "superseded"
    assert "f" * 40 in item["environment_states"]["prod"]["failure_reason"]
    assert captured.types == ["DeployFailed"]
    detail = captured.events[0][1]
    assert (detail["phase"], detail["retryable"], detail["known_good_commit"]) == ("prod_ordering", False, "f" * 40)


def test_a_conflict_with_every_condition_met_is_tried_again(table: MetadataTable, captured: Captured) -> None:
    seed(table, _pending("prod"))
    result = _apply(table, captured, run_of("prod", "lease_lost"))
    assert result["outcome"] == lc.LOCK_BUSY and result["holder"] is None


def test_a_lock_expires_no_earlier_than_the_execution_times_out() -> None:
    """`expires_at` is written to the second; Step Functions' `EnteredTime` has milliseconds. Within the
    second it names, the lock is not expired ('Z' sorts after '.'), so it expires at the next second."""
    expires = "2026-11-21T12:00:00Z"  # a lock of an execution started at 10:00:00.900 (were it 2 hours)
    assert not expires < "2026-11-21T12:00:00.999Z"
    assert expires < "2026-11-21T12:00:01.000Z"


@pytest.mark.parametrize(
    ("environment", "deploy", "error", "phase", "env_status", "execution_status"),
    [
        # Validate: KMS did not answer; $.deploy is still null
        ("prod", None, {"Error": "TransientAwsError", "Cause": "KMS throttled"}, "validate", "pending", "failed"),
        ("prod", None, {"Error": "States.Timeout", "Cause": ""}, "validate", "pending", "timeout"),
        ("stage", None, {"Error": "SettingsError", "Cause": "catalog"}, "validate", "failed", "failed"),
        # the deploy build exported not_started (DeployOutcome replaced its Build by id and status)
        (
            "prod",
            {"build_id": "b:1", "status": "SUCCEEDED"},
            {"Error": "DeployNotStarted"},
            "deploy",
            "pending",
            "failed",
        ),
    ],
)
def test_a_run_that_deployed_nothing_neither_rolls_back_nor_revokes(
    table: MetadataTable,
    captured: Captured,
    environment: str,
    deploy: dict | None,
    error: dict,
    phase: str,
    env_status: str,
    execution_status: str,
) -> None:
    seed(table, item_in(environment))
    _apply(table, captured, run_of(environment, "not_started", error=error, deploy=deploy))
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == ("promoted" if environment == "prod" else "candidate")
    assert item["environment_states"][environment]["status"] == env_status
    assert item["environment_states"][environment]["failure_reason"].startswith(error["Error"])
    assert item["execution_status"] == execution_status
    assert "eligibility_revoked" not in item and "rollback_initiated_at" not in item
    assert (item.get("sweep_phase") == "prod") is (environment == "prod")
    assert table.get(SERVICE, lc.revoked_content_key("e" * 64)) is None
    ((kind, detail),) = captured.events
    assert (kind, detail["phase"], detail["retryable"]) == ("DeployFailed", phase, True)
