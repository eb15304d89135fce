"""Does a request's target match what the table holds? Each action applies from the states its lifecycle
row may leave (its guard, read here against the item as it is: one rule, the row's), plus what the row
cannot say (drift was the reason prod failed; the lock is held by the named commit). Pure: the items
are read by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from functions.pipeline import lifecycle as lc

from .request import OverrideAction, OverrideRequest

A = lc.Action
ROW_OF: Mapping[OverrideAction, lc.Action] = {
    OverrideAction.MANUAL_PROMOTION: A.OVERRIDE_PROMOTION,
    OverrideAction.REQUEUE: A.OVERRIDE_REQUEUE,
    OverrideAction.MANUAL_ROLLBACK: A.OVERRIDE_ROLLBACK,
    OverrideAction.ALLOW_DRIFT: A.OVERRIDE_ALLOW_DRIFT,
    OverrideAction.LIFT_REVOCATION: A.OVERRIDE_LIFT_REVOCATION,
    OverrideAction.RELEASE_LOCK: A.OVERRIDE_UNLOCK,
    OverrideAction.ALLOW_OLDER_BUILD: A.OVERRIDE_ALLOW_OLDER,
}


def row(request: OverrideRequest) -> lc.Transition:
    return lc.transition(ROW_OF[request.action], request.target.environment)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def describe(clause: lc.Clause) -> str:
    if isinstance(clause, lc.AnyOf):
        return "(" + " or ".join(describe(c) for c in clause.clauses) + ")"
    if isinstance(clause, lc.Absent):
        return f"no {clause.path}"
    if isinstance(clause, lc.Is):
        return f"{clause.path} {' or '.join(str(_plain(v)) for v in clause.values)}"
    return f"{clause.path} {type(clause).__name__} {_plain(getattr(clause, 'value', ''))}"


def state_of(item: Mapping[str, Any], environment: lc.Environment) -> str:
    status, env_status = item.get(lc.STATUS), lc.read(item, lc.ENV_STATUS, environment)
    revoked = ", eligibility revoked" if item.get(lc.ELIGIBILITY_REVOKED) else ""
    running = f", a run holds it ({item.get(lc.EXECUTION_ID)})" if env_status == lc.EnvStatus.DEPLOYING else ""
    return f"status {status}, {environment} {env_status}{revoked}{running}"


def item_problem(request: OverrideRequest, item: Mapping[str, Any] | None) -> str | None:
    """Why the request does not apply to the artifact's item (None: it does)."""
    target = request.target
    if item is None:
        return f"no metadata item for {target.service} at {target.commit_sha}"
    transition = row(request)
    failing = [c for c in transition.guard if not c.holds(item, target.environment, _plain)]
    if failing:
        needs = "; ".join(describe(c).replace("{env}", target.environment.value) for c in transition.guard)
        return f"{request.action} does not apply to {state_of(item, target.environment)} (it needs: {needs})"
    if request.action is OverrideAction.ALLOW_DRIFT and item.get("stack_drift_detected") is not True:
        reason = lc.read(item, lc.ENV_FAILURE_REASON, target.environment)
        return f"prod failed, but not on drift (stack_drift_detected is not set): {reason}"
    if request.action is OverrideAction.MANUAL_ROLLBACK and target.target_commit == target.commit_sha:
        return "a rollback goes to another release than the one that failed"
    return None


def lock_problem(request: OverrideRequest, lock: Mapping[str, Any] | None) -> str | None:
    """release_lock: the environment's lock is held, by the run of the commit the request names."""
    target = request.target
    holder = (lock or {}).get(lc.LOCK_HOLDER)
    if not holder:
        return f"{target.environment} of {target.service} is not locked: nothing to release"
    if (lock or {}).get(lc.LOCK_COMMIT) != target.commit_sha:
        return (
            f"the {target.environment} lock of {target.service} is held for commit {(lock or {}).get(lc.LOCK_COMMIT)} "
            f"({(lock or {}).get(lc.LOCK_HOLDER_NAME)}), not {target.commit_sha}"
        )
    return None


def revocation_problem(request: OverrideRequest, revocation: Mapping[str, Any] | None) -> str | None:
    """lift_revocation: the content's revocation, if any, is this release's own (bytes revoked under
    another commit stay revoked: lift that one first)."""
    revoked_under = (revocation or {}).get(lc.REVOKED_COMMIT)
    if revoked_under and revoked_under != request.target.commit_sha:
        return f"the release's content was revoked under commit {revoked_under}: lift that revocation first"
    return None
