"""One deployment per service and environment, executed: executions started at the same time, the
environment's lock taken in the lease's transaction, waited for, released by the finalizer, taken over
when expired, and prod never moving back to an older build."""

from __future__ import annotations

import json

import boto3

from devtools.emulator.harness import Harness
from functions.naming import execution_name
from functions.pipeline import lifecycle as lc

FIRST = "1" * 40
SECOND = "2" * 40
OLDER = "3" * 40
NEWER = "4" * 40


def _lock(pipeline: Harness, environment: str) -> dict:
    return pipeline.item(lc.env_path(lc.LOCK_RECORD, environment))


def _execution_arn(pipeline: Harness, commit: str, environment: str, attempt: int = 1) -> str:
    name = execution_name("orders", commit, environment, attempt)
    return pipeline.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def _spans(pipeline: Harness, environment: str) -> dict[str, tuple[float, float]]:
    """Per commit, from the start of its first build (deploy, tests) to the end of its last one."""
    spans: dict[str, tuple[float, float]] = {}
    for run in pipeline.script.runs:
        if run["environment"] == environment:
            start, end = spans.get(run["commit"], (run["started"], run["ended"]))
            spans[run["commit"]] = (min(start, run["started"]), max(end, run["ended"]))
    return spans


def test_two_commits_for_one_stage_run_one_after_the_other(pipeline: Harness) -> None:
    pipeline.publish(FIRST)
    pipeline.publish(SECOND, previous=FIRST)
    # Intake records each and starts its stage run at once: the two runs start together.
    started = [pipeline.trigger(pipeline.candidate_bucket, c)["execution_arn"] for c in (FIRST, SECOND)]
    results = [pipeline.wait(arn, timeout=180) for arn in started]

    assert [r["status"] for r in results] == ["SUCCEEDED", "SUCCEEDED"], results
    for commit in (FIRST, SECOND):
        item = pipeline.item(commit)
        assert item["status"] == "promoted"
        assert item["environment_states"]["stage"]["status"] == "deployed"
        assert item["environment_states"]["stage"]["test_status"] == "test_passed"
    # One held the stage while the other waited its turn; deploy and tests of one never overlapped the other's.
    assert pipeline.lock_waits and len(set(pipeline.lock_waits)) == 1
    (first_start, first_end), (second_start, second_end) = sorted(_spans(pipeline, "stage").values())
    assert first_end <= second_start, "two deployments of one stage overlapped"
    waiting = next(r for r in results if "WaitForLock" in r["states"])
    assert waiting["states"].count("LostRace") == waiting["states"].count("WaitForLock") >= 1
    assert "holder_execution_id" not in _lock(pipeline, "stage")  # released by the last one


def _history_output(execution_arn: str, state: str) -> dict:
    history = boto3.client("stepfunctions", region_name="us-east-1").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    exited = [e["stateExitedEventDetails"] for e in history if e["type"].endswith("StateExited")]
    return json.loads(next(e["output"] for e in exited if e["name"] == state))


def test_an_older_release_cannot_overwrite_a_newer_one_in_prod(pipeline: Harness) -> None:
    pipeline.publish(OLDER, build_time="2026-11-20T10:00:00Z")
    pipeline.publish(NEWER, previous=OLDER, build_time="2026-11-21T10:00:00Z")
    for commit in (OLDER, NEWER):
        assert pipeline.run("stage", commit)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", NEWER)["status"] == "SUCCEEDED"  # the newer release went first
    pipeline.events()
    prod_cfn = pipeline.account_client("cloudformation", "333333333333")
    stacks_before = prod_cfn.describe_stacks()["Stacks"]
    deploys_before = pipeline.deploys("prod")

    late = pipeline.start(execution_name("orders", OLDER, "prod"), OLDER, "prod", source="s3")
    result = pipeline.wait(late)

    assert result["status"] == "FAILED" and "LostRace" in result["states"]
    assert "Validate" not in result["states"] and "DriftGate" not in result["states"]
    assert pipeline.deploys("prod") == deploys_before  # nothing built, nothing deployed
    assert prod_cfn.describe_stacks()["Stacks"] == stacks_before  # prod still holds the newer release
    older = pipeline.item(OLDER)
    assert older["status"] == "promoted" and "sweep_phase" not in older  # never retried by the sweeper
    prod = older["environment_states"]["prod"]
    assert prod["status"] == "superseded" and NEWER in prod["failure_reason"]
    assert pipeline.item("_service")["last_known_good_commit"] == NEWER
    assert pipeline.item(NEWER)["environment_states"]["prod"]["status"] == "deployed"
    [event] = pipeline.events()
    assert (event["type"], event["phase"], event["retryable"]) == ("DeployFailed", "prod_ordering", False)
    assert event["known_good_commit"] == NEWER and "older than the prod known good" in event["reason"]
    assert _history_output(late, "LostRace")["outcome"]["outcome"] == "superseded"
    assert "holder_execution_id" not in _lock(pipeline, "prod")  # the refused run never took the lock


def test_the_finalizer_releases_the_lock_on_every_ending(pipeline: Harness) -> None:
    pipeline.publish(FIRST, context=None)  # invalid: orders makes lookups, its manifest declares no context
    pipeline.publish(SECOND)  # its deploy fails
    pipeline.script.outcomes[("deploy", "stage", SECOND)] = "FAILED"
    pipeline.publish(OLDER)  # succeeds
    for commit, status, ending in (
        (FIRST, "FAILED", "RecordInvalidArtifact"),
        (SECOND, "FAILED", "RecordDeployFailed"),
        (OLDER, "SUCCEEDED", "Promote"),
    ):
        result = pipeline.run("stage", commit)
        assert (result["status"], ending in result["states"]) == (status, True)
        lock = _lock(pipeline, "stage")
        assert "holder_execution_id" not in lock and "expires_at" not in lock
        assert lock["released_by"] == _execution_arn(pipeline, commit, "stage")
    assert pipeline.lock_waits == []


def test_an_expired_lock_is_taken_over(pipeline: Harness) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(pipeline.program.environment["TABLE_NAME"])
    ghost = "arn:aws:states:us-east-1:111111111111:execution:DeployArtifactPipeline:ghost"
    table.put_item(
        Item={
            "service": "orders",
            "commit_sha": "_lock#stage",
            "holder_execution_id": ghost,
            "holder_commit_sha": SECOND,
            "taken_at": "2026-01-01T00:00:00.000Z",
            "expires_at": "2026-01-01T02:00:00Z",  # its run is long gone (stopped, never finalized)
        }
    )
    pipeline.publish(FIRST)
    result = pipeline.run("stage", FIRST)

    assert result["status"] == "SUCCEEDED" and pipeline.lock_waits == []
    assert pipeline.item(FIRST)["status"] == "promoted"
    assert _lock(pipeline, "stage")["released_by"] == _execution_arn(pipeline, FIRST, "stage")


def test_a_run_that_waits_too_long_for_the_lock_stays_retryable(pipeline: Harness) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(pipeline.program.environment["TABLE_NAME"])
    holder = "arn:aws:states:us-east-1:111111111111:execution:DeployArtifactPipeline:orders-held"
    lock = {"service": "orders", "commit_sha": "_lock#stage", "holder_execution_id": holder}
    table.put_item(Item={**lock, "holder_commit_sha": SECOND, "expires_at": "2999-01-01T00:00:00Z"})
    pipeline.publish(FIRST)
    result = pipeline.run("stage", FIRST)

    assert result["status"] == "FAILED" and "RecordLockWaitTimedOut" in result["states"]
    assert len(pipeline.lock_waits) == lc.LOCK_WAIT_ATTEMPTS and "DeployStage" not in result["states"]
    item = pipeline.item(FIRST)
    assert item["status"] == "candidate" and item["environment_states"]["stage"]["status"] == "pending"
    assert item["sweep_phase"] == "stage" and item["sweep_since"] >= item["recorded_at"]
    assert "timed out waiting for the lock" in item["environment_states"]["stage"]["failure_reason"]
    assert item.get("execution_id") is None  # never leased
    [event] = pipeline.events()
    assert (event["type"], event["phase"], event["retryable"]) == ("DeployFailed", "lock_wait", True)
    assert _lock(pipeline, "stage")["holder_execution_id"] == holder  # someone else's lock is never released


def test_an_older_release_waiting_for_prod_is_refused_once_the_newer_one_is_known_good(pipeline: Harness) -> None:
    import time

    pipeline.publish(OLDER, build_time="2026-11-20T10:00:00Z")
    pipeline.publish(NEWER, previous=OLDER, build_time="2026-11-21T10:00:00Z")
    for commit in (OLDER, NEWER):
        assert pipeline.run("stage", commit)["status"] == "SUCCEEDED"
    newer = pipeline.start(execution_name("orders", NEWER, "prod"), NEWER, "prod", source="s3")
    deadline = time.monotonic() + 30
    while _lock(pipeline, "prod").get("holder_commit_sha") != NEWER:  # the newer one holds prod
        assert time.monotonic() < deadline, "the newer release never took the prod lock"
        time.sleep(0.01)
    older = pipeline.start(execution_name("orders", OLDER, "prod"), OLDER, "prod", source="s3")

    assert pipeline.wait(newer, timeout=120)["status"] == "SUCCEEDED"
    result = pipeline.wait(older, timeout=120)
    # It waited while the newer one deployed, and its next lease found the newer known good.
    assert result["status"] == "FAILED" and "WaitForLock" in result["states"]
    assert execution_name("orders", OLDER, "prod") in pipeline.lock_waits
    assert pipeline.item(OLDER)["environment_states"]["prod"]["status"] == "superseded"
    assert [r["commit"] for r in pipeline.deploys("prod")] == [NEWER]
    assert "holder_execution_id" not in _lock(pipeline, "prod")
