"""Each transition of the table, written to a moto table: it applies from the states it may leave, and
each clause of its guard refuses on its own (nothing written)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.pipeline import lifecycle as lc
from functions.pipeline.store import MetadataTable
from functions.pipeline.transitions import Context, commit
from tests.functions.pipeline.conftest import BUILD_TIME, COMMIT, EXECUTION, SERVICE, item_in, put, run_of, seed

# The lease and the lock are written only by the state machine's transaction (tested below).
WRITTEN_BY_THE_STATE_MACHINE = {
    lc.Action.LEASE,
    lc.Action.LOCK,
    lc.Action.OVERRIDE_ROLLBACK_LEASE,
    lc.Action.OVERRIDE_OLDER_LEASE,
}
WRITTEN_BY_FUNCTIONS = [t for t in lc.TRANSITIONS.values() if t.action not in WRITTEN_BY_THE_STATE_MACHINE]


def _key(transition: lc.Transition) -> str:
    return lc.env_path(transition.record, transition.environment) if transition.record else COMMIT


def _ids(transition: lc.Transition) -> str:
    return f"{transition.action}-{transition.environment}"


def _key(transition: lc.Transition) -> str:
    """The item the transition writes: the artifact's, or a record beside it (`_service`, `_lock#...`,
    `_revoked#...`)."""
    if transition.record:
        return lc.record_key(
            transition.record, transition.environment, item_in(transition.environment)["artifact_sha256"]
        )
    return COMMIT


def _satisfying(transition: lc.Transition) -> dict[str, Any]:
    item = item_in(transition.environment)
    if transition.record:
        item = {"service": SERVICE, "commit_sha": _key(transition)}
    for clause in transition.guard:
        if isinstance(clause, lc.AnyOf):  # the lease's `deployed` only untested: the plain clauses satisfy it
            continue
        path = lc.env_path(clause.path, transition.environment)
        if isinstance(clause, lc.Is):
            first = clause.values[0]
            refs = {lc.Ref.EXECUTION_ID: EXECUTION, lc.Ref.COMMIT_SHA: COMMIT}
            put(item, path, refs.get(first, str(first)))
        else:
            put(item, path, None)
    return item


def _violating(item: dict[str, Any], clause: lc.Clause, environment: str) -> dict[str, Any]:
    if isinstance(clause, lc.AnyOf):
        # every alternative fails, with values the guard's other clauses still accept (`deployed`, tests running)
        for alternative in clause.clauses:
            path = lc.env_path(alternative.path, environment)
            put(item, path, "deployed" if alternative.path == lc.ENV_STATUS else lc.TestStatus.RUNNING.value)
        return item
    path = lc.env_path(clause.path, environment)
    if isinstance(clause, lc.Is):
        put(item, path, "another-run" if clause.path == lc.EXECUTION_ID else "some_other_state")
    elif isinstance(clause, lc.Absent):
        put(item, path, True)
    else:  # a newer known good is recorded
        put(item, path, "9999-12-31T00:00:00Z")
    return item


def _context(transition: lc.Transition, table: MetadataTable) -> Context:
    artifact = table.get(SERVICE, COMMIT) or item_in(transition.environment)
    run = run_of(transition.environment, rollback={"target_commit": "a" * 40, "attempt": 1})
    return Context(run, artifact, transition)


@pytest.mark.parametrize("transition", WRITTEN_BY_FUNCTIONS, ids=_ids)
def test_applies_from_the_states_it_may_leave(table: MetadataTable, transition: lc.Transition) -> None:
    seeded = seed(table, _satisfying(transition))
    assert commit(table, _context(transition, table))
    after = table.get(SERVICE, _key(transition))
    assert after != seeded
    for path, value in transition.sets.items():
        if isinstance(value, lc.Status | lc.EnvStatus | lc.ExecutionStatus | bool | int):
            assert lc.read(after, path, transition.environment) == value, path
    for path in transition.removes:
        assert lc.read(after, path, transition.environment) is None


@pytest.mark.parametrize(
    ("transition", "clause"),
    [(t, c) for t in WRITTEN_BY_FUNCTIONS for c in t.guard],
    ids=[f"{_ids(t)}-{getattr(c, 'path', 'any-of')}" for t in WRITTEN_BY_FUNCTIONS for c in t.guard],
)
def test_each_clause_of_the_guard_refuses_alone(
    table: MetadataTable, transition: lc.Transition, clause: lc.Clause
) -> None:
    seeded = seed(table, _violating(_satisfying(transition), clause, transition.environment))
    assert not commit(table, _context(transition, table))
    assert table.get(SERVICE, _key(transition)) == seeded


def _lease_call(environment: str) -> dict[str, Any]:
    """The state machine's lease task as DynamoDB receives it: the rendered parameters with the
    execution's context values filled in."""
    from functions.pipeline.expressions import asl_update

    parameters = asl_update(lc.transition(lc.Action.LEASE, environment))
    context = {
        "$$.Execution.Id": EXECUTION,
        "$$.Execution.Name": "orders-cccccccccccc-1",
        "$$.Execution.StartTime": "2026-11-20T10:00:00.123Z",
    }
    parameters["ExpressionAttributeValues"] = {
        alias: {"S": context[v["S.$"]]} if "S.$" in v else v
        for alias, v in parameters["ExpressionAttributeValues"].items()
    }
    return {"TableName": "metadata", "Key": {"service": {"S": SERVICE}, "commit_sha": {"S": COMMIT}}, **parameters}


def _leasable(environment: str) -> dict[str, Any]:
    item = item_in(environment, execution_id=None, execution_status=None, **{lc.ENV_STATUS: "pending"})
    put(item, "sweep_phase", environment)
    return item


@pytest.mark.parametrize("environment", ["stage", "prod"])
def test_the_rendered_lease_takes_a_leasable_item(table: MetadataTable, environment: str) -> None:
    import boto3

    seed(table, _leasable(environment))
    boto3.client("dynamodb", region_name="us-east-1").update_item(**_lease_call(environment))
    item = table.get(SERVICE, COMMIT)
    assert item["execution_id"] == EXECUTION and item["execution_status"] == "running"
    assert item["environment_states"][environment]["status"] == "deploying"
    # the watchdog's view: running since the execution started
    assert item["sweep_phase"] == "running" and item["sweep_since"] == "2026-11-20T10:00:00.123Z"


@pytest.mark.parametrize(
    ("environment", "overrides"),
    [
        ("prod", {"eligibility_revoked": True}),  # a leasable status, but revoked
        ("stage", {"eligibility_revoked": True}),
        ("prod", {"status": "candidate"}),
        ("stage", {"status": "promoted"}),
        ("prod", {lc.ENV_STATUS: "failed"}),  # prod retries only from pending
        ("stage", {lc.ENV_STATUS: "deploying"}),  # another run holds it
    ],
)
def test_the_rendered_lease_refuses(table: MetadataTable, environment: str, overrides: dict[str, Any]) -> None:
    import boto3
    from botocore.exceptions import ClientError

    item = _leasable(environment)
    for path, value in overrides.items():
        put(item, lc.env_path(path, environment), value)
    seeded = seed(table, item)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        boto3.client("dynamodb", region_name="us-east-1").update_item(**_lease_call(environment))
    assert table.get(SERVICE, COMMIT) == seeded


# --- the lease's transaction: the artifact, the environment's lock and (prod) the ordering check --------

NOW = "2026-11-21T10:00:00.000Z"
EXPIRES = "2026-11-21T12:00:00Z"
OTHER_RUN = EXECUTION.replace("stage-1", "stage-2").replace("cccc", "dddd")


def _filled(value: Any, paths: dict[str, str]) -> Any:
    """The state machine's parameters with the execution's values filled in, as DynamoDB receives them."""
    if isinstance(value, dict):
        if set(value) == {"S.$"}:
            return {"S": paths[value["S.$"]]}
        return {k: _filled(v, paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, paths) for v in value]
    return value


def _transaction(environment: str, build_time: str = BUILD_TIME) -> list[dict[str, Any]]:
    from components.pipeline.lease import transaction

    paths = {
        "$.service": SERVICE,
        "$.commit_sha": COMMIT,
        "$$.Execution.Id": EXECUTION,
        "$$.Execution.Name": "orders-cccc-stage-1",
        "$$.Execution.StartTime": "2026-11-21T09:59:59.000Z",
        "$$.State.EnteredTime": NOW,
        "$.lease.expires_at": EXPIRES,
        "$.lease.build_time": build_time,
    }
    return _filled(transaction("metadata", lc.Environment(environment)), paths)


def _transact(environment: str, **kwargs: Any) -> None:
    import boto3

    boto3.client("dynamodb", region_name="us-east-1").transact_write_items(
        TransactItems=_transaction(environment, **kwargs)
    )


def _lock_of(environment: str, **attributes: Any) -> dict[str, Any]:
    return {"service": SERVICE, "commit_sha": lc.env_path(lc.LOCK_RECORD, environment), **attributes}


@pytest.mark.parametrize("environment", ["stage", "prod"])
@pytest.mark.parametrize(
    "lock",
    [
        {},  # never taken
        {"released_by": OTHER_RUN},  # released
        {lc.LOCK_HOLDER: EXECUTION, lc.LOCK_EXPIRES_AT: EXPIRES},  # this run's already
        {lc.LOCK_HOLDER: OTHER_RUN, lc.LOCK_EXPIRES_AT: "2026-11-21T09:59:59Z"},  # expired
    ],
    ids=["free", "released", "own", "expired"],
)
def test_the_lease_takes_the_artifact_and_the_lock_together(
    table: MetadataTable, environment: str, lock: dict[str, Any]
) -> None:
    seed(table, _leasable(environment))
    if lock:
        seed(table, _lock_of(environment, **lock))
    _transact(environment)
    item = table.get(SERVICE, COMMIT)
    assert item["execution_id"] == EXECUTION and item["environment_states"][environment]["status"] == "deploying"
    taken = table.get(SERVICE, lc.env_path(lc.LOCK_RECORD, environment))
    assert taken[lc.LOCK_HOLDER] == EXECUTION and taken[lc.LOCK_COMMIT] == COMMIT
    assert (taken[lc.LOCK_TAKEN_AT], taken[lc.LOCK_EXPIRES_AT]) == (NOW, EXPIRES)


@pytest.mark.parametrize(
    ("environment", "lock", "known_good", "artifact"),
    [
        ("stage", {lc.LOCK_HOLDER: OTHER_RUN, lc.LOCK_EXPIRES_AT: EXPIRES}, None, {}),  # busy
        ("prod", {lc.LOCK_HOLDER: OTHER_RUN, lc.LOCK_EXPIRES_AT: EXPIRES}, None, {}),
        ("prod", {}, "2026-11-20T10:00:01Z", {}),  # the known good is newer
        ("stage", {}, None, {lc.ENV_STATUS: "deploying"}),  # the artifact is not leasable
    ],
    ids=["stage-busy", "prod-busy", "prod-older-than-known-good", "not-leasable"],
)
def test_the_lease_writes_nothing_unless_all_of_it_holds(
    table: MetadataTable, environment: str, lock: dict, known_good: str | None, artifact: dict
) -> None:
    from botocore.exceptions import ClientError

    item = _leasable(environment)
    for path, value in artifact.items():
        put(item, lc.env_path(path, environment), value)
    seeded = seed(table, item)
    held = seed(table, _lock_of(environment, **lock)) if lock else None
    if known_good:
        seed(table, {"service": SERVICE, "commit_sha": lc.SERVICE_RECORD, lc.KNOWN_GOOD_BUILD_TIME: known_good})
    with pytest.raises(ClientError, match="TransactionCanceled"):
        _transact(environment)
    assert table.get(SERVICE, COMMIT) == seeded
    assert table.get(SERVICE, lc.env_path(lc.LOCK_RECORD, environment)) == held


def test_prod_takes_a_build_as_new_as_the_known_good(table: MetadataTable) -> None:
    seed(table, _leasable("prod"))
    seed(table, {"service": SERVICE, "commit_sha": lc.SERVICE_RECORD, lc.KNOWN_GOOD_BUILD_TIME: BUILD_TIME})
    _transact("prod")
    assert table.get(SERVICE, COMMIT)["environment_states"]["prod"]["status"] == "deploying"
