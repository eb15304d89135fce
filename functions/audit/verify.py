"""Checking a chain: every entry's `log_hash`, every link, and the head; the FIRST place it was tampered with.

Kinds of finding, at the seq named:
- `edited`: the entry's content no longer hashes to its `log_hash`.
- `deleted`: a seq is missing (a gap), or the entry links to a hash no entry has (the entry before it was
  deleted and the rest renumbered; or the one before it was rewritten AND re-hashed, which only the next
  link shows, so the seq named is one after the rewritten entry).
- `inserted`: an entry is there twice (a duplicate seq), or the entries from the seq named up to the entry
  after them were slipped in: that entry still links to an earlier entry than its predecessor.
- `reordered`: seqs go backwards, or an entry links to an entry that comes after it.
- `truncated`: the head says the chain is deeper than its last entry (entries cut off the end).
- `head`: the head is missing, or disagrees with the last entry in another way.
A chain rewritten from some entry to its end, hashes, links and head included, is consistent: only the
external anchors (not built yet) can show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import GENESIS_HASH
from .entry import Entry, entry_hash
from .store import Head


@dataclass(frozen=True)
class Finding:
    seq: int
    kind: str  # edited | deleted | inserted | reordered | truncated | head
    detail: str

    def line(self) -> str:
        return f"FAIL audit chain seq {self.seq} {self.kind}: {self.detail}"


@dataclass(frozen=True)
class Report:
    depth: int  # entries checked
    root: str  # the last entry's log_hash (GENESIS_HASH for an empty chain)
    finding: Finding | None  # the first one; None: the chain is intact

    @property
    def ok(self) -> bool:
        return self.finding is None


def _link_finding(entries: Sequence[Entry], i: int, positions: dict[str, int]) -> Finding | None:
    entry = entries[i]
    expected = entries[i - 1].log_hash if i else GENESIS_HASH
    if entry.previous_log_hash == expected:
        return None
    target = positions.get(entry.previous_log_hash)
    if target is None:
        detail = (
            f"links to {entry.previous_log_hash!s:.16}..., a hash no entry has (deleted, or the one before re-hashed)"
        )
        return Finding(entry.seq, "deleted", detail)
    if target < i - 1:
        first = entries[target + 1].seq
        linked = f"seq {entries[target].seq}" if target >= 0 else "the genesis"
        detail = f"seq {entry.seq} links to {linked}, skipping {i - 1 - target} entry(ies) from seq {first}: inserted"
        return Finding(first, "inserted", detail)
    return Finding(entry.seq, "reordered", f"links to seq {entries[target].seq}, which comes after it")


def _entry_finding(entries: Sequence[Entry], i: int, positions: dict[str, int]) -> Finding | None:
    """Order first (seq, then link: what was moved, slipped in or taken out), then the entry's own hash."""
    entry, previous = entries[i], (entries[i - 1].seq if i else 0)
    if not isinstance(entry.seq, int) or isinstance(entry.seq, bool):
        return Finding(previous + 1, "edited", f"the entry after seq {previous} has no integer seq")
    if i and entry.seq == previous:
        return Finding(entry.seq, "inserted", "two entries have this seq")
    if entry.seq < previous:
        return Finding(entry.seq, "reordered", f"comes after seq {previous}")
    if entry.seq > previous + 1:
        if any(e.seq == previous + 1 for e in entries[i + 1 :]):
            return Finding(previous + 1, "reordered", f"comes after seq {entry.seq}")
        missing = f"seq {previous + 1}" + (f"..{entry.seq - 1}" if entry.seq - 1 > previous + 1 else "")
        return Finding(previous + 1, "deleted", f"{missing} missing: seq {entry.seq} follows seq {previous}")
    finding = _link_finding(entries, i, positions)
    if finding is None and entry_hash(entry) != entry.log_hash:
        return Finding(entry.seq, "edited", "its content does not hash to its log_hash")
    return finding


def _head_finding(entries: Sequence[Entry], head: Head | None) -> Finding | None:
    last = entries[-1] if entries else None
    depth, root = (last.seq, last.log_hash) if last else (0, GENESIS_HASH)
    if head is None:
        return Finding(1, "head", f"no chain head, but {len(entries)} entries") if entries else None
    if head.seq > depth:
        return Finding(depth + 1, "truncated", f"the head says depth {head.seq}, the chain ends at seq {depth}")
    if head.seq < depth:
        return Finding(head.seq + 1, "inserted", f"entries beyond the head (depth {head.seq}) up to seq {depth}")
    if head.hash != root:
        return Finding(depth, "head", f"the head's hash {head.hash:.16}... is not seq {depth}'s log_hash")
    return None


def verify(entries: Sequence[Entry], head: Head | None) -> Report:
    """The first finding of `entries` (in the order read: by seq) and `head`, or none."""
    positions = {GENESIS_HASH: -1}
    for i, entry in enumerate(entries):
        positions.setdefault(entry.log_hash, i)
    for i in range(len(entries)):
        finding = _entry_finding(entries, i, positions)
        if finding:  # the entries before the seq it names are intact
            intact = min(max(finding.seq - 1, 0), i)
            return Report(intact, entries[intact - 1].log_hash if intact else GENESIS_HASH, finding)
    root = entries[-1].log_hash if entries else GENESIS_HASH
    return Report(depth=len(entries), root=root, finding=_head_finding(entries, head))
