"""The lifecycle table against the spec's lifecycle (Metadata Tracking; DESIGN.md: one table, guarded
transitions): every guard pinned, every status a transition writes reachable from the states it leaves."""

from __future__ import annotations

from typing import Any

import pytest

from components.pipeline import definition as d
from functions.pipeline import lifecycle as lc

A, STAGE, PROD = lc.Action, lc.Environment.STAGE, lc.Environment.PROD
OWNED = {"execution_id": ("=", "<this run>")}
FAILING = {"environment_states.{env}.status": ("in", {"deploying", "deployed"})}

# The spec's lifecycle: candidate -> promoted -> deployed, candidate -> rejected,
# promoted -> rollback_initiated -> rollback_succeeded | rollback_failed.
STATUS_EDGES = {
    "candidate": {"promoted", "rejected"},
    "promoted": {"deployed", "rollback_initiated"},
    "rollback_initiated": {"rollback_succeeded", "rollback_failed"},
    # Beyond the spec's lifecycle, only by a signed operator request: a rollback run to a named release
    # after every automatic attempt failed; a rolled-back release made eligible again (break-glass).
    "rollback_failed": {"rollback_initiated"},
    "rollback_succeeded": {"promoted"},
}
# An environment: pending (or a failed stage, retried) -> deploying -> deployed | failed; deployed -> failed.
ENV_EDGES = {
    "failed": {"deploying"},
    # a drift check that could not run deployed nothing: prod is handed back for the next attempt
    "deploying": {"deployed", "failed", "pending"},  # pending: also the watchdog's requeue
    # a deploy that succeeded but was never recorded is corrected to deployed + not_tested: leased again;
    # the watchdog requeues a stuck run to pending; superseded as a pending release is
    "deployed": {"failed", "deploying", "pending", "superseded"},
    # prod never deploys a build older than its known good: the pending release is superseded
    "pending": {"deploying", "superseded"},
}
# Signed operator requests (break-glass): a drift-aborted or superseded release, or one whose revocation
# was lifted, is pending again, for one run an operator starts.
OVERRIDE_ENV_EDGES = {"failed": {"pending"}, "superseded": {"pending"}, "rollback_succeeded": {"pending"}}

# Every guard, written out: the refusal each transition makes. Removing a clause from the table fails here.
# A lease also takes a `deployed` whose tests never ran (the finalizer's correction of an unrecorded
# deploy), never one whose tests are running.
EXPECTED_LEASE = {
    STAGE: {
        "status": ("=", "candidate"),
        "environment_states.{env}.status": ("in", {"pending", "failed", "deployed"}),
        "any of": (
            "environment_states.{env}.status in failed, pending",
            "environment_states.{env}.test_status = not_tested",
        ),
        "eligibility_revoked": ("absent",),
    },
    PROD: {
        "status": ("=", "promoted"),
        "environment_states.{env}.status": ("in", {"pending", "deployed"}),
        "any of": ("environment_states.{env}.status = pending", "environment_states.{env}.test_status = not_tested"),
        "eligibility_revoked": ("absent",),
    },
}
EXPECTED_GUARDS: dict[tuple[lc.Action, lc.Environment], dict[str, Any]] = {
    (A.LEASE, STAGE): EXPECTED_LEASE[STAGE],
    (A.LEASE, PROD): EXPECTED_LEASE[PROD],
    **{(A.VALIDATED, e): OWNED for e in lc.Environment},
    **{(A.DEPLOYED, e): {**OWNED, "environment_states.{env}.status": ("=", "deploying")} for e in lc.Environment},
    (A.TEST_FAILED, STAGE): {
        **OWNED,
        "status": ("=", "candidate"),
        "environment_states.{env}.status": ("=", "deployed"),
        "environment_states.{env}.test_status": ("=", "test_running"),
    },
    (A.PROMOTED, STAGE): {
        **OWNED,
        "status": ("=", "candidate"),
        "environment_states.{env}.test_status": ("=", "test_running"),
    },
    (A.PROD_SUCCEEDED, PROD): {
        **OWNED,
        "status": ("=", "promoted"),
        "environment_states.{env}.status": ("=", "deployed"),
        "environment_states.{env}.test_status": ("=", "test_running"),
    },
    (A.KNOWN_GOOD, PROD): {"last_known_good_build_time": ("absent or at most", "build_time")},
    (A.CONTENT_REVOKED, PROD): {"revoked_commit": ("absent",)},
    (A.SMOKE_FAILED, PROD): {
        **OWNED,
        "status": ("=", "promoted"),
        "environment_states.{env}.status": ("=", "deployed"),
        "environment_states.{env}.test_status": ("=", "test_running"),
    },
    (A.PROD_DEPLOY_FAILED, PROD): {
        **OWNED,
        "status": ("=", "promoted"),
        "environment_states.{env}.status": ("=", "deploying"),
    },
    **{
        (action, PROD): {
            **OWNED,
            "status": ("=", "promoted"),
            "environment_states.{env}.status": ("=", "deploying"),
        }
        for action in (A.DRIFT_CHECK_FAILED, A.NOT_STARTED)
    },
    (A.NOT_STARTED, STAGE): {**OWNED, "environment_states.{env}.status": ("=", "deploying")},
    (A.ROLLBACK_PLANNED, PROD): OWNED,
    **{
        (action, PROD): {**OWNED, "status": ("=", "rollback_initiated")}
        for action in (A.ROLLBACK_ATTEMPT_FAILED, A.ROLLBACK_SUCCEEDED, A.ROLLBACK_FAILED)
    },
    (A.INVALID_ARTIFACT, STAGE): {**OWNED, **FAILING, "status": ("=", "candidate")},
    (A.INVALID_ARTIFACT, PROD): {**OWNED, **FAILING},
    **{
        (action, e): {**OWNED, **FAILING}
        for action in (A.DEPLOY_FAILED, A.DRIFT_DETECTED, A.ASSET_MISMATCH, A.TIMED_OUT, A.FAILED)
        for e in lc.Environment
    },
    **{(A.FINALIZED, e): OWNED for e in lc.Environment},
    # The environment's lock: free, this run's, or expired; released only by its holder.
    **{
        (A.LOCK, e): {"any of": ("absent holder_execution_id", "holder_execution_id = <this run>", "expires_at < now")}
        for e in lc.Environment
    },
    **{(A.UNLOCK, e): {"holder_execution_id": ("=", "<this run>")} for e in lc.Environment},
    # Written without owning the item: the run never leased it, so only while it is still leasable.
    **{(A.LOCK_WAIT_TIMED_OUT, e): EXPECTED_LEASE[e] for e in lc.Environment},
    (A.SUPERSEDED, PROD): EXPECTED_LEASE[PROD],
    # The watchdog: only the stuck run's item, only while that run was deploying or testing.
    (A.REQUEUED, STAGE): {
        **OWNED,
        "status": ("=", "candidate"),
        "environment_states.{env}.status": ("in", {"deploying", "deployed"}),
    },
    (A.REQUEUED, PROD): {
        **OWNED,
        "status": ("=", "promoted"),
        "environment_states.{env}.status": ("in", {"deploying", "deployed"}),
    },
    (A.ROLLBACK_INTERRUPTED, PROD): {**OWNED, "status": ("=", "rollback_initiated")},
    # The sweeper parks an artifact that still waits in its environment's sweep (no run holds it).
    (A.ATTEMPTS_EXHAUSTED, STAGE): {"status": ("=", "candidate"), "sweep_phase": ("=", "stage")},
    (A.ATTEMPTS_EXHAUSTED, PROD): {"status": ("=", "promoted"), "sweep_phase": ("=", "prod")},
    # Signed operator requests (no run holds the item: each leaves only the state it names).
    **{(A.OVERRIDE_NONCE, e): {"used_at": ("absent",)} for e in lc.Environment},
    **{(A.OVERRIDE_REQUEUE, e): EXPECTED_LEASE[e] for e in lc.Environment},
    (A.OVERRIDE_PROMOTION, PROD): {
        "status": ("=", "promoted"),
        "environment_states.{env}.status": ("=", "pending"),
        "environment_states.stage.test_status": ("=", "test_passed"),
        "eligibility_revoked": ("absent",),
    },
    (A.OVERRIDE_ROLLBACK, PROD): {
        "status": ("=", "rollback_failed"),
        "environment_states.{env}.status": ("=", "rollback_failed"),
    },
    (A.OVERRIDE_ROLLBACK_LEASE, PROD): {
        "status": ("=", "rollback_failed"),
        "environment_states.{env}.status": ("=", "rollback_failed"),
        "override_execution_id": ("=", "<this run>"),
    },
    (A.OVERRIDE_ALLOW_DRIFT, PROD): {
        "status": ("=", "promoted"),
        "environment_states.{env}.status": ("=", "failed"),
        "eligibility_revoked": ("absent",),
    },
    (A.OVERRIDE_ALLOW_OLDER, PROD): {
        "status": ("=", "promoted"),
        "environment_states.{env}.status": ("=", "superseded"),
        "eligibility_revoked": ("absent",),
    },
    (A.OVERRIDE_OLDER_LEASE, PROD): {**EXPECTED_LEASE[PROD], "override_execution_id": ("=", "<this run>")},
    (A.OVERRIDE_LIFT_REVOCATION, PROD): {
        "status": ("=", "rollback_succeeded"),
        "environment_states.{env}.status": ("=", "rollback_succeeded"),
    },
    (A.OVERRIDE_LIFT_CONTENT, PROD): {"revoked_commit": ("=", "commit_sha")},
    **{(A.OVERRIDE_UNLOCK, e): {"holder_execution_id": ("=", "<this run>")} for e in lc.Environment},
}


def _summary(transition: lc.Transition) -> dict[str, Any]:
    def value(raw: Any) -> str:
        return "<this run>" if raw is lc.Ref.EXECUTION_ID else str(raw)

    summary: dict[str, Any] = {}
    for clause in transition.guard:
        if isinstance(clause, lc.AnyOf):
            summary["any of"] = tuple(_readable(c, value) for c in clause.clauses)
        elif isinstance(clause, lc.Absent):
            summary[clause.path] = ("absent",)
        elif isinstance(clause, lc.AbsentOrAtMost):
            summary[clause.path] = ("absent or at most", value(clause.value))
        elif len(clause.values) == 1:
            summary[clause.path] = ("=", value(clause.values[0]))
        else:
            summary[clause.path] = ("in", {value(v) for v in clause.values})
    return summary


def _readable(clause: lc.Clause, value: Any) -> str:
    if isinstance(clause, lc.Absent):
        return f"absent {clause.path}"
    if isinstance(clause, lc.Before):
        return f"{clause.path} < {value(clause.value)}"
    assert isinstance(clause, lc.Is)
    if len(clause.values) > 1:
        return f"{clause.path} in {', '.join(sorted(value(v) for v in clause.values))}"
    return f"{clause.path} = {value(clause.values[0])}"


def test_every_transition_of_the_table_is_expected_and_every_expected_one_is_there() -> None:
    assert set(lc.TRANSITIONS) == set(EXPECTED_GUARDS)
    # the lease's terms and its explanation write nothing (but a superseded release, its own row)
    assert {a for a, _ in lc.TRANSITIONS} == set(lc.Action) - {lc.Action.LEASE_LOST, lc.Action.LEASE_TERMS}


@pytest.mark.parametrize("key", sorted(EXPECTED_GUARDS, key=str), ids=lambda k: f"{k[0]}-{k[1]}")
def test_each_guard_names_exactly_the_states_it_may_leave(key: tuple[lc.Action, lc.Environment]) -> None:
    assert _summary(lc.TRANSITIONS[key]) == EXPECTED_GUARDS[key]


def _guarded(transition: lc.Transition, path: str) -> set[str]:
    return {str(v) for c in transition.guard if isinstance(c, lc.Is) and c.path == path for v in c.values}


@pytest.mark.parametrize("transition", list(lc.TRANSITIONS.values()), ids=lambda t: f"{t.action}-{t.environment}")
def test_statuses_move_only_along_the_spec_lifecycle(transition: lc.Transition) -> None:
    written = transition.sets.get(lc.STATUS)
    if written is not None:
        sources = _guarded(transition, lc.STATUS)
        assert sources, f"{transition.action} writes status without naming the status it leaves"
        for source in sources:
            assert str(written) in STATUS_EDGES[source], f"{transition.action}: {source} -> {written}"
    env_written = transition.sets.get(lc.ENV_STATUS)
    for source in _guarded(transition, lc.ENV_STATUS) if env_written is not None else ():
        edges = ENV_EDGES.get(source, set())
        if transition.action.value.startswith("override_"):
            edges = edges | OVERRIDE_ENV_EDGES.get(source, set())
        assert str(env_written) in edges, f"{transition.action}: {source} -> {env_written}"


def test_only_the_lease_the_pipelines_records_and_runs_that_never_leased_do_without_ownership() -> None:
    unowned = {t.action for t in lc.TRANSITIONS.values() if lc.OWNED not in t.guard}
    assert unowned == {
        A.LEASE,
        A.KNOWN_GOOD,
        A.CONTENT_REVOKED,
        A.LOCK,
        A.UNLOCK,
        A.LOCK_WAIT_TIMED_OUT,
        A.SUPERSEDED,
        A.ATTEMPTS_EXHAUSTED,  # the sweeper holds no run: only while the artifact waits in its sweep
        # signed operator requests hold no run: each leaves only the state its action applies to
        *{a for a in A if a.value.startswith("override_")},
    }
    for action in (A.LOCK_WAIT_TIMED_OUT, A.SUPERSEDED):  # only while the release is what a lease takes
        for transition in (t for t in lc.TRANSITIONS.values() if t.action is action):
            assert transition.guard == lc.transition(A.LEASE, transition.environment).guard
    # the pipeline's records: the service's known good, the environment's lock, revoked content
    records = {t.record for t in lc.TRANSITIONS.values() if t.record}
    assert records == {lc.SERVICE_RECORD, lc.LOCK_RECORD, lc.REVOKED_CONTENT_RECORD, lc.OVERRIDE_RECORD}


def test_a_release_waiting_too_long_for_the_lock_stays_leasable_and_swept() -> None:
    for environment in lc.Environment:
        timed_out = lc.transition(A.LOCK_WAIT_TIMED_OUT, environment)
        assert lc.STATUS not in timed_out.sets and lc.ENV_STATUS not in timed_out.sets
        assert timed_out.sets[lc.SWEEP_PHASE] == environment.value


def test_a_superseded_release_leaves_the_sweep_for_good() -> None:
    superseded = lc.transition(A.SUPERSEDED, PROD)
    assert superseded.sets[lc.ENV_STATUS] is lc.EnvStatus.SUPERSEDED and lc.SWEEP_PHASE in superseded.removes
    assert lc.EnvStatus.SUPERSEDED not in _guarded(lc.transition(A.LEASE, PROD), lc.ENV_STATUS)


def test_every_prod_failure_that_revokes_the_release_revokes_its_content() -> None:
    """Revoked bytes stay revoked under any commit: intake and Validate look them up by artifact_sha256."""
    revoking = [t for t in lc.TRANSITIONS.values() if t.sets.get(lc.ELIGIBILITY_REVOKED) is True]
    assert {t.action for t in revoking} == {lc.Action.SMOKE_FAILED, lc.Action.PROD_DEPLOY_FAILED}
    assert all(t.then is lc.Action.CONTENT_REVOKED for t in revoking)
    assert lc.transition(lc.Action.CONTENT_REVOKED, PROD).record == "_revoked#{artifact_sha256}"


def test_a_release_that_reached_prod_never_expires() -> None:
    for action, environment in ((A.PROMOTED, STAGE), (A.PROD_SUCCEEDED, PROD)):
        assert lc.EXPIRE_AT in lc.transition(action, environment).removes


def test_every_prod_failure_that_rolls_back_revokes_the_release() -> None:
    for transition in lc.TRANSITIONS.values():
        if transition.sets.get(lc.STATUS) is lc.Status.ROLLBACK_INITIATED:
            if transition.action is A.OVERRIDE_ROLLBACK_LEASE:
                continue  # a manual rollback's run: the release was revoked and announced at its first rollback
            assert transition.sets[lc.ELIGIBILITY_REVOKED] is True
            assert lc.Event.ROLLBACK_INITIATED in [e for e, _ in transition.events]


def test_every_action_the_state_machine_records_is_in_the_table() -> None:
    from tests.components.pipeline.test_definition import definition

    recorded = {
        s["Parameters"]["action"] for s in definition()["States"].values() if "action" in s.get("Parameters", {})
    }
    assert recorded == {a.value for a in lc.RECORDED_BY_THE_STATE_MACHINE}
    assert d.LEASE_STAGE and d.LEASE_PROD  # the lease is the ASL's own write, rendered from the table


def test_a_transition_cannot_be_asked_for_in_an_environment_it_has_no_row_for() -> None:
    with pytest.raises(ValueError, match="no transition 'smoke_failed' in 'stage'"):
        lc.transition("smoke_failed", "stage")
    with pytest.raises(ValueError, match="no transition 'promote_everything'"):
        lc.transition("promote_everything", "stage")


@pytest.mark.parametrize(
    ("action", "environment"), [(A.DRIFT_CHECK_FAILED, PROD), (A.NOT_STARTED, PROD), (A.NOT_STARTED, STAGE)]
)
def test_a_run_that_deployed_nothing_leaves_the_release_where_a_new_lease_takes_it(
    action: lc.Action, environment: lc.Environment
) -> None:
    failed = lc.transition(action, environment)
    lease = lc.transition(A.LEASE, environment)
    leasable = {str(v) for c in lease.guard if isinstance(c, lc.Is) and c.path == lc.ENV_STATUS for v in c.values}
    assert str(failed.sets[lc.ENV_STATUS]) in leasable
    assert lc.STATUS not in failed.sets and lc.ELIGIBILITY_REVOKED not in failed.sets  # still eligible
    assert failed.then is None and failed.record is None  # nothing revoked, no rollback
    if environment is PROD:
        assert failed.sets[lc.SWEEP_PHASE] == PROD.value  # the sweeper sees a release waiting for prod again
    assert "stack_drift_detected" not in failed.sets
    ((event, detail),) = failed.events
    assert event is lc.Event.DEPLOY_FAILED and detail["retryable"] is True and "phase" in detail


# --- the sweep index (`sweep-by-age`): every run is visible to the watchdog; every retryable ending waits
# for the sweeper; nothing that may not run again is ever swept --------------------------------------


def test_a_lease_puts_the_item_in_the_running_phase_since_its_execution_started() -> None:
    for environment in lc.Environment:
        lease = lc.transition(A.LEASE, environment)
        assert lease.sets[lc.SWEEP_PHASE] == lc.SweepPhase.RUNNING.value
        assert lease.sets[lc.SWEEP_SINCE] is lc.Ref.EXECUTION_START
        assert lc.SWEEP_PHASE not in lease.removes


RETRYABLE = {
    (A.DEPLOY_FAILED, STAGE),
    (A.TIMED_OUT, STAGE),
    (A.FAILED, STAGE),
    (A.ASSET_MISMATCH, STAGE),
    (A.NOT_STARTED, STAGE),
    (A.NOT_STARTED, PROD),
    (A.DRIFT_CHECK_FAILED, PROD),
    (A.LOCK_WAIT_TIMED_OUT, STAGE),
    (A.LOCK_WAIT_TIMED_OUT, PROD),
    (A.REQUEUED, STAGE),
    (A.REQUEUED, PROD),
}


@pytest.mark.parametrize("key", sorted(lc.TRANSITIONS, key=str), ids=lambda k: f"{k[0]}-{k[1]}")
def test_exactly_the_retryable_endings_wait_in_their_environments_sweep(key: tuple[lc.Action, lc.Environment]) -> None:
    transition = lc.TRANSITIONS[key]
    phase = transition.sets.get(lc.SWEEP_PHASE)
    if key in RETRYABLE:
        assert phase == key[1].value and lc.SWEEP_SINCE in transition.sets
        lease = lc.transition(A.LEASE, key[1])
        written = transition.sets.get(lc.ENV_STATUS)
        if written is not None:  # what it leaves is what the next attempt's lease takes
            assert str(written) in _guarded(lease, lc.ENV_STATUS)
    else:
        assert phase in (None, lc.SweepPhase.RUNNING.value, "prod", "stage_parked", "prod_parked")
        if phase == "prod":  # only promotion hands a release to the prod sweep
            assert key == (A.PROMOTED, STAGE)


def test_the_watchdog_requeues_a_stuck_run_as_the_spec_says() -> None:
    for environment, status in ((STAGE, "candidate"), (PROD, "promoted")):
        requeued = lc.transition(A.REQUEUED, environment)
        assert _guarded(requeued, lc.STATUS) == {status} and lc.STATUS not in requeued.sets
        assert requeued.sets[lc.ENV_STATUS] is lc.EnvStatus.PENDING
        assert requeued.sets[lc.ENV_TEST_STATUS] is lc.TestStatus.NOT_TESTED
        assert requeued.sets[lc.EXECUTION_STATUS] is lc.ExecutionStatus.KILLED
        assert requeued.sets[lc.SWEEP_SINCE] is lc.Ref.EXECUTION_START  # long past: the next sweep takes it
        assert [e for e, _ in requeued.events] == [lc.Event.STUCK_PIPELINE_TERMINATED]


def test_a_stuck_rollback_is_never_requeued_and_pages_a_human() -> None:
    interrupted = lc.transition(A.ROLLBACK_INTERRUPTED, PROD)
    assert interrupted.sets[lc.STATUS] is lc.Status.ROLLBACK_FAILED
    assert interrupted.sets[lc.MANUAL_INTERVENTION] is True and interrupted.alert
    # still `running` in the index: the watchdog stops it again if its stop failed; its finalizer clears it
    assert lc.SWEEP_PHASE not in interrupted.removes and lc.SWEEP_PHASE not in interrupted.sets
    assert lc.Event.STUCK_PIPELINE_TERMINATED in [e for e, _ in interrupted.events]
    assert not any(interrupted.action == a for a, _ in RETRYABLE)


def test_exhausted_attempts_park_the_artifact_for_a_human() -> None:
    for environment, parked, since in (
        (STAGE, "stage_parked", lc.Ref.BUILD_TIME),  # ArtifactNeverPromoted counts a range of build times
        (PROD, "prod_parked", lc.Ref.NOW),
    ):
        exhausted = lc.transition(A.ATTEMPTS_EXHAUSTED, environment)
        assert exhausted.sets[lc.SWEEP_PHASE] == parked and exhausted.sets[lc.SWEEP_SINCE] is since
        assert exhausted.sets[lc.MANUAL_INTERVENTION] is True and exhausted.alert
        assert lc.STATUS not in exhausted.sets and lc.ENV_STATUS not in exhausted.sets
