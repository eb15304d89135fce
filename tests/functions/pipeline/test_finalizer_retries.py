"""What the finalizer leaves an artifact in when nothing proves how its run ended: never out of the sweep
for good. Stage waits for its next attempt; a prod deploy that ended half way, a run stopped by hand and
prod stacks found failed are parked for a person (`DeployFailed`, phase `finalizer`, an alert); a rollback
whose run ended without `Finalize` is `rollback_interrupted` (critical alert), worded from its ending."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.pipeline import lifecycle as lc
from functions.pipeline.finalizer import finalize
from functions.pipeline.store import MetadataTable
from tests.functions.pipeline.conftest import COMMIT, EXECUTION, SERVICE, Captured, item_in, seed
from tests.functions.pipeline.test_finalizer import (
    ASSEMBLY,
    MACHINE,
    FakeCloudFormation,
    FakeCodeBuild,
    FakeStepFunctions,
    _ended,
)

PROD_RUN = json.dumps({"service": SERVICE, "commit_sha": COMMIT, "environment": "prod", "trigger": {}})


def _reconcile(table: MetadataTable, captured: Captured, stacks: dict, stepfunctions: Any, event: dict) -> dict:
    """The finalizer with the service's stacks unreadable (the read-only role denied: nothing is proven),
    or read as `stacks` says."""

    def unreadable(service: str, environment: str) -> Any:
        if stacks:
            return FakeCloudFormation(stacks)
        raise RuntimeError("AccessDenied on sts:AssumeRole")

    return finalize(
        event,
        table=table,
        notify=captured,  # type: ignore[arg-type]
        metric=captured.metric,
        cloudformation_for=unreadable,
        cloud_assembly_for=lambda service, commit, environment: ASSEMBLY,
        stepfunctions=stepfunctions,
        codebuild=FakeCodeBuild({}),
        state_machine_arn=MACHINE,
    )


def _prod_ended(status: str) -> tuple[FakeStepFunctions, dict]:
    return FakeStepFunctions([], status=status, input=PROD_RUN), _ended(status, input=PROD_RUN)


def test_a_stage_deploy_that_ended_unproven_waits_for_its_next_attempt(
    table: MetadataTable, captured: Captured
) -> None:
    """The stacks cannot be read: nothing is proven, the generic repair applies, and stage retries."""
    seed(table, item_in("stage", sweep_phase="running"))
    _reconcile(table, captured, {}, FakeStepFunctions([], status="TIMED_OUT"), event=_ended("TIMED_OUT"))
    item = table.get(SERVICE, COMMIT)
    assert item["environment_states"]["stage"]["status"] == "failed" and item["sweep_phase"] == "stage"
    assert item["sweep_since"] and captured.alerts == [] and "DeployFailed" not in captured.types


def test_a_prod_deploy_that_ended_unproven_is_parked_for_a_person(table: MetadataTable, captured: Captured) -> None:
    """A half-applied prod deploy needs a person (redeploy, or a fix as a new commit: no rollback path
    exists for it): parked, manual intervention, an alert and `DeployFailed` (phase `finalizer`, not
    retryable, the lead's alert rule); `pending`, so that the next attempt an operator starts takes the lease."""
    seed(table, item_in("prod", sweep_phase="running"))
    lock = {lc.LOCK_HOLDER: EXECUTION, lc.LOCK_EXPIRES_AT: "2999-01-01T00:00:00Z"}
    seed(table, {"service": SERVICE, "commit_sha": "_lock#prod", **lock})
    stepfunctions, event = _prod_ended("TIMED_OUT")
    result = _reconcile(table, captured, {}, stepfunctions, event=event)
    item = table.get(SERVICE, COMMIT)
    prod = item["environment_states"]["prod"]
    assert item["sweep_phase"] == "prod_parked" and item["manual_intervention_required"] is True
    assert prod["status"] == "pending" and item["status"] == "promoted"
    assert "roll back" not in prod["failure_reason"]
    assert prod["failure_reason"].endswith(
        "redeploy the release by starting its next attempt, or ship a fix as a new commit"
    )
    assert captured.alerts == [lc.PARKED_BY_FINALIZER.format(service=SERVICE)]
    (failed,) = [detail for kind, detail in captured.events if kind == "DeployFailed"]
    assert failed["phase"] == "finalizer" and failed["retryable"] is False and failed["parked"] == "unproven_deploy"
    assert failed["reason"] == prod["failure_reason"] and failed["environment"] == "prod"
    assert "prod_parked: parked, manual intervention required" in result["corrections"]
    assert lc.LOCK_HOLDER not in table.get(SERVICE, "_lock#prod")


def test_prod_smoke_tests_that_never_finished_run_again(table: MetadataTable, captured: Captured) -> None:
    """Timed out during its smoke tests: they run again (FAILED and TIMED_OUT endings are retried)."""
    seed(
        table, item_in("prod", sweep_phase="running", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"})
    )
    stepfunctions, event = _prod_ended("TIMED_OUT")
    _reconcile(table, captured, {}, stepfunctions, event=event)
    item = table.get(SERVICE, COMMIT)
    assert item["environment_states"]["prod"]["test_status"] == "not_tested" and item["sweep_phase"] == "prod"
    assert "manual_intervention_required" not in item and captured.alerts == []


def test_an_artifact_that_is_no_longer_its_environments_release_is_not_retried(
    table: MetadataTable, captured: Captured
) -> None:
    seed(table, item_in("stage", status="rejected", sweep_phase="running"))
    _reconcile(table, captured, {}, FakeStepFunctions([], status="FAILED"), event=_ended("FAILED"))
    item = table.get(SERVICE, COMMIT)
    assert item["environment_states"]["stage"]["status"] == "failed" and "sweep_phase" not in item


def test_a_rollback_that_ended_without_finalize_is_interrupted_with_a_critical_alert(
    table: MetadataTable, captured: Captured
) -> None:
    """Stopped by a person, or timed out: prod's state is unknown. Never left `rollback_initiated`."""
    seed(table, item_in("prod", status="rollback_initiated", sweep_phase="running", **{lc.ENV_STATUS: "deployed"}))
    stepfunctions, event = _prod_ended("ABORTED")
    _reconcile(table, captured, {}, stepfunctions, event=event)
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == "rollback_failed" and item["manual_intervention_required"] is True
    assert item["environment_states"]["prod"]["status"] == "rollback_failed"
    assert item["rollback_failure_reason"].startswith("rollback interrupted: stopped by hand")
    assert "stuck" not in item["rollback_failure_reason"]
    # the watchdog did not stop it: no StuckPipelineTerminated; its finalizer clears the `running` phase
    assert "sweep_phase" not in item and "RollbackFailed" in captured.types
    assert "StuckPipelineTerminated" not in captured.types
    assert captured.alerts == [
        f"CRITICAL: rollback of {SERVICE} was interrupted (stuck, stopped or timed out), manual intervention required"
    ]


def test_a_rollback_still_running_is_not_interrupted(table: MetadataTable, captured: Captured) -> None:
    seeded = seed(table, item_in("prod", status="rollback_initiated", sweep_phase="running"))
    stepfunctions = FakeStepFunctions([], status="PENDING_REDRIVE", input=PROD_RUN)
    result = _reconcile(table, captured, {}, stepfunctions, event=_ended("ABORTED", input=PROD_RUN))
    assert "still running" in result["ignored"] and table.get(SERVICE, COMMIT) == seeded


def test_a_rollback_that_timed_out_says_so(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("prod", status="rollback_initiated", sweep_phase="running", **{lc.ENV_STATUS: "deployed"}))
    stepfunctions, event = _prod_ended("TIMED_OUT")
    _reconcile(table, captured, {}, stepfunctions, event=event)
    item = table.get(SERVICE, COMMIT)
    assert item["rollback_failure_reason"].startswith("rollback interrupted: timed out")
    (failed,) = [detail for kind, detail in captured.events if kind == "RollbackFailed"]
    assert failed["reason"].startswith("timed out") and "StuckPipelineTerminated" not in captured.types


@pytest.mark.parametrize("environment", ["stage", "prod"])
@pytest.mark.parametrize("env_status", ["deploying", "deployed"])
def test_a_run_stopped_by_hand_is_parked_never_retried(
    table: MetadataTable, captured: Captured, environment: str, env_status: str
) -> None:
    """ABORTED while it still held its item `running`: a person stopped it (the watchdog requeues before it
    stops). The sweeper must not start it again: parked, manual intervention, an alert, `DeployFailed`."""
    tests = {
        lc.ENV_STATUS: env_status,
        lc.ENV_TEST_STATUS: "test_running" if env_status == "deployed" else "not_tested",
    }
    seed(table, item_in(environment, sweep_phase="running", **tests))
    run = json.dumps({"service": SERVICE, "commit_sha": COMMIT, "environment": environment, "trigger": {}})
    stepfunctions = FakeStepFunctions([], status="ABORTED", input=run)
    result = _reconcile(table, captured, {}, stepfunctions, event=_ended("ABORTED", input=run))
    item = table.get(SERVICE, COMMIT)
    state = item["environment_states"][environment]
    assert item["sweep_phase"] == f"{environment}_parked" and item["manual_intervention_required"] is True
    assert item["execution_status"] == "killed" and state["test_status"] == "not_tested"
    assert state["failure_reason"].startswith("the run was stopped by hand")
    if environment == "prod":
        assert state["status"] == "pending" and item["sweep_since"] > "2026-11-21"  # the lease takes pending
    else:
        assert item["sweep_since"] == item["build_time"]  # ArtifactNeverPromoted counts build times
    assert captured.alerts == [lc.PARKED_SUBJECTS[lc.ParkedBecause.STOPPED_BY_HAND].format(service=SERVICE)]
    (failed,) = [detail for kind, detail in captured.events if kind == "DeployFailed"]
    assert failed["phase"] == "finalizer" and failed["retryable"] is False and failed["parked"] == "stopped_by_hand"
    assert f"{environment}_parked: parked, manual intervention required (stopped_by_hand)" in result["corrections"]


def test_a_run_the_watchdog_requeued_then_stopped_is_not_parked(table: MetadataTable, captured: Captured) -> None:
    """The watchdog's stop finds the item requeued (phase `stage`, killed): its ABORTED ending parks nothing."""
    seed(table, item_in("stage", sweep_phase="stage", execution_status="killed", **{lc.ENV_STATUS: "pending"}))
    _reconcile(table, captured, {}, FakeStepFunctions([], status="ABORTED"), event=_ended("ABORTED"))
    item = table.get(SERVICE, COMMIT)
    assert item["sweep_phase"] == "stage" and "manual_intervention_required" not in item and captured.alerts == []


def test_prod_stacks_found_failed_after_its_tests_were_cut_short_are_parked(
    table: MetadataTable, captured: Captured
) -> None:
    """Timed out during its smoke tests with a stack failed: never back in the prod sweep, where no lease
    would take a `failed` prod and it would wait unalerted for good."""
    seed(
        table, item_in("prod", sweep_phase="running", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"})
    )
    stepfunctions, event = _prod_ended("TIMED_OUT")
    _reconcile(table, captured, {"orders-prod-api": "UPDATE_ROLLBACK_FAILED"}, stepfunctions, event=event)
    item = table.get(SERVICE, COMMIT)
    prod = item["environment_states"]["prod"]
    assert item["sweep_phase"] == "prod_parked" and item["manual_intervention_required"] is True
    assert prod["status"] == "pending" and "orders-prod-api" in prod["failure_reason"]
    assert captured.alerts == [lc.PARKED_SUBJECTS[lc.ParkedBecause.BROKEN_STACKS].format(service=SERVICE)]
    (failed,) = [detail for kind, detail in captured.events if kind == "DeployFailed"]
    assert failed["phase"] == "finalizer" and failed["parked"] == "broken_stacks"


def test_the_ending_of_a_rollback_the_watchdog_stopped_clears_its_running_phase(
    table: MetadataTable, captured: Captured
) -> None:
    """The watchdog wrote `rollback_interrupted` and left the item `running` (so that a failed stop is
    retried); the finalizer of its ABORTED ending takes it out of the index, parks nothing, alerts nothing."""
    interrupted = {lc.ENV_STATUS: "rollback_failed", "execution_status": "killed", "manual_intervention_required": True}
    seed(table, item_in("prod", status="rollback_failed", sweep_phase="running", **interrupted))
    stepfunctions, event = _prod_ended("ABORTED")
    _reconcile(table, captured, {}, stepfunctions, event=event)
    item = table.get(SERVICE, COMMIT)
    assert "sweep_phase" not in item and item["status"] == "rollback_failed"
    assert captured.alerts == [] and "DeployFailed" not in captured.types
