"""One audit entry: its fields, its RFC 8785 canonical bytes and `log_hash`, and its DynamoDB item.

`log_hash` is the SHA-256 (lowercase hex) of the RFC 8785 serialization of every attribute of the entry
but `log_hash` itself (and the partition key `chain`): a null field is serialized as null, and an attribute
nobody wrote (added to the item by hand) is serialized too, so adding one breaks the hash like an edit.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import rfc8785

# What a writer gives `store.append` (the rest, seq, timestamp and the hashes, the chain sets).
WRITER_FIELDS = (
    "actor",  # principal ARN or function name
    "action",
    "service",
    "commit",
    "environment",
    "execution",  # the pipeline run (Step Functions execution ARN) the change belongs to, if any
    "before_status",
    "after_status",
    "reason",
    "signed_request",  # the signed request's JSON text exactly as submitted, if any
)
REQUIRED = ("actor", "action")
MAX_FIELD_CHARS = 4096
MAX_SIGNED_REQUEST_CHARS = 64 * 1024


@dataclass(frozen=True)
class Entry:
    seq: int
    timestamp: str  # ISO 8601 UTC to the second (functions.timestamps.utc_iso)
    actor: str
    action: str
    service: str | None
    commit: str | None
    environment: str | None
    execution: str | None
    before_status: str | None
    after_status: str | None
    reason: str | None
    signed_request: str | None
    previous_log_hash: str
    log_hash: str
    extra: Mapping[str, Any] = field(default_factory=dict)  # attributes no writer sets (tampering)

    def document(self) -> dict[str, Any]:
        """Every attribute but `log_hash`: what the hash covers."""
        fields = {name: getattr(self, name) for name in ("seq", "timestamp", *WRITER_FIELDS, "previous_log_hash")}
        return {**self.extra, **fields}

    def to_dict(self) -> dict[str, Any]:
        return {**self.document(), "log_hash": self.log_hash}


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps({k: v for k, v in document.items() if k != "log_hash"})


def entry_hash(entry: Entry) -> str | None:
    """The SHA-256 hex of the entry's canonical bytes; None if it has none (a value RFC 8785 cannot encode,
    which no writer produces)."""
    try:
        return hashlib.sha256(canonical_bytes(entry.document())).hexdigest()
    except (ValueError, TypeError):
        return None


def check_fields(fields: Mapping[str, Any]) -> dict[str, str | None]:
    """The writer's fields, complete (absent ones None); ValueError naming the first wrong one."""
    unknown = sorted(set(fields) - set(WRITER_FIELDS))
    if unknown:
        raise ValueError(f"audit entry: unknown field(s) {', '.join(unknown)}; expected some of {WRITER_FIELDS}")
    checked: dict[str, str | None] = {}
    for name in WRITER_FIELDS:
        value = fields.get(name)
        limit = MAX_SIGNED_REQUEST_CHARS if name == "signed_request" else MAX_FIELD_CHARS
        if value is None and name in REQUIRED or value == "":
            raise ValueError(f"audit entry: {name} must be a non-empty string")
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise ValueError(f"audit entry: {name} must be a string of at most {limit} characters, got {value!r:.80}")
        checked[name] = value
    return checked


def new_entry(fields: Mapping[str, Any], *, seq: int, previous_log_hash: str, timestamp: str) -> Entry:
    draft = Entry(
        seq=seq, timestamp=timestamp, previous_log_hash=previous_log_hash, log_hash="", **check_fields(fields)
    )
    return Entry(**{**draft.__dict__, "log_hash": entry_hash(draft)})


def to_item(entry: Entry, chain: str) -> dict[str, Any]:
    """The DynamoDB item (resource-layer values); None fields are left out."""
    item = {k: v for k, v in entry.to_dict().items() if v is not None}
    return {"chain": chain, **item}


def _plain(value: Any) -> Any:
    """A deserialized DynamoDB value as JSON: integral numbers as int, sets as sorted lists, bytes as base64."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, bytes | bytearray) or type(value).__name__ == "Binary":
        return base64.b64encode(bytes(getattr(value, "value", value))).decode()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def from_item(item: Mapping[str, Any]) -> Entry:
    """The entry an item holds, whatever it holds: a field that is missing reads as None, an unknown
    attribute is kept in `extra` (either breaks the hash, which `verify` reports)."""
    plain = {k: _plain(v) for k, v in item.items() if k != "chain"}
    known = ("seq", "timestamp", *WRITER_FIELDS, "previous_log_hash", "log_hash")
    values = {name: plain.pop(name, None) for name in known}
    return Entry(**values, extra=plain)
