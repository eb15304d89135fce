"""The sweeper's rows of the lifecycle table (spec: Global Artifact Sweeper, Stuck Execution Handling):
which endings put an artifact back in the sweep of its environment, and what the sweeper and its
watchdog write: a stuck run requeued (`requeued`), a stuck rollback never requeued
(`rollback_interrupted`), attempts exhausted (`attempts_exhausted`: parked, manual intervention).

The sweep index (`sweep-by-age`): `sweep_phase` = `stage`/`prod` while waiting for the next attempt since
`sweep_since`; `running` while a run holds the item (since its start); `stage_parked`/`prod_parked` once
parked (stage since the build time, so `ArtifactNeverPromoted` is a range count).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from .model import OWNED, Ref, Text, Transition, is_
from .vocabulary import (
    ENV_FAILURE_REASON,
    ENV_STATUS,
    ENV_TEST_STATUS,
    EXECUTION_COMPLETED_AT,
    EXECUTION_STATUS,
    HEALTH,
    MANUAL_INTERVENTION,
    ROLLBACK_FAILURE_REASON,
    STATUS,
    SWEEP_PHASE,
    SWEEP_SINCE,
    Action,
    Environment,
    EnvStatus,
    Event,
    ExecutionStatus,
    Status,
    SweepPhase,
    TestStatus,
)

STAGE, PROD = Environment.STAGE, Environment.PROD

# Endings after which the same artifact may run again in that environment: the item goes back into the
# sweep of its environment, where the sweeper starts its next attempt (up to the configured maximum).
RETRYABLE_ENDINGS = frozenset(
    {
        (Action.DEPLOY_FAILED, STAGE),
        (Action.TIMED_OUT, STAGE),
        (Action.FAILED, STAGE),
        (Action.ASSET_MISMATCH, STAGE),
        (Action.NOT_STARTED, STAGE),
        (Action.NOT_STARTED, PROD),
        (Action.DRIFT_CHECK_FAILED, PROD),
        (Action.LOCK_WAIT_TIMED_OUT, STAGE),
        (Action.LOCK_WAIT_TIMED_OUT, PROD),
    }
)

PARKED = {STAGE: SweepPhase.STAGE_PARKED, PROD: SweepPhase.PROD_PARKED}


def leased() -> dict[str, object]:
    """What the lease writes into the sweep index: the run holds the item since its start (the watchdog
    looks at `running` items older than WATCHDOG_SECONDS)."""
    return {SWEEP_PHASE: SweepPhase.RUNNING.value, SWEEP_SINCE: Ref.EXECUTION_START}


def back_in_the_sweep(rows: Iterable[Transition]) -> list[Transition]:
    """Every retryable ending (`RETRYABLE_ENDINGS`) waits for its next attempt in its environment's sweep."""
    swept = []
    for row in rows:
        if (row.action, row.environment) in RETRYABLE_ENDINGS:
            row = replace(row, sets={**row.sets, SWEEP_PHASE: row.environment.value, SWEEP_SINCE: Ref.NOW})
        swept.append(row)
    return swept


def _requeued(environment: Environment) -> Transition:
    """The watchdog stopped a run that made no progress for WATCHDOG_SECONDS (or found it ended without
    being finalized): the artifact waits for its next attempt, as the spec requeues it (`candidate` for
    stage, `promoted` for prod, `not_tested`). `sweep_since` is the stuck run's start, long past the
    sweep's 5 minutes: the very next sweep starts the next attempt."""
    return Transition(
        Action.REQUEUED,
        environment,
        guard=(
            OWNED,  # the stuck execution still holds the item
            is_(STATUS, Status.CANDIDATE if environment is STAGE else Status.PROMOTED),
            is_(ENV_STATUS, EnvStatus.DEPLOYING, EnvStatus.DEPLOYED),
        ),
        sets={
            ENV_STATUS: EnvStatus.PENDING,
            ENV_TEST_STATUS: TestStatus.NOT_TESTED,
            ENV_FAILURE_REASON: Ref.REASON,
            EXECUTION_STATUS: ExecutionStatus.KILLED,
            EXECUTION_COMPLETED_AT: Ref.NOW,
            SWEEP_PHASE: environment.value,
            SWEEP_SINCE: Ref.EXECUTION_START,
        },
        events=((Event.STUCK_PIPELINE_TERMINATED, {"reason": Ref.REASON, "requeued": True}),),
        default_reason="stuck: no progress for 65 minutes",
    )


def sweep_rows() -> list[Transition]:
    return [
        *[_requeued(environment) for environment in Environment],
        # A stuck rollback is never requeued: the release was revoked. Prod's state is unknown: a human
        # decides (critical alert), as after a failed rollback. The watchdog writes it for a stuck run, the
        # finalizer for a rollback whose run ended without `Finalize` (`parking.rollback_ended`: stopped by
        # hand, timed out; `RollbackFailed` only).
        Transition(
            Action.ROLLBACK_INTERRUPTED,
            PROD,
            guard=(OWNED, is_(STATUS, Status.ROLLBACK_INITIATED)),
            sets={
                STATUS: Status.ROLLBACK_FAILED,
                ENV_STATUS: EnvStatus.ROLLBACK_FAILED,
                MANUAL_INTERVENTION: True,
                ROLLBACK_FAILURE_REASON: Text("rollback interrupted: {reason}"),
                HEALTH: "degraded",
                EXECUTION_STATUS: ExecutionStatus.KILLED,
                EXECUTION_COMPLETED_AT: Ref.NOW,
            },
            # Still `running` in the index: the watchdog keeps watching the run until it has ended (a stop
            # that failed is retried by the next sweep); the finalizer of its ending removes the phase.
            events=(
                (Event.STUCK_PIPELINE_TERMINATED, {"reason": Ref.REASON, "requeued": False, "severity": "critical"}),
                (Event.ROLLBACK_FAILED, {"reason": Ref.REASON, "severity": "critical"}),
            ),
            alert="CRITICAL: rollback of {service} was interrupted (stuck, stopped or timed out), "
            "manual intervention required",
            default_reason="rollback stuck: no progress for 65 minutes",
        ),
        # The last allowed attempt ended (or the artifact cannot be run at all, e.g. its manifest is gone):
        # parked for a human, never started again by the sweeper. Written by the sweeper, which holds no
        # run: only while the artifact still waits in its environment's sweep.
        *[
            Transition(
                Action.ATTEMPTS_EXHAUSTED,
                environment,
                guard=(
                    is_(STATUS, Status.CANDIDATE if environment is STAGE else Status.PROMOTED),
                    is_(SWEEP_PHASE, environment.value),
                ),
                sets={
                    MANUAL_INTERVENTION: True,
                    ENV_FAILURE_REASON: Ref.REASON,
                    SWEEP_PHASE: PARKED[environment].value,
                    SWEEP_SINCE: Ref.BUILD_TIME if environment is STAGE else Ref.NOW,
                },
                events=((Event.DEPLOY_FAILED, {"reason": Ref.REASON, "phase": "sweeper", "retryable": False}),),
                alert="manual intervention required: {service} parked by the sweeper",
                default_reason="attempts exhausted",
            )
            for environment in Environment
        ],
    ]
