"""What the finalizer leaves an artifact in when nothing proves how its run ended: never out of the sweep
for good. Stage waits for its next attempt; a prod deploy that ended half way is parked for a person; a
rollback whose run ended without `Finalize` is `rollback_interrupted` (critical alert)."""

from __future__ import annotations

import json
from typing import Any

from functions.pipeline import lifecycle as lc
from functions.pipeline.finalizer import finalize
from functions.pipeline.store import MetadataTable
from tests.functions.pipeline.conftest import COMMIT, EXECUTION, SERVICE, Captured, item_in, seed
from tests.functions.pipeline.test_finalizer import ASSEMBLY, MACHINE, FakeCodeBuild, FakeStepFunctions, _ended

PROD_RUN = json.dumps({"service": SERVICE, "commit_sha": COMMIT, "environment": "prod", "trigger": {}})


def _reconcile(table: MetadataTable, captured: Captured, _: dict, stepfunctions: Any, event: dict) -> dict:
    """The finalizer with the service's stacks unreadable (the read-only role denied): nothing is proven."""

    def unreadable(service: str, environment: str) -> Any:
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
    _reconcile(table, captured, {}, FakeStepFunctions([], status="ABORTED"), event=_ended("ABORTED"))
    item = table.get(SERVICE, COMMIT)
    assert item["environment_states"]["stage"]["status"] == "failed" and item["sweep_phase"] == "stage"
    assert item["sweep_since"] and captured.alerts == []


def test_a_prod_deploy_that_ended_unproven_is_parked_for_a_person(table: MetadataTable, captured: Captured) -> None:
    """A half-applied prod deploy needs a person (redeploy or roll back): parked, manual intervention,
    an alert; `pending`, so that the next attempt an operator starts takes the lease."""
    seed(table, item_in("prod", sweep_phase="running"))
    lock = {lc.LOCK_HOLDER: EXECUTION, lc.LOCK_EXPIRES_AT: "2999-01-01T00:00:00Z"}
    seed(table, {"service": SERVICE, "commit_sha": "_lock#prod", **lock})
    stepfunctions, event = _prod_ended("TIMED_OUT")
    result = _reconcile(table, captured, {}, stepfunctions, event=event)
    item = table.get(SERVICE, COMMIT)
    prod = item["environment_states"]["prod"]
    assert item["sweep_phase"] == "prod_parked" and item["manual_intervention_required"] is True
    assert prod["status"] == "pending" and "roll back" in prod["failure_reason"] and item["status"] == "promoted"
    assert captured.alerts == [lc.PARKED_BY_FINALIZER.format(service=SERVICE)]
    assert "prod_parked: parked, manual intervention required" in result["corrections"]
    assert lc.LOCK_HOLDER not in table.get(SERVICE, "_lock#prod")


def test_prod_smoke_tests_that_never_finished_run_again(table: MetadataTable, captured: Captured) -> None:
    seed(
        table, item_in("prod", sweep_phase="running", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"})
    )
    stepfunctions, event = _prod_ended("ABORTED")
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
    assert item["rollback_failure_reason"].startswith("rollback interrupted: ")
    assert "sweep_phase" not in item and "RollbackFailed" in captured.types
    assert captured.alerts == [
        f"CRITICAL: rollback of {SERVICE} was interrupted (stuck, stopped or timed out), manual intervention required"
    ]


def test_a_rollback_still_running_is_not_interrupted(table: MetadataTable, captured: Captured) -> None:
    seeded = seed(table, item_in("prod", status="rollback_initiated", sweep_phase="running"))
    stepfunctions = FakeStepFunctions([], status="PENDING_REDRIVE", input=PROD_RUN)
    result = _reconcile(table, captured, {}, stepfunctions, event=_ended("ABORTED", input=PROD_RUN))
    assert "still running" in result["ignored"] and table.get(SERVICE, COMMIT) == seeded
