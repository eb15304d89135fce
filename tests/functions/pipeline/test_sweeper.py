"""The sweeper and its watchdog against moto (DynamoDB with the `sweep-by-age` index, S3, Step Functions):
each branch of one sweep, with the sweep's clock (`now`) moved past the 5- and 65-minute thresholds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions import naming
from functions.pipeline import lifecycle as lc
from functions.pipeline.settings import FunctionSettings
from functions.pipeline.store import MetadataTable
from functions.pipeline.sweeper import SweeperClients, SweepIncomplete, execution_arn, sweep
from tests.functions.pipeline.conftest import BUILD_TIME, COMMIT, OTHER, SERVICE, Captured, item_in, seed

NOW = datetime.now(UTC)
LONG_AGO = "2026-01-01T00:00:00Z"


class History:
    """moto's Step Functions (without executing) answers a canned history dated 2020: the watchdog's only
    question, when the run's last event was, is answered here instead (`last_event`)."""

    def __init__(self, sfn: Any) -> None:
        self._sfn = sfn
        self.last_event = NOW
        self.history_calls: list[dict[str, Any]] = []
        self.stops: list[dict[str, Any]] = []
        self.statuses: dict[str, str] = {}  # what moto cannot produce (PENDING_REDRIVE)
        self.table: MetadataTable | None = None
        self.seen_at_stop: list[tuple[Any, Any]] = []

    def describe_execution(self, **arguments: Any) -> dict[str, Any]:
        described = self._sfn.describe_execution(**arguments)
        return {**described, "status": self.statuses.get(arguments["executionArn"], described["status"])}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sfn, name)

    def stop_execution(self, **arguments: Any) -> dict[str, Any]:
        self.stops.append(arguments)
        if self.table is not None:  # what the item said when the run was stopped
            item = self.table.get(SERVICE, COMMIT) or {}
            self.seen_at_stop.append((lc.read(item, lc.ENV_STATUS, "stage"), item.get("sweep_phase")))
        return self._sfn.stop_execution(**arguments)

    def get_execution_history(self, **arguments: Any) -> dict[str, Any]:
        self.history_calls.append(arguments)
        self._sfn.describe_execution(executionArn=arguments["executionArn"])  # it exists
        return {"events": [{"timestamp": self.last_event, "type": "TaskStateEntered", "id": 9}]}


@pytest.fixture
def sfn(settings: FunctionSettings) -> History:
    import boto3

    client = boto3.client("stepfunctions", region_name="us-east-1")
    client.create_state_machine(
        name="p",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/pipeline",
    )
    return History(client)


@pytest.fixture(autouse=True)
def _watch_stops(sfn: History, table: MetadataTable) -> None:
    sfn.table = table


@pytest.fixture
def clients(settings: FunctionSettings, table: MetadataTable, sfn: History, captured: Captured) -> SweeperClients:
    import boto3

    return SweeperClients(
        settings=settings,
        table=table,
        sfn=sfn,
        s3=boto3.client("s3", region_name="us-east-1"),
        notify=captured,
        metric=captured.metric,
    )


def manifest(bucket: str = "candidates", commit: str = COMMIT) -> None:
    import boto3

    key = naming.artifact_prefix(SERVICE, commit) + naming.MANIFEST_NAME
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key=key, Body=b"{}")


def waiting(
    table: MetadataTable, environment: str = "stage", since: str = LONG_AGO, commit: str = COMMIT, **overrides: Any
) -> dict[str, Any]:
    """An artifact waiting in its environment's sweep (never leased there, or its last attempt ended),
    its manifest in its environment's bucket; `overrides` by attribute path."""
    item = item_in(environment, execution_id=None, execution_status=None, **{lc.ENV_STATUS: "pending", **overrides})
    item.update({"commit_sha": commit, "sweep_phase": environment, "sweep_since": since})
    manifest("candidates" if environment == "stage" else "releases", commit)
    return seed(table, item)


def executions(sfn: History) -> list[dict[str, Any]]:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:p"
    return sfn.list_executions(stateMachineArn=arn)["executions"]


def start(sfn: History, settings: FunctionSettings, environment: str, attempt: int, commit: str = COMMIT) -> str:
    name = naming.execution_name(SERVICE, commit, environment, attempt)
    return sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=name, input="{}")["executionArn"]


def later(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


# --- waiting artifacts ---------------------------------------------------------------------------------


def test_a_dropped_event_is_started_by_the_next_sweep(
    clients: SweeperClients, table: MetadataTable, sfn: History, captured: Captured
) -> None:
    waiting(table, "stage")
    result = sweep(clients, now=NOW)
    (started,) = executions(sfn)
    assert started["name"] == naming.execution_name(SERVICE, COMMIT, "stage", 1)
    document = json.loads(sfn.describe_execution(executionArn=started["executionArn"])["input"])
    assert document["trigger"]["source"] == "sweeper" and document["environment"] == "stage"
    assert document["trigger"]["key"] == f"{SERVICE}/{COMMIT}/artifact-manifest.json"
    assert [c["reason"] for c in result["corrections"]] == ["dropped_event"]
    assert captured.types == ["SweeperCorrected", "SweeperTriggered"]
    assert ("SweeperCorrections", 1.0) in captured.metrics or ("SweeperCorrections", 1) in captured.metrics


def test_an_artifact_waiting_less_than_five_minutes_is_left_alone(
    clients: SweeperClients, table: MetadataTable, sfn: History, captured: Captured
) -> None:
    from functions.timestamps import utc_iso

    waiting(table, "stage", since=utc_iso(NOW - timedelta(minutes=4)))
    assert sweep(clients, now=NOW)["waiting"] == 0
    assert executions(sfn) == [] and "SweeperTriggered" not in captured.types
    sweep(clients, now=later(2))  # 6 minutes after
    assert len(executions(sfn)) == 1


def test_a_run_in_flight_is_never_started_twice(
    clients: SweeperClients, table: MetadataTable, sfn: History, settings: FunctionSettings
) -> None:
    waiting(table, "stage")
    start(sfn, settings, "stage", 1)
    for _ in range(3):
        result = sweep(clients, now=NOW)
        assert result["corrections"] == []
    assert len(executions(sfn)) == 1


def test_a_failed_attempt_is_retried_as_the_next_attempt(
    clients: SweeperClients, table: MetadataTable, sfn: History, settings: FunctionSettings
) -> None:
    first = start(sfn, settings, "stage", 1)
    sfn.stop_execution(executionArn=first)
    waiting(
        table, "stage", **{"environment_states.{env}.deployment_id": naming.execution_name(SERVICE, COMMIT, "stage", 1)}
    )
    result = sweep(clients, now=NOW)
    assert [c["attempt"] for c in result["corrections"]] == [2]
    assert {e["name"] for e in executions(sfn)} == {naming.execution_name(SERVICE, COMMIT, "stage", a) for a in (1, 2)}


def test_an_attempt_started_but_never_leased_is_not_started_again(
    clients: SweeperClients, table: MetadataTable, sfn: History, settings: FunctionSettings
) -> None:
    """Attempt 2 ran and ended without leasing (it waited for the lock too long): the item still records
    attempt 1. The sweep finds attempt 2's execution and starts attempt 3, never a duplicate."""
    for attempt in (1, 2):
        sfn.stop_execution(executionArn=start(sfn, settings, "stage", attempt))
    waiting(
        table, "stage", **{"environment_states.{env}.deployment_id": naming.execution_name(SERVICE, COMMIT, "stage", 1)}
    )
    assert [c["attempt"] for c in sweep(clients, now=NOW)["corrections"]] == [3]


def test_only_leased_attempts_count_against_the_maximum(
    clients: SweeperClients, table: MetadataTable, sfn: History, settings: FunctionSettings
) -> None:
    """A release queued behind another run of its service: attempts 1-3 only waited for the lock (only
    attempt 1 ever leased). Waiting is no failure: attempt 4 starts, nothing is parked."""
    for attempt in (1, 2, 3):
        sfn.stop_execution(executionArn=start(sfn, settings, "stage", attempt))
    first = naming.execution_name(SERVICE, COMMIT, "stage", 1)
    waiting(table, "stage", **{"environment_states.{env}.deployment_id": first, lc.LEASED_ATTEMPTS: 1})
    result = sweep(clients, now=NOW)
    assert [(c["reason"], c.get("attempt")) for c in result["corrections"]] == [("retry", 4)]
    item = table.get(SERVICE, COMMIT)
    assert item["sweep_phase"] == "stage" and "manual_intervention_required" not in item


@pytest.mark.parametrize(
    ("environment", "overrides", "why"),
    [
        ("stage", {"status": "rejected"}, "status is 'rejected'"),
        # a prod run cut short with a stack failed, back in the prod sweep: no prod lease takes `failed`
        ("prod", {lc.ENV_STATUS: "failed"}, "environment_states.prod.status is 'failed'"),
    ],
)
def test_an_item_no_lease_would_take_is_parked_never_started(
    clients: SweeperClients,
    table: MetadataTable,
    sfn: History,
    captured: Captured,
    environment: str,
    overrides: dict,
    why: str,
) -> None:
    """A run would lose its lease and count no attempt, so the sweeper starts none; nor is the item left
    waiting unalerted for good: parked for a person with the reason, once."""
    waiting(table, environment, **overrides)
    (parked,) = sweep(clients, now=later(0))["corrections"]
    assert parked["reason"] == "attempts_exhausted" and parked["why"].startswith("cannot be leased: ")
    assert why in parked["why"]
    item = table.get(SERVICE, COMMIT)
    assert item["sweep_phase"] == f"{environment}_parked" and item["manual_intervention_required"] is True
    assert "cannot be leased: " in lc.read(item, lc.ENV_FAILURE_REASON, environment)
    assert captured.alerts == [f"manual intervention required: {SERVICE} parked by the sweeper"]
    (failed,) = [detail for kind, detail in captured.events if kind == "DeployFailed"]
    assert failed["phase"] == "sweeper" and failed["retryable"] is False
    for minutes in (10, 20):
        assert sweep(clients, now=later(minutes))["corrections"] == []
    assert executions(sfn) == []


def test_the_lease_counts_its_attempt_and_ends_the_wait_for_a_person() -> None:
    """The lease adds 1 to the environment's leased attempts and removes `manual_intervention_required`
    (an operator started a parked artifact again); its ASL renders both."""
    from functions.pipeline.expressions import asl_update

    for environment in lc.Environment:
        lease = lc.transition(lc.Action.LEASE, environment)
        assert lease.adds == {lc.LEASED_ATTEMPTS: 1} and lc.MANUAL_INTERVENTION in lease.removes
        rendered = asl_update(lease)
        assert " ADD " in rendered["UpdateExpression"] and " REMOVE " in rendered["UpdateExpression"]
        names = rendered["ExpressionAttributeNames"].values()
        assert f"{environment}_leased_attempts" in names and "manual_intervention_required" in names


@pytest.mark.parametrize("status", ["PENDING_REDRIVE", "RUNNING"])
def test_an_execution_that_has_not_ended_is_in_flight(
    clients: SweeperClients, table: MetadataTable, sfn: History, settings: FunctionSettings, status: str
) -> None:
    """An operator redrove a failed attempt (PENDING_REDRIVE, then RUNNING past its lease): no next
    attempt beside it, and the watchdog neither requeues it nor releases its lock."""
    arn = start(sfn, settings, "stage", 1)
    sfn.statuses[arn] = status
    waiting(
        table, "stage", **{"environment_states.{env}.deployment_id": naming.execution_name(SERVICE, COMMIT, "stage", 1)}
    )
    assert sweep(clients, now=NOW)["corrections"] == [] and len(executions(sfn)) == 1
    table.table.delete_item(Key={"service": SERVICE, "commit_sha": COMMIT})
    running(table, sfn, settings, start_new=False)
    sfn.last_event = later(60)  # a redriven run's history moves again
    assert sweep(clients, now=later(66))["corrections"] == []
    assert table.get(SERVICE, COMMIT)["sweep_phase"] == "running"
    assert table.get(SERVICE, "_lock#stage")["holder_execution_id"] == arn


def test_the_last_attempt_parks_the_artifact_and_alerts(
    clients: SweeperClients, sfn: History, settings: FunctionSettings, captured: Captured, table: MetadataTable
) -> None:
    for attempt in (1, 2, 3):
        sfn.stop_execution(executionArn=start(sfn, settings, "stage", attempt))
    name = naming.execution_name(SERVICE, COMMIT, "stage", 3)
    waiting(
        table,
        "stage",
        **{
            "environment_states.{env}.deployment_id": name,
            "environment_states.{env}.status": "failed",
            lc.LEASED_ATTEMPTS: 3,
        },
    )
    result = sweep(clients, now=NOW)
    item = table.get(SERVICE, COMMIT)
    assert item["manual_intervention_required"] is True
    assert item["sweep_phase"] == "stage_parked" and item["sweep_since"] == BUILD_TIME
    assert [c["reason"] for c in result["corrections"]] == ["attempts_exhausted"]
    assert captured.alerts == [f"manual intervention required: {SERVICE} parked by the sweeper"]
    (failed,) = [d for t, d in captured.events if t == "DeployFailed"]
    assert failed["retryable"] is False and "3 attempt(s)" in failed["reason"]
    assert len(executions(sfn)) == 3
    assert sweep(clients, now=later(10))["corrections"] == []  # parked: never started again
    assert len(executions(sfn)) == 3


def test_the_maximum_attempts_are_configured_per_environment(
    clients: SweeperClients, sfn: History, settings: FunctionSettings, table: MetadataTable
) -> None:
    import dataclasses

    clients.settings = dataclasses.replace(settings, max_attempts_prod=1)
    sfn.stop_execution(executionArn=start(sfn, settings, "prod", 1))
    name = naming.execution_name(SERVICE, COMMIT, "prod", 1)
    waiting(table, "prod", **{"environment_states.{env}.deployment_id": name, lc.LEASED_ATTEMPTS: 1})
    sweep(clients, now=NOW)
    item = table.get(SERVICE, COMMIT)
    assert item["sweep_phase"] == "prod_parked" and item["manual_intervention_required"] is True
    assert len(executions(sfn)) == 1


def test_a_missing_manifest_parks_the_artifact_with_the_reason(
    clients: SweeperClients, sfn: History, captured: Captured, table: MetadataTable
) -> None:
    import boto3

    waiting(table, "prod")
    boto3.client("s3", region_name="us-east-1").delete_object(
        Bucket="releases", Key=f"{SERVICE}/{COMMIT}/artifact-manifest.json"
    )
    sweep(clients, now=NOW)
    item = table.get(SERVICE, COMMIT)
    assert item["sweep_phase"] == "prod_parked" and executions(sfn) == []
    assert "s3://releases/orders/" in item["environment_states"]["prod"]["failure_reason"]
    assert captured.alerts and sweep(clients, now=later(10))["waiting"] == 0


# --- the watchdog --------------------------------------------------------------------------------------


def running(
    table: MetadataTable,
    sfn: History,
    settings: FunctionSettings,
    environment: str = "stage",
    start_new: bool = True,
    **overrides: Any,
) -> str:
    """A run of attempt 1 that leased the item (and its lock) at LONG_AGO."""
    name = naming.execution_name(SERVICE, COMMIT, environment, 1)
    arn = start(sfn, settings, environment, 1) if start_new else execution_arn(settings, name)
    item = item_in(environment, execution_id=arn, execution_started_at=LONG_AGO, deployment_id=name, **overrides)
    item["environment_states"][environment]["deployment_id"] = name
    item.update(sweep_phase="running", sweep_since=LONG_AGO)
    seed(table, item)
    seed(
        table,
        {
            "service": SERVICE,
            "commit_sha": f"_lock#{environment}",
            "holder_execution_id": arn,
            "expires_at": "2099-01-01T00:00:00Z",
        },
    )
    manifest("candidates" if environment == "stage" else "releases")
    return arn


def test_a_stuck_run_is_stopped_requeued_its_lock_released_and_retried(
    clients: SweeperClients, sfn: History, settings: FunctionSettings, captured: Captured, table: MetadataTable
) -> None:
    arn = running(table, sfn, settings)
    sfn.last_event = NOW
    result = sweep(clients, now=later(66))
    assert sfn.history_calls == [{"executionArn": arn, "reverseOrder": True, "maxResults": 1}]
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "ABORTED" and result["stuck"] == 1
    ((stop),) = sfn.stops
    assert stop["executionArn"] == arn and stop["error"] == "StuckPipelineTerminated"
    # requeued before it was stopped: its ABORTED ending never finds it `deploying`
    assert sfn.seen_at_stop == [("pending", "stage")]
    assert "no progress since" in stop["cause"]
    item = table.get(SERVICE, COMMIT)
    stage = item["environment_states"]["stage"]
    assert stage["status"] == "pending" and stage["test_status"] == "not_tested" and item["status"] == "candidate"
    assert item["execution_status"] == "killed" and item["sweep_phase"] == "stage"
    assert "holder_execution_id" not in table.get(SERVICE, "_lock#stage")
    assert "StuckPipelineTerminated" in captured.types
    assert ("ExecutionsStuck", 1) in captured.metrics
    retried = sweep(clients, now=later(67))  # the very next sweep starts attempt 2
    assert [c["attempt"] for c in retried["corrections"]] == [2]


def test_a_requeued_run_whose_stop_failed_is_stopped_by_the_next_sweep(
    clients: SweeperClients, sfn: History, settings: FunctionSettings, table: MetadataTable
) -> None:
    from botocore.exceptions import ClientError

    arn = running(table, sfn, settings)
    real = sfn.stop_execution

    def throttled(**arguments: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "StopExecution")

    sfn.stop_execution = throttled  # type: ignore[method-assign]
    with pytest.raises(SweepIncomplete, match="ThrottlingException"):
        sweep(clients, now=later(66))
    assert table.get(SERVICE, COMMIT)["sweep_phase"] == "stage"  # requeued, still running
    sfn.stop_execution = real  # type: ignore[method-assign]
    result = sweep(clients, now=later(68))
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED" and result["corrections"] == []
    assert "holder_execution_id" not in table.get(SERVICE, "_lock#stage")
    assert [c["attempt"] for c in sweep(clients, now=later(70))["corrections"]] == [2]


def test_a_run_that_still_makes_progress_is_never_stopped(
    clients: SweeperClients, sfn: History, settings: FunctionSettings, table: MetadataTable
) -> None:
    """A prod run of several hours is legitimate while its history moves (every phase is bounded)."""
    arn = running(table, sfn, settings, "prod")
    sfn.last_event = later(200)
    result = sweep(clients, now=later(210))
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and result["stuck"] == 0
    assert table.get(SERVICE, COMMIT)["sweep_phase"] == "running"


def test_a_stuck_rollback_is_never_requeued(
    clients: SweeperClients, sfn: History, settings: FunctionSettings, captured: Captured, table: MetadataTable
) -> None:
    arn = running(table, sfn, settings, "prod", status="rollback_initiated")
    sweep(clients, now=later(66))
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == "rollback_failed" and item["manual_intervention_required"] is True
    # still `running` in the index until the finalizer of its ABORTED ending clears it
    assert item["sweep_phase"] == "running" and item["execution_status"] == "killed"
    assert captured.alerts and "StuckPipelineTerminated" in captured.types
    assert "holder_execution_id" not in table.get(SERVICE, "_lock#prod")
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"


def test_a_stuck_rollback_whose_stop_failed_is_stopped_by_the_next_sweep(
    clients: SweeperClients, sfn: History, settings: FunctionSettings, captured: Captured, table: MetadataTable
) -> None:
    from botocore.exceptions import ClientError

    arn = running(table, sfn, settings, "prod", status="rollback_initiated")
    real = sfn.stop_execution

    def throttled(**arguments: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "StopExecution")

    sfn.stop_execution = throttled  # type: ignore[method-assign]
    with pytest.raises(SweepIncomplete, match="ThrottlingException"):
        sweep(clients, now=later(66))
    item = table.get(SERVICE, COMMIT)
    assert item["status"] == "rollback_failed" and item["sweep_phase"] == "running"
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    sfn.stop_execution = real  # type: ignore[method-assign]
    sweep(clients, now=later(68))
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert "holder_execution_id" not in table.get(SERVICE, "_lock#prod")
    assert captured.alerts.count(captured.alerts[0]) == 1  # the interruption was alerted once


def test_a_run_that_ended_without_being_finalized_is_requeued_or_reconciled(
    clients: SweeperClients, sfn: History, settings: FunctionSettings, table: MetadataTable
) -> None:
    arn = running(table, sfn, settings)
    sfn.stop_execution(executionArn=arn)
    reconciled: list[Any] = []
    clients.reconcile = lambda item, execution: reconciled.append((item["commit_sha"], execution["status"]))
    sweep(clients, now=later(66))
    assert reconciled == [(COMMIT, "ABORTED")]
    clients.reconcile = None
    sweep(clients, now=later(66))
    assert table.get(SERVICE, COMMIT)["environment_states"]["stage"]["status"] == "pending"
    assert "holder_execution_id" not in table.get(SERVICE, "_lock#stage")


# --- gauges, errors ------------------------------------------------------------------------------------


def test_the_gauges_count_from_the_index(
    clients: SweeperClients, table: MetadataTable, sfn: History, captured: Captured
) -> None:
    from functions.timestamps import utc_iso

    seed(table, {"service": SERVICE, "commit_sha": "a" * 40, "sweep_phase": "stage_parked", "sweep_since": LONG_AGO})
    recent = utc_iso(NOW - timedelta(days=1))
    seed(table, {"service": SERVICE, "commit_sha": "b" * 40, "sweep_phase": "stage_parked", "sweep_since": recent})
    seed(table, {"service": SERVICE, "commit_sha": OTHER, "sweep_phase": "running", "sweep_since": utc_iso(NOW)})
    for commit in ("1" * 40, "2" * 40):  # parked in prod: any age
        seed(table, {"service": SERVICE, "commit_sha": commit, "sweep_phase": "prod_parked", "sweep_since": recent})
    result = sweep(clients, now=NOW)
    assert result["never_promoted"] == 1 and result["in_flight"] == 1 and result["prod_parked"] == 2
    assert ("ArtifactNeverPromoted", 1) in captured.metrics and ("ExecutionsInFlight", 1) in captured.metrics
    assert ("ProdReleasesParked", 2) in captured.metrics
    # counted, not returned: DynamoDB still reads every entry it counts (the stage_parked one too recent
    # to count is not read: the range condition stops before it)
    assert result["items_read"] == 4
    assert "SweeperTriggered" not in captured.types


def test_one_item_failing_does_not_stop_the_sweep_of_the_others(
    clients: SweeperClients, table: MetadataTable, sfn: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    waiting(table, "stage", commit=COMMIT)
    waiting(table, "stage", commit=OTHER)
    real = clients.s3.head_object

    def throttled(**arguments: Any) -> Any:
        if COMMIT in arguments["Key"]:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "HeadObject")
        return real(**arguments)

    monkeypatch.setattr(clients.s3, "head_object", throttled)
    with pytest.raises(SweepIncomplete, match=f"1 item\\(s\\) not swept: orders@{COMMIT}: ClientError"):
        sweep(clients, now=NOW)
    assert [e["name"] for e in executions(sfn)] == [naming.execution_name(SERVICE, OTHER, "stage", 1)]


def test_the_execution_arn_is_the_state_machines(settings: FunctionSettings) -> None:
    assert execution_arn(settings, "n-1") == "arn:aws:states:us-east-1:123456789012:execution:p:n-1"
