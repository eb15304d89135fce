"""Tampering with the audit table is found at the first entry it touched, and named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from functions.audit import AUDIT_TABLE, CHAIN, GENESIS_HASH, store
from functions.audit.entry import entry_hash, from_item
from functions.audit.verify import verify
from tests.functions.audit.conftest import fill


def items(client: Any) -> dict[int, dict[str, Any]]:
    """Every item of the chain by seq (the head is 0), as plain values."""
    found = client.query(
        TableName=AUDIT_TABLE,
        KeyConditionExpression="chain = :c",
        ExpressionAttributeValues={":c": {"S": CHAIN}},
    )["Items"]
    plain = [{k: TypeDeserializer().deserialize(v) for k, v in item.items()} for item in found]
    return {int(item["seq"]): item for item in plain}


def put(client: Any, item: dict[str, Any]) -> None:
    client.put_item(TableName=AUDIT_TABLE, Item={k: TypeSerializer().serialize(v) for k, v in item.items()})


def delete(client: Any, seq: int) -> None:
    client.delete_item(TableName=AUDIT_TABLE, Key={"chain": {"S": CHAIN}, "seq": {"N": str(seq)}})


def rehashed(item: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`item` with `changes` and a log_hash that matches its new content (a careful forger)."""
    changed = {**item, **changes}
    return {**changed, "log_hash": entry_hash(from_item(changed))}


def move(client: Any, chain: dict[int, dict[str, Any]], seqs: range, by: int, rehash: bool = True) -> None:
    """Renumber the entries of `seqs` by `by` (keeping their links)."""
    for seq in sorted(seqs, reverse=by > 0):
        delete(client, seq)
        put(client, rehashed(chain[seq], seq=seq + by) if rehash else {**chain[seq], "seq": seq + by})


def set_head(client: Any, seq: int, log_hash: str) -> None:
    put(client, {"chain": CHAIN, "seq": 0, "head_seq": seq, "head_hash": log_hash})


def edit(client, chain) -> None:
    put(client, {**chain[5], "reason": "nothing to see here"})


def add_attribute(client, chain) -> None:
    put(client, {**chain[5], "approved_by": "nobody"})


def drop_attribute(client, chain) -> None:
    put(client, {k: v for k, v in chain[5].items() if k != "reason"})


def delete_one(client, chain) -> None:
    delete(client, 5)


def delete_and_renumber(client, chain) -> None:
    delete(client, 5)
    move(client, chain, range(6, 11), by=-1)
    set_head(client, 9, entry_hash(from_item(rehashed(chain[10], seq=9))))


def insert_and_renumber(client, chain) -> None:
    move(client, chain, range(5, 11), by=1)
    put(client, rehashed(chain[5], reason="forged", previous_log_hash=chain[4]["log_hash"]))
    set_head(client, 11, entry_hash(from_item(rehashed(chain[10], seq=11))))


def insert_without_rehash(client, chain) -> None:
    move(client, chain, range(5, 11), by=1, rehash=False)
    put(client, rehashed(chain[5], reason="forged", previous_log_hash=chain[4]["log_hash"]))


def swap(client, chain) -> None:
    put(client, {**chain[6], "seq": 5})
    put(client, {**chain[5], "seq": 6})


TAMPERING: dict[str, tuple[Callable[[Any, dict], None], int, str]] = {
    "edited": (edit, 5, "edited"),
    "attribute added": (add_attribute, 5, "edited"),
    "attribute removed": (drop_attribute, 5, "edited"),
    "deleted": (delete_one, 5, "deleted"),
    "deleted and renumbered": (delete_and_renumber, 5, "deleted"),
    "inserted and renumbered": (insert_and_renumber, 5, "inserted"),
    "inserted, renumbered without re-hashing": (insert_without_rehash, 5, "inserted"),
    "reordered": (swap, 5, "reordered"),
}


@pytest.mark.parametrize("how", TAMPERING)
def test_tampering_is_found_at_the_entry_it_touched(dynamodb, how) -> None:
    tamper, seq, kind = TAMPERING[how]
    written = fill(dynamodb, 10)
    tamper(dynamodb, items(dynamodb))
    report = verify(*store.read_chain(dynamodb))
    assert report.finding is not None, how
    assert (report.finding.seq, report.finding.kind) == (seq, kind), report.finding.line()
    assert report.finding.line().startswith(f"FAIL audit chain seq {seq} {kind}: ")
    assert (report.depth, report.root) == (4, written[3].log_hash)  # intact up to the entry before


def test_an_untouched_chain_verifies(dynamodb) -> None:
    written = fill(dynamodb, 10)
    report = verify(*store.read_chain(dynamodb))
    assert report.ok and (report.depth, report.root) == (10, written[-1].log_hash)


def test_an_empty_chain_verifies(dynamodb) -> None:
    assert verify(*store.read_chain(dynamodb)) == verify([], None)
    assert verify([], None).ok and verify([], None).root == GENESIS_HASH


@pytest.mark.parametrize("cut", [1, 3])
def test_a_truncated_tail_is_found_through_the_head(dynamodb, cut) -> None:
    fill(dynamodb, 10)
    for seq in range(11 - cut, 11):
        delete(dynamodb, seq)
    report = verify(*store.read_chain(dynamodb))
    assert (report.finding.seq, report.finding.kind) == (11 - cut, "truncated")
    assert "the head says depth 10, the chain ends at seq " + str(10 - cut) in report.finding.detail


def test_a_head_that_disagrees_with_the_last_entry_is_found(dynamodb) -> None:
    fill(dynamodb, 3)
    set_head(dynamodb, 3, "f" * 64)
    assert verify(*store.read_chain(dynamodb)).finding.kind == "head"
    delete(dynamodb, 0)
    assert (
        verify(*store.read_chain(dynamodb)).finding.line()
        == "FAIL audit chain seq 1 head: no chain head, but 3 entries"
    )


def test_entries_written_behind_the_heads_back_are_found(dynamodb) -> None:
    fill(dynamodb, 4)
    set_head(dynamodb, 3, items(dynamodb)[3]["log_hash"])
    finding = verify(*store.read_chain(dynamodb)).finding
    assert (finding.seq, finding.kind) == (4, "inserted")


def test_entries_out_of_order_or_twice_in_a_list_are_found(dynamodb) -> None:
    entries = fill(dynamodb, 6)
    head = store.Head(6, entries[-1].log_hash)
    assert verify(entries, head).ok
    swapped = entries[:3] + [entries[4], entries[3]] + entries[5:]
    assert (verify(swapped, head).finding.seq, verify(swapped, head).finding.kind) == (4, "reordered")
    doubled = entries[:4] + [entries[3]] + entries[4:]
    assert (verify(doubled, head).finding.seq, verify(doubled, head).finding.kind) == (4, "inserted")


def test_appends_after_a_cut_do_not_hide_it(dynamodb) -> None:
    fill(dynamodb, 5)
    delete(dynamodb, 5)
    assert fill(dynamodb, 2)[-1].seq == 7  # the chain continues from the head
    finding = verify(*store.read_chain(dynamodb)).finding
    assert (finding.seq, finding.kind) == (5, "deleted")


def test_entries_appended_while_the_chain_is_read_are_left_for_the_next_check(dynamodb, monkeypatch) -> None:
    written = fill(dynamodb, 5)
    heads = [store.Head(3, written[2].log_hash)]  # the head as it was when the read began
    real = store.read_head
    monkeypatch.setattr(store, "read_head", lambda *a: heads.pop() if heads else real(*a))
    entries, head = store.read_chain(dynamodb)
    assert [e.seq for e in entries] == [1, 2, 3] and verify(entries, head).ok


def test_an_append_onto_a_head_rolled_back_behind_its_entries_is_refused(dynamodb) -> None:
    written = fill(dynamodb, 4)
    set_head(dynamodb, 3, written[2].log_hash)
    with pytest.raises(store.AuditChainBroken, match="seq 4 already exists .* but the head says 3"):
        fill(dynamodb, 1)
    assert items(dynamodb)[4]["log_hash"] == written[3].log_hash  # nothing was overwritten
