"""TTL: only candidates expire. Intake writes `expire_at` (the build time + 90 days); promotion and prod
success remove it and no transition writes it again, so no release that reached prod, no rollback
target and no known good can expire, and the records beside the artifacts (the service's known good,
the locks, revoked content) never carry it. Walked over the lifecycle table itself, so a row added
later is held to it too. After a real promotion and prod run: tests/e2e/test_metrics.py."""

from __future__ import annotations

from components.pipeline import definition as d
from functions.pipeline import lifecycle as lc
from tests.components.pipeline.test_definition import definition

# Every status of a release that reached promotion: the rollback targets (deployed, rollback_succeeded)
# and the known good (deployed) among them.
RELEASED = {
    lc.Status.PROMOTED,
    lc.Status.DEPLOYED,
    lc.Status.ROLLBACK_INITIATED,
    lc.Status.ROLLBACK_SUCCEEDED,
    lc.Status.ROLLBACK_FAILED,
}


def _written(transition: lc.Transition) -> set[str]:
    return {lc.env_path(p, transition.environment) for p in (*transition.sets, *transition.adds)}


def test_no_transition_writes_expire_at() -> None:
    assert [t for t in lc.TRANSITIONS.values() if lc.EXPIRE_AT in _written(t)] == []


def _admits(transition: lc.Transition, status: str) -> bool:
    """The transition's guard allows an item in `status` (a guard naming no status allows any)."""
    named = {str(v) for c in transition.guard if isinstance(c, lc.Is) and c.path == lc.STATUS for v in c.values}
    return not named or status in named


def test_no_item_the_table_can_lead_to_a_release_status_still_carries_expire_at() -> None:
    """Every (status, carries expire_at) an artifact's item can reach from intake's candidate, applying
    every row of the table whose guard admits it."""
    reached = {(str(lc.Status.CANDIDATE), True)}
    frontier = list(reached)
    while frontier:
        status, expires = frontier.pop()
        for transition in lc.TRANSITIONS.values():
            if transition.record or not _admits(transition, status):
                continue  # another item than the artifact's, or not a state this row may leave
            after = (
                str(transition.sets.get(lc.STATUS, status)),
                expires and lc.EXPIRE_AT not in transition.removes,
            )
            if after not in reached:
                reached.add(after)
                frontier.append(after)
    assert {s for s, _ in reached} >= {str(s) for s in RELEASED} | {"candidate", "rejected"}
    assert {s for s, expires in reached if expires} <= {"candidate", "rejected"}


def test_the_records_beside_the_artifacts_never_carry_expire_at() -> None:
    records = [t for t in lc.TRANSITIONS.values() if t.record]
    # used override nonces too: a nonce is remembered for good, so a request is never accepted twice
    expected = {lc.SERVICE_RECORD, lc.LOCK_RECORD, lc.REVOKED_CONTENT_RECORD, lc.OVERRIDE_RECORD}
    assert {t.record for t in records} == expected
    assert all(lc.EXPIRE_AT not in _written(t) for t in records)
    # the lease's transaction writes the lock itself (and checks the service record): no expire_at there
    from components.pipeline.override_leases import LEASE_MANUAL_ROLLBACK, LEASE_OLDER_BUILD

    for lease in (d.LEASE_STAGE, d.LEASE_PROD, LEASE_MANUAL_ROLLBACK, LEASE_OLDER_BUILD):
        for item in definition()["States"][lease]["Parameters"]["TransactItems"]:
            (operation,) = item.values()
            assert lc.EXPIRE_AT not in operation.get("ExpressionAttributeNames", {}).values(), lease
