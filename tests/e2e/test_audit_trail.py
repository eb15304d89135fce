"""The audit trail along real runs: every change the pipeline makes to an item lands in the hash chain,
in the same transaction as the change, and the item lists its entries (`audit_event_ids`)."""

from __future__ import annotations

import boto3

from devtools.emulator.harness import Harness
from functions.audit import store
from functions.audit.verify import verify
from tests.e2e.test_scenarios import BAD, GOOD, _good_release_in_prod


def _chain() -> list[store.Entry]:
    entries, head = store.read_chain(boto3.client("dynamodb", region_name="us-east-1"))
    assert verify(entries, head).ok
    return entries


def _of(entries: list[store.Entry], commit: str) -> list[str]:
    return [e.action for e in entries if e.commit == commit]


def test_every_change_of_a_release_from_intake_to_prod_is_one_audit_entry(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"

    entries = _chain()
    mine = [e for e in entries if e.commit == GOOD]
    actions = [e.action for e in mine]
    assert actions[0] == "recorded" and mine[0].actor == "function:cdkcp-intake"
    for environment in ("stage", "prod"):
        leases = [e for e in mine if e.action == "lease" and e.environment == environment]
        assert len(leases) == 1 and leases[0].actor.endswith(":stateMachine:cdkcp-DeployArtifactPipeline")
    for expected in ("validated", "deployed", "promoted", "prod_succeeded", "known_good", "finalized"):
        assert any(a.startswith(expected) for a in actions), (expected, actions)
    promoted = next(e for e in mine if e.action.startswith("promoted"))
    assert promoted.before_status.startswith("candidate / stage") and promoted.after_status.startswith("promoted")
    assert all(e.execution and e.execution.startswith("arn:aws:states:") for e in mine if e.action != "recorded")
    # The item lists exactly its own entries, in order (records beside it, the lock and the known good,
    # are audited without a list).
    item = pipeline.item(GOOD)
    own = [e.seq for e in mine if not (e.reason or "").startswith("_")]
    assert item["audit_event_ids"] == own
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))


def test_a_rollback_is_audited_with_its_reason(pipeline: Harness) -> None:
    _good_release_in_prod(pipeline)
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    pipeline.run("prod", BAD)

    actions = _of(_chain(), BAD)
    assert any(a.startswith("smoke_failed") for a in actions), actions
    assert any(a.startswith("rollback_succeeded") for a in actions), actions


def test_a_change_whose_guard_fails_writes_no_entry(pipeline: Harness) -> None:
    pipeline.publish(GOOD)
    pipeline.run("stage", GOOD)
    before = _chain()
    assert len([e for e in before if e.commit == GOOD]) > 5  # the first run was audited
    # A second run of the same release in stage: its lease loses, nothing changes and nothing is audited.
    again = pipeline.wait(pipeline.start("again", GOOD, "stage", "test"))
    assert again["status"] in {"SUCCEEDED", "FAILED"}
    after = _chain()
    assert [e.action for e in after[len(before) :] if e.commit == GOOD and e.action != "finalized"] == []
