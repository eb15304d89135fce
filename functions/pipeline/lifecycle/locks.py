"""The lease's partners in the lifecycle table: what a lease may take, the environment's lock (taken in the
lease's transaction, released by the finalizer), waiting for it too long, and prod's ordering refusal
(`superseded`). One deployment per service and environment; prod never moves back to an older build."""

from __future__ import annotations

from typing import Any

from .model import Absent, AnyOf, Before, Clause, Ref, Transition, is_
from .vocabulary import (
    ELIGIBILITY_REVOKED,
    ENV_FAILURE_REASON,
    ENV_STATUS,
    ENV_TEST_STATUS,
    LOCK_COMMIT,
    LOCK_EXPIRES_AT,
    LOCK_HOLDER,
    LOCK_HOLDER_NAME,
    LOCK_RECORD,
    LOCK_TAKEN_AT,
    STATUS,
    SWEEP_PHASE,
    SWEEP_SINCE,
    Action,
    Environment,
    EnvStatus,
    Event,
    Status,
    TestStatus,
)


def each_environment(action: Action, **definition: Any) -> list[Transition]:
    return [Transition(action, environment, **definition) for environment in Environment]


STAGE, PROD = Environment.STAGE, Environment.PROD


def leasable(environment: Environment) -> tuple[Clause, ...]:
    """What a lease may take: stage retries after a failed deploy; prod starts only from the `pending`
    that promotion set. Both also take a `deployed` whose tests never ran (`not_tested`: the finalizer's
    correction of a deploy that succeeded but was not recorded), never one with tests running. A revoked
    release never runs."""
    waiting = (EnvStatus.PENDING, EnvStatus.FAILED) if environment is STAGE else (EnvStatus.PENDING,)
    return (
        is_(STATUS, Status.CANDIDATE if environment is STAGE else Status.PROMOTED),
        is_(ENV_STATUS, *waiting, EnvStatus.DEPLOYED),
        AnyOf((is_(ENV_STATUS, *waiting), is_(ENV_TEST_STATUS, TestStatus.NOT_TESTED))),
        Absent(ELIGIBILITY_REVOKED),
    )


def lock_rows() -> list[Transition]:
    """The environment's lock (`LOCK_RECORD`): taken in the lease's transaction when it is free, already
    this run's, or expired; released only by its holder."""
    return [
        *each_environment(
            Action.LOCK,
            guard=(AnyOf((Absent(LOCK_HOLDER), is_(LOCK_HOLDER, Ref.EXECUTION_ID), Before(LOCK_EXPIRES_AT, Ref.NOW))),),
            sets={
                LOCK_HOLDER: Ref.EXECUTION_ID,
                LOCK_HOLDER_NAME: Ref.EXECUTION_NAME,
                LOCK_COMMIT: Ref.COMMIT_SHA,
                LOCK_TAKEN_AT: Ref.NOW,
                LOCK_EXPIRES_AT: Ref.LOCK_EXPIRES_AT,
                "record_type": "lock",
            },
            record=LOCK_RECORD,
        ),
        *each_environment(
            Action.UNLOCK,
            guard=(is_(LOCK_HOLDER, Ref.EXECUTION_ID),),
            sets={"released_at": Ref.NOW, "released_by": Ref.EXECUTION_ID},
            removes=(LOCK_HOLDER, LOCK_HOLDER_NAME, LOCK_COMMIT, LOCK_TAKEN_AT, LOCK_EXPIRES_AT),
            record=LOCK_RECORD,
        ),
        # The run waited its turn for the lock as long as it may: the artifact was never leased and stays
        # what it was (retryable), visible to the sweeper, which starts the next attempt.
        *[
            Transition(
                Action.LOCK_WAIT_TIMED_OUT,
                environment,
                guard=leasable(environment),
                sets={ENV_FAILURE_REASON: Ref.REASON, SWEEP_PHASE: environment.value, SWEEP_SINCE: Ref.NOW},
                events=((Event.DEPLOY_FAILED, {"reason": Ref.REASON, "phase": "lock_wait", "retryable": True}),),
                default_reason="timed out waiting for the lock: another run of the service held the environment",
            )
            for environment in Environment
        ],
        # Prod never deploys a build older than the service's known good (the lease's transaction checks
        # the `known_good` row's guard on the service record). Nothing was deployed; the release stays
        # promoted but leaves the sweep for good. A signed override (the audit issue) may allow it later.
        Transition(
            Action.SUPERSEDED,
            PROD,
            guard=leasable(PROD),
            sets={ENV_STATUS: EnvStatus.SUPERSEDED, ENV_FAILURE_REASON: Ref.REASON},
            removes=(SWEEP_PHASE,),
            # the reason (which names the known good) comes with the event
            events=((Event.DEPLOY_FAILED, {"phase": "prod_ordering", "retryable": False}),),
            default_reason="older than the service's prod known good",
        ),
    ]
