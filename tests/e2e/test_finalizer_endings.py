"""The finalizer on every ending, end to end: the program's ASL in moto, the finalizer invoked by its
`Finalize` state and by the "Step Functions Execution Status Change" event its rule delivers
(`devtools/emulator/endings.py`)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from devtools.emulator.endings import (
    BlockingDeploys,
    UnreadableStacks,
    deliver_ending,
    fail_transition,
    report_emulated_builds,
)
from devtools.emulator.harness import Harness
from devtools.emulator.sweeps import Sweeper
from functions.naming import execution_name

GOOD = "a" * 40


def _metrics(out: str) -> list[tuple[str, float]]:
    """The metrics the functions emitted (EMF lines on stdout)."""
    found = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                values = document[definition["Name"]]
                found += [(definition["Name"], float(v)) for v in (values if isinstance(values, list) else [values])]
    return found


def _stage(item: dict[str, Any]) -> dict[str, Any]:
    return item["environment_states"]["stage"]


def _stopped_by_hand_while_deploying(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], BlockingDeploys]:
    """orders@GOOD's stage run, stopped from the console (StopExecution) while its deploy build blocks;
    the build is then let go (it deployed nothing). Returns intake's answer (the run's ARN) and the blocker."""
    pipeline.build_logs = []
    report_emulated_builds(monkeypatch, pipeline)
    blocking = BlockingDeploys(pipeline, monkeypatch)
    pipeline.publish(GOOD)
    started = pipeline.trigger(pipeline.candidate_bucket, GOOD)
    assert blocking.started.wait(30), "the deploy build never started"
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    sfn.stop_execution(executionArn=started["execution_arn"], error="Operator", cause="stopped from the console")
    blocking.release()
    return started, blocking


def test_a_run_stopped_from_outside_is_finalized_by_its_ending_event(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stopped by hand while it held its item: the generic repairs apply (its stacks unreadable, nothing
    is proven) and it is parked for a person, never retried by the sweeper (a person's stop is not undone).
    Its next attempt is started by hand, as the README's parked items say, and clears the wait."""
    stacks = UnreadableStacks(monkeypatch)
    started, blocking = _stopped_by_hand_while_deploying(pipeline, monkeypatch)
    ended = pipeline.wait(started["execution_arn"])
    assert ended["status"] == "ABORTED" and "Finalize" not in ended["states"]
    # What the run left: it never reached its Finalize state.
    left = pipeline.item(GOOD)
    assert left["execution_status"] == "running" and _stage(left)["status"] == "deploying"
    lock = pipeline.item("_lock#stage")
    assert lock["holder_execution_id"] == started["execution_arn"]
    pipeline.events()
    capsys.readouterr()

    result = deliver_ending(pipeline, started["execution_arn"])

    assert result is not None, "the program's rule does not match the ABORTED status change"
    assert result["lock_released"] is True and result["corrections"]
    item = pipeline.item(GOOD)
    assert item["execution_status"] == "killed" and item["execution_completed_at"]
    assert _stage(item)["status"] == "failed" and _stage(item)["test_status"] == "not_tested"
    assert item["sweep_phase"] == "stage_parked" and item["status"] == "candidate"
    assert item["manual_intervention_required"] is True and item["sweep_since"] == item["build_time"]
    assert _stage(item)["failure_reason"].startswith("the run was stopped by hand")
    assert item["finalizer_corrected"] is True
    assert "holder_execution_id" not in pipeline.item("_lock#stage")
    events = pipeline.events()
    assert [e["type"] for e in events] == ["DeployFailed", "FinalizerCorrectedMetadata"]
    assert events[0]["phase"] == "finalizer" and events[0]["retryable"] is False
    assert _metrics(capsys.readouterr().out) == [("FinalizerCorrected", 1.0)]

    # The sweeper never starts it again.
    blocking.started.clear()
    pipeline.script.deployer = blocking._deployer
    stacks.on = False
    sweeper = Sweeper()
    assert sweeper.started(sweeper(minutes=6)) == [] and sweeper.started(sweeper(minutes=20)) == []
    # A person starts its next attempt; the lock is free at once: it leases without waiting.
    second = pipeline.start(execution_name("orders", GOOD, "stage", 2), GOOD, "stage", "operator")
    assert pipeline.wait(second)["status"] == "SUCCEEDED"
    assert pipeline.lock_waits == []
    item = pipeline.item(GOOD)
    assert item["status"] == "promoted" and "manual_intervention_required" not in item


def test_a_deploy_whose_recording_was_lost_is_corrected_to_deployed(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.build_logs = []
    report_emulated_builds(monkeypatch, pipeline)
    refused = fail_transition(monkeypatch, "deployed")
    pipeline.publish(GOOD)
    capsys.readouterr()

    ended = pipeline.run("stage", GOOD)

    assert refused, "the transition function was never asked to record the deploy"
    assert ended["status"] == "FAILED" and "Finalize" in ended["states"] and "TestStage" not in ended["states"]
    (deploy,) = pipeline.deploys("stage")
    assert deploy["status"] == "SUCCEEDED"  # the stacks were deployed; only their recording was lost
    item = pipeline.item(GOOD)
    assert _stage(item)["status"] == "deployed" and _stage(item)["test_status"] == "not_tested"
    assert item["deploy_build_id"] == "cdkcp-deployer-stage:1"
    assert item["sweep_phase"] == "stage"  # the sweeper runs it again: tested, then promoted
    assert item["execution_status"] == "failed" and item["status"] == "candidate"
    assert item["finalizer_corrected"] is True and item["finalizer_correction_applied"] is True
    (corrected,) = [e for e in pipeline.events() if e["type"] == "FinalizerCorrectedMetadata"]
    assert any("deploying -> deployed" in c for c in corrected["corrections"])
    assert ("FinalizerCorrected", 1.0) in _metrics(capsys.readouterr().out)

    # Its FAILED status change reaches the finalizer too: already corrected, nothing twice.
    result = deliver_ending(pipeline, ended["executionArn"])
    assert result is not None and result["already_finalized"] is True and result["corrections"] == []
    assert pipeline.item(GOOD) == item
    assert pipeline.events() == [] and _metrics(capsys.readouterr().out) == []


def test_a_run_whose_ending_event_never_arrives_is_finalized_by_the_watchdogs_sweep(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped by hand, and its ABORTED status change is lost (EventBridge's retries exhausted, the
    finalizer's invocations failing): the item says `running` and the lock stays held. The watchdog's sweep
    finds the ended run and has the finalizer reconcile it: parked (a person stopped it); the sweeps after
    start nothing, and the next attempt a person starts succeeds."""
    started, blocking = _stopped_by_hand_while_deploying(pipeline, monkeypatch)
    assert pipeline.wait(started["execution_arn"])["status"] == "ABORTED"
    assert pipeline.item(GOOD)["sweep_phase"] == "running"
    pipeline.events()
    sweeper = Sweeper()

    assert sweeper(minutes=30)["corrections"] == []  # the watchdog looks only past 65 minutes
    report = sweeper(minutes=66)

    (correction,) = report["corrections"]
    assert correction["reason"] == "reconciled" and correction["status"] == "ABORTED"
    item = pipeline.item(GOOD)
    assert item["execution_status"] == "killed" and item["finalized_execution_id"] == started["execution_arn"]
    assert _stage(item)["status"] == "failed" and item["sweep_phase"] == "stage_parked"
    assert item["manual_intervention_required"] is True
    assert "holder_execution_id" not in pipeline.item("_lock#stage")
    kinds = {e["type"] for e in pipeline.events()}
    assert {"DeployFailed", "FinalizerCorrectedMetadata", "SweeperCorrected"} <= kinds

    pipeline.script.deployer = blocking._deployer
    assert sweeper.started(sweeper(minutes=6)) == []
    second = pipeline.start(execution_name("orders", GOOD, "stage", 2), GOOD, "stage", "operator")
    assert pipeline.wait(second)["status"] == "SUCCEEDED"
    assert pipeline.item(GOOD)["status"] == "promoted" and pipeline.lock_waits == []
