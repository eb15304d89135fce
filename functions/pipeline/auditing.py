"""What each change's audit entry says (`functions/audit/`): the lifecycle transition, the artifact's
status and its environment's before and after, who and which run; and the lease's entry, which the state
machine cannot write itself. The entries are written by `store.MetadataTable`, each in the transaction of
the change it records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import lifecycle as lc

if TYPE_CHECKING:
    from .store import MetadataTable
    from .transitions import Context, Run


def _statuses(status: Any, environment: str, env_status: Any) -> str | None:
    """How an entry shows where an artifact stands: `promoted / prod pending`."""
    if status is None and env_status is None:
        return None
    return f"{status or '-'} / {environment} {env_status or '-'}"


def audit_fields(
    context: Context, extra_sets: Mapping[str, Any] | None = None, record: str | None = None
) -> dict[str, Any]:
    """The audit entry of a transition (`functions.audit.entry.WRITER_FIELDS` but the actor, which is the
    writer's): the artifact's status and its environment's before and after, and why. A record beside the
    artifacts (`record`: its key) is named in the reason; its statuses are not the artifact's."""
    run, item, t = context.run, context.item, context.transition
    environment = run.environment.value
    fields: dict[str, Any] = {
        "action": t.action.value,
        "service": run.service,
        "commit": run.commit_sha,
        "environment": environment,
        "execution": run.execution_id if run.execution_id.startswith("arn:") else None,
        "reason": context.reason[:1000],
    }
    if record is not None:  # why the record changed, not the run's error
        return {**fields, "reason": f"{record}: {t.default_reason or t.action.value}"[:1000]}
    sets = {**t.sets, **(extra_sets or {})}
    before = (item.get(lc.STATUS), context.read(lc.ENV_STATUS))
    after = []
    for path, now in zip((lc.STATUS, lc.ENV_STATUS), before, strict=True):
        new = context.resolve(sets[path]) if path in sets else now
        after.append(new if isinstance(new, str | None) else now)  # a value that does not apply: unchanged
    fields["before_status"] = _statuses(before[0], environment, before[1])
    fields["after_status"] = _statuses(after[0], environment, after[1])
    return fields


LEASE_AUDITED = "lease_audited_by"  # the execution whose lease the audit chain holds


def audit_lease(table: MetadataTable, run: Run, item: Mapping[str, Any]) -> bool:
    """The lease's audit entry. The state machine takes the lease in its own transaction
    (`aws-sdk:dynamodb:transactWriteItems`), which cannot compute a hash chain, so the first function of
    the run (Validate) appends it: as a change of the item in the entry's transaction, guarded on this run
    holding the item and its lease not audited yet, so a retried Validate appends it once."""
    if table.audit is None or item.get(lc.EXECUTION_ID) != run.execution_id:
        return False
    if item.get(LEASE_AUDITED) == run.execution_id:
        return False
    expression = {
        "UpdateExpression": "SET #audited = :execution",
        "ConditionExpression": "#holder = :execution AND (attribute_not_exists(#audited) OR #audited <> :execution)",
        "ExpressionAttributeNames": {"#audited": LEASE_AUDITED, "#holder": lc.EXECUTION_ID},
        "ExpressionAttributeValues": {":execution": run.execution_id},
    }
    machine = run.execution_id.replace(":execution:", ":stateMachine:", 1).rsplit(":", 1)[0]
    environment = run.environment.value
    fields = {
        "actor": machine if run.execution_id.startswith("arn:") else "state-machine",
        "action": lc.Action.LEASE.value,
        "service": run.service,
        "commit": run.commit_sha,
        "environment": environment,
        "execution": run.execution_id,
        "after_status": _statuses(item.get(lc.STATUS), environment, lc.read(item, lc.ENV_STATUS, environment)),
        "reason": f"the run took {environment}'s lease and lock (recorded by its first step)",
    }
    return table.update(run.service, run.commit_sha, expression, audit=fields)
