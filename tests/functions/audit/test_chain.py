"""Appending to the audit chain: the entry's canonical bytes and hash, one linear chain under concurrent
appends, and clear errors."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.emulator.concurrency import serialise_dynamodb
from functions.artifacts.errors import TransientAwsError
from functions.audit import AUDIT_TABLE, GENESIS_HASH, store
from functions.audit.entry import Entry, canonical_bytes, entry_hash, new_entry
from functions.audit.verify import verify
from tests.functions.audit.conftest import fields, fill

GOLDEN_BYTES = (
    '{"action":"manual_promotion","actor":"arn:aws:iam::111111111111:role/operator",'
    '"after_status":"promoted","before_status":"candidate","commit":"0123456789abcdef0123456789abcdef01234567",'
    '"environment":"prod","execution":null,"previous_log_hash":"' + "0" * 64 + '","reason":"café ☕ hotfix",'
    '"seq":1,"service":"orders","signed_request":null,"timestamp":"2026-11-25T19:00:00Z"}'
).encode()
GOLDEN_HASH = "3bbd09159a1dbfdc7eaf5dfec7af02f721afd6281cc2451dbac13b5dbc13538a"


def golden_entry() -> Entry:
    return new_entry(
        {
            "actor": "arn:aws:iam::111111111111:role/operator",
            "action": "manual_promotion",
            "service": "orders",
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "environment": "prod",
            "before_status": "candidate",
            "after_status": "promoted",
            "reason": "café ☕ hotfix",
        },
        seq=1,
        previous_log_hash=GENESIS_HASH,
        timestamp="2026-11-25T19:00:00Z",
    )


def test_an_entry_hashes_its_rfc8785_bytes_without_log_hash() -> None:
    entry = golden_entry()
    assert canonical_bytes(entry.to_dict()) == GOLDEN_BYTES
    assert entry.log_hash == hashlib.sha256(GOLDEN_BYTES).hexdigest() == GOLDEN_HASH
    assert entry_hash(entry) == GOLDEN_HASH


def test_appends_link_each_entry_to_the_one_before_and_move_the_head(dynamodb) -> None:
    first, second = fill(dynamodb, 2)
    assert (first.seq, first.previous_log_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.previous_log_hash) == (2, first.log_hash)
    assert store.read_head(dynamodb) == store.Head(2, second.log_hash)
    entries, head = store.read_chain(dynamodb)
    assert entries == [first, second] and head == store.Head(2, second.log_hash)


def test_reading_the_chain_follows_every_page_in_seq_order(dynamodb) -> None:
    written = fill(dynamodb, 23)
    entries, head = store.read_chain(dynamodb, page_size=5)
    assert [e.seq for e in entries] == list(range(1, 24))
    assert entries == written and verify(entries, head).ok


def test_fifty_concurrent_appends_make_one_linear_chain(dynamodb, monkeypatch) -> None:
    # moto applies a transaction item by item and is not isolated across threads; DynamoDB is (see
    # devtools/emulator/concurrency.py): the bridge gives moto DynamoDB's isolation.
    serialise_dynamodb(monkeypatch)
    clients = [boto3.client("dynamodb", region_name="us-east-1") for _ in range(50)]
    start, results, errors = threading.Barrier(50), [], []

    def writer(n: int) -> None:
        start.wait()
        try:
            results.append(store.append(clients[n], fields(n, reason=f"writer {n}")))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    entries, head = store.read_chain(dynamodb)
    assert [e.seq for e in entries] == list(range(1, 51))
    assert sorted(e.reason for e in entries) == sorted(f"writer {n}" for n in range(50))
    assert all(e.previous_log_hash == (entries[i - 1].log_hash if i else GENESIS_HASH) for i, e in enumerate(entries))
    assert head == store.Head(50, entries[-1].log_hash)
    assert sorted(results, key=lambda e: e.seq) == entries
    report = verify(entries, head)
    assert report.ok and (report.depth, report.root) == (50, entries[-1].log_hash)


class Refusing:
    """A client whose transactions always fail with `code` (the head reads as empty)."""

    def __init__(self, code: str, reasons: list[str] | None = None) -> None:
        self.code, self.reasons, self.calls = code, reasons, 0

    def get_item(self, **_: Any) -> dict[str, Any]:
        return {}

    def transact_write_items(self, **_: Any) -> None:
        self.calls += 1
        response: dict[str, Any] = {"Error": {"Code": self.code, "Message": "refused"}}
        if self.reasons is not None:
            response["CancellationReasons"] = [{"Code": c} for c in self.reasons]
        raise ClientError(response, "TransactWriteItems")


def test_an_append_that_keeps_losing_the_race_gives_up_with_a_clear_error() -> None:
    client, waits = Refusing("TransactionCanceledException", ["ConditionalCheckFailed", "None"]), []
    with pytest.raises(store.AuditChainBusy, match="lost the race for the chain head 5 times"):
        store.append(client, fields(1), attempts=5, sleep=waits.append)
    assert client.calls == 5 and len(waits) == 5 and all(0 <= w <= store.BACKOFF_CAP_SECONDS for w in waits)


def test_an_entry_already_behind_the_head_is_refused_not_retried() -> None:
    client = Refusing("TransactionCanceledException", ["None", "ConditionalCheckFailed"])
    with pytest.raises(store.AuditChainBroken, match="seq 1 already exists"):
        store.append(client, fields(1), sleep=lambda _: None)
    assert client.calls == 1


def test_throttling_is_transient() -> None:
    with pytest.raises(TransientAwsError, match="TransactWriteItems on cdk-artifact-audit-log got no answer"):
        store.append(Refusing("ThrottlingException"), fields(1))


def test_a_missing_table_is_named(dynamodb) -> None:
    with pytest.raises(store.AuditTableMissing, match="no DynamoDB table nope"):
        store.read_chain(dynamodb, "nope")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"actor": None}, "actor must be a non-empty string"),
        ({"action": ""}, "action must be a non-empty string"),
        ({"reason": 7}, "reason must be a string"),
        ({"seq": 3}, "unknown field"),
    ],
)
def test_bad_fields_are_refused_before_any_write(dynamodb, change, message) -> None:
    with pytest.raises(ValueError, match=message):
        store.append(dynamodb, {**fields(1), **change})
    assert store.read_chain(dynamodb, AUDIT_TABLE) == ([], None)


def test_a_cancellation_that_is_not_a_race_is_raised_at_once_not_retried_as_busy(dynamodb) -> None:
    """An item too large or a validation error cancels the transaction for good: retrying it 40 times and
    calling it busy (transient) would hide a permanent error."""
    from botocore.exceptions import ClientError

    from functions.artifacts.errors import AwsError, TransientAwsError

    calls = []

    class Cancelling:
        def __getattr__(self, name):
            return getattr(dynamodb, name)

        def transact_write_items(self, **request):
            calls.append(request)
            error = {"Code": "TransactionCanceledException", "Message": "cancelled"}
            reasons = [{"Code": "ValidationError"}, {"Code": "None"}, {"Code": "None"}]
            raise ClientError({"Error": error, "CancellationReasons": reasons}, "TransactWriteItems")

    with pytest.raises(AwsError, match="ValidationError") as raised:
        store.append(Cancelling(), {"actor": "a", "action": "x"}, change=lambda entry: [{"ConditionCheck": {}}])
    assert not isinstance(raised.value, TransientAwsError) and len(calls) == 1
