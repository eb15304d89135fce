"""The signed operator requests' rows of the lifecycle table (spec: "Manual requeue or override",
"Manual promotion/rollback", the control matrix's break-glass row; `functions/overrides/` verifies the
request and applies these).

An override never deploys anything itself: it moves an item (or a record beside it) out of a state only
a person may leave, guarded on that state like every other row, and the state machine does the rest.
What a request writes that only it knows (its reason, signature, requester, the execution it starts) is
passed as the commit's extra values under the names below; the guards use only values the table itself
holds. Three rows bind a run to the request: the override records the ARN of the execution it starts
(`OVERRIDE_EXECUTION`), and that execution's lease (or its drift gate) takes the item only if its own
ARN (or name) is the one recorded, so a hand-started run cannot use an allowance it was not given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .model import Absent, Ref, Transition, is_
from .sweeps import PARKED, leased
from .vocabulary import (
    DEPLOYMENT_ID,
    ELIGIBILITY_REVOKED,
    ELIGIBILITY_REVOKED_REASON,
    ENV_FAILURE_REASON,
    ENV_STATUS,
    ENV_TEST_STATUS,
    EXECUTION_COMPLETED_AT,
    EXECUTION_ID,
    EXECUTION_STARTED_AT,
    EXECUTION_STATUS,
    LOCK_COMMIT,
    LOCK_EXPIRES_AT,
    LOCK_HOLDER,
    LOCK_HOLDER_NAME,
    LOCK_RECORD,
    LOCK_TAKEN_AT,
    MANUAL_INTERVENTION,
    REVOKED_COMMIT,
    REVOKED_CONTENT_RECORD,
    REVOKED_REASON,
    ROLLBACK_ATTEMPTS,
    ROLLBACK_INITIATED_AT,
    STATUS,
    SWEEP_PHASE,
    SWEEP_SINCE,
    Action,
    Environment,
    EnvStatus,
    ExecutionStatus,
    Status,
    TestStatus,
    env_path,
)

STAGE, PROD = Environment.STAGE, Environment.PROD

# Used nonces: one record per request (a key no CI principal can reach, like the locks).
OVERRIDE_RECORD = "_override#{nonce}"
NONCE_USED_AT = "used_at"

# What an applied request records on the item (the spec's audit attributes and ours).
MANUAL_OVERRIDE = "manual_override_requested"
OVERRIDE_SIGNATURE = "override_signature"
OVERRIDE_ID = "override_id"  # the request's nonce
OVERRIDE_ACTION = "override_action"
OVERRIDE_REQUESTER = "override_requester"
OVERRIDE_REASON = "override_reason"
OVERRIDE_APPLIED_AT = "override_applied_at"
PROMOTION_REASON = "promotion_reason"
ROLLBACK_REASON = "rollback_reason"
BREAK_GLASS_JUSTIFICATION = "break_glass_justification"
# The execution (ARN) an override started, whose lease alone may take the item (manual rollback, an
# older build in prod); removed by that lease.
OVERRIDE_EXECUTION = "override_execution_id"
MANUAL_ROLLBACK_TARGET = "manual_rollback_target"
# The one prod run (its execution name, the build's DEPLOYMENT_ID) whose drift gate may deploy on drift.
DRIFT_ALLOWED_FOR = "drift_allowed_for"
LIFTED_BY = "lifted_by_override"

STAGE_TESTS = env_path(ENV_TEST_STATUS, STAGE)
REVOCATION_LIFTED = "revocation lifted by a signed override: requeue it (a second request) to deploy it again"


def override_record_key(nonce: str) -> str:
    return OVERRIDE_RECORD.format(nonce=nonce)


def _applied(**sets: Any) -> dict[str, Any]:
    return {MANUAL_OVERRIDE: True, OVERRIDE_APPLIED_AT: Ref.NOW, **sets}


def _bound_lease(action: Action, lease: Transition, guard: tuple[Any, ...], sets: Mapping[str, Any]) -> Transition:
    """A lease only the execution the override started may take (its ARN is `OVERRIDE_EXECUTION`)."""
    return replace(
        lease,
        action=action,
        guard=(*guard, is_(OVERRIDE_EXECUTION, Ref.EXECUTION_ID)),
        sets=sets,
        removes=(*lease.removes, OVERRIDE_EXECUTION),
    )


def _record_rows() -> list[Transition]:
    """The rows of the records beside the artifacts: a used nonce, revoked content, the locks."""
    return [
        *[
            Transition(
                Action.OVERRIDE_NONCE,
                environment,
                guard=(Absent(NONCE_USED_AT),),
                sets={NONCE_USED_AT: Ref.NOW, "record_type": "override_nonce"},
                record=OVERRIDE_RECORD,
            )
            for environment in Environment
        ],
        # Only the revocation this release made (the same bytes revoked under another commit stay revoked).
        Transition(
            Action.OVERRIDE_LIFT_CONTENT,
            PROD,
            guard=(is_(REVOKED_COMMIT, Ref.COMMIT_SHA),),
            sets={"lifted_at": Ref.NOW},
            removes=(REVOKED_COMMIT, REVOKED_REASON),
            record=REVOKED_CONTENT_RECORD,
        ),
        # A stuck lock: released on behalf of its holder (the run is the holder's: `Ref.EXECUTION_ID`).
        *[
            Transition(
                Action.OVERRIDE_UNLOCK,
                environment,
                guard=(is_(LOCK_HOLDER, Ref.EXECUTION_ID),),
                sets={"released_at": Ref.NOW},
                removes=(LOCK_HOLDER, LOCK_HOLDER_NAME, LOCK_COMMIT, LOCK_TAKEN_AT, LOCK_EXPIRES_AT),
                record=LOCK_RECORD,
            )
            for environment in Environment
        ],
    ]


def override_rows(lease: Mapping[Environment, Transition]) -> list[Transition]:
    """The rows (`lease`: the table's own lease of each environment, which two of them derive from)."""
    not_revoked = Absent(ELIGIBILITY_REVOKED)
    rollback_lease_sets = {
        STATUS: Status.ROLLBACK_INITIATED,
        ROLLBACK_INITIATED_AT: Ref.NOW,
        ROLLBACK_ATTEMPTS: 0,
        EXECUTION_ID: Ref.EXECUTION_ID,
        EXECUTION_STARTED_AT: Ref.EXECUTION_START,
        EXECUTION_STATUS: ExecutionStatus.RUNNING,
        DEPLOYMENT_ID: Ref.EXECUTION_NAME,
        "environment_states.{env}.deployment_id": Ref.EXECUTION_NAME,
        **leased(),
    }
    rolled_back_failed = (is_(STATUS, Status.ROLLBACK_FAILED), is_(ENV_STATUS, EnvStatus.ROLLBACK_FAILED))
    return [
        *_record_rows(),
        # The next attempt of an item a lease would take (waiting, or parked for a person).
        *[
            Transition(Action.OVERRIDE_REQUEUE, environment, guard=lease[environment].guard, sets=_applied())
            for environment in Environment
        ],
        # A release that passed its stage tests and waits in prod: its prod run, with `promotion_reason`.
        Transition(
            Action.OVERRIDE_PROMOTION,
            PROD,
            guard=(
                is_(STATUS, Status.PROMOTED),
                is_(ENV_STATUS, EnvStatus.PENDING),
                is_(STAGE_TESTS, TestStatus.PASSED),
                not_revoked,
            ),
            sets=_applied(),
        ),
        Transition(Action.OVERRIDE_ROLLBACK, PROD, guard=rolled_back_failed, sets=_applied()),
        # The rollback run that override started (a rollback, not a leased attempt of the release).
        replace(
            _bound_lease(Action.OVERRIDE_ROLLBACK_LEASE, lease[PROD], rolled_back_failed, rollback_lease_sets),
            removes=(OVERRIDE_EXECUTION, MANUAL_INTERVENTION, "rollback_attempts_exhausted", EXECUTION_COMPLETED_AT),
            adds={},
        ),
        # Break-glass: a release the drift gate aborted (prod failed, nothing deployed) is pending again,
        # and only the run the override starts may deploy on drift (`DRIFT_ALLOWED_FOR`, its name).
        Transition(
            Action.OVERRIDE_ALLOW_DRIFT,
            PROD,
            guard=(is_(STATUS, Status.PROMOTED), is_(ENV_STATUS, EnvStatus.FAILED), not_revoked),
            sets=_applied(**{ENV_STATUS: EnvStatus.PENDING}),
        ),
        # Break-glass: a release superseded by a newer known good is pending again, for one run whose
        # lease skips the prod ordering check.
        Transition(
            Action.OVERRIDE_ALLOW_OLDER,
            PROD,
            guard=(is_(STATUS, Status.PROMOTED), is_(ENV_STATUS, EnvStatus.SUPERSEDED), not_revoked),
            sets=_applied(**{ENV_STATUS: EnvStatus.PENDING}),
        ),
        _bound_lease(Action.OVERRIDE_OLDER_LEASE, lease[PROD], lease[PROD].guard, lease[PROD].sets),
        # Break-glass: a release whose prod run failed and rolled back is eligible again (promoted, prod
        # pending, parked for a person: lifting is no deploy), and its content no longer revoked.
        Transition(
            Action.OVERRIDE_LIFT_REVOCATION,
            PROD,
            guard=(is_(STATUS, Status.ROLLBACK_SUCCEEDED), is_(ENV_STATUS, EnvStatus.ROLLBACK_SUCCEEDED)),
            sets=_applied(
                **{
                    STATUS: Status.PROMOTED,
                    ENV_STATUS: EnvStatus.PENDING,
                    ENV_TEST_STATUS: TestStatus.NOT_TESTED,
                    ENV_FAILURE_REASON: REVOCATION_LIFTED,
                    MANUAL_INTERVENTION: True,
                    SWEEP_PHASE: PARKED[PROD].value,
                    SWEEP_SINCE: Ref.NOW,
                }
            ),
            # a later failure of the release rolls back to the known good again, not to an old manual target
            removes=(ELIGIBILITY_REVOKED, ELIGIBILITY_REVOKED_REASON, MANUAL_ROLLBACK_TARGET),
        ),
    ]


def lease_row(lease: Transition, item: Mapping[str, Any], execution_id: str) -> Transition:
    """The lease an execution took (or tried to): an override's bound lease if the item names this
    execution as the one an override started, else the table's own."""
    from .table import transition

    if lease.environment is not PROD or item.get(OVERRIDE_EXECUTION) != execution_id:
        return lease
    rollback = item.get(STATUS) == Status.ROLLBACK_FAILED
    return transition(Action.OVERRIDE_ROLLBACK_LEASE if rollback else Action.OVERRIDE_OLDER_LEASE, PROD)


__all__ = [
    "BREAK_GLASS_JUSTIFICATION",
    "DRIFT_ALLOWED_FOR",
    "LIFTED_BY",
    "MANUAL_OVERRIDE",
    "MANUAL_ROLLBACK_TARGET",
    "NONCE_USED_AT",
    "OVERRIDE_ACTION",
    "OVERRIDE_APPLIED_AT",
    "OVERRIDE_EXECUTION",
    "OVERRIDE_ID",
    "OVERRIDE_REASON",
    "OVERRIDE_RECORD",
    "OVERRIDE_REQUESTER",
    "OVERRIDE_SIGNATURE",
    "PROMOTION_REASON",
    "REVOCATION_LIFTED",
    "ROLLBACK_REASON",
    "lease_row",
    "override_record_key",
    "override_rows",
]
