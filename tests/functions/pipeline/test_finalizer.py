"""The finalizer: corrects what a crashed, timed-out or lost step left, compares with the real stacks,
and never touches an item another run holds."""

from __future__ import annotations

from typing import Any

import pytest

from functions.pipeline import lifecycle as lc
from functions.pipeline.finalizer import finalize, stack_names
from functions.pipeline.store import MetadataTable
from tests.functions.pipeline.conftest import COMMIT, EXECUTION, SERVICE, Captured, item_in, seed

ASSEMBLY = {
    "artifacts": {
        "OrdersStageApi": {"type": "aws:cloudformation:stack", "properties": {"stackName": "orders-stage-api"}},
        "orders-stage-data": {"type": "aws:cloudformation:stack"},
        "OrdersProdApi": {"type": "aws:cloudformation:stack", "properties": {"stackName": "orders-prod-api"}},
        "Tree": {"type": "cdk:tree"},
    }
}


class FakeCloudFormation:
    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        from botocore.exceptions import ClientError

        if StackName not in self.statuses:
            raise ClientError({"Error": {"Code": "ValidationError", "Message": "does not exist"}}, "DescribeStacks")
        return {"Stacks": [{"StackStatus": self.statuses[StackName]}]}


def _finalize(table: MetadataTable, captured: Captured, stacks: dict[str, str], **event: Any) -> dict[str, Any]:
    return finalize(
        {"service": SERVICE, "commit_sha": COMMIT, "environment": "stage", "execution_id": EXECUTION, **event},
        table=table,
        notify=captured,  # type: ignore[arg-type]
        metric=captured.metric,
        cloudformation_for=lambda service, environment: FakeCloudFormation(stacks),
        cloud_assembly_for=lambda service, commit, environment: ASSEMBLY,
    )


HEALTHY = {"orders-stage-api": "UPDATE_COMPLETE", "orders-stage-data": "CREATE_COMPLETE"}


def test_only_the_environments_stacks_are_read() -> None:
    assert stack_names(ASSEMBLY, "orders", "stage") == ["orders-stage-api", "orders-stage-data"]


def test_a_clean_run_is_recorded_without_corrections(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage", status="promoted", execution_status="succeeded", **{lc.ENV_STATUS: "deployed"}))
    result = _finalize(table, captured, HEALTHY, outcome={"action": "promoted", "succeeded": True})
    assert result == {"succeeded": True, "corrections": [], "stacks": HEALTHY, "lock_released": False}
    item = table.get(SERVICE, COMMIT)
    assert item["finalizer_ran"] is True and item["finalizer_correction_applied"] is False
    assert item["environment_states"]["stage"]["stacks"] == HEALTHY
    assert captured.events == [] and captured.metrics == [("FinalizerCorrected", 0.0)]


def test_a_timed_out_run_is_repaired(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage", **{lc.ENV_TEST_STATUS: "test_running"}))
    result = _finalize(table, captured, HEALTHY, error={"Error": "States.Timeout", "Cause": ""})
    assert result["succeeded"] is False and len(result["corrections"]) == 3
    item = table.get(SERVICE, COMMIT)
    assert item["execution_status"] == "timeout" and item["execution_completed_at"]
    assert item["environment_states"]["stage"]["status"] == "failed"
    assert item["environment_states"]["stage"]["test_status"] == "not_tested"
    assert item["finalizer_corrected"] is True
    assert captured.types == ["FinalizerCorrectedMetadata"] and captured.metrics == [("FinalizerCorrected", 1.0)]


def test_deployed_with_a_failed_stack_becomes_failed(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage", execution_status="failed", **{lc.ENV_STATUS: "deployed"}))
    stacks = {**HEALTHY, "orders-stage-api": "UPDATE_ROLLBACK_COMPLETE", "orders-stage-data": "ROLLBACK_COMPLETE"}
    result = _finalize(table, captured, stacks)
    assert result["corrections"] == ["deployed, but stacks failed: orders-stage-data"]
    assert table.get(SERVICE, COMMIT)["environment_states"]["stage"]["status"] == "failed"


def test_an_unreachable_account_still_finalizes(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage", execution_status="failed", **{lc.ENV_STATUS: "failed"}))

    def unreachable(service: str, environment: str) -> Any:
        raise RuntimeError("AccessDenied on sts:AssumeRole")

    result = finalize(
        {"service": SERVICE, "commit_sha": COMMIT, "environment": "stage", "execution_id": EXECUTION},
        table=table,
        notify=captured,  # type: ignore[arg-type]
        metric=captured.metric,
        cloudformation_for=unreachable,
        cloud_assembly_for=lambda *args: ASSEMBLY,
    )
    assert result["stacks"] == {"<unavailable>": "AccessDenied on sts:AssumeRole"}
    assert table.get(SERVICE, COMMIT)["finalizer_ran"] is True


@pytest.mark.parametrize("holder", ["arn:another-run", None])
def test_another_runs_item_is_left_alone(table: MetadataTable, captured: Captured, holder: str | None) -> None:
    seeded = seed(table, item_in("stage", execution_id=holder))
    result = _finalize(table, captured, HEALTHY)
    assert result == {
        "succeeded": False,
        "corrections": [],
        "reason": "the item belongs to another execution",
        "lock_released": False,
    }
    assert table.get(SERVICE, COMMIT) == seeded and captured.events == []


def test_a_lost_lease_is_not_finalized(table: MetadataTable, captured: Captured) -> None:
    seeded = seed(table, item_in("stage", execution_id="arn:the-first-run"))
    outcome = {"action": "lease_lost", "outcome": "duplicate", "succeeded": True, "reason": "another run holds stage"}
    assert _finalize(table, captured, HEALTHY, outcome=outcome)["succeeded"] is True
    assert table.get(SERVICE, COMMIT) == seeded


LOCK = "_lock#stage"


def _lock(holder: str) -> dict:
    return {"service": SERVICE, "commit_sha": LOCK, lc.LOCK_HOLDER: holder, lc.LOCK_EXPIRES_AT: "2999-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    "outcome",
    [{"action": "promoted", "succeeded": True}, {"action": "deploy_failed", "succeeded": False}, None],
    ids=["succeeded", "failed", "no-outcome"],
)
def test_the_lock_is_released_by_its_holder_however_the_run_ended(
    table: MetadataTable, captured: Captured, outcome: dict | None
) -> None:
    seed(table, item_in("stage", status="promoted", execution_status="succeeded", **{lc.ENV_STATUS: "deployed"}))
    seed(table, _lock(EXECUTION))
    assert _finalize(table, captured, HEALTHY, outcome=outcome)["lock_released"] is True
    released = table.get(SERVICE, LOCK)
    assert lc.LOCK_HOLDER not in released and lc.LOCK_EXPIRES_AT not in released
    assert released["released_by"] == EXECUTION


def test_the_lock_is_released_even_when_finalizing_the_item_fails(table: MetadataTable, captured: Captured) -> None:
    seed(table, _lock(EXECUTION))

    class Broken:
        def get(self, *args: object) -> None:
            raise RuntimeError("DynamoDB is down")

        def __getattr__(self, name: str) -> object:
            return getattr(table, name)

    with pytest.raises(RuntimeError, match="DynamoDB is down"):
        _finalize(Broken(), captured, HEALTHY)  # type: ignore[arg-type]
    assert lc.LOCK_HOLDER not in table.get(SERVICE, LOCK)


def test_a_failed_release_never_hides_the_items_failure(table: MetadataTable, captured: Captured) -> None:
    seed(table, _lock(EXECUTION))

    class Broken:
        def get(self, *args: object) -> None:
            raise RuntimeError("DynamoDB is down")

        def update(self, *args: object) -> None:
            raise RuntimeError("and the lock cannot be released")

    with pytest.raises(RuntimeError, match="DynamoDB is down"):  # the item's failure, not the release's
        _finalize(Broken(), captured, HEALTHY)  # type: ignore[arg-type]


@pytest.mark.parametrize("outcome", [None, {"action": "lease_lost", "outcome": "duplicate", "succeeded": True}])
def test_another_runs_lock_is_never_released(table: MetadataTable, captured: Captured, outcome: dict | None) -> None:
    seed(table, item_in("stage", execution_id="arn:the-first-run"))
    held = seed(table, _lock("arn:the-first-run"))
    assert not _finalize(table, captured, HEALTHY, outcome=outcome).get("lock_released")
    assert table.get(SERVICE, LOCK) == held
