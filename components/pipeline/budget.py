"""The state machine's time arithmetic, read from its definition (pure: no Pulumi, no AWS).

Each state's worst case: a Task runs `1 + sum(MaxAttempts)` attempts (every retrier may use all of its
own) with the Retry intervals between them; one attempt of a Lambda task lasts at most
min(TimeoutSeconds, the function's timeout), of any other task TimeoutSeconds. A CodeBuild task's
retried errors (`shapes.CODEBUILD_RETRYABLE`) are StartBuild's answers: the build never started, so
those attempts last one API call (`START_BUILD_CALL_SECONDS`) and only the last attempt is a build. A
Wait lasts its Seconds, or for one that reads its seconds from the input (the rollback backoff) what
`waits` says for its nth entry; Choice, Pass, Succeed and Fail take no time.

Two promises follow from it:

- the watchdog's: a live run is never silent for `WATCHDOG_SECONDS` (65 minutes). Step Functions
  writes an execution-history event when each attempt and each Wait starts and ends, so a run is silent
  at most one attempt, one Retry interval or one Wait: `silent_seconds` <= the 60-minute phase;
- no run outlives its lock: the longest run, retries included, along the longest path through the
  definition (the lock-wait and rollback loops entered at most as often as `loops` says), is what
  `execution_timeout` gives the state machine's own TimeoutSeconds, which the lock's expiry
  (`LOCK_EXPIRY_SECONDS`, from the run's start) must cover.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.pipeline.shapes import CODEBUILD_BUILD_RESOURCE, CODEBUILD_RETRYABLE
from functions.pipeline import lifecycle as lc

# How long one StartBuild call Step Functions retried can take: an API call, not a build.
START_BUILD_CALL_SECONDS = 60
# The state machine's own timeout is the longest run rounded up to this.
TIMEOUT_STEP_SECONDS = 15 * 60


@dataclass(frozen=True)
class StateTime:
    """A state's worst case: its longest single attempt (or wait), its retried attempts before the last,
    and its longest Retry interval."""

    attempt: int
    retried: float = 0
    longest_interval: float = 0

    @property
    def total(self) -> float:
        return self.attempt + self.retried

    @property
    def silent(self) -> float:
        """The longest the state leaves the execution history without an event."""
        return max(self.attempt, self.longest_interval)


def retry_intervals(retriers: list[dict[str, Any]]) -> list[float]:
    """Every interval a state's Retry may wait, each retrier using all of its attempts."""
    intervals = []
    for retrier in retriers:
        interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
        cap = retrier.get("MaxDelaySeconds", math.inf)
        intervals += [min(interval * rate**n, cap) for n in range(retrier.get("MaxAttempts", 3))]
    return intervals


def state_time(
    name: str, state: Mapping[str, Any], *, lambda_timeouts: Mapping[Any, int], wait: int | None = None
) -> StateTime:
    """`lambda_timeouts`: a Lambda task's Resource -> its function's timeout (absent: TimeoutSeconds
    bounds it alone); `wait`: the seconds of a Wait that reads them from its input."""
    kind = state["Type"]
    if kind == "Wait":
        seconds = state.get("Seconds", wait)
        if seconds is None:
            raise ValueError(f"state {name}: a Wait on {state.get('SecondsPath')!r} needs its largest wait")
        return StateTime(int(seconds))
    if kind != "Task":
        return StateTime(0)
    if "TimeoutSeconds" not in state:
        raise ValueError(f"state {name}: a Task without TimeoutSeconds can run for a year")
    resource, timeout = state["Resource"], int(state["TimeoutSeconds"])
    attempt = min(timeout, lambda_timeouts.get(resource, timeout)) if _is_lambda(resource) else timeout
    intervals = retry_intervals(state.get("Retry", []))
    if resource == CODEBUILD_BUILD_RESOURCE:
        errors = {e for retrier in state.get("Retry", []) for e in retrier["ErrorEquals"]}
        if not errors <= set(CODEBUILD_RETRYABLE):
            raise ValueError(f"state {name}: retries {sorted(errors)}, not only StartBuild's errors")
        retried_attempt = min(timeout, START_BUILD_CALL_SECONDS)
    else:
        retried_attempt = attempt
    return StateTime(attempt, len(intervals) * retried_attempt + sum(intervals), max(intervals, default=0))


def _is_lambda(resource: Any) -> bool:
    """A function invoked by its ARN (in the program an Output, here anything but a service integration)."""
    return not (isinstance(resource, str) and resource.startswith("arn:aws:states:::"))


def successors(state: Mapping[str, Any], environment: lc.Environment) -> list[str]:
    """Where a state may go next in a run of `environment`: Next, a Choice's rules and Default (a rule on
    `$.environment` only for its environment), every Catch."""
    targets = [state["Next"]] if "Next" in state else []
    if state["Type"] == "Choice":
        rules = state["Choices"]
        by_environment = [r for r in rules if r.get("Variable") == "$.environment" and "StringEquals" in r]
        chosen = [r for r in by_environment if r["StringEquals"] == environment.value]
        targets += [r["Next"] for r in rules if r not in by_environment or r in chosen]
        if "Default" in state and not chosen:
            targets.append(state["Default"])
    targets += [c["Next"] for c in state.get("Catch", [])]
    return targets


def longest_run(
    states: Mapping[str, Mapping[str, Any]],
    start: str,
    environment: lc.Environment,
    *,
    loops: Mapping[str, int],
    waits: Mapping[str, Callable[[int], int]] | None = None,
    lambda_timeouts: Mapping[Any, int] | None = None,
) -> float:
    """Seconds of the longest run of `environment` from `start`, every state at its worst case. `loops`:
    a state -> the most times one run enters it (what bounds each loop); `waits`: a Wait reading its
    seconds from the input -> its seconds on its nth entry. A loop through no state of `loops` is an
    error: nothing would bound it."""
    bounded = sorted(loops)
    waits, timeouts = waits or {}, lambda_timeouts or {}
    memo: dict[tuple[str, tuple[int, ...]], float] = {}
    on_path: set[tuple[str, tuple[int, ...]]] = set()

    def visit(name: str, entered: tuple[int, ...]) -> float:
        if name in loops:
            index = bounded.index(name)
            if entered[index] == loops[name]:
                return -math.inf  # one entry too many: no run takes this path
            entered = (*entered[:index], entered[index] + 1, *entered[index + 1 :])
        key = (name, entered)
        if key in memo:
            return memo[key]
        if key in on_path:
            raise ValueError(f"state {name} is on a loop that nothing in `loops` bounds")
        on_path.add(key)
        state = states[name]
        wait = waits[name](entered[bounded.index(name)] if name in loops else 1) if name in waits else None
        own = state_time(name, state, lambda_timeouts=timeouts, wait=wait).total
        after = [visit(n, entered) for n in successors(state, environment)]
        on_path.discard(key)
        memo[key] = own + max(after, default=0)
        return memo[key]

    return visit(start, tuple(0 for _ in bounded))


def execution_timeout(
    document: Mapping[str, Any],
    *,
    loops: Mapping[str, int],
    waits: Mapping[str, Callable[[int], int]] | None = None,
    lambda_timeouts: Mapping[Any, int] | None = None,
) -> int:
    """The state machine's own TimeoutSeconds: its longest run (stage or prod, retries included),
    rounded up to TIMEOUT_STEP_SECONDS. No run may outlive the lock it took: a definition whose longest
    run is longer than LOCK_EXPIRY_SECONDS is refused."""
    longest = max(
        longest_run(
            document["States"],
            document["StartAt"],
            environment,
            loops=loops,
            waits=waits,
            lambda_timeouts=lambda_timeouts,
        )
        for environment in lc.Environment
    )
    timeout = math.ceil(longest / TIMEOUT_STEP_SECONDS) * TIMEOUT_STEP_SECONDS
    if timeout > lc.LOCK_EXPIRY_SECONDS:
        raise ValueError(
            f"the longest run takes up to {longest:.0f} s, longer than a lock lasts "
            f"(LOCK_EXPIRY_SECONDS {lc.LOCK_EXPIRY_SECONDS}): fewer rollback attempts, or a longer lock"
        )
    return timeout


__all__ = [
    "START_BUILD_CALL_SECONDS",
    "StateTime",
    "execution_timeout",
    "longest_run",
    "retry_intervals",
    "state_time",
    "successors",
]
