"""The sweeper and its watchdog end to end: the program's ASL executing in moto, the sweeper invoked as
its schedule would (every sweep with its clock moved past the 5- and 65-minute thresholds). Each scenario
breaks one promise of the spec's Global Artifact Sweeper / Stuck Execution Handling if it fails."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.emulator import harness as harness_module
from devtools.emulator.endings import UnreadableStacks, deliver_ending, stop_like_step_functions
from devtools.emulator.harness import Harness
from devtools.emulator.sweeps import BlockedDeploy, Sweeper
from functions.naming import execution_name

GOOD = "a" * 40
OTHER = "c" * 40


@pytest.fixture
def sweeper(pipeline: Harness) -> Sweeper:
    return Sweeper()


def executions(pipeline: Harness) -> list[str]:
    listed = boto3.client("stepfunctions", region_name="us-east-1").list_executions(
        stateMachineArn=pipeline.state_machine_arn
    )["executions"]
    return sorted(e["name"] for e in listed)


def drop_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """The candidate's event reaches intake, which records the item, but the stage run is never started
    (the start was lost: a throttled StartExecution after the record, a Lambda timeout)."""
    from functions.pipeline import intake

    monkeypatch.setattr(intake, "start_run", lambda **_: {"started": False, "reason": "lost"})


def test_a_dropped_event_is_deployed_by_the_next_sweep_in_stage_and_in_prod(
    pipeline: Harness, sweeper: Sweeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.publish(GOOD)
    drop_the_start(monkeypatch)
    assert pipeline.trigger(pipeline.candidate_bucket, GOOD)["accepted"]
    assert executions(pipeline) == [] and pipeline.item(GOOD)["sweep_phase"] == "stage"
    assert sweeper(minutes=1)["corrections"] == []  # not yet: 5 minutes

    report = sweeper(minutes=6)
    (stage_run,) = sweeper.started(report)
    assert report["corrections"][0]["reason"] == "dropped_event"
    assert pipeline.wait(stage_run)["status"] == "SUCCEEDED"
    assert pipeline.item(GOOD)["status"] == "promoted"

    # The release manifest's event never reaches the dispatcher: prod waits in the prod sweep.
    assert pipeline.item(GOOD)["sweep_phase"] == "prod"
    (prod_run,) = sweeper.started(sweeper(minutes=6))
    assert prod_run.endswith(execution_name("orders", GOOD, "prod", 1))
    assert pipeline.wait(prod_run)["status"] == "SUCCEEDED"
    item = pipeline.item(GOOD)
    assert item["status"] == "deployed" and item["environment_states"]["prod"]["status"] == "deployed"
    types = [e["type"] for e in pipeline.events()]
    assert types.count("SweeperCorrected") == 2 and types.count("SweeperTriggered") == 2


def test_a_transient_stage_deploy_failure_is_retried_as_attempt_2_and_succeeds(
    pipeline: Harness, sweeper: Sweeper
) -> None:
    pipeline.publish(GOOD)
    pipeline.script.outcomes[("deploy", "stage", GOOD)] = "FAILED"
    assert pipeline.run("stage", GOOD)["status"] == "FAILED"
    item = pipeline.item(GOOD)
    assert item["environment_states"]["stage"]["status"] == "failed" and item["sweep_phase"] == "stage"

    del pipeline.script.outcomes[("deploy", "stage", GOOD)]  # the fault was transient
    (retry,) = sweeper.started(sweeper(minutes=6))
    assert retry.endswith(f"{GOOD}-stage-2")
    assert pipeline.wait(retry)["status"] == "SUCCEEDED"
    item = pipeline.item(GOOD)
    assert item["status"] == "promoted" and item["deployment_id"].endswith("-stage-2")
    assert executions(pipeline) == [execution_name("orders", GOOD, "stage", a) for a in (1, 2)]


def test_a_stage_run_that_keeps_failing_stops_at_the_maximum_and_alerts(pipeline: Harness, sweeper: Sweeper) -> None:
    pipeline.publish(GOOD)
    pipeline.script.outcomes[("deploy", "stage", GOOD)] = "FAILED"
    assert pipeline.run("stage", GOOD)["status"] == "FAILED"
    for attempt, minutes in ((2, 6), (3, 12)):
        (run,) = sweeper.started(sweeper(minutes=minutes))
        assert run.endswith(f"-stage-{attempt}") and pipeline.wait(run)["status"] == "FAILED"

    parked = sweeper(minutes=18)
    assert [c["reason"] for c in parked["corrections"]] == ["attempts_exhausted"]
    item = pipeline.item(GOOD)
    assert item["manual_intervention_required"] is True and item["status"] == "candidate"
    assert item["sweep_phase"] == "stage_parked" and item["sweep_since"] == item["build_time"]
    assert "manual intervention required: orders parked by the sweeper" in pipeline.alerts()
    for minutes in (20, 60, 600):  # further sweeps start nothing
        assert sweeper(minutes=minutes)["corrections"] == []
    assert len(executions(pipeline)) == 3 and len(pipeline.deploys("stage")) == 3
    # and ArtifactNeverPromoted counts it once it is older than the configured days
    sweeper(minutes=8 * 24 * 60)
    assert ("ArtifactNeverPromoted", 1) in sweeper.metrics

    # An operator fixed the cause and starts the next attempt: its lease ends the wait for a person.
    del pipeline.script.outcomes[("deploy", "stage", GOOD)]
    fixed = pipeline.start(execution_name("orders", GOOD, "stage", 4), GOOD, "stage", "operator")
    assert pipeline.wait(fixed)["status"] == "SUCCEEDED"
    item = pipeline.item(GOOD)
    assert item["status"] == "promoted" and "manual_intervention_required" not in item
    assert item["stage_leased_attempts"] == 4


class EndingOnStop(Sweeper):
    """The stuck run's ABORTED status change reaches the finalizer the moment the watchdog stops it (its
    rule is faster than the rest of the watchdog's step): before any write the watchdog makes after."""

    def __init__(self, pipeline: Harness) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.delivered: list[Any] = []

    def clients(self) -> Any:
        clients = super().clients()
        sfn, pipeline, delivered = clients.sfn, self.pipeline, self.delivered

        class Stopping:
            def __getattr__(self, name: str) -> Any:
                return getattr(sfn, name)

            def stop_execution(self, **arguments: Any) -> Any:
                stopped = sfn.stop_execution(**arguments)
                delivered.append(deliver_ending(pipeline, arguments["executionArn"]))
                return stopped

        clients.sfn = Stopping()
        return clients


@pytest.mark.parametrize("ending", ["at-the-stop", "after-the-sweep"])
def test_a_run_stuck_past_65_minutes_is_stopped_requeued_and_then_completes(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    """Its stacks unreadable (nothing proves what it changed), and its ABORTED ending reaching the
    finalizer either at the watchdog's stop or after the sweep: either way requeued, then attempt 2."""
    stop_like_step_functions(monkeypatch)
    UnreadableStacks(monkeypatch)
    sweeper = EndingOnStop(pipeline) if ending == "at-the-stop" else Sweeper()
    blocked = BlockedDeploy(pipeline.script.deployer, lambda v: v.get("DEPLOYMENT_ID", "").endswith("-stage-1"))
    pipeline.script.deployer = blocked
    pipeline.publish(GOOD)
    stuck = pipeline.trigger(pipeline.candidate_bucket, GOOD)["execution_arn"]
    try:
        assert blocked.entered.wait(timeout=60), "the deploy build never started"
        item = pipeline.item(GOOD)
        assert item["sweep_phase"] == "running" and item["environment_states"]["stage"]["status"] == "deploying"
        assert sweeper(minutes=30)["stuck"] == 0  # under 65 minutes: left alone

        report = sweeper(minutes=66)
        assert report["stuck"] == 1 and [c["reason"] for c in report["corrections"]] == ["requeued"]
        described = boto3.client("stepfunctions", region_name="us-east-1").describe_execution(executionArn=stuck)
        assert described["status"] == "ABORTED"
        blocked.release(stopped=True)  # the stopped build ends, deploying nothing
        if ending == "after-the-sweep":
            finalized = deliver_ending(pipeline, stuck)
            assert finalized is not None and finalized["corrections"] == []  # requeued: nothing to repair
        else:
            assert sweeper.delivered and sweeper.delivered[0]["corrections"] == []
        item = pipeline.item(GOOD)
        assert item["environment_states"]["stage"]["status"] == "pending" and item["execution_status"] == "killed"
        assert item["sweep_phase"] == "stage" and item["finalized_execution_id"] == stuck
        assert item["environment_states"]["stage"]["test_status"] == "not_tested" and item["status"] == "candidate"
        assert "holder_execution_id" not in pipeline.item("_lock#stage")  # the lock is released
        assert "StuckPipelineTerminated" in [e["type"] for e in pipeline.events()]
        assert ("ExecutionsStuck", 1) in sweeper.metrics

        (retry,) = sweeper.started(sweeper(minutes=67))  # the very next sweep
        assert retry.endswith("-stage-2") and pipeline.wait(retry)["status"] == "SUCCEEDED"
        assert pipeline.item(GOOD)["status"] == "promoted"
    finally:
        blocked.release()


def test_the_sweeper_never_starts_a_second_execution_for_an_artifact_in_flight(
    pipeline: Harness, sweeper: Sweeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GOOD's run holds stage (its deploy blocked); OTHER's run was started and waits for the lock: the
    artifact is still in the stage sweep (never leased) while its execution is RUNNING."""
    monkeypatch.setattr(harness_module, "LOCK_WAIT_SLEEP", 1.0)  # OTHER waits long enough to be swept
    blocked = BlockedDeploy(pipeline.script.deployer, lambda v: v.get("COMMIT_SHA") == GOOD)
    pipeline.script.deployer = blocked
    pipeline.publish(GOOD)
    pipeline.publish(OTHER)
    first = pipeline.trigger(pipeline.candidate_bucket, GOOD)["execution_arn"]
    try:
        assert blocked.entered.wait(timeout=60)
        started = pipeline.trigger(pipeline.candidate_bucket, OTHER)
        assert started.get("started"), started
        second = started["execution_arn"]
        assert pipeline.item(OTHER)["sweep_phase"] == "stage"
        for minutes in (6, 8, 10):
            report: dict[str, Any] = sweeper(minutes=minutes)
            assert report["corrections"] == [] and report["waiting"] == 1
        assert executions(pipeline) == sorted(execution_name("orders", c, "stage", 1) for c in (GOOD, OTHER))
    finally:
        blocked.release()
    assert pipeline.wait(first)["status"] == "SUCCEEDED"
    pipeline.wait(second, timeout=120)
