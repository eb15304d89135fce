"""The state machine's side of signed operator requests: the leases of the runs an override starts.

A run's `trigger.action` (written by the override function, `functions/overrides/effects.py`) chooses
its lease: `manual_rollback` takes an item after `rollback_failed` and goes straight to the rollback loop
(`PlanRollback` plans the release the request named); `allow_older_build` takes a superseded release
without the prod ordering check. Either lease is the lifecycle row bound to this execution
(`override_execution_id` = its ARN, which only the override function writes), in one transaction with
the environment's lock, as every lease; a cancelled one is explained (`LostRace`) and waits its turn
for the lock like the others. Every other run, override or not, takes the table's own lease.
"""

from __future__ import annotations

from typing import Any

from components.pipeline import lease
from components.pipeline.shapes import SDK_CALL_TIMEOUT_SECONDS, catch_to, retry_on
from functions.pipeline import lifecycle as lc
from functions.pipeline.expressions import asl_update

LEASE_MANUAL_ROLLBACK = "LeaseManualRollback"
LEASE_OLDER_BUILD = "LeaseProdOlderBuild"
BOUND_LEASES = {
    "manual_rollback": (LEASE_MANUAL_ROLLBACK, lc.Action.OVERRIDE_ROLLBACK_LEASE),
    "allow_older_build": (LEASE_OLDER_BUILD, lc.Action.OVERRIDE_OLDER_LEASE),
}


def choose_lease(*, prod: str, stage: str) -> dict[str, Any]:
    """Which lease a run takes: a bound one for the override actions above (in prod), else by environment."""
    action = "$.trigger.action"
    bound = [
        {
            "And": [
                {"Variable": "$.environment", "StringEquals": lc.Environment.PROD.value},
                {"Variable": action, "IsPresent": True},
                {"Variable": action, "StringEquals": trigger_action},
            ],
            "Next": state,
        }
        for trigger_action, (state, _) in BOUND_LEASES.items()
    ]
    by_environment = {"Variable": "$.environment", "StringEquals": lc.Environment.PROD.value, "Next": prod}
    return {"Type": "Choice", "Choices": [*bound, by_environment], "Default": stage}


def _transaction(table: Any, action: lc.Action) -> list[dict[str, Any]]:
    """The bound row on the artifact and the prod lock's row, together (no ordering check)."""
    prod = lc.Environment.PROD
    lock = lc.transition(lc.Action.LOCK, prod)
    key = {"service": {"S.$": "$.service"}}
    return [
        {
            "Update": {
                "TableName": table,
                "Key": {**key, "commit_sha": {"S.$": "$.commit_sha"}},
                **asl_update(lc.transition(action, prod)),
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": {**key, "commit_sha": {"S": lc.env_path(str(lock.record), prod)}},
                **asl_update(lock),
            }
        },
    ]


def bound_leases(table: Any, *, lost_race: str, failed: str, after: dict[str, str]) -> dict[str, Any]:
    """The two lease states; `after[state]` is where each goes once it holds the item."""
    return {
        state: {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
            "Parameters": {"TransactItems": _transaction(table, action)},
            "ResultPath": None,
            "TimeoutSeconds": SDK_CALL_TIMEOUT_SECONDS,
            "Retry": retry_on(lease.DYNAMODB_RETRYABLE),
            "Catch": [
                *catch_to(([lc.ERROR_LEASE_REFUSED], lost_race), result_path="$.lease_refusal"),
                *catch_to((["States.ALL"], failed)),
            ],
            "Next": after[state],
        }
        for state, action in BOUND_LEASES.values()
    }
