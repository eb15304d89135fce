"""Before a change set: the stack's state, and the repairs the deployer may make to reach one it can
update from.

`*_IN_PROGRESS` is waited out; `ROLLBACK_COMPLETE`/`ROLLBACK_FAILED` (a failed create) is deleted and
created anew in stage, and needs an operator in prod (the prod deploy role has no DeleteStack);
`UPDATE_ROLLBACK_FAILED` gets one `ContinueUpdateRollback`. Anything else needs an operator."""

from __future__ import annotations

from typing import Any

from .errors import ManualInterventionRequired
from .stacks import StackClient

# States an existing stack may be updated from.
UPDATABLE_STATES = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
        "CREATE_FAILED",  # only reachable with rollback disabled; CloudFormation accepts an update
        "UPDATE_FAILED",  # idem
    }
)
FAILED_CREATE_STATES = frozenset({"ROLLBACK_COMPLETE", "ROLLBACK_FAILED"})


def prepare(
    stacks: StackClient, name: str, *, prod: bool, execution_role_arn: str
) -> tuple[dict[str, Any] | None, str | None]:
    """The stack to update (None: create it), after repairing what may be repaired, and the broken
    state it was repaired from (if any)."""
    recovered_from: str | None = None
    continued_rollback = False
    while True:
        current = stacks.describe(name)
        status = current["StackStatus"] if current else None
        if current is None or status == "DELETE_COMPLETE":
            stacks.log(f"{name}: new stack")
            return None, recovered_from
        if status == "REVIEW_IN_PROGRESS":
            # Created by a CREATE change set that was never executed: no resources; CloudFormation
            # accepts a new CREATE change set for it.
            stacks.log(f"{name}: REVIEW_IN_PROGRESS (never executed); creating it")
            return None, recovered_from
        if status.endswith("_IN_PROGRESS"):
            stacks.log(f"{name}: {status}; waiting for it to settle")
            stacks.wait_settled(name, current["StackId"], f"{status} to settle")
            continue
        if status in UPDATABLE_STATES:
            stacks.log(f"{name}: {status}; updating")
            return current, recovered_from
        if status in FAILED_CREATE_STATES:
            _delete_failed_create(stacks, name, current, prod=prod, execution_role_arn=execution_role_arn)
            recovered_from = status
            continue
        if status == "UPDATE_ROLLBACK_FAILED" and not continued_rollback:
            _continue_update_rollback(stacks, name, current, execution_role_arn=execution_role_arn)
            continued_rollback = True
            recovered_from = status
            continue
        if status == "UPDATE_ROLLBACK_FAILED":
            raise ManualInterventionRequired(
                name,
                status,
                "ContinueUpdateRollback did not complete the rollback; an operator must continue it "
                "with --resources-to-skip for the resources that cannot roll back",
            )
        raise ManualInterventionRequired(
            name, status, current.get("StackStatusReason") or "the deployer cannot repair this state"
        )


def _delete_failed_create(
    stacks: StackClient, name: str, current: dict[str, Any], *, prod: bool, execution_role_arn: str
) -> None:
    status = current["StackStatus"]
    if prod:
        raise ManualInterventionRequired(
            name,
            status,
            "the stack's first create failed and it must be deleted before it can be created again; "
            "the prod deploy role may not delete stacks, so an operator must delete it",
        )
    stacks.log(f"{name}: {status} after a failed create; deleting it to create it anew")
    stacks.call(name, "DeleteStack", stacks.cfn.delete_stack, StackName=current["StackId"], RoleARN=execution_role_arn)
    final = stacks.wait_settled(name, current["StackId"], "the failed stack to be deleted")
    if final["StackStatus"] != "DELETE_COMPLETE":
        raise ManualInterventionRequired(
            name,
            final["StackStatus"],
            final.get("StackStatusReason") or "deleting the failed stack did not complete",
        )


def _continue_update_rollback(
    stacks: StackClient, name: str, current: dict[str, Any], *, execution_role_arn: str
) -> None:
    stacks.log(f"{name}: UPDATE_ROLLBACK_FAILED; continuing the rollback")
    stacks.call(
        name,
        "ContinueUpdateRollback",
        stacks.cfn.continue_update_rollback,
        StackName=current["StackId"],
        RoleARN=execution_role_arn,
    )
    final = stacks.wait_settled(name, current["StackId"], "the rollback to complete")
    stacks.log(f"{name}: rollback ended in {final['StackStatus']}")
