"""The audit chain in DynamoDB: appending one entry under concurrency, and reading the chain back.

The table (`AUDIT_TABLE`): partition key `chain` (S), sort key `seq` (N). Item `seq` 0 is the chain head
(`head_seq`, `head_hash`); entries are items 1..head_seq. An append is ONE `TransactWriteItems`: the head's
conditional update (from the seq it read to the next) and the entry's put (`attribute_not_exists`).
DynamoDB's transactions are atomic and isolated, so of two appends that read the same head exactly one
commits; the other is cancelled, re-reads the head and tries again after a jittered wait. Takes the
low-level client (`boto3.client("dynamodb")`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from functions.artifacts.errors import AwsError, TransientAwsError, aws_error_code, raise_if_transient
from functions.timestamps import utc_iso

from . import AUDIT_TABLE, CHAIN, GENESIS_HASH, HEAD_SEQ
from .entry import Entry, check_fields, from_item, new_entry, to_item

MAX_APPEND_ATTEMPTS = 40
BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS = 0.02, 1.0


@dataclass(frozen=True)
class Head:
    seq: int  # the chain's depth: the last entry's seq (0: empty)
    hash: str  # the last entry's log_hash (GENESIS_HASH: empty)


class AuditChainBusy(TransientAwsError):
    """Every attempt lost the race for the head: retried later (Lambda's retries), it succeeds."""


class AuditChainBroken(AwsError):
    """The table holds an entry beyond the head: appending is refused until a human looks
    (`artifactctl audit verify`)."""


class AuditTableMissing(AwsError):
    pass


def _serialise(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in item.items()}


def _deserialise(item: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def _aws_failure(exc: Exception, table: str, call: str) -> AwsError:
    """The error to raise for a failed call: a missing table named as such, else transient or not."""
    if aws_error_code(exc) == "ResourceNotFoundException":
        return AuditTableMissing(f"no DynamoDB table {table} (is the tools stack deployed, and the region right?)")
    try:
        raise_if_transient(exc, f"DynamoDB {call} on {table} got no answer: {exc}")
    except TransientAwsError as transient:
        return transient
    return AwsError(f"DynamoDB {call} on {table} failed: {exc}")


def _head_of(item: Mapping[str, Any] | None) -> Head | None:
    if item is None:
        return None
    plain = _deserialise(item)
    return Head(seq=int(plain.get("head_seq", 0)), hash=str(plain.get("head_hash", GENESIS_HASH)))


def read_head(client: Any, table: str = AUDIT_TABLE, chain: str = CHAIN) -> Head | None:
    """The head (strongly consistent), or None if the chain was never written."""
    from botocore.exceptions import BotoCoreError, ClientError

    key = {"chain": {"S": chain}, "seq": {"N": str(HEAD_SEQ)}}
    try:
        return _head_of(client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item"))
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure(exc, table, "GetItem") from exc


# A change an entry records, written in the entry's own transaction: given the entry (its seq is known
# only once the head is read), the transaction items of the change (low-level `TransactItems` entries,
# each with its own condition). If one of their conditions fails, nothing is written (the change's guard
# is the answer: someone else owns the state) and `append` returns None.
Change = Callable[[Entry], Sequence[Mapping[str, Any]]]


def _transaction(entry: Entry, head: Head | None, table: str, chain: str) -> list[dict[str, Any]]:
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"chain": {"S": chain}, "seq": {"N": str(HEAD_SEQ)}},
        "UpdateExpression": "SET head_seq = :next, head_hash = :hash",
        "ExpressionAttributeValues": {":next": {"N": str(entry.seq)}, ":hash": {"S": entry.log_hash}},
    }
    if head is None:
        update["ConditionExpression"] = "attribute_not_exists(head_seq)"
    else:
        update["ConditionExpression"] = "head_seq = :expected"
        update["ExpressionAttributeValues"][":expected"] = {"N": str(head.seq)}
    put = {
        "TableName": table,
        "Item": _serialise(to_item(entry, chain)),
        "ConditionExpression": "attribute_not_exists(seq)",
    }
    return [{"Update": update}, {"Put": put}]


class _ChangeRefused(Exception):
    """The recorded change's own condition failed: nothing was written."""


def _lost_race(exc: Exception, entry: Entry, table: str, changes: int) -> bool:
    """True if a concurrent append won (retry); raises `_ChangeRefused` if the change's guard failed, and
    `AuditChainBroken` if the entry's seq is taken behind the head."""
    if aws_error_code(exc) != "TransactionCanceledException":
        raise _aws_failure(exc, table, "TransactWriteItems") from exc
    reasons = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons", [])]
    if "ConditionalCheckFailed" in reasons[:changes]:
        raise _ChangeRefused from exc
    if reasons[changes : changes + 2] == ["None", "ConditionalCheckFailed"]:
        raise AuditChainBroken(
            f"audit entry seq {entry.seq} already exists in {table} but the head says {entry.seq - 1}: "
            "the chain was tampered with; run `artifactctl audit verify`"
        ) from exc
    # A race is the head's condition or a conflicting transaction (or throttling); anything else (an item
    # too large, a validation error) is permanent: retrying it would only hide it as "busy".
    retryable = {
        "None",
        "ConditionalCheckFailed",
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    }
    unexpected = sorted({str(r) for r in reasons} - retryable)
    if unexpected:
        raise AwsError(f"audit append to {table} was cancelled ({', '.join(unexpected)}): {exc}") from exc
    return True


def append(
    client: Any,
    fields: Mapping[str, Any],
    *,
    table: str = AUDIT_TABLE,
    chain: str = CHAIN,
    clock: Callable[[], str] = utc_iso,
    attempts: int = MAX_APPEND_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    change: Change | None = None,
) -> Entry | None:
    """Append one entry of `fields` (see `entry.WRITER_FIELDS`) and return it; with `change`, in the same
    transaction as the change it records, and None (nothing written) if the change's condition failed.
    ValueError for bad fields; AuditChainBusy after `attempts` lost races; TransientAwsError / AwsError as
    the rest of the code."""
    from botocore.exceptions import BotoCoreError, ClientError

    check_fields(fields)
    for attempt in range(attempts):
        head = read_head(client, table, chain)
        previous = head or Head(0, GENESIS_HASH)
        entry = new_entry(fields, seq=previous.seq + 1, previous_log_hash=previous.hash, timestamp=clock())
        changed = [dict(item) for item in change(entry)] if change else []
        try:
            # botocore gives each call its own ClientRequestToken (the API's idempotency token), so its
            # retry of a call whose answer was lost is answered with the first outcome, never applied twice.
            client.transact_write_items(TransactItems=[*changed, *_transaction(entry, head, table, chain)])
            return entry
        except ClientError as exc:
            try:
                _lost_race(exc, entry, table, len(changed))
            except _ChangeRefused:
                return None
        except BotoCoreError as exc:
            raise _aws_failure(exc, table, "TransactWriteItems") from exc
        sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))
    raise AuditChainBusy(f"audit append to {table}: lost the race for the chain head {attempts} times; retry later")


def read_chain(
    client: Any, table: str = AUDIT_TABLE, chain: str = CHAIN, page_size: int | None = None
) -> tuple[list[Entry], Head | None]:
    """Every entry in seq order (Query, paginated, never Scan) and the head. Entries appended while the
    chain was read (beyond the head read first, and covered by the head read again) are left out: the
    chain is checked as it stood when the read began."""
    from botocore.exceptions import BotoCoreError, ClientError

    head = read_head(client, table, chain)
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "chain = :chain AND seq > :head",
        "ExpressionAttributeValues": {":chain": {"S": chain}, ":head": {"N": str(HEAD_SEQ)}},
        "ConsistentRead": True,
    }
    if page_size:
        query["PaginationConfig"] = {"PageSize": page_size}
    try:
        pages = client.get_paginator("query").paginate(**query)
        entries = [from_item(_deserialise(item)) for page in pages for item in page.get("Items", [])]
    except (ClientError, BotoCoreError) as exc:
        raise _aws_failure(exc, table, "Query") from exc
    known = head.seq if head else 0
    beyond = [e.seq for e in entries if isinstance(e.seq, int) and e.seq > known]
    if beyond:
        again = read_head(client, table, chain)
        if again is not None and again.seq >= max(beyond):
            entries = [e for e in entries if not (isinstance(e.seq, int) and e.seq > known)]
    return entries, head
