"""What an accepted request does: one lifecycle row (guarded on the state it leaves), and for the actions
that run something, the state machine's next attempt of the item. Nothing here deploys, deletes or writes
outside the lifecycle table; a run an override starts carries the override in its input (`trigger`).

- requeue, manual_promotion, allow_drift: the next attempt (`{service}-{commit40}-{env}-{n}`) through the
  ordinary lease; allow_drift first records that this one run (its name) may deploy on drift;
- manual_rollback, allow_older_build: the item records the ARN of the execution about to start, whose
  lease alone may take it (a rollback run to the named release; a prod run without the ordering check);
- lift_revocation: the release is eligible again and its content no longer revoked (nothing runs);
- release_lock: the lock is released on behalf of its holder, whose run has ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions import naming
from functions.pipeline import lifecycle as lc
from functions.pipeline.store import MetadataTable
from functions.pipeline.sweeper import execution_arn, recorded_attempt
from functions.pipeline.transitions import Context, Run, commit

from .request import OverrideAction, OverrideRequest
from .targets import row

NAME_TRIES = 5  # attempts named but never leased (waiting for the lock, a dropped start) are skipped
BOUND = frozenset({OverrideAction.MANUAL_ROLLBACK, OverrideAction.ALLOW_OLDER_BUILD})
RUNS = frozenset({OverrideAction.REQUEUE, OverrideAction.MANUAL_PROMOTION, OverrideAction.ALLOW_DRIFT, *BOUND})


@dataclass(frozen=True)
class Effect:
    applied: bool
    reason: str
    execution_arn: str | None = None


def recorded(request: OverrideRequest) -> dict[str, Any]:
    """What every applied request records on the item (the spec's audit attributes)."""
    sets: dict[str, Any] = {
        lc.OVERRIDE_ID: request.override_id,
        lc.OVERRIDE_ACTION: request.action.value,
        lc.OVERRIDE_REQUESTER: request.requester,
        lc.OVERRIDE_SIGNATURE: request.signature,
        lc.OVERRIDE_REASON: request.reason,
    }
    if request.action is OverrideAction.MANUAL_PROMOTION:
        sets[lc.PROMOTION_REASON] = request.reason
    if request.action is OverrideAction.MANUAL_ROLLBACK:
        sets[lc.ROLLBACK_REASON] = request.reason
        sets[lc.MANUAL_ROLLBACK_TARGET] = request.target.target_commit
    if request.break_glass:
        sets[lc.BREAK_GLASS_JUSTIFICATION] = request.reason
    return sets


def trigger(request: OverrideRequest) -> dict[str, str]:
    """The run's `trigger`: the state machine chooses a bound lease by its `action`."""
    return {
        "source": "override",
        "override_id": request.override_id,
        "action": request.action.value,
        "requester": request.requester,
    }


def _run(request: OverrideRequest, execution_id: str) -> Run:
    target = request.target
    return Run(target.service, target.commit_sha, target.environment, execution_id)


def apply_effect(
    request: OverrideRequest, item: Mapping[str, Any], *, table: MetadataTable, sfn: Any, settings: Any
) -> Effect:
    if request.action in RUNS:
        return _start_next_attempt(request, item, table=table, sfn=sfn, settings=settings)
    if request.action is OverrideAction.LIFT_REVOCATION:
        run = _run(request, f"override:{request.override_id}")
        if not commit(table, Context(run, item, row(request)), recorded(request)):
            return Effect(False, "the item changed before the revocation was lifted: nothing was changed")
        content = lc.transition(lc.Action.OVERRIDE_LIFT_CONTENT, lc.Environment.PROD)
        lifted = commit(table, Context(run, item, content), {lc.LIFTED_BY: request.override_id})
        return Effect(True, "eligible again" + (" and its content no longer revoked" if lifted else ""))
    lock = item  # release_lock: `item` is the lock record
    run = _run(request, str(lock.get(lc.LOCK_HOLDER)))
    released = commit(table, Context(run, lock, row(request)), {"released_by": f"override:{request.override_id}"})
    if not released:
        return Effect(False, "the lock changed hands before it was released: nothing was changed")
    return Effect(True, f"released the {request.target.environment} lock held by {lock.get(lc.LOCK_HOLDER_NAME)}")


def free_attempt(request: OverrideRequest, item: Mapping[str, Any], *, sfn: Any, settings: Any) -> str | None:
    """The name of the next attempt no execution has taken yet (attempts named but never leased, such as
    a run that only waited for the lock, are skipped), None after NAME_TRIES taken names."""
    target = request.target
    leased = lc.read(item, "environment_states.{env}.deployment_id", target.environment)
    first = recorded_attempt(item, target.environment) + (1 if leased else 0)  # never a leased run's name
    for attempt in range(first, first + NAME_TRIES):
        name = naming.execution_name(target.service, target.commit_sha, target.environment, attempt)
        try:
            sfn.describe_execution(executionArn=execution_arn(settings, name))
        except sfn.exceptions.ExecutionDoesNotExist:
            return name
    return None


def _start_next_attempt(
    request: OverrideRequest, item: Mapping[str, Any], *, table: MetadataTable, sfn: Any, settings: Any
) -> Effect:
    """Record the request on the item (its row's guard), then start the next attempt. A bound action
    records the execution's ARN before it starts; allow_drift the one run's name."""
    import json

    target = request.target
    name = free_attempt(request, item, sfn=sfn, settings=settings)
    if name is None:
        return Effect(False, f"the next {NAME_TRIES} attempts of {target.environment} were all started already")
    arn = execution_arn(settings, name)
    sets = recorded(request)
    if request.action in BOUND:
        sets[lc.OVERRIDE_EXECUTION] = arn
    if request.action is OverrideAction.ALLOW_DRIFT:
        sets[lc.DRIFT_ALLOWED_FOR] = name
    if not commit(table, Context(_run(request, arn), item, row(request)), sets):
        return Effect(False, "the item changed before the request was recorded: nothing was started")
    document = {
        "service": target.service,
        "commit_sha": target.commit_sha,
        "environment": target.environment.value,
        "trigger": trigger(request),
    }
    try:
        sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps(document))
    except sfn.exceptions.ExecutionAlreadyExists:
        return Effect(False, f"{name} was started by someone else meanwhile: the request is recorded, nothing started")
    return Effect(True, f"started {name}", arn)
