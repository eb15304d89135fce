"""An anchor of the audit chain: the document the anchor function publishes every 10 minutes, and
publishing it to its destinations: three, or the bucket and the topic where the stack leaves CloudTrail
Lake out (spec: "Audit Logging & Cryptographic Anchoring", "Mandatory Anchor Publication Policy").

The document is JSON serialized with RFC 8785 (the same bytes in every destination); version 1 holds:
- the spec's fields: `last_entry_timestamp`, `anchor_hash` (the chain's root: the head's `head_hash`, the
  final SHA-256 link), `depth` (the head's `head_seq`: the number of entries), `last_log_hash` (the
  `log_hash` the entry at `depth` carries: `anchor_hash` again in an intact chain) and
  `high_privilege_actions`, a bounded summary of the entries after the previous anchor's depth whose
  action is high-privilege (`is_high_privilege`): a count per action and the last few entries;
- `anchored_at`, `chain`, and `previous_anchor_hash` / `previous_anchor_depth`: the SHA-256 of the
  previous anchor's RFC 8785 bytes (64 zeros for the first) and its depth, so that anchors form a chain of
  their own, which `anchor_check` verifies.

No Lambda and no boto3 here: the chain, the previous anchor and the destinations come in through
`AnchorReads` and `Destination` (`anchor_io` builds them). Every destination is attempted even when one
fails; then `AnchorNotPublished` names the failed ones, so the invocation fails (its error alarm fires)
while the others hold the anchor. An unchanged chain is anchored all the same: the inbox hears every
10 minutes, and a silent one means something is wrong.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import rfc8785

from functions.artifacts.errors import AwsError
from functions.timestamps import utc_iso

from . import ANCHORS_PREFIX, CHAIN, GENESIS_HASH
from .entry import Entry
from .store import AuditChainBroken, Head

ANCHOR_VERSION = 1
RECENT_ACTIONS = 10  # high-privilege entries the summary lists (the latest)
SUMMARY_SCAN_LIMIT = 2000  # entries one summary reads, newest first; beyond that it says `complete: false`
# An action is high-privilege if its name holds one of these words: overrides and break-glass, manual
# actions, rollbacks, and the corrections of the sweeper, its watchdog and the finalizer.
HIGH_PRIVILEGE_WORDS = (
    "override",
    "break_glass",
    "manual",
    "rollback",
    "requeue",
    "exhausted",
    "correct",
    "sweeper",
    "watchdog",
    "finalizer",
)


def is_high_privilege(action: Any) -> bool:
    name = str(action or "").lower().replace("-", "_")
    return any(word in name for word in HIGH_PRIVILEGE_WORDS)


def canonical(document: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps(dict(document))


def document_hash(document: Mapping[str, Any]) -> str:
    """What the next anchor links to: the SHA-256 (hex) of the document's RFC 8785 bytes."""
    return hashlib.sha256(canonical(document)).hexdigest()


def object_key(document: Mapping[str, Any]) -> str:
    """`audit-log-anchors/20261208T005000Z-000000000012-<hash16>.json`: keys sort by time, then depth; the
    hash keeps two anchors of one second apart."""
    moment = str(document["anchored_at"]).replace("-", "").replace(":", "")
    return f"{ANCHORS_PREFIX}{moment}-{int(document['depth']):012d}-{document_hash(document)[:16]}.json"


@dataclass(frozen=True)
class StoredAnchor:
    key: str
    document: Mapping[str, Any]


class AnchorReads(Protocol):
    """What making an anchor reads (`anchor_io.AnchorSources`)."""

    def head(self) -> Head | None: ...

    def entry(self, seq: int) -> Entry | None: ...

    def entries_between(self, after: int, up_to: int, limit: int) -> list[Entry]:
        """Entries with `after < seq <= up_to`, newest first, at most `limit`."""
        ...

    def previous_anchor(self) -> StoredAnchor | None: ...


@dataclass(frozen=True)
class Destination:
    name: str  # s3 | sns | cloudtrail
    send: Callable[[Mapping[str, Any]], str]  # the anchor document -> where it now is (key, message id...)


class AnchorNotPublished(AwsError):
    """One destination or more refused the anchor; the others hold it."""

    def __init__(self, failures: Mapping[str, str], delivered: Mapping[str, str]) -> None:
        self.failures, self.delivered = dict(failures), dict(delivered)
        held = ", ".join(sorted(delivered)) or "none"
        lines = "; ".join(f"{name}: {why}" for name, why in sorted(failures.items()))
        super().__init__(f"audit anchor not published to {', '.join(sorted(failures))} ({lines}); held by: {held}")


def summary(entries: Sequence[Entry], since_depth: int, complete: bool) -> dict[str, Any]:
    """The high-privilege entries among `entries` (newest first): a count per action, the latest few."""
    chosen = [e for e in entries if is_high_privilege(e.action)]
    recent = [
        {"seq": e.seq, "action": e.action, "service": e.service, "commit": e.commit, "environment": e.environment}
        for e in chosen[:RECENT_ACTIONS]
    ]
    return {
        "since_depth": since_depth,
        "entries_read": len(entries),
        "complete": complete,
        "total": len(chosen),
        "by_action": dict(sorted(Counter(str(e.action) for e in chosen).items())),
        "recent": recent,
    }


def build_anchor(reads: AnchorReads, anchored_at: str) -> tuple[dict[str, Any], str | None]:
    """The anchor of the chain as it stands, and a problem to raise once it is published (the head
    disagrees with its last entry: tampering, which the anchor records as read)."""
    head = reads.head() or Head(0, GENESIS_HASH)
    previous = reads.previous_anchor()
    since = int(previous.document.get("depth", 0)) if previous else 0
    since = min(since, head.seq)  # a chain shorter than the last anchor: summarise all of it
    last = reads.entry(head.seq) if head.seq else None
    entries = reads.entries_between(since, head.seq, SUMMARY_SCAN_LIMIT) if head.seq else []
    document = {
        "anchor_version": ANCHOR_VERSION,
        "chain": CHAIN,
        "anchored_at": anchored_at,
        "depth": head.seq,
        "anchor_hash": head.hash,
        "last_entry_timestamp": last.timestamp if last else None,
        "last_log_hash": last.log_hash if last else None,
        "high_privilege_actions": summary(entries, since, complete=len(entries) >= head.seq - since),
        "previous_anchor_hash": document_hash(previous.document) if previous else GENESIS_HASH,
        "previous_anchor_depth": since if previous else 0,
    }
    problem = None
    if head.seq and (last is None or last.log_hash != head.hash):
        found = "no entry" if last is None else f"an entry whose log_hash is {last.log_hash!s:.16}..."
        problem = f"the audit chain head says depth {head.seq}, hash {head.hash:.16}..., but seq {head.seq} has {found}"
    return document, problem


@dataclass(frozen=True)
class Published:
    document: Mapping[str, Any]
    delivered: Mapping[str, str]  # destination -> where

    def result(self) -> dict[str, Any]:
        fields = ("anchored_at", "depth", "anchor_hash", "previous_anchor_hash")
        return {**{f: self.document[f] for f in fields}, "delivered": dict(self.delivered)}


def publish_anchor(
    reads: AnchorReads, destinations: Sequence[Destination], clock: Callable[[], str] = utc_iso
) -> Published:
    """Anchor the chain once: build the document, send it to every destination. Raises
    `AnchorNotPublished` if one or more failed (after trying them all), `AuditChainBroken` if the head
    disagreed with its last entry (after publishing what it read); reading failures raise before any send."""
    document, problem = build_anchor(reads, clock())
    delivered: dict[str, str] = {}
    failures: dict[str, str] = {}
    for destination in destinations:
        try:
            delivered[destination.name] = destination.send(document)
        except Exception as exc:  # every destination is tried; the failure is reported, not swallowed
            failures[destination.name] = f"{type(exc).__name__}: {exc}"
    if failures:
        raise AnchorNotPublished(failures, delivered)
    if problem:
        raise AuditChainBroken(f"{problem}; anchored as read, run `artifactctl audit verify`")
    return Published(document, delivered)
