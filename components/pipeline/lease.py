"""The lease of the `DeployArtifactPipeline` state machine as plain data: one DynamoDB transaction that
takes the artifact and its environment's lock together, and the states of a run that waits its turn.

Pure: no Pulumi, no AWS. Every write and condition is rendered from the lifecycle table
(`functions.pipeline.lifecycle`): the artifact's `lease` row, the environment's `lock` row and, in prod,
the `known_good` row's guard on the service record (a build older than the service's prod known good
is never deployed over it).
"""

from __future__ import annotations

from typing import Any

from functions.pipeline import lifecycle as lc
from functions.pipeline.expressions import asl_condition, asl_update

# The lease is an AWS SDK integration: its errors are `DynamoDb.` and the exception's name, always with
# the `Exception` suffix. A throttled or failed request wrote nothing and may be repeated.
DYNAMODB_RETRYABLE = [
    "DynamoDb.ProvisionedThroughputExceededException",
    "DynamoDb.RequestLimitExceededException",
    "DynamoDb.ThrottlingException",
    "DynamoDb.InternalServerErrorException",
]

LOCK_WAIT_STATES = ("LockBusy", "CountLockWait", "LockWaitBudget", "WaitForLock")


def _key(record: dict[str, str]) -> dict[str, Any]:
    return {"service": {"S.$": "$.service"}, "commit_sha": record}


def transaction(table: Any, environment: lc.Environment) -> list[dict[str, Any]]:
    """`TransactItems`: the artifact's lease, the environment's lock, and in prod the ordering check."""
    lock = lc.transition(lc.Action.LOCK, environment)
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": table,
                "Key": _key({"S.$": "$.commit_sha"}),
                **asl_update(lc.transition(lc.Action.LEASE, environment)),
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": _key({"S": lc.env_path(str(lock.record), environment)}),
                **asl_update(lock),
            }
        },
    ]
    if environment is lc.Environment.PROD:
        known_good = lc.transition(lc.Action.KNOWN_GOOD, environment)
        items.append(
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": _key({"S": str(known_good.record)}),
                    **asl_condition(known_good),
                }
            }
        )
    return items


def lock_wait(*, lease_again: str, timed_out: str, otherwise: str) -> dict[str, Any]:
    """After `LostRace`: when the lock is busy, wait LOCK_WAIT_SECONDS and lease again, at most
    LOCK_WAIT_ATTEMPTS times, then `timed_out`; any other refusal goes to `otherwise`. The count is the
    execution's own (`$.lock_wait.count`, which `Initialize` sets to 0)."""
    busy, count, budget, wait = LOCK_WAIT_STATES
    outcome = "$.outcome.outcome"
    return {
        busy: {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": outcome, "IsPresent": True},
                        {"Variable": outcome, "StringEquals": lc.LOCK_BUSY},
                    ],
                    "Next": count,
                }
            ],
            "Default": otherwise,
        },
        count: {
            "Type": "Pass",
            "Parameters": {"count.$": "States.MathAdd($.lock_wait.count, 1)"},
            "ResultPath": "$.lock_wait",
            "Next": budget,
        },
        budget: {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.lock_wait.count", "NumericLessThanEquals": lc.LOCK_WAIT_ATTEMPTS, "Next": wait}
            ],
            "Default": timed_out,
        },
        wait: {"Type": "Wait", "Seconds": lc.LOCK_WAIT_SECONDS, "Next": lease_again},
    }
