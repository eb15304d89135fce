"""The one renderer of DynamoDB expressions: names and values aliased, every clause kind, both
encodings (boto3's plain values, the state machine's typed JSON and context paths)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from functions.pipeline import lifecycle as lc
from functions.pipeline.expressions import asl_update, asl_value, render, to_dynamo


def test_sets_adds_removes_and_every_clause() -> None:
    rendered = render(
        "prod",
        guard=(
            lc.is_(lc.STATUS, lc.Status.PROMOTED),
            lc.is_(lc.ENV_STATUS, lc.EnvStatus.PENDING, lc.EnvStatus.FAILED),
            lc.Absent(lc.ELIGIBILITY_REVOKED),
            lc.AbsentOrAtMost("last_known_good_build_time", "2026-11-20T10:00:00Z"),
        ),
        sets={lc.ENV_STATUS: lc.EnvStatus.DEPLOYING, "ratio": 0.5},
        adds={lc.ROLLBACK_ATTEMPTS: 1},
        removes=(lc.SWEEP_PHASE,),
        encode=to_dynamo,
    )
    assert rendered["UpdateExpression"] == "SET #n0.#n1.#n2 = :v0, #n3 = :v1 ADD #n4 :v2 REMOVE #n5"
    assert rendered["ConditionExpression"] == (
        "#n2 = :v3 AND #n0.#n1.#n2 IN (:v4, :v5) AND attribute_not_exists(#n6)"
        " AND (attribute_not_exists(#n7) OR #n7 <= :v6)"
    )
    assert rendered["ExpressionAttributeNames"] == {
        "#n0": "environment_states",
        "#n1": "prod",
        "#n2": "status",
        "#n3": "ratio",
        "#n4": "rollback_attempts",
        "#n5": "sweep_phase",
        "#n6": "eligibility_revoked",
        "#n7": "last_known_good_build_time",
    }
    assert rendered["ExpressionAttributeValues"] == {
        ":v0": "deploying",
        ":v1": Decimal("0.5"),
        ":v2": 1,
        ":v3": "promoted",
        ":v4": "pending",
        ":v5": "failed",
        ":v6": "2026-11-20T10:00:00Z",
    }


def test_the_state_machine_gets_typed_values_and_its_context_paths() -> None:
    assert asl_value(lc.Status.CANDIDATE) == {"S": "candidate"}
    assert asl_value(True) == {"BOOL": True} and asl_value(3) == {"N": "3"}
    assert asl_value(lc.Ref.EXECUTION_ID) == {"S.$": "$$.Execution.Id"}
    assert asl_value(lc.Ref.NOW) == {"S.$": "$$.State.EnteredTime"}  # when the state was entered
    assert asl_value(lc.Ref.LOCK_EXPIRES_AT) == {"S.$": "$.lease.expires_at"}  # the lease's terms
    with pytest.raises(ValueError, match="only a function knows it"):
        asl_value(lc.Ref.REASON)


def test_the_state_machine_writes_only_the_lease_and_the_lock() -> None:
    """Both render from what the execution knows; every transition the functions record needs what only
    a function knows (the error, the plan, a duration), or is never asked of the state machine."""
    from components.pipeline import lease

    written = {
        (kind, item.get("UpdateExpression", "")[:20])
        for environment in lc.Environment
        for entry in lease.transaction("table", environment)
        for kind, item in entry.items()
    }
    assert {kind for kind, _ in written} == {"Update", "ConditionCheck"}
    for environment in lc.Environment:
        for action in (lc.Action.LEASE, lc.Action.LOCK):
            asl_update(lc.transition(action, environment))
    for action in (lc.Action.DEPLOYED, lc.Action.FAILED, lc.Action.ROLLBACK_FAILED):
        with pytest.raises(ValueError, match="only a function knows it"):
            asl_update(lc.transition(action, lc.Environment.PROD))
