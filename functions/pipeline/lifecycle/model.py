"""The shapes of the lifecycle table: a transition, its guard's clauses, the values only known when it
runs (`Ref`), and the finalizer's repairs. Pure data, no AWS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .vocabulary import EXECUTION_ID, Action, Environment, Event, Metric, TestStatus, read

# --- values a transition writes that are only known when it runs ---------------------------------------


class Ref(StrEnum):
    NOW = "now"
    EXECUTION_ID = "execution_id"  # this run's (the ASL: $$.Execution.Id)
    EXECUTION_NAME = "execution_name"
    EXECUTION_START = "execution_start"
    COMMIT_SHA = "commit_sha"
    REASON = "reason"  # the run's error text, else the transition's default reason
    BUILD_ID = "build_id"  # the deploy build's id
    DEPLOY_SECONDS = "deploy_seconds"  # since the environment's deploy started
    TEST_SECONDS = "test_seconds"  # since its tests started
    SINCE_CANDIDATE = "since_candidate"  # since intake created the candidate item (`recorded_at`)
    SINCE_ROLLBACK = "since_rollback"  # since the rollback was initiated
    ROLLBACK_TARGET = "rollback_target"  # the plan's target commit
    ROLLBACK_REASON = "rollback_reason"  # why the rollback failed, from the plan, the error or the item
    ATTEMPTS = "attempts"  # the item's rollback attempts so far
    BUILD_TIME = "build_time"  # the artifact's build time
    END_STATUS = "end_status"  # how the run ended: timeout or failed
    PHASE = "phase"  # where a run that deployed nothing stopped: `deploy` once a deploy build ran, else `validate`
    IF_ASSET_MISMATCH = "if_asset_mismatch"  # 1 if the run's error is the deployer's asset mismatch, else none
    LOCK_EXPIRES_AT = "lock_expires_at"  # when this run's lock expires (its start + LOCK_EXPIRY_SECONDS)


@dataclass(frozen=True)
class Text:
    """A reason written with the run's error text: `template` may use `{reason}`."""

    template: str
    limit: int = 500


@dataclass(frozen=True)
class IfRunning:
    """Tests that were running when the run failed end `not_tested`; otherwise the value stays."""

    value: TestStatus = TestStatus.NOT_TESTED


# --- guards ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Is:
    """`path = value` or `path IN (values)`: the state(s) a transition may leave."""

    path: str
    values: tuple[Any, ...]

    def holds(self, item: Mapping[str, Any], environment: str, resolve: Any) -> bool:
        return read(item, self.path, environment) in {resolve(v) for v in self.values}


@dataclass(frozen=True)
class Absent:
    path: str

    def holds(self, item: Mapping[str, Any], environment: str, resolve: Any) -> bool:
        return read(item, self.path, environment) is None


@dataclass(frozen=True)
class AbsentOrAtMost:
    """Only ever moves forward: the recorded value is absent or not newer than ours."""

    path: str
    value: Any

    def holds(self, item: Mapping[str, Any], environment: str, resolve: Any) -> bool:
        recorded = read(item, self.path, environment)
        return recorded is None or recorded <= resolve(self.value)


@dataclass(frozen=True)
class Before:
    """`path < value`: for ISO 8601 times, earlier (an absent attribute is never before anything)."""

    path: str
    value: Any

    def holds(self, item: Mapping[str, Any], environment: str, resolve: Any) -> bool:
        recorded = read(item, self.path, environment)
        return recorded is not None and recorded < resolve(self.value)


@dataclass(frozen=True)
class AnyOf:
    """At least one of its clauses holds."""

    clauses: tuple[Is | Absent | AbsentOrAtMost | Before, ...]

    def holds(self, item: Mapping[str, Any], environment: str, resolve: Any) -> bool:
        return any(c.holds(item, environment, resolve) for c in self.clauses)


Clause = Is | Absent | AbsentOrAtMost | Before | AnyOf


def is_(path: str, *values: Any) -> Is:
    if not values:
        raise ValueError(f"a guard on {path} needs at least one state to leave")
    return Is(path, values)


OWNED = is_(EXECUTION_ID, Ref.EXECUTION_ID)  # the run that took the lease still holds the item


@dataclass(frozen=True)
class Transition:
    action: Action
    environment: Environment
    guard: tuple[Clause, ...]
    sets: Mapping[str, Any] = field(default_factory=dict)
    adds: Mapping[str, int] = field(default_factory=dict)
    removes: tuple[str, ...] = ()
    events: tuple[tuple[Event, Mapping[str, Any]], ...] = ()
    metrics: tuple[tuple[Metric, Any], ...] = ()
    alert: str | None = None  # subject of a critical alert
    then: Action | None = None  # a transition of the service record once this one applied
    succeeded: bool = False  # the run ends well after it
    default_reason: str | None = None
    # another item than the artifact's: the service record, or a template of the artifact's attributes
    # (`_revoked#{artifact_sha256}`)
    record: str | None = None


@dataclass(frozen=True)
class Repair:
    """What the finalizer corrects when a run ended without leaving the item consistent: a value the
    run left at `path` that no finished run may leave (`found`) becomes `corrected`."""

    path: str
    found: Any
    corrected: Any
    also: Mapping[str, Any] = field(default_factory=dict)


__all__ = [
    "Absent",
    "AbsentOrAtMost",
    "AnyOf",
    "Before",
    "Clause",
    "IfRunning",
    "Is",
    "OWNED",
    "Ref",
    "Repair",
    "Text",
    "Transition",
    "is_",
]
