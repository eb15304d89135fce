"""The state machine's time arithmetic (`components/pipeline/budget.py`), over the definition the program
builds, for every number of rollback attempts the stack config allows: a live run is never silent long
enough for the watchdog, and no legitimate run reaches the machine's own timeout or outlives its lock."""

from __future__ import annotations

from typing import Any

import pytest

from components.pipeline import budget
from components.pipeline import definition as d
from components.pipeline.functions import FUNCTION_SPECS
from functions.pipeline import lifecycle as lc
from stack_config.models import StackConfig
from tests.components.pipeline.test_definition import definition_kwargs


def _config_range() -> range:
    """`maxRollbackAttempts` as the stack config validates it."""
    bounds = {type(m).__name__: m for m in StackConfig.model_fields["max_rollback_attempts"].metadata}
    return range(bounds["Ge"].ge, bounds["Le"].le + 1)


ATTEMPTS = list(_config_range())
LOCK_WAIT = {d.WAIT_FOR_LOCK: lc.LOCK_WAIT_ATTEMPTS}


def _built(attempts: int) -> dict[str, Any]:
    return d.build_definition(d.PipelineResources(**{**definition_kwargs(), "max_rollback_attempts": attempts}))


def _function_timeouts() -> dict[str, int]:
    """Each Lambda task's Resource -> its function's timeout, as FUNCTION_SPECS declares it."""
    kwargs = definition_kwargs()
    invoked = ("transition", "validate", "promote", "rollback-plan", "finalizer")
    return {kwargs[f"{name.replace('-', '_')}_function"]: FUNCTION_SPECS[name].timeout for name in invoked}


def _longest(document: dict[str, Any], environment: lc.Environment, attempts: int) -> float:
    return budget.longest_run(
        document["States"],
        document["StartAt"],
        environment,
        loops={**LOCK_WAIT, d.PLAN_ROLLBACK: attempts, d.ROLLBACK_WAIT: attempts},
        waits={d.ROLLBACK_WAIT: lc.rollback_wait_seconds},
        lambda_timeouts=_function_timeouts(),
    )


def test_the_config_range_is_the_one_tested() -> None:
    assert list(range(1, 11)) == ATTEMPTS


@pytest.mark.parametrize("attempts", ATTEMPTS)
def test_no_state_of_a_live_run_is_silent_long_enough_for_the_watchdog(attempts: int) -> None:
    """Every attempt of a Task and every Wait ends within the 60-minute phase, every Retry interval is
    short, and one phase's retries alone stay within 60 minutes: a live run writes an execution-history
    event well within the watchdog's 65 minutes."""
    document = _built(attempts)
    timeouts = _function_timeouts()
    largest_backoff = max(lc.rollback_wait_seconds(n) for n in range(1, attempts + 1))
    for name, state in document["States"].items():
        time = budget.state_time(name, state, lambda_timeouts=timeouts, wait=largest_backoff)
        assert time.silent <= lc.PHASE_TIMEOUT_SECONDS < lc.WATCHDOG_SECONDS, (name, time)
        assert time.longest_interval <= 60, (name, time)
        assert time.retried <= lc.PHASE_TIMEOUT_SECONDS, (name, time)


@pytest.mark.parametrize("attempts", ATTEMPTS)
def test_the_machines_timeout_covers_the_longest_legitimate_run_and_the_lock_covers_the_timeout(
    attempts: int,
) -> None:
    document = _built(attempts)
    prod, stage = (_longest(document, e, attempts) for e in (lc.Environment.PROD, lc.Environment.STAGE))
    assert stage < prod <= document["TimeoutSeconds"] <= lc.LOCK_EXPIRY_SECONDS
    # What the longest prod run holds at the least (no retry at all): the lock wait, Validate, the drift
    # gate, the deploy, the smoke test, then every rollback attempt (its backoff, a whole build).
    hour = lc.PHASE_TIMEOUT_SECONDS
    without_retries = lc.LOCK_WAIT_ATTEMPTS * lc.LOCK_WAIT_SECONDS + FUNCTION_SPECS["validate"].timeout + 3 * hour
    without_retries += sum(lc.rollback_wait_seconds(n) + hour for n in range(1, attempts + 1))
    assert prod > without_retries


def test_the_lock_outlasts_every_configured_machine_but_not_by_much() -> None:
    """One rule: the machine's timeout is computed, the lock's expiry is the bound for the config range."""
    longest = max(_built(attempts)["TimeoutSeconds"] for attempts in ATTEMPTS)
    assert longest <= lc.LOCK_EXPIRY_SECONDS < longest + 3600


def test_a_definition_whose_longest_run_outlives_the_lock_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lc, "LOCK_EXPIRY_SECONDS", 4 * 3600)
    with pytest.raises(ValueError, match=r"longest run takes up to \d+ s, longer than a lock lasts"):
        _built(2)


# --- the arithmetic on small definitions ---------------------------------------------------------------


def _task(resource: str, timeout: int, retry: list[dict[str, Any]] | None = None, **more: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, "TimeoutSeconds": timeout, "Retry": retry or [], **more}


RETRY_TWICE = [{"ErrorEquals": ["X"], "IntervalSeconds": 2, "BackoffRate": 2.0, "MaxAttempts": 2}]


def test_a_lambda_attempt_lasts_no_longer_than_its_function() -> None:
    time = budget.state_time("F", _task("fn", 930, RETRY_TWICE), lambda_timeouts={"fn": 900})
    assert (time.attempt, time.retried, time.total, time.longest_interval) == (900, 2 * 900 + 2 + 4, 2706, 4)
    unknown = budget.state_time("F", _task("fn", 930), lambda_timeouts={})
    assert unknown.total == 930  # without its function's timeout, the task's own bounds it


def test_a_build_retries_only_its_start_and_each_retried_start_is_one_api_call() -> None:
    retry = [{**RETRY_TWICE[0], "ErrorEquals": ["CodeBuild.CodeBuildException"]}]
    time = budget.state_time("B", _task("arn:aws:states:::codebuild:startBuild.sync", 3600, retry), lambda_timeouts={})
    assert time.total == 3600 + 2 * budget.START_BUILD_CALL_SECONDS + 2 + 4
    with pytest.raises(ValueError, match="not only StartBuild's errors"):
        budget.state_time(
            "B", _task("arn:aws:states:::codebuild:startBuild.sync", 3600, RETRY_TWICE), lambda_timeouts={}
        )


def test_a_task_without_a_timeout_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="state T: a Task without TimeoutSeconds"):
        budget.state_time("T", {"Type": "Task", "Resource": "fn"}, lambda_timeouts={})


def test_the_longest_path_takes_each_loop_as_often_as_it_is_bounded() -> None:
    states = {
        "A": _task("fn", 10, Next="Loop"),
        "Loop": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "W"}],
            "Default": "E",
        },
        "W": {"Type": "Wait", "SecondsPath": "$.w", "Next": "A"},
        "E": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.environment", "StringEquals": "prod", "Next": "P"}],
            "Default": "S",
        },
        "P": _task("fn", 100, End=True),
        "S": _task("fn", 1, End=True),
    }
    waits = {"W": lambda n: 1000 * n}
    for entries, expected in ((0, 10 + 100), (1, 10 + 1000 + 10 + 100), (3, 4 * 10 + 1000 + 2000 + 3000 + 100)):
        assert budget.longest_run(states, "A", lc.Environment.PROD, loops={"W": entries}, waits=waits) == expected
    assert budget.longest_run(states, "A", lc.Environment.STAGE, loops={"W": 0}, waits=waits) == 11
    with pytest.raises(ValueError, match="state .* is on a loop that nothing in `loops` bounds"):
        budget.longest_run(states, "A", lc.Environment.PROD, loops={}, waits=waits)
