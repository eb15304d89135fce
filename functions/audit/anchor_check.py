"""Checking the chain against its anchors: what the chain alone cannot show.

A chain rewritten from some entry to its end, hashes, links and head redone, verifies by its own hashes
(`verify`). An anchor taken before the rewrite still holds the old root at its depth, outside the reach
of whoever rewrote the table (Object Lock, the external inbox, CloudTrail Lake). Findings, at the seq
named (the first position in question):
- `rewritten`: the entry at an anchor's depth does not carry the anchor's hash; the rewrite began after
  the deepest anchor below it that still agrees (so between that depth + 1 and this one);
- `truncated`: an anchor is deeper than the chain: entries were cut off its end, the head redone;
- `deleted`: the chain has no entry at an anchor's depth, but entries after it;
- `head`: the anchor disagrees with itself (its `anchor_hash` is not its `last_log_hash`): it was altered,
  or when anchored the head disagreed with its last entry (the anchor records both as read);
- `anchors`: the anchors' own chain is broken (an anchor removed, replaced or overwritten); seq is the
  depth of the anchor concerned.
Pure: the anchors come in as bytes (`anchor_io.read_anchor_versions`, or a pasted message).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import GENESIS_HASH
from .anchors import document_hash
from .entry import Entry
from .verify import Finding

_HASH = re.compile(r"^[0-9a-f]{64}\Z")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
MAX_MESSAGE_BYTES = 256 * 1024  # SNS's largest message


class MalformedAnchor(ValueError):
    pass


@dataclass(frozen=True)
class Anchor:
    where: str  # s3://bucket/key[?versionId=...] or the pasted file
    document: Mapping[str, Any]

    @property
    def depth(self) -> int:
        return int(self.document["depth"])

    @property
    def anchor_hash(self) -> str:
        return str(self.document["anchor_hash"])

    @property
    def anchored_at(self) -> str:
        return str(self.document["anchored_at"])

    @property
    def hash(self) -> str:
        return document_hash(self.document)

    def label(self) -> str:
        return f"the anchor of {self.anchored_at} (depth {self.depth}, {self.where})"


def _json_object(text: str) -> Any:
    """The anchor in `text`: the JSON document itself, an SNS envelope around it (`email-json`, a
    notification's `Message`), or an e-mail body with the document between its first `{` and last `}`."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < start:
            raise MalformedAnchor("no JSON object in it") from None
        try:
            value = json.loads(text[start : end + 1])
        except json.JSONDecodeError as exc:
            raise MalformedAnchor(f"its JSON does not parse ({exc.msg} at character {exc.pos})") from None
    if isinstance(value, dict) and value.get("Type") == "Notification" and isinstance(value.get("Message"), str):
        return _json_object(value["Message"])
    return value


def _check_fields(document: Any) -> None:
    if not isinstance(document, dict) or document.get("anchor_version") != 1:
        raise MalformedAnchor("not an audit anchor (expected a JSON object with anchor_version 1)")
    for name in ("depth", "previous_anchor_depth"):
        value = document.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise MalformedAnchor(f"{name} must be a whole number, got {value!r:.80}")
    for name in ("anchor_hash", "previous_anchor_hash"):
        if not _HASH.match(str(document.get(name))):
            raise MalformedAnchor(f"{name} must be 64 lowercase hex digits, got {document.get(name)!r:.80}")
    if not _ISO.match(str(document.get("anchored_at"))):
        raise MalformedAnchor(f"anchored_at must be like 2026-12-08T00:50:00Z, got {document.get('anchored_at')!r:.80}")
    if document.get("last_log_hash") is not None and not _HASH.match(str(document["last_log_hash"])):
        raise MalformedAnchor(f"last_log_hash must be 64 lowercase hex digits, got {document['last_log_hash']!r:.80}")


def parse_anchor(data: bytes, where: str) -> Anchor:
    """An anchor from bytes; `MalformedAnchor` saying what is wrong with them."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MalformedAnchor(f"larger than {MAX_MESSAGE_BYTES} bytes, an anchor is a few hundred")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedAnchor("not UTF-8 text") from None
    document = _json_object(text)
    _check_fields(document)
    try:
        document_hash(document)
    except (TypeError, ValueError) as exc:
        raise MalformedAnchor(f"cannot be canonicalized (RFC 8785): {exc}") from None
    return Anchor(where, document)


def _disagreement(anchor: Anchor, by_seq: Mapping[int, Entry], last_seq: int, agreed: int) -> Finding | None:
    """How the chain disagrees with one anchor (`agreed`: the deepest agreeing anchor's depth below it)."""
    depth, expected = anchor.depth, anchor.anchor_hash
    last_log_hash = anchor.document.get("last_log_hash")
    if depth == 0:
        return None if expected == GENESIS_HASH else Finding(1, "anchors", f"{anchor.label()} is empty, not genesis")
    if last_log_hash not in (None, expected):
        detail = (
            f"{anchor.label()} disagrees with itself: its anchor_hash {expected:.16}... is not its last_log_hash "
            f"{last_log_hash:.16}... (the anchor was altered, or the head disagreed with seq {depth} when anchored)"
        )
        return Finding(depth, "head", detail)
    entry = by_seq.get(depth)
    if entry is None and depth > last_seq:
        detail = f"{anchor.label()}: the chain ends at seq {last_seq}: entries cut off its end, the head redone"
        return Finding(last_seq + 1, "truncated", detail)
    if entry is None:
        return Finding(depth, "deleted", f"{anchor.label()}: the chain has no entry at seq {depth}")
    if entry.log_hash != expected or entry.timestamp != anchor.document.get("last_entry_timestamp"):
        detail = (
            f"seq {depth} does not carry the hash of {anchor.label()} ({expected:.16}...): an entry from seq "
            f"{agreed + 1} to {depth} was rewritten, and every hash after it and the head redone"
            + (f" (the chain agrees with the anchor at depth {agreed})" if agreed else "")
        )
        return Finding(agreed + 1, "rewritten", detail)
    return None


def check_against_chain(anchors: Sequence[Anchor], entries: Sequence[Entry]) -> list[tuple[Anchor, Finding]]:
    """Every anchor the chain disagrees with, and how, first position first."""
    by_seq: dict[int, Entry] = {}
    for entry in entries:
        if isinstance(entry.seq, int) and not isinstance(entry.seq, bool):
            by_seq.setdefault(entry.seq, entry)
    last_seq = max(by_seq, default=0)
    found, agreeing = [], [0]
    for anchor in sorted(anchors, key=lambda a: a.depth):
        agreed = max(d for d in agreeing if d < anchor.depth) if anchor.depth else 0
        finding = _disagreement(anchor, by_seq, last_seq, agreed)
        if finding:
            found.append((anchor, finding))
        else:
            agreeing.append(anchor.depth)
    return sorted(found, key=lambda pair: pair[1].seq)


def check_anchor_chain(anchors: Sequence[Anchor]) -> list[Finding]:
    """The anchors' own chain, in key order: each links to the one before it (the first to the genesis),
    never less deep; one key holds one document (a version that differs is an overwrite)."""
    findings: list[Finding] = []
    distinct: list[Anchor] = []
    for anchor in anchors:
        key = anchor.where.split("?", 1)[0]
        same_key = [a for a in distinct if a.where.split("?", 1)[0] == key]
        if same_key and any(a.hash != anchor.hash for a in same_key):
            findings.append(Finding(anchor.depth, "anchors", f"{key} was overwritten: a later version differs"))
        if not any(a.hash == anchor.hash for a in same_key):
            distinct.append(anchor)
    for i, anchor in enumerate(distinct):
        before = distinct[i - 1] if i else None
        expected = before.hash if before else GENESIS_HASH
        if anchor.document["previous_anchor_hash"] != expected:
            what = f"the anchor before it ({before.where})" if before else "the genesis (it is the first)"
            detail = f"{anchor.label()} does not link to {what}: an anchor was removed or replaced"
            findings.append(Finding(anchor.depth, "anchors", detail))
        elif before and anchor.depth < before.depth:
            findings.append(Finding(anchor.depth, "anchors", f"{anchor.label()} is less deep than {before.label()}"))
    return findings
