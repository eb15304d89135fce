"""Every transition of an artifact's item: its guard (the states it may leave), what it writes, the
events and metrics it emits. Rendered into the ASL lease and applied by the functions; nothing else
writes an item's state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .locks import each_environment as _each_environment
from .locks import leasable as _leasable
from .locks import lock_rows as _lock_rows
from .model import OWNED, Absent, AbsentOrAtMost, Clause, IfRunning, Ref, Repair, Text, Transition, is_
from .overrides import override_rows as _override_rows
from .sweeps import back_in_the_sweep as _back_in_the_sweep
from .sweeps import leased as _leased
from .sweeps import sweep_rows as _sweep_rows
from .vocabulary import (
    ASSET_VERIFICATION_PASSED,
    DEPLOY_BUILD_ID,
    DEPLOYMENT_ID,
    ELIGIBILITY_REVOKED,
    ELIGIBILITY_REVOKED_REASON,
    ENV_DEPLOY_STARTED_AT,
    ENV_FAILURE_REASON,
    ENV_STATUS,
    ENV_TEST_COMPLETED_AT,
    ENV_TEST_STARTED_AT,
    ENV_TEST_STATUS,
    EXECUTION_COMPLETED_AT,
    EXECUTION_ID,
    EXECUTION_STARTED_AT,
    EXECUTION_STATUS,
    EXPIRE_AT,
    HEALTH,
    KNOWN_GOOD_BUILD_TIME,
    LAST_KNOWN_GOOD,
    LEASED_ATTEMPTS,
    MANUAL_INTERVENTION,
    REVOKED_COMMIT,
    REVOKED_CONTENT_RECORD,
    REVOKED_REASON,
    ROLLBACK_ATTEMPTS,
    ROLLBACK_FAILURE_REASON,
    ROLLBACK_INITIATED_AT,
    ROLLBACK_TARGET,
    SERVICE_RECORD,
    STATUS,
    SWEEP_PHASE,
    SWEEP_SINCE,
    Action,
    Environment,
    EnvStatus,
    Event,
    ExecutionStatus,
    Metric,
    Status,
    TestStatus,
    env_path,
)

# --- the table ---------------------------------------------------------------------------------------


def _testing(status: Status) -> tuple[Clause, ...]:
    """The run deployed the environment and its tests are running: only then is their outcome recorded."""
    return (OWNED, is_(STATUS, status), is_(ENV_STATUS, EnvStatus.DEPLOYED), is_(ENV_TEST_STATUS, TestStatus.RUNNING))


def _tests_ended(result: TestStatus) -> dict[str, Any]:
    return {ENV_TEST_STATUS: result, ENV_TEST_COMPLETED_AT: Ref.NOW, "{env}_test_duration_seconds": Ref.TEST_SECONDS}


def _finished(status: ExecutionStatus) -> dict[str, Any]:
    return {EXECUTION_STATUS: status, EXECUTION_COMPLETED_AT: Ref.NOW}


def _rollback_initiated(reason: str) -> dict[str, Any]:
    """A prod failure that starts a rollback. Such a release never runs again without a signed override."""
    return {
        STATUS: Status.ROLLBACK_INITIATED,
        HEALTH: "degraded",
        ELIGIBILITY_REVOKED: True,
        ELIGIBILITY_REVOKED_REASON: Text(reason),
        ROLLBACK_INITIATED_AT: Ref.NOW,
        ROLLBACK_ATTEMPTS: 0,
    }


def _failure(action: Action, event: Event, *, rejects: bool = False, **extra: Any) -> list[Transition]:
    """A phase that failed: the environment is `failed`; in stage an invalid artifact is also rejected."""
    return [
        Transition(
            action,
            environment,
            guard=(
                OWNED,
                is_(ENV_STATUS, EnvStatus.DEPLOYING, EnvStatus.DEPLOYED),
                *((is_(STATUS, Status.CANDIDATE),) if rejects and environment is Environment.STAGE else ()),
            ),
            sets={
                ENV_STATUS: EnvStatus.FAILED,
                ENV_FAILURE_REASON: Ref.REASON,
                ENV_TEST_STATUS: IfRunning(),
                **_finished(ExecutionStatus.TIMEOUT if action is Action.TIMED_OUT else ExecutionStatus.FAILED),
                **({STATUS: Status.REJECTED} if rejects and environment is Environment.STAGE else {}),
                **extra,
            },
            events=((event, {"reason": Ref.REASON}),),
            metrics=((Metric.ASSET_HASH_MISMATCH, 1),) if action is Action.ASSET_MISMATCH else (),
            default_reason=action.value,
        )
        for environment in Environment
    ]


STAGE, PROD = Environment.STAGE, Environment.PROD


def _not_started(action: Action, environment: Environment, phase: Any, *, default_reason: str) -> Transition:
    """A run that ended before deploying anything, for a reason that is not the release's (KMS, S3 or STS
    not answering, a timeout): no rollback, no revocation, the release stays retryable. Prod goes back to
    the `pending` promotion left it in, the only state a prod lease takes, and into the sweep (the next
    attempt: an operator, or the sweeper that looks for releases pending in prod); stage is `failed`,
    which a stage lease takes again."""
    prod = environment is PROD
    return Transition(
        action,
        environment,
        guard=(OWNED, *((is_(STATUS, Status.PROMOTED),) if prod else ()), is_(ENV_STATUS, EnvStatus.DEPLOYING)),
        sets={
            ENV_STATUS: EnvStatus.PENDING if prod else EnvStatus.FAILED,
            ENV_FAILURE_REASON: Ref.REASON,
            **({SWEEP_PHASE: PROD.value, SWEEP_SINCE: Ref.NOW} if prod else {}),
            EXECUTION_STATUS: Ref.END_STATUS,
            EXECUTION_COMPLETED_AT: Ref.NOW,
        },
        events=((Event.DEPLOY_FAILED, {"reason": Ref.REASON, "phase": phase, "retryable": True}),),
        default_reason=default_reason,
    )


# TTL (`expire_at`, intake's): only candidates carry it. Promotion and prod success remove it and no row
# sets it, so no release, rollback target, known good or record beside the artifacts expires. Not the
# spec's sweeper "touching" releases: a sweeper outage longer than the TTL left would let DynamoDB delete
# a live release's metadata (and the rollback target) silently.
_TABLE: list[Transition] = _back_in_the_sweep(
    [
        # Take the environment for this run (the state machine's transaction, with the environment's lock).
        *[
            Transition(
                Action.LEASE,
                environment,
                guard=_leasable(environment),
                sets={
                    ENV_STATUS: EnvStatus.DEPLOYING,
                    ENV_DEPLOY_STARTED_AT: Ref.EXECUTION_START,
                    "environment_states.{env}.deployment_id": Ref.EXECUTION_NAME,
                    DEPLOYMENT_ID: Ref.EXECUTION_NAME,
                    EXECUTION_ID: Ref.EXECUTION_ID,
                    EXECUTION_STARTED_AT: Ref.EXECUTION_START,
                    EXECUTION_STATUS: ExecutionStatus.RUNNING,
                    **_leased(),
                },
                adds={LEASED_ATTEMPTS: 1},
                # an operator who starts a parked artifact again is no longer waiting for a person
                removes=(MANUAL_INTERVENTION,),
            )
            for environment in Environment
        ],
        *_each_environment(
            Action.VALIDATED,
            guard=(OWNED,),
            # The artifact verifies; whether CloudFormation reads those bytes is the deployer's check
            # (`asset_verification_passed`, set by `deployed` and `asset_mismatch`).
            sets={"integrity_verified": True, "validated_at": Ref.NOW},
        ),
        *_each_environment(
            Action.DEPLOYED,
            guard=(OWNED, is_(ENV_STATUS, EnvStatus.DEPLOYING)),
            sets={
                ENV_STATUS: EnvStatus.DEPLOYED,
                "environment_states.{env}.deploy_completed_at": Ref.NOW,
                ENV_TEST_STATUS: TestStatus.RUNNING,
                ENV_TEST_STARTED_AT: Ref.NOW,
                "{env}_deploy_duration_seconds": Ref.DEPLOY_SECONDS,
                DEPLOY_BUILD_ID: Ref.BUILD_ID,
                # The deployer deploys only after every object CloudFormation reads was checked to be signed.
                ASSET_VERIFICATION_PASSED: True,
            },
            events=((Event.DEPLOY_SUCCEEDED, {"phase": "deploy"}),),
            succeeded=True,
        ),
        Transition(
            Action.TEST_FAILED,
            STAGE,
            guard=_testing(Status.CANDIDATE),
            sets={
                **_tests_ended(TestStatus.FAILED),
                STATUS: Status.REJECTED,
                **_finished(ExecutionStatus.FAILED),
            },
            events=((Event.TEST_FAILED, {"reason": Ref.REASON}),),
            metrics=((Metric.TEST_FAILURE_RATE, 1),),
        ),
        # Promotion's claim, between copying the objects and copying the manifest (which starts prod).
        Transition(
            Action.PROMOTED,
            STAGE,
            guard=(OWNED, is_(STATUS, Status.CANDIDATE), is_(ENV_TEST_STATUS, TestStatus.RUNNING)),
            sets={
                **_tests_ended(TestStatus.PASSED),
                env_path(ENV_STATUS, PROD): EnvStatus.PENDING,
                env_path(ENV_TEST_STATUS, PROD): TestStatus.NOT_TESTED,
                STATUS: Status.PROMOTED,
                LAST_KNOWN_GOOD: Ref.COMMIT_SHA,
                "promoted_at": Ref.NOW,
                SWEEP_PHASE: PROD.value,
                SWEEP_SINCE: Ref.NOW,
                **_finished(ExecutionStatus.SUCCEEDED),
            },
            # A promoted release is kept: rollback needs it long after the 90-day TTL of candidates (`TTL`).
            removes=(EXPIRE_AT,),
            events=((Event.ARTIFACT_PROMOTED, {}),),
            # stage's tests passed: TestFailureRate's sample of a pass (its failure is RecordTestFailed's 1)
            metrics=((Metric.TEST_FAILURE_RATE, 0),),
            succeeded=True,
        ),
        Transition(
            Action.PROD_SUCCEEDED,
            PROD,
            guard=_testing(Status.PROMOTED),
            sets={
                **_tests_ended(TestStatus.PASSED),
                STATUS: Status.DEPLOYED,
                HEALTH: "healthy",
                **_finished(ExecutionStatus.SUCCEEDED),
            },
            removes=(EXPIRE_AT,),  # a release live in prod never expires (`TTL`)
            events=((Event.DEPLOY_SUCCEEDED, {"phase": "smoke"}),),
            # DeployLatency: from the candidate's creation (intake) to the release deployed and healthy in prod
            metrics=((Metric.DEPLOY_LATENCY, Ref.SINCE_CANDIDATE), (Metric.TEST_FAILURE_RATE, 0)),
            then=Action.KNOWN_GOOD,
            succeeded=True,
        ),
        # The service's prod last known good: only ever moves to a newer build (a late run of an older
        # release cannot move it back).
        Transition(
            Action.KNOWN_GOOD,
            PROD,
            guard=(AbsentOrAtMost(KNOWN_GOOD_BUILD_TIME, Ref.BUILD_TIME),),
            sets={
                LAST_KNOWN_GOOD: Ref.COMMIT_SHA,
                KNOWN_GOOD_BUILD_TIME: Ref.BUILD_TIME,
                "last_known_good_at": Ref.NOW,
                "record_type": "service",
            },
            record=SERVICE_RECORD,
        ),
        Transition(
            Action.SMOKE_FAILED,
            PROD,
            guard=_testing(Status.PROMOTED),
            sets={
                **_tests_ended(TestStatus.FAILED),
                **_rollback_initiated("prod smoke test failed: {reason}"),
            },
            events=((Event.SMOKE_TEST_FAILED, {"reason": Ref.REASON}), (Event.ROLLBACK_INITIATED, {})),
            metrics=((Metric.TEST_FAILURE_RATE, 1),),
            then=Action.CONTENT_REVOKED,
        ),
        # A failed or timed-out prod deploy may have left earlier stacks on the new release: prod rolls back.
        Transition(
            Action.PROD_DEPLOY_FAILED,
            PROD,
            guard=(OWNED, is_(STATUS, Status.PROMOTED), is_(ENV_STATUS, EnvStatus.DEPLOYING)),
            sets={
                ENV_STATUS: EnvStatus.FAILED,
                ENV_FAILURE_REASON: Ref.REASON,
                **_rollback_initiated("prod deploy failed: {reason}"),
            },
            events=((Event.DEPLOY_FAILED, {"reason": Ref.REASON}), (Event.ROLLBACK_INITIATED, {})),
            default_reason="deploy failed",
            then=Action.CONTENT_REVOKED,
        ),
        # A revoked release's bytes are revoked under every commit: intake and Validate look the content up
        # here (one record per artifact_sha256). The first revocation is kept.
        Transition(
            Action.CONTENT_REVOKED,
            PROD,
            guard=(Absent(REVOKED_COMMIT),),
            sets={
                REVOKED_COMMIT: Ref.COMMIT_SHA,
                REVOKED_REASON: Text("prod failed and rolled back: {reason}"),
                "revoked_at": Ref.NOW,
                "record_type": "revoked_content",
            },
            record=REVOKED_CONTENT_RECORD,
        ),
        Transition(
            Action.ROLLBACK_PLANNED,
            PROD,
            guard=(OWNED,),
            sets={ROLLBACK_TARGET: Ref.ROLLBACK_TARGET},  # and the backoff schedule, from the plan
        ),
        Transition(
            Action.ROLLBACK_ATTEMPT_FAILED,
            PROD,
            guard=(OWNED, is_(STATUS, Status.ROLLBACK_INITIATED)),
            sets={ROLLBACK_FAILURE_REASON: Ref.REASON},
            adds={ROLLBACK_ATTEMPTS: 1},
            # one per failed attempt; a rollback build refused because an asset was not the signed content is
            # an asset hash mismatch too (the deployer's check, in rollback mode)
            metrics=((Metric.ROLLBACK_FAILURE_RATE, 1), (Metric.ASSET_HASH_MISMATCH, Ref.IF_ASSET_MISMATCH)),
            default_reason="rollback deploy failed",
        ),
        Transition(
            Action.ROLLBACK_SUCCEEDED,
            PROD,
            guard=(OWNED, is_(STATUS, Status.ROLLBACK_INITIATED)),
            sets={
                STATUS: Status.ROLLBACK_SUCCEEDED,
                ENV_STATUS: EnvStatus.ROLLBACK_SUCCEEDED,
                "rollback_completed_at": Ref.NOW,
                ROLLBACK_TARGET: Ref.ROLLBACK_TARGET,
                HEALTH: "healthy",
                # prod is healthy again, but the release did not ship: its run failed
                **_finished(ExecutionStatus.FAILED),
            },
            adds={ROLLBACK_ATTEMPTS: 1},
            events=((Event.ROLLBACK_SUCCEEDED, {"target_commit": Ref.ROLLBACK_TARGET}),),
            metrics=((Metric.ROLLBACK_LATENCY, Ref.SINCE_ROLLBACK),),
        ),
        Transition(
            Action.ROLLBACK_FAILED,
            PROD,
            guard=(OWNED, is_(STATUS, Status.ROLLBACK_INITIATED)),
            sets={
                STATUS: Status.ROLLBACK_FAILED,
                ENV_STATUS: EnvStatus.ROLLBACK_FAILED,
                "rollback_attempts_exhausted": True,
                "manual_intervention_required": True,
                ROLLBACK_FAILURE_REASON: Ref.ROLLBACK_REASON,
                HEALTH: "degraded",
                **_finished(ExecutionStatus.FAILED),
            },
            events=(
                (
                    Event.ROLLBACK_FAILED,
                    {"reason": Ref.ROLLBACK_REASON, "attempts": Ref.ATTEMPTS, "severity": "critical"},
                ),
            ),
            alert="CRITICAL: rollback of {service} failed, manual intervention required",
        ),
        # Stage rejects an artifact that fails verification; in prod it was already promoted once.
        *_failure(Action.INVALID_ARTIFACT, Event.INVALID_ARTIFACT, rejects=True, integrity_verified=False),
        *_failure(Action.DEPLOY_FAILED, Event.DEPLOY_FAILED),
        *_failure(Action.DRIFT_DETECTED, Event.DEPLOY_FAILED, stack_drift_detected=True),
        # The deployer refused before any change set: an object in the service's asset bucket (or an image)
        # was not the signed content after it published it. Nothing was deployed, so prod does not roll
        # back; the release itself verified, so stage does not reject it (a retry publishes again).
        *_failure(Action.ASSET_MISMATCH, Event.DEPLOY_FAILED, **{ASSET_VERIFICATION_PASSED: False}),
        # Nothing was deployed and nothing is known against the release (`_not_started`): the drift gate
        # could not tell; Validate failed for a reason that is not the artifact's; the deploy build stopped
        # before its first change set.
        _not_started(Action.DRIFT_CHECK_FAILED, PROD, "drift_check", default_reason="drift check failed"),
        *[
            _not_started(Action.NOT_STARTED, environment, Ref.PHASE, default_reason="failed before deploying anything")
            for environment in Environment
        ],
        *_failure(Action.TIMED_OUT, Event.DEPLOY_FAILED),
        *_failure(Action.FAILED, Event.DEPLOY_FAILED),
        *_lock_rows(),
        # The finalizer's record of the run (and its corrections, see REPAIRS).
        *_each_environment(
            Action.FINALIZED,
            guard=(OWNED,),
            sets={"finalizer_ran": True, "finalizer_ran_at": Ref.NOW},
            events=((Event.FINALIZER_CORRECTED_METADATA, {}),),
            metrics=((Metric.FINALIZER_CORRECTED, 1),),
        ),
        *_sweep_rows(),
    ]
)

# What the state machine records through the transition function (its other rows are written by the
# lease itself, or by promotion, Validate, the rollback planner and the finalizer, never on request).
RECORDED_BY_THE_STATE_MACHINE = frozenset(
    {
        Action.LEASE_TERMS,
        Action.LEASE_LOST,
        Action.LOCK_WAIT_TIMED_OUT,
        Action.DEPLOYED,
        Action.TEST_FAILED,
        Action.PROD_SUCCEEDED,
        Action.SMOKE_FAILED,
        Action.PROD_DEPLOY_FAILED,
        Action.ROLLBACK_ATTEMPT_FAILED,
        Action.ROLLBACK_SUCCEEDED,
        Action.ROLLBACK_FAILED,
        Action.INVALID_ARTIFACT,
        Action.DEPLOY_FAILED,
        Action.DRIFT_DETECTED,
        Action.DRIFT_CHECK_FAILED,
        Action.NOT_STARTED,
        Action.ASSET_MISMATCH,
        Action.TIMED_OUT,
        Action.FAILED,
    }
)

# Signed operator requests (`overrides.py`): two of them are leases derived from the table's own.
_TABLE += _override_rows({t.environment: t for t in _TABLE if t.action is Action.LEASE})

TRANSITIONS: Mapping[tuple[Action, Environment], Transition] = {(t.action, t.environment): t for t in _TABLE}
assert len(TRANSITIONS) == len(_TABLE), "one transition per action and environment"


def transition(action: Action | str, environment: Environment | str) -> Transition:
    try:
        return TRANSITIONS[(Action(action), Environment(environment))]
    except (KeyError, ValueError):
        raise ValueError(f"no transition {action!r} in {environment!r}") from None


REPAIRS = (
    Repair(EXECUTION_STATUS, ExecutionStatus.RUNNING, Ref.END_STATUS, {EXECUTION_COMPLETED_AT: Ref.NOW}),
    Repair(ENV_STATUS, EnvStatus.DEPLOYING, EnvStatus.FAILED),
    Repair(ENV_TEST_STATUS, TestStatus.RUNNING, TestStatus.NOT_TESTED),
)

__all__ = [
    "RECORDED_BY_THE_STATE_MACHINE",
    "REPAIRS",
    "TRANSITIONS",
    "transition",
]
