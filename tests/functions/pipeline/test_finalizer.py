"""The finalizer: corrects what a crashed, timed-out or lost step left, compares with the real stacks,
and never touches an item another run holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.pipeline import lifecycle as lc
from functions.pipeline.endings import status_change
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
    assert result["succeeded"] is False and len(result["corrections"]) == 4
    item = table.get(SERVICE, COMMIT)
    assert item["execution_status"] == "timeout" and item["execution_completed_at"]
    assert item["environment_states"]["stage"]["status"] == "failed" and item["sweep_phase"] == "stage"
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


# --- reconciling both ways from the real state (issue 10) --------------------------------------------

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:cdkcp-DeployArtifactPipeline"
BUILD = "cdkcp-deployer-stage:0b7e"
STARTED = "2026-11-20T10:01:00Z"  # item_in's stage deploy_started_at
BEFORE, AFTER = datetime(2026, 11, 19, 9, 0, tzinfo=UTC), datetime(2026, 11, 20, 10, 7, tzinfo=UTC)


def _task(first_id: int, mode: str, *results: tuple[str, dict]) -> list[dict]:
    """A CodeBuild task of the run's history: scheduled with `MODE=mode`, then its results."""
    parameters = {
        "ProjectName": f"cdkcp-deployer-{'stage'}",
        "EnvironmentVariablesOverride": [{"Name": "MODE", "Type": "PLAINTEXT", "Value": mode}],
    }
    details = {"resourceType": "codebuild", "resource": "startBuild.sync"}
    events = [
        {
            "id": first_id,
            "type": "TaskScheduled",
            "taskScheduledEventDetails": {**details, "parameters": json.dumps(parameters)},
        }
    ]
    keys = {
        "TaskSubmitted": ("taskSubmittedEventDetails", "output"),
        "TaskSucceeded": ("taskSucceededEventDetails", "output"),
    }
    keys["TaskFailed"] = ("taskFailedEventDetails", "cause")
    for offset, (kind, build) in enumerate(results, start=1):
        key, field = keys[kind]
        events.append({"id": first_id + offset, "type": kind, key: {**details, field: json.dumps({"Build": build})}})
    return events


def _entered(event_id: int, state: str) -> dict:
    return {"id": event_id, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": state}}


SUCCEEDED_DEPLOY = [
    _entered(5, "DeployStage"),
    *_task(6, "deploy", ("TaskSucceeded", {"Id": BUILD, "BuildStatus": "SUCCEEDED"})),
    *[_entered(i, "RecordDeployed") for i in (8, 9, 10, 11)],  # more than a page: the deploy is on page 3
]


class FakeStepFunctions:
    """GetExecutionHistory (in pages, newest first, as asked) and DescribeExecution of one execution."""

    def __init__(self, events: list[dict], status: str = "RUNNING", **described: Any) -> None:
        self.events, self.status, self.described = events, status, described
        self.histories = 0

    def get_execution_history(
        self, executionArn: str, maxResults: int, reverseOrder: bool, nextToken: str = "0"
    ) -> dict:  # noqa: N803
        assert executionArn == EXECUTION
        self.histories += 1
        ordered = sorted(self.events, key=lambda e: e["id"], reverse=reverseOrder)
        start = int(nextToken)
        page = {"events": ordered[start : start + 2]}  # small pages: the finalizer must follow nextToken
        if start + 2 < len(ordered):
            page["nextToken"] = str(start + 2)
        return page

    def describe_execution(self, executionArn: str) -> dict:  # noqa: N803
        from botocore.exceptions import ClientError

        if executionArn != EXECUTION:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": "no"}}, "DescribeExecution")
        document = {"service": SERVICE, "commit_sha": COMMIT, "environment": "stage", "trigger": {}}
        return {
            "executionArn": EXECUTION,
            "stateMachineArn": MACHINE,
            "status": self.status,
            "startDate": datetime(2026, 11, 20, 10, 1, tzinfo=UTC),
            "input": json.dumps(document),
            **self.described,
        }


class FakeCodeBuild:
    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses
        self.asked: list[list[str]] = []

    def batch_get_builds(self, ids: list[str]) -> dict:
        self.asked.append(ids)
        return {
            "builds": [{"id": i, "buildStatus": self.statuses[i]} for i in ids if i in self.statuses],
            "buildsNotFound": [i for i in ids if i not in self.statuses],
        }


class FakeStacks:
    """DescribeStacks of the read-only role: each stack's status and when it last changed."""

    def __init__(self, stacks: dict[str, tuple[str, datetime, datetime | None]]) -> None:
        self.stacks = stacks  # name -> (status, CreationTime, LastUpdatedTime)

    def describe_stacks(self, StackName: str) -> dict:  # noqa: N803
        from botocore.exceptions import ClientError

        if StackName not in self.stacks:
            raise ClientError({"Error": {"Code": "ValidationError", "Message": "does not exist"}}, "DescribeStacks")
        status, created, updated = self.stacks[StackName]
        stack = {"StackName": StackName, "StackStatus": status, "CreationTime": created}
        return {"Stacks": [{**stack, **({"LastUpdatedTime": updated} if updated else {})}]}


UPDATED = {
    "orders-stage-api": ("UPDATE_COMPLETE", BEFORE, AFTER),
    "orders-stage-data": ("CREATE_COMPLETE", BEFORE, None),
}
UNCHANGED = {
    "orders-stage-api": ("UPDATE_COMPLETE", BEFORE, BEFORE),
    "orders-stage-data": ("CREATE_COMPLETE", BEFORE, None),
}


def _reconcile(
    table: MetadataTable,
    captured: Captured,
    stacks: dict,
    history: list[dict] | FakeStepFunctions,
    builds: dict[str, str] | None = None,
    event: dict | None = None,
) -> dict[str, Any]:
    stepfunctions = history if isinstance(history, FakeStepFunctions) else FakeStepFunctions(history)
    payload = {"service": SERVICE, "commit_sha": COMMIT, "environment": "stage", "execution_id": EXECUTION}
    return finalize(
        event if event is not None else payload,
        table=table,
        notify=captured,  # type: ignore[arg-type]
        metric=captured.metric,
        cloudformation_for=lambda service, environment: FakeStacks(stacks),
        cloud_assembly_for=lambda service, commit, environment: ASSEMBLY,
        stepfunctions=stepfunctions,
        codebuild=FakeCodeBuild({BUILD: "SUCCEEDED"} if builds is None else builds),
        state_machine_arn=MACHINE,
    )


def _stage(item: dict) -> dict:
    return item["environment_states"]["stage"]


def test_a_deploy_that_happened_but_was_not_recorded_becomes_deployed(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage", sweep_phase="running", sweep_since=STARTED))
    result = _reconcile(table, captured, UPDATED, SUCCEEDED_DEPLOY)
    assert result["finding"] == "deployed_unrecorded" and result["succeeded"] is False
    item = table.get(SERVICE, COMMIT)
    assert _stage(item)["status"] == "deployed" and _stage(item)["test_status"] == "not_tested"
    assert _stage(item)["deploy_completed_at"] and item["deploy_build_id"] == BUILD
    # back in the sweep of stage: the sweeper runs it again (the lease takes deployed + not_tested)
    assert item["sweep_phase"] == "stage" and item["sweep_since"] > STARTED
    assert item["execution_status"] == "failed" and item["asset_verification_passed"] is True
    assert item["finalizer_corrected"] is True and item["finalizer_correction_applied"] is True
    assert item["finalizer_corrected_at"]
    assert captured.types == ["FinalizerCorrectedMetadata"] and captured.metrics == [("FinalizerCorrected", 1.0)]
    corrections = captured.events[0][1]["corrections"]
    assert "environment_states.stage.status: deploying -> deployed (deployed_unrecorded)" in corrections


def test_codebuild_says_how_the_deploy_build_ended(table: MetadataTable, captured: Captured) -> None:
    """Step Functions only saw the build submitted (the run was stopped meanwhile); CodeBuild knows it
    SUCCEEDED."""
    seed(table, item_in("stage"))
    submitted = _task(6, "deploy", ("TaskSubmitted", {"Id": BUILD, "BuildStatus": "IN_PROGRESS"}))
    codebuild_said = {BUILD: "SUCCEEDED"}
    assert _reconcile(table, captured, UPDATED, submitted, codebuild_said)["finding"] == "deployed_unrecorded"
    assert _stage(table.get(SERVICE, COMMIT))["status"] == "deployed"


def test_a_build_that_changed_no_stack_deployed_nothing(table: MetadataTable, captured: Captured) -> None:
    """A build that SUCCEEDED without touching a stack (it refused before its first change set, as
    `not_started` or `asset_mismatch`): nothing deployed, stage retryable."""
    seed(table, item_in("stage", sweep_phase="running"))
    result = _reconcile(table, captured, UNCHANGED, SUCCEEDED_DEPLOY)
    assert result["finding"] == "nothing_deployed"
    item = table.get(SERVICE, COMMIT)
    assert _stage(item)["status"] == "failed" and item["sweep_phase"] == "stage"
    assert "before deploying anything" in _stage(item)["failure_reason"]


def test_a_prod_run_that_deployed_nothing_is_pending_again(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("prod", sweep_phase="running"))
    payload = {"service": SERVICE, "commit_sha": COMMIT, "environment": "prod", "execution_id": EXECUTION}
    prod = {"orders-prod-api": ("UPDATE_COMPLETE", BEFORE, BEFORE)}  # older than the prod deploy's start
    result = _reconcile(table, captured, prod, [], event=payload)  # no deploy build was ever scheduled
    assert result["finding"] == "nothing_deployed"
    item = table.get(SERVICE, COMMIT)
    assert item["environment_states"]["prod"]["status"] == "pending" and item["status"] == "promoted"
    assert item["sweep_phase"] == "prod" and "eligibility_revoked" not in item  # never a rollback


@pytest.mark.parametrize(
    ("history", "builds"),
    [
        (_task(6, "deploy", ("TaskSubmitted", {"Id": BUILD, "BuildStatus": "IN_PROGRESS"})), {BUILD: "IN_PROGRESS"}),
        (_task(6, "deploy", ("TaskSubmitted", {"Id": BUILD})), {}),  # a build nobody can say ended
    ],
    ids=["build-still-running", "build-status-unknown"],
)
def test_a_deploy_that_may_still_change_stacks_proves_nothing(
    table: MetadataTable, captured: Captured, history: list, builds: dict
) -> None:
    seed(table, item_in("stage"))
    result = _reconcile(table, captured, UNCHANGED, history, builds)
    assert "finding" not in result
    item = table.get(SERVICE, COMMIT)
    # the generic repair only: a failed stage deploy waits for its next attempt
    assert _stage(item)["status"] == "failed" and item["sweep_phase"] == "stage"


def test_a_failed_deploy_build_that_changed_stacks_is_failed(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage"))
    failed = _task(6, "deploy", ("TaskFailed", {"Id": BUILD, "BuildStatus": "FAILED"}))
    _reconcile(table, captured, UPDATED, failed, {BUILD: "FAILED"})
    assert _stage(table.get(SERVICE, COMMIT))["status"] == "failed"


def test_only_the_deploy_build_counts_not_a_drift_check_or_a_rollback() -> None:
    from functions.pipeline.evidence import deploy_build_in

    events = [
        *_task(3, "drift-check", ("TaskSucceeded", {"Id": "drift:1", "BuildStatus": "SUCCEEDED"})),
        *_task(6, "deploy", ("TaskFailed", {"Id": "deploy:2", "BuildStatus": "FAILED"})),
        *_task(9, "rollback", ("TaskSucceeded", {"Id": "rollback:3", "BuildStatus": "SUCCEEDED"})),
    ]
    found = deploy_build_in(reversed(events))  # newest first, as GetExecutionHistory(reverseOrder) gives
    assert (found.build_id, found.status) == ("deploy:2", "FAILED")


def test_an_unreadable_history_falls_back_to_the_generic_repairs(table: MetadataTable, captured: Captured) -> None:
    class Denied(FakeStepFunctions):
        def get_execution_history(self, **kwargs: Any) -> dict:
            raise RuntimeError("AccessDenied on states:GetExecutionHistory")

    seed(table, item_in("stage"))
    result = _reconcile(table, captured, UPDATED, Denied([]))
    assert "finding" not in result and _stage(table.get(SERVICE, COMMIT))["status"] == "failed"


def test_the_leases_running_phase_is_cleared_without_counting_as_a_correction(
    table: MetadataTable, captured: Captured
) -> None:
    seed(
        table,
        item_in(
            "stage",
            status="promoted",
            execution_status="succeeded",
            sweep_phase="running",
            sweep_since=STARTED,
            **{lc.ENV_STATUS: "deployed"},
        ),
    )
    result = _finalize(table, captured, HEALTHY, outcome={"action": "promoted", "succeeded": True})
    assert result["succeeded"] is True and result["corrections"] == []
    item = table.get(SERVICE, COMMIT)
    assert "sweep_phase" not in item and captured.metrics == [("FinalizerCorrected", 0.0)]


def test_a_sweep_phase_another_writer_set_is_left_alone(table: MetadataTable, captured: Captured) -> None:
    seed(
        table,
        item_in(
            "stage", status="promoted", execution_status="succeeded", sweep_phase="prod", **{lc.ENV_STATUS: "deployed"}
        ),
    )
    _finalize(table, captured, HEALTHY, outcome={"action": "promoted", "succeeded": True})
    assert table.get(SERVICE, COMMIT)["sweep_phase"] == "prod"


# --- the EventBridge ending --------------------------------------------------------------------------


def _ended(status: str, **detail: Any) -> dict:
    """What the rule delivers: Step Functions' "Execution Status Change" event."""
    document = {"service": SERVICE, "commit_sha": COMMIT, "environment": "stage", "trigger": {}}
    return {
        "version": "0",
        "id": "evt",
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [EXECUTION],
        "detail": {
            "executionArn": EXECUTION,
            "stateMachineArn": MACHINE,
            "name": EXECUTION.rsplit(":", 1)[1],
            "status": status,
            "input": json.dumps(document),
            **detail,
        },
    }


@pytest.mark.parametrize(
    ("status", "recorded"), [("ABORTED", "killed"), ("TIMED_OUT", "timeout"), ("FAILED", "failed")]
)
def test_a_run_that_ended_without_its_finalize_state_is_finalized_from_the_event(
    table: MetadataTable, captured: Captured, status: str, recorded: str
) -> None:
    seed(table, item_in("stage", sweep_phase="running", **{lc.ENV_TEST_STATUS: "test_running"}))
    seed(table, _lock(EXECUTION))
    stepfunctions = FakeStepFunctions([], status=status)
    result = _reconcile(table, captured, UNCHANGED, stepfunctions, event=_ended(status))
    assert result["lock_released"] is True
    item = table.get(SERVICE, COMMIT)
    assert item["execution_status"] == recorded and item["execution_completed_at"]
    assert _stage(item)["status"] == "failed" and _stage(item)["test_status"] == "not_tested"
    # nothing deployed (no build, no stack changed): retryable, unless a person stopped it (parked)
    assert item["sweep_phase"] == ("stage_parked" if status == "ABORTED" else "stage")
    assert captured.metrics == [("FinalizerCorrected", 1.0)]
    assert lc.LOCK_HOLDER not in table.get(SERVICE, LOCK)


def test_an_event_without_the_input_reads_it_from_the_execution(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage"))
    event = _ended("ABORTED", input=None, inputDetails={"included": False})
    _reconcile(table, captured, UNCHANGED, FakeStepFunctions([], status="ABORTED"), event=event)
    assert table.get(SERVICE, COMMIT)["execution_status"] == "killed"


def test_an_event_for_a_run_still_running_changes_nothing(table: MetadataTable, captured: Captured) -> None:
    seeded = seed(table, item_in("stage", sweep_phase="running"))
    held = seed(table, _lock(EXECUTION))
    result = _reconcile(table, captured, UNCHANGED, FakeStepFunctions([], status="RUNNING"), event=_ended("ABORTED"))
    assert "still running" in result["ignored"]
    assert table.get(SERVICE, COMMIT) == seeded and table.get(SERVICE, LOCK) == held
    assert captured.events == [] and captured.metrics == []


@pytest.mark.parametrize(
    ("event", "refusal"),
    [
        (_ended("ABORTED", stateMachineArn=MACHINE + "-other"), "another state machine"),
        (_ended("ABORTED", executionArn="arn:aws:states:us-east-1:123456789012:execution:other:x"), "no execution"),
        (_ended("RUNNING"), "not an ending"),
        (_ended("ABORTED", executionArn=EXECUTION + "-gone"), "no such execution"),
        ({**_ended("ABORTED"), "detail": "text"}, "no detail"),
        ({**_ended("ABORTED"), "source": "cdk-control-plane"}, "not a 'Step Functions Execution Status Change'"),
        ({"hello": "world"}, "takes the state machine's Finalize payload"),
        (
            {"service": "../x", "commit_sha": COMMIT, "environment": "stage", "execution_id": EXECUTION},
            "names no artifact",
        ),
        ({"service": SERVICE, "commit_sha": COMMIT, "environment": "qa", "execution_id": EXECUTION}, "'qa'"),
        (["not", "an", "object"], "JSON object"),
    ],
    ids=[
        "foreign-machine",
        "foreign-execution",
        "running",
        "unknown-execution",
        "no-detail",
        "forged-source",
        "unknown-shape",
        "bad-service",
        "bad-environment",
        "not-an-object",
    ],
)
def test_bad_or_foreign_events_are_refused_clearly(
    table: MetadataTable, captured: Captured, event: Any, refusal: str
) -> None:
    seeded = seed(table, item_in("stage"))
    result = _reconcile(table, captured, UNCHANGED, FakeStepFunctions([], status="ABORTED"), event=event)
    assert refusal in result["refused"] and result["succeeded"] is False
    assert table.get(SERVICE, COMMIT) == seeded and captured.events == [] and captured.metrics == []


def test_a_succeeded_run_the_sweeper_found_still_running_is_cleared(table: MetadataTable, captured: Captured) -> None:
    """The sweeper's status change (functions.pipeline.endings.status_change) of a run that SUCCEEDED
    but left its item in the running phase: the finalizer clears it (the rule never sends SUCCEEDED)."""
    seed(table, item_in("stage", status="promoted", sweep_phase="running", **{lc.ENV_STATUS: "deployed"}))
    event = status_change(MACHINE, EXECUTION, "SUCCEEDED")
    _reconcile(table, captured, UNCHANGED, FakeStepFunctions([], status="SUCCEEDED"), event=event)
    item = table.get(SERVICE, COMMIT)
    assert item.get("sweep_phase") is None and item["execution_status"] == "succeeded"
    assert item["finalized_execution_id"] == EXECUTION


def test_an_execution_whose_input_names_no_artifact_is_refused(table: MetadataTable, captured: Captured) -> None:
    stepfunctions = FakeStepFunctions([], status="ABORTED", input='{"service": "../etc"}')
    result = _reconcile(table, captured, UNCHANGED, stepfunctions, event=_ended("ABORTED", input=None))
    assert "the execution's input" in result["refused"]


def test_a_run_finalized_twice_is_corrected_and_reported_once(table: MetadataTable, captured: Captured) -> None:
    """Its `Finalize` state corrects the lost recording; then its FAILED event arrives."""
    seed(table, item_in("stage", sweep_phase="running"))
    first = _reconcile(table, captured, UPDATED, SUCCEEDED_DEPLOY)
    after_first = table.get(SERVICE, COMMIT)
    second = _reconcile(
        table, captured, UPDATED, FakeStepFunctions(SUCCEEDED_DEPLOY, status="FAILED"), event=_ended("FAILED")
    )
    assert first["corrections"] and second["corrections"] == [] and second["already_finalized"] is True
    assert table.get(SERVICE, COMMIT) == after_first
    assert captured.types == ["FinalizerCorrectedMetadata"] and captured.metrics == [("FinalizerCorrected", 1.0)]


def test_an_unrecorded_prod_deploy_becomes_deployed_and_waits_for_its_smoke_tests(
    table: MetadataTable, captured: Captured
) -> None:
    seed(table, item_in("prod", sweep_phase="running"))
    payload = {"service": SERVICE, "commit_sha": COMMIT, "environment": "prod", "execution_id": EXECUTION}
    prod = {"orders-prod-api": ("UPDATE_COMPLETE", BEFORE, datetime(2026, 11, 21, 10, 9, tzinfo=UTC))}
    result = _reconcile(table, captured, prod, SUCCEEDED_DEPLOY, event=payload)
    assert result["finding"] == "deployed_unrecorded"
    item = table.get(SERVICE, COMMIT)
    assert item["environment_states"]["prod"]["status"] == "deployed"
    assert item["environment_states"]["prod"]["test_status"] == "not_tested"
    assert item["sweep_phase"] == "prod" and item["status"] == "promoted"  # smoke tests still to run
