"""The finalizer's reconciliations: what the real state (the run's deploy build, the service's stacks, how
the execution ended) says about an environment a run left `deploying`, and what the item becomes. Both
ways: a deploy that happened but was not recorded becomes `deployed`; one that changed nothing is
retryable again. Pure data, like the table; `finalizer.py` applies it through `finalizing`.

The generic repairs (`table.REPAIRS`: `running`, `deploying`, `test_running` left behind) still apply to
what no finding explains; a finding is only ever reached from evidence (a build that SUCCEEDED, stacks
read through the read-only role), never from the absence of an answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .model import OWNED, Clause, Ref, Transition, is_
from .parking import ParkedBecause, parked_reason, parked_sets
from .table import transition
from .vocabulary import (
    ASSET_VERIFICATION_PASSED,
    DEPLOY_BUILD_ID,
    ENV_FAILURE_REASON,
    ENV_STATUS,
    ENV_TEST_STATUS,
    STATUS,
    SWEEP_PHASE,
    SWEEP_SINCE,
    Action,
    Environment,
    EnvStatus,
    ExecutionStatus,
    Status,
    SweepPhase,
    TestStatus,
)


class Finding(StrEnum):
    """What the real state says about an environment its run left `deploying`."""

    # the run's deploy build SUCCEEDED and the stacks changed after the deploy started
    DEPLOYED = "deployed_unrecorded"
    # every stack is as it was before the deploy started (none changed, or none exists), and no deploy
    # build is still running: nothing was deployed
    NOTHING_DEPLOYED = "nothing_deployed"


# How an execution ended (Step Functions' status) -> `execution_status` (the spec's values).
EXECUTION_ENDED: Mapping[str, ExecutionStatus] = {
    "SUCCEEDED": ExecutionStatus.SUCCEEDED,
    "FAILED": ExecutionStatus.FAILED,
    "TIMED_OUT": ExecutionStatus.TIMEOUT,
    "ABORTED": ExecutionStatus.KILLED,
}
# The run the finalizer last finalized the item for: a second finalization of one run (its `Finalize`
# state, then its FAILED event) corrects nothing twice and reports nothing twice.
FINALIZED_EXECUTION = "finalized_execution_id"
# The endings the finalizer's EventBridge rule delivers (a SUCCEEDED run always ran `Finalize` itself).
UNFINISHED_ENDINGS = ("FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class Reconciliation:
    """A `deploying` environment that the real state shows to be otherwise (`finding`): `sets` is
    written, guarded on `guard` besides the environment still being `deploying`."""

    finding: Finding
    environment: Environment
    sets: Mapping[str, Any]
    guard: tuple[Clause, ...] = ()


def _retryable(environment: Environment, status: EnvStatus) -> dict[str, Any]:
    """Back in the sweep of its environment: the sweeper starts the next attempt (or parks it)."""
    return {ENV_STATUS: status, SWEEP_PHASE: environment.value, SWEEP_SINCE: Ref.NOW}


RECONCILIATIONS: Mapping[tuple[Finding, Environment], Reconciliation] = {
    (r.finding, r.environment): r
    for r in [
        # The deploy happened; its recording was lost. Its tests never ran: the sweeper runs it again
        # (the lease takes `deployed` + `not_tested`), which redeploys nothing new and tests it.
        *[
            Reconciliation(
                Finding.DEPLOYED,
                environment,
                sets={
                    **_retryable(environment, EnvStatus.DEPLOYED),
                    ENV_TEST_STATUS: TestStatus.NOT_TESTED,
                    "environment_states.{env}.deploy_completed_at": Ref.NOW,
                    DEPLOY_BUILD_ID: Ref.BUILD_ID,
                    # the deployer changes a stack only after every object it reads was checked as signed
                    ASSET_VERIFICATION_PASSED: True,
                },
            )
            for environment in Environment
        ],
        # Nothing was deployed and nothing is known against the release (as `not_started`): stage is
        # `failed`, which a stage lease takes again; prod is `pending` again, the only state a prod lease
        # takes (never a rollback: nothing of the release reached prod).
        Reconciliation(
            Finding.NOTHING_DEPLOYED,
            Environment.STAGE,
            sets={
                **_retryable(Environment.STAGE, EnvStatus.FAILED),
                ENV_FAILURE_REASON: "the run ended before deploying anything (no stack changed)",
            },
        ),
        Reconciliation(
            Finding.NOTHING_DEPLOYED,
            Environment.PROD,
            sets={
                **_retryable(Environment.PROD, EnvStatus.PENDING),
                ENV_FAILURE_REASON: "the run ended before deploying anything (no stack changed)",
            },
            guard=(is_(STATUS, Status.PROMOTED),),
        ),
    ]
}


# What the generic repairs (`REPAIRS`) leave an environment in when no finding explains how the run ended,
# so that it never drops out of the sweep: stage, where a failed deploy is retried, waits for its next
# attempt; a prod deploy that ended half way with nothing provable about its stacks is parked for a person
# (`parking.py`: a redeploy or a fix is theirs to choose), `pending` so that the next run an operator starts takes it;
# tests that never finished run again (the lease takes `deployed` + `not_tested`). Only while the artifact
# is still the release of its environment (`RETRIED_STATUS`).
RETRIED_STATUS: Mapping[Environment, Status] = {Environment.STAGE: Status.CANDIDATE, Environment.PROD: Status.PROMOTED}
UNPROVEN_ENDINGS: Mapping[tuple[str, Environment], Mapping[str, Any]] = {
    (ENV_STATUS, Environment.STAGE): {
        **_retryable(Environment.STAGE, EnvStatus.FAILED),
        ENV_FAILURE_REASON: "the run ended while deploying (nothing proves how far it got)",
    },
    (ENV_STATUS, Environment.PROD): parked_sets(
        Environment.PROD, parked_reason(Environment.PROD, ParkedBecause.UNPROVEN_DEPLOY)
    ),
    **{
        (ENV_TEST_STATUS, environment): {SWEEP_PHASE: environment.value, SWEEP_SINCE: Ref.NOW}
        for environment in Environment
    },
}


def reconciliation(finding: Finding | None, environment: Environment | str) -> Reconciliation | None:
    return RECONCILIATIONS.get((finding, Environment(environment))) if finding else None


def finalizing(
    environment: Environment | str,
    found: Iterable[tuple[str, Any]],
    *,
    clears_running: bool,
    extra_guard: tuple[Clause, ...] = (),
) -> Transition:
    """The finalizer's write for this run: `finalized` guarded, besides the run still owning the item, on
    every value it corrects still being the one it read (`found`: a correction is written once, however
    many times the run is finalized), and removing `sweep_phase` when the lease's `running` is still
    there (the run is over; a phase another writer set since is left alone)."""
    base = transition(Action.FINALIZED, environment)
    guard = [OWNED, *(is_(path, value) for path, value in found), *extra_guard]
    removes: tuple[str, ...] = ()
    if clears_running:
        guard.append(is_(SWEEP_PHASE, SweepPhase.RUNNING.value))
        removes = (SWEEP_PHASE,)
    sets = {**base.sets, FINALIZED_EXECUTION: Ref.EXECUTION_ID}
    return dataclasses.replace(base, guard=tuple(guard), sets=sets, removes=removes)


__all__ = [
    "EXECUTION_ENDED",
    "FINALIZED_EXECUTION",
    "RETRIED_STATUS",
    "UNPROVEN_ENDINGS",
    "Finding",
    "RECONCILIATIONS",
    "Reconciliation",
    "UNFINISHED_ENDINGS",
    "finalizing",
    "reconciliation",
]
