"""The override function's core against moto: each refusal names its reason, is audited and announced,
and changes nothing else in the table; each accepted action writes its lifecycle row and, where it runs
something, starts the next attempt of the state machine (never a deploy of its own)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from functions.artifacts.signing import LocalKeySigner
from functions.pipeline import lifecycle as lc
from tests.functions.overrides.conftest import OPERATOR, World
from tests.functions.pipeline.conftest import seed
from tests.functions.pipeline.test_rollback import TARGET, _release

BAD = "b" * 40
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:execution:p"


def _parked_stage(world: World) -> None:
    seed(
        world.table,
        {
            "service": "orders",
            "commit_sha": BAD,
            "status": "candidate",
            "artifact_sha256": "e" * 64,
            "manual_intervention_required": True,
            "sweep_phase": "stage_parked",
            "environment_states": {
                "stage": {"status": "failed", "test_status": "not_tested", "deployment_id": f"orders-{BAD}-stage-3"},
                "prod": {"status": "not_deployed", "test_status": "not_tested"},
            },
        },
    )


def _rollback_failed(world: World) -> None:
    _release(world.table)
    seed(
        world.table,
        {
            "service": "orders",
            "commit_sha": BAD,
            "status": "rollback_failed",
            "artifact_sha256": "e" * 64,
            "eligibility_revoked": True,
            "manual_intervention_required": True,
            "environment_states": {
                "stage": {"status": "deployed", "test_status": "test_passed"},
                "prod": {
                    "status": "rollback_failed",
                    "test_status": "test_failed",
                    "deployment_id": f"orders-{BAD}-prod-1",
                },
            },
        },
    )


def _without_nonces(items: list[dict]) -> list[dict]:
    return [i for i in items if not str(i["commit_sha"]).startswith("_override#")]


def _assert_refused(world: World, text: str, reason: str) -> None:
    before = world.items()
    outcome = world.submit(text)
    assert not outcome.applied and reason in outcome.reason, outcome.reason
    # a refusal changes no item; a signed request in its window has used its nonce up, refused or not
    assert _without_nonces(world.items()) == _without_nonces(before)
    try:
        nonce = f"_override#{json.loads(text)['nonce']}"
    except (ValueError, KeyError, TypeError):
        nonce = None
    unsigned = any(word in outcome.reason for word in ("signature", "expired", "future", "replayed", "malformed"))
    claimed = any(i["commit_sha"] == nonce for i in world.items()) and not any(i["commit_sha"] == nonce for i in before)
    assert claimed is not unsigned, outcome.reason
    assert world.executions() == []
    entry = world.audit()[-1]
    assert entry["action"].endswith(":refused") and reason in entry["reason"] and entry["signed_request"] == text
    assert world.captured.types[-2:] == ["OverrideRequested", "OverrideRefused"]


def test_a_requeue_of_a_parked_item_starts_its_next_attempt_and_records_the_request(world: World) -> None:
    _parked_stage(world)
    text = world.request("requeue", BAD, "stage")
    outcome = world.submit(text)

    assert outcome.applied, outcome.reason
    (execution,) = world.executions()
    assert execution["name"] == f"orders-{BAD}-stage-4"
    request = json.loads(text)
    assert execution["input"]["trigger"] == {
        "source": "override",
        "override_id": request["nonce"],
        "action": "requeue",
        "requester": OPERATOR,
    }
    item = world.table.get("orders", BAD) or {}
    assert item["manual_override_requested"] is True and item["override_signature"] == request["signature"]
    assert item["override_reason"] == request["reason"] and item["override_id"] == request["nonce"]
    assert item["status"] == "candidate"  # nothing else moved: the run's lease takes it
    entry = world.audit()[-1]
    assert entry["actor"] == OPERATOR and entry["action"] == "override:requeue:applied"
    assert entry["signed_request"] == text and "INC-7" in entry["reason"]
    assert world.captured.types == ["OverrideRequested", "OverrideApplied"]


def test_a_replayed_request_is_refused(world: World) -> None:
    _parked_stage(world)
    text = world.request("requeue", BAD, "stage")
    assert world.submit(text).applied
    world.captured.events.clear()
    before_executions = world.executions()
    before = world.items()
    outcome = world.submit(text)
    assert not outcome.applied and "replayed: nonce" in outcome.reason
    assert world.items() == before and world.executions() == before_executions
    assert world.audit()[-1]["action"] == "override:requeue:refused"


def test_an_expired_request_is_refused(world: World) -> None:
    _parked_stage(world)
    text = world.request("requeue", BAD, "stage", issued=world.now - timedelta(minutes=20))
    _assert_refused(world, text, "expired at")


def test_a_request_from_the_future_is_refused(world: World) -> None:
    _parked_stage(world)
    text = world.request("requeue", BAD, "stage", issued=world.now + timedelta(minutes=10))
    _assert_refused(world, text, "in the future")


def test_a_request_signed_with_another_key_is_refused(world: World, other_signer: LocalKeySigner) -> None:
    _parked_stage(world)
    _assert_refused(world, world.request("requeue", BAD, "stage", signer=other_signer), "does not verify")


def test_a_tampered_request_is_refused(world: World) -> None:
    _parked_stage(world)
    document = json.loads(world.request("requeue", BAD, "stage"))
    document["reason"] = "nobody signed this"
    _assert_refused(world, json.dumps(document), "does not verify")


def test_an_unreadable_request_is_refused_and_audited(world: World) -> None:
    _assert_refused(world, '{"action": "requeue"}', "malformed request")
    assert world.audit()[-1]["actor"] == "unverified-request"


@pytest.mark.parametrize("text", ["", '{"nonce": "' + "x" * 10_000 + '"}', "[1, 2"], ids=["empty", "huge", "broken"])
def test_any_text_is_refused_audited_and_announced_never_a_crash(world: World, text: str) -> None:
    outcome = world.submit(text)
    assert not outcome.applied and outcome.reason.startswith("malformed request")
    entry = world.audit()[-1]
    assert entry["actor"] == "unverified-request" and len(entry["reason"]) <= 4000
    assert world.captured.types[-2:] == ["OverrideRequested", "OverrideRefused"]


def test_a_request_nothing_could_have_signed_is_refused_in_the_claimed_requesters_name_only(world: World) -> None:
    _rollback_failed(world)
    request = json.loads(world.request("manual_rollback", BAD, target_commit=TARGET))
    request["reason"] = "prod \ud800 is down"  # a lone surrogate: no canonical form, no signature can cover it
    text = json.dumps(request)
    outcome = world.submit(text)
    assert not outcome.applied and ("signature" in outcome.reason or "canonical" in outcome.reason)
    entry = world.audit()[-1]
    assert entry["actor"] == "unverified-request" and entry["reason"].startswith("claimed requester ")
    assert world.executions() == []


@pytest.mark.parametrize(
    ("action", "environment", "reason"),
    [
        ("requeue", "prod", "requeue does not apply to status candidate, prod not_deployed"),
        ("manual_promotion", None, "manual_promotion does not apply"),
        ("manual_rollback", None, "manual_rollback does not apply"),
    ],
)
def test_a_target_that_does_not_match_the_item_is_refused(
    world: World, action: str, environment: str | None, reason: str
) -> None:
    _parked_stage(world)
    extra = {"target_commit": TARGET} if action == "manual_rollback" else {}
    _assert_refused(world, world.request(action, BAD, environment, **extra), reason)


def test_a_request_for_an_unknown_item_is_refused(world: World) -> None:
    _assert_refused(world, world.request("requeue", "9" * 40, "stage"), "no metadata item")


def test_break_glass_without_the_flag_is_refused(world: World) -> None:
    _rollback_failed(world)
    _assert_refused(world, world.request("lift_revocation", BAD), "the break-glass flag is off")


def test_a_break_glass_request_refused_while_the_flag_was_off_is_not_good_once_it_is_on(world: World) -> None:
    _rollback_failed(world)
    text = world.request("lift_revocation", BAD)
    _assert_refused(world, text, "the break-glass flag is off")
    world.break_glass("on")
    outcome = world.submit(text)
    assert not outcome.applied and "replayed" in outcome.reason, outcome.reason


def test_a_manual_rollback_records_its_target_and_starts_a_bound_run(world: World) -> None:
    _rollback_failed(world)
    text = world.request("manual_rollback", BAD, target_commit=TARGET, reason="prod is down: back to a known good")
    outcome = world.submit(text)
    assert outcome.applied, outcome.reason
    (execution,) = world.executions()
    assert execution["name"] == f"orders-{BAD}-prod-2" and execution["input"]["trigger"]["action"] == "manual_rollback"
    item = world.table.get("orders", BAD) or {}
    assert item[lc.OVERRIDE_EXECUTION] == execution["executionArn"] == outcome.execution_arn
    assert item["rollback_reason"] == "prod is down: back to a known good"
    assert item[lc.MANUAL_ROLLBACK_TARGET] == TARGET
    assert item["status"] == "rollback_failed"  # the run's own lease moves it, not the function


def test_a_manual_rollback_to_a_release_that_is_not_known_good_is_refused(world: World) -> None:
    _rollback_failed(world)
    seed(world.table, {"service": "orders", "commit_sha": TARGET, "status": "rejected", "artifact_sha256": "1" * 64})
    _assert_refused(world, world.request("manual_rollback", BAD, target_commit=TARGET), "is not a deployed artifact")


def test_release_lock_releases_only_an_ended_holders_lock(world: World) -> None:
    holder = f"{STATE_MACHINE}:orders-{BAD}-prod-1"
    seed(
        world.table,
        {
            "service": "orders",
            "commit_sha": "_lock#prod",
            "holder_execution_id": holder,
            "holder_deployment_id": f"orders-{BAD}-prod-1",
            "holder_commit_sha": BAD,
            "expires_at": "2026-11-24T00:00:00Z",
        },
    )
    _assert_refused(world, world.request("release_lock", "a" * 40, "prod"), "held for commit")
    outcome = world.submit(world.request("release_lock", BAD, "prod"))
    assert outcome.applied, outcome.reason
    lock = world.table.get("orders", "_lock#prod") or {}
    assert "holder_execution_id" not in lock and lock["released_by"].startswith("override:")
    _assert_refused(world, world.request("release_lock", BAD, "prod"), "is not locked")


def test_break_glass_lift_revocation_with_the_flag_on_alerts_and_clears_the_revocation(world: World) -> None:
    seed(
        world.table,
        {
            "service": "orders",
            "commit_sha": BAD,
            "status": "rollback_succeeded",
            "artifact_sha256": "e" * 64,
            "eligibility_revoked": True,
            "eligibility_revoked_reason": "prod smoke test failed",
            "environment_states": {"prod": {"status": "rollback_succeeded", "test_status": "test_failed"}},
        },
    )
    seed(world.table, {"service": "orders", "commit_sha": "_revoked#" + "e" * 64, "revoked_commit": BAD})
    world.break_glass("on")
    outcome = world.submit(world.request("lift_revocation", BAD, reason="the smoke test was flaky: INC-9"))
    assert outcome.applied, outcome.reason
    item = world.table.get("orders", BAD) or {}
    assert item["status"] == "promoted" and "eligibility_revoked" not in item
    assert item["environment_states"]["prod"]["status"] == "pending" and item["sweep_phase"] == "prod_parked"
    assert item["break_glass_justification"] == "the smoke test was flaky: INC-9"
    assert world.table.revocation("orders", "e" * 64) is None
    assert world.captured.alerts and world.captured.alerts[0].startswith("BREAK-GLASS: lift_revocation on orders")
    assert world.executions() == []  # lifting deploys nothing


def test_allow_drift_needs_a_drift_abort_and_allows_one_named_run(world: World) -> None:
    item = {
        "service": "orders",
        "commit_sha": BAD,
        "status": "promoted",
        "artifact_sha256": "e" * 64,
        "environment_states": {"prod": {"status": "failed", "deployment_id": f"orders-{BAD}-prod-1"}},
    }
    seed(world.table, item)
    world.break_glass("on")
    _assert_refused(world, world.request("allow_drift", BAD), "not on drift")
    seed(world.table, {**item, "stack_drift_detected": True})
    outcome = world.submit(world.request("allow_drift", BAD))
    assert outcome.applied, outcome.reason
    recorded = world.table.get("orders", BAD) or {}
    assert recorded[lc.DRIFT_ALLOWED_FOR] == f"orders-{BAD}-prod-2"
    assert recorded["environment_states"]["prod"]["status"] == "pending"


def test_a_break_glass_flag_that_cannot_be_read_is_off(world: World) -> None:
    import boto3

    from functions.overrides import break_glass_parameter

    boto3.client("ssm", region_name="us-east-1").delete_parameter(Name=break_glass_parameter("cdkcp"))
    _rollback_failed(world)
    _assert_refused(world, world.request("lift_revocation", BAD), "could not be read")


def test_a_manual_promotion_starts_the_prod_run_of_a_tested_release_with_its_reason(world: World) -> None:
    seed(
        world.table,
        {
            "service": "orders",
            "commit_sha": BAD,
            "status": "promoted",
            "artifact_sha256": "e" * 64,
            "environment_states": {
                "stage": {"status": "deployed", "test_status": "test_passed"},
                "prod": {"status": "pending", "test_status": "not_tested"},
            },
        },
    )
    outcome = world.submit(world.request("manual_promotion", BAD, reason="the release event was lost: INC-11"))
    assert outcome.applied, outcome.reason
    (execution,) = world.executions()
    assert execution["name"] == f"orders-{BAD}-prod-1" and execution["input"]["environment"] == "prod"
    assert (world.table.get("orders", BAD) or {})["promotion_reason"] == "the release event was lost: INC-11"


def test_a_manual_promotion_of_an_untested_candidate_is_refused(world: World) -> None:
    _parked_stage(world)
    _assert_refused(world, world.request("manual_promotion", BAD), "environment_states.stage.test_status test_passed")
