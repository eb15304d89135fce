"""The finalizer's parking (spec: Stuck Execution Handling): endings after which an artifact must wait for
a person instead of going back into the sweep, and how an interrupted rollback is worded from how its run
ended. Pure data, like the table; `finalizer.py` applies it through `finalizing`.

- stopped by hand: an ABORTED run that still held its item in the `running` phase was stopped by a person
  (the watchdog requeues before it stops, so its own stops find the item requeued): never retried, that is
  the operator's stop lever;
- an unproven prod deploy: the run ended while deploying prod and nothing proves what its stacks are;
- broken prod stacks: the environment was recorded `deployed` while one of its stacks is failed.

Parked is `stage_parked` (since the build time, as `ArtifactNeverPromoted` counts) or `prod_parked` with
prod `pending` (the only state a prod lease takes, so the next attempt a person starts redeploys it),
`manual_intervention_required`, the reason, an alert and a `DeployFailed` event (`phase: finalizer`,
`retryable: false`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from .model import Ref, Transition
from .sweeps import PARKED
from .table import transition
from .vocabulary import (
    ENV_FAILURE_REASON,
    ENV_STATUS,
    MANUAL_INTERVENTION,
    SWEEP_PHASE,
    SWEEP_SINCE,
    Action,
    Environment,
    EnvStatus,
    Event,
)


class ParkedBecause(StrEnum):
    STOPPED_BY_HAND = "stopped_by_hand"
    UNPROVEN_DEPLOY = "unproven_deploy"
    BROKEN_STACKS = "broken_stacks"


NEXT_STEP: Mapping[Environment, str] = {
    Environment.STAGE: "run it again by starting its next attempt, or ship a fix as a new commit",
    Environment.PROD: "redeploy the release by starting its next attempt, or ship a fix as a new commit",
}
WHY: Mapping[ParkedBecause, str] = {
    ParkedBecause.STOPPED_BY_HAND: "the run was stopped by hand (ABORTED while it held the item), never retried",
    ParkedBecause.UNPROVEN_DEPLOY: "the run ended while deploying prod and nothing proves what its stacks are",
    ParkedBecause.BROKEN_STACKS: "deployed, but stacks failed",
}
# The alerts' subjects ({service} only: the detail names the environment, the execution and the reason).
PARKED_SUBJECTS: Mapping[ParkedBecause, str] = {
    ParkedBecause.STOPPED_BY_HAND: "manual intervention required: {service}'s run was stopped by hand, parked",
    ParkedBecause.UNPROVEN_DEPLOY: "manual intervention required: {service}'s prod deploy ended unfinished, "
    "its stacks unknown",
    ParkedBecause.BROKEN_STACKS: "manual intervention required: {service}'s prod stacks failed, parked",
}
PARKED_BY_FINALIZER = PARKED_SUBJECTS[ParkedBecause.UNPROVEN_DEPLOY]


def parked_reason(environment: Environment | str, because: ParkedBecause, detail: str = "") -> str:
    environment = Environment(environment)
    return f"{WHY[because]}{f': {detail}' if detail else ''}; {NEXT_STEP[environment]}"[:1000]


def parked_sets(environment: Environment | str, reason: str) -> dict[str, Any]:
    """What a parked artifact is: out of the sweep, waiting for a person."""
    environment = Environment(environment)
    sets: dict[str, Any] = {
        SWEEP_PHASE: PARKED[environment].value,
        SWEEP_SINCE: Ref.BUILD_TIME if environment is Environment.STAGE else Ref.NOW,
        MANUAL_INTERVENTION: True,
        ENV_FAILURE_REASON: reason,
    }
    if environment is Environment.PROD:
        sets[ENV_STATUS] = EnvStatus.PENDING
    return sets


def parked_by_finalizer(finalizing: Transition, because: ParkedBecause, reason: str) -> Transition:
    """The finalizer's write when it parks: its alert, and `DeployFailed` (phase `finalizer`, never
    retried) before its `FinalizerCorrectedMetadata`."""
    failed = (Event.DEPLOY_FAILED, {"reason": reason, "phase": "finalizer", "retryable": False, "parked": because})
    return dataclasses.replace(finalizing, alert=PARKED_SUBJECTS[because], events=(failed, *finalizing.events))


# How a rollback's run ended, as its interruption's reason says it (the watchdog's own stop says "stuck").
ROLLBACK_ENDED: Mapping[str, str] = {
    "ABORTED": "stopped by hand",
    "TIMED_OUT": "timed out",
    "FAILED": "failed without recording its end",
    "SUCCEEDED": "ended without recording its end",
}


def rollback_ended() -> Transition:
    """`rollback_interrupted` as the finalizer writes it for a rollback whose run ended without `Finalize`
    (stopped by hand, timed out): `RollbackFailed` only, never `StuckPipelineTerminated` (only the
    watchdog's stop of a stuck run is that)."""
    interrupted = transition(Action.ROLLBACK_INTERRUPTED, Environment.PROD)
    events = tuple((event, detail) for event, detail in interrupted.events if event is Event.ROLLBACK_FAILED)
    return dataclasses.replace(interrupted, events=events, default_reason="rollback ended without its Finalize")


def unleasable_parked(environment: Environment | str) -> Transition:
    """`attempts_exhausted` for an item waiting in its environment's sweep that no lease would take (its
    status or its environment's is not one a run starts from): parked with the reason ("cannot be leased:
    ..."), guarded only on it still waiting there, whatever its status."""
    exhausted = transition(Action.ATTEMPTS_EXHAUSTED, environment)
    waiting = tuple(clause for clause in exhausted.guard if getattr(clause, "path", None) == SWEEP_PHASE)
    return dataclasses.replace(exhausted, guard=waiting, default_reason="cannot be leased")


__all__ = [
    "PARKED_BY_FINALIZER",
    "PARKED_SUBJECTS",
    "ROLLBACK_ENDED",
    "ParkedBecause",
    "parked_by_finalizer",
    "parked_reason",
    "parked_sets",
    "rollback_ended",
    "unleasable_parked",
]
