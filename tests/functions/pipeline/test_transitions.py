"""Each transition of the table, written to a moto table: it applies from the states it may leave, and
each clause of its guard refuses on its own (nothing written)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.pipeline import lifecycle as lc
from functions.pipeline.store import MetadataTable
from functions.pipeline.transitions import Context, commit
from tests.functions.pipeline.conftest import COMMIT, EXECUTION, SERVICE, item_in, put, run_of, seed

WRITTEN_BY_FUNCTIONS = [t for t in lc.TRANSITIONS.values() if t.action is not lc.Action.LEASE]


def _ids(transition: lc.Transition) -> str:
    return f"{transition.action}-{transition.environment}"


def _satisfying(transition: lc.Transition) -> dict[str, Any]:
    item = item_in(transition.environment)
    if transition.record:
        item = {"service": SERVICE, "commit_sha": transition.record}
    for clause in transition.guard:
        path = lc.env_path(clause.path, transition.environment)
        if isinstance(clause, lc.Is):
            first = clause.values[0]
            put(item, path, EXECUTION if first is lc.Ref.EXECUTION_ID else str(first))
        else:
            put(item, path, None)
    return item


def _violating(item: dict[str, Any], clause: lc.Clause, environment: str) -> dict[str, Any]:
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
    after = table.get(SERVICE, transition.record or COMMIT)
    assert after != seeded
    for path, value in transition.sets.items():
        if isinstance(value, lc.Status | lc.EnvStatus | lc.ExecutionStatus | bool | int):
            assert lc.read(after, path, transition.environment) == value, path
    for path in transition.removes:
        assert lc.read(after, path, transition.environment) is None


@pytest.mark.parametrize(
    ("transition", "clause"),
    [(t, c) for t in WRITTEN_BY_FUNCTIONS for c in t.guard],
    ids=[f"{_ids(t)}-{c.path}" for t in WRITTEN_BY_FUNCTIONS for c in t.guard],
)
def test_each_clause_of_the_guard_refuses_alone(
    table: MetadataTable, transition: lc.Transition, clause: lc.Clause
) -> None:
    seeded = seed(table, _violating(_satisfying(transition), clause, transition.environment))
    assert not commit(table, _context(transition, table))
    assert table.get(SERVICE, transition.record or COMMIT) == seeded
