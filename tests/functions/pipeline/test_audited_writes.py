"""Every change of the metadata table and the audit entry that records it are one transaction
(`functions/pipeline/store.py`): a change is never made without its entry, nor an entry written for a
change that was not made, and the artifact item lists its entries."""

from __future__ import annotations

import boto3
import pytest

from functions.audit import store as audit
from functions.audit.verify import verify
from functions.pipeline import lifecycle as lc
from functions.pipeline.store import MetadataTable
from functions.pipeline.transitions import apply
from tests.functions.pipeline.conftest import ACTOR, COMMIT, EXECUTION, SERVICE, Captured, item_in, run_of, seed


def _chain() -> list[audit.Entry]:
    entries, head = audit.read_chain(boto3.client("dynamodb", region_name="us-east-1"))
    assert verify(entries, head).ok
    return entries


def test_a_committed_transition_is_one_entry_listed_on_the_item(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("stage"))
    result = apply(run_of("stage", "deployed", deploy={"build_id": "b:1"}), table, captured, captured.metric)
    assert result["applied"] is True

    (entry,) = _chain()
    assert (entry.seq, entry.actor, entry.action) == (1, ACTOR, "deployed")
    assert (entry.service, entry.commit, entry.environment, entry.execution) == (SERVICE, COMMIT, "stage", EXECUTION)
    assert entry.before_status == "candidate / stage deploying"
    assert entry.after_status == "candidate / stage deployed"
    assert table.get(SERVICE, COMMIT)["audit_event_ids"] == [1]


def test_a_transition_whose_guard_fails_writes_neither_the_change_nor_an_entry(
    table: MetadataTable, captured: Captured
) -> None:
    seed(table, item_in("stage", execution_id="arn:aws:states:us-east-1:123456789012:execution:p:another-run"))
    before = table.get(SERVICE, COMMIT)
    result = apply(run_of("stage", "deployed"), table, captured, captured.metric)
    assert result["applied"] is False
    assert table.get(SERVICE, COMMIT) == before
    assert _chain() == [] and audit.read_head(boto3.client("dynamodb", region_name="us-east-1")) is None


def test_a_change_is_refused_when_its_entry_cannot_be_appended(table: MetadataTable, captured: Captured) -> None:
    # The chain was tampered with (an entry beyond the head): appends are refused, and so is the change.
    client = boto3.client("dynamodb", region_name="us-east-1")
    audit.append(client, {"actor": "a", "action": "x"})
    client.put_item(TableName=audit.AUDIT_TABLE, Item={"chain": {"S": audit.CHAIN}, "seq": {"N": "2"}})
    seed(table, item_in("stage"))
    before = table.get(SERVICE, COMMIT)
    with pytest.raises(audit.AuditChainBroken):
        apply(run_of("stage", "deployed"), table, captured, captured.metric)
    assert table.get(SERVICE, COMMIT) == before and captured.events == []


def test_records_beside_the_artifacts_are_audited_without_a_list(table: MetadataTable, captured: Captured) -> None:
    seed(table, item_in("prod", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"}))
    apply(run_of("prod", "prod_succeeded"), table, captured, captured.metric)
    entries = _chain()
    assert [e.action for e in entries] == ["prod_succeeded", "known_good"]
    assert entries[1].reason.startswith(f"{lc.SERVICE_RECORD}: ")
    assert table.get(SERVICE, COMMIT)["audit_event_ids"] == [1]
    assert "audit_event_ids" not in table.service_record(SERVICE)
