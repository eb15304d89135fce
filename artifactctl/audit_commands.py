"""`artifactctl audit verify | log`: check the audit hash chain, list its entries."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import EXIT_INVALID, EXIT_OK, UsageError, aws_client, read_file, region_of


def _chain(args: argparse.Namespace) -> tuple[list[Any], Any]:
    from functions.audit.store import read_chain

    return read_chain(aws_client("dynamodb", region_of(args)), args.table)


def _anchors_bucket(args: argparse.Namespace) -> str:
    """`--anchors-bucket`, or the tools stack's: `cdk-audit-log-anchors-<account>-<region>` of the caller."""
    from functions.audit import ANCHORS_BUCKET
    from functions.naming import ToolsNames

    if args.anchors_bucket:
        return args.anchors_bucket
    region = region_of(args)
    account = aws_client("sts", region).get_caller_identity()["Account"]
    return ToolsNames("-", account, region).bucket(ANCHORS_BUCKET)


def _pasted(args: argparse.Namespace) -> Any:
    """The anchor pasted from the inbox (`--anchor-message`), read and checked before any AWS call."""
    from functions.audit.anchor_check import MAX_MESSAGE_BYTES, MalformedAnchor, parse_anchor

    if args.anchor_message is None:
        return None
    where = f"--anchor-message {args.anchor_message}"
    data = read_file(args.anchor_message, "--anchor-message", limit=MAX_MESSAGE_BYTES)
    try:
        return parse_anchor(data, where)
    except MalformedAnchor as exc:
        raise UsageError(f"{where}: not an audit anchor message: {exc}") from None


def _bucket_anchors(args: argparse.Namespace) -> tuple[str, list[Any], list[Any]]:
    """The bucket, every anchor in it (each version) and the findings of those that cannot be read."""
    from functions.audit.anchor_check import MalformedAnchor, parse_anchor
    from functions.audit.anchor_io import read_anchor_versions
    from functions.audit.verify import Finding

    bucket = _anchors_bucket(args)
    anchors, unreadable = [], []
    for key, version, data in read_anchor_versions(aws_client("s3", region_of(args)), bucket):
        where = f"s3://{bucket}/{key}" + (f"?versionId={version}" if version else "")
        try:
            anchors.append(parse_anchor(data, where))
        except MalformedAnchor as exc:
            unreadable.append(Finding(0, "anchors", f"{where} is not a readable anchor: {exc}"))
    return bucket, anchors, unreadable


def _intact(entries: list[Any], seq: int) -> tuple[int, str]:
    from functions.audit import GENESIS_HASH

    depth = max(seq - 1, 0)
    root = next((e.log_hash for e in entries if e.seq == depth), GENESIS_HASH) if depth else GENESIS_HASH
    return depth, root


def _print_anchors_ok(bucket: str, anchors: list[Any], pasted: Any) -> None:
    if anchors:
        latest = max(anchors, key=lambda a: (a.depth, a.anchored_at))
        print(
            f"OK: {len(anchors)} anchor(s) in s3://{bucket} agree with the chain and link to each other "
            f"(the latest: depth {latest.depth}, anchored {latest.anchored_at})"
        )
    else:
        print(f"WARNING: no anchor in s3://{bucket} yet: the chain was checked by its own hashes alone")
    if pasted is not None:
        held = next((a.where for a in anchors if a.hash == pasted.hash), None)
        where = f"the bucket holds it ({held})" if held else "the bucket does not hold it (its write there failed?)"
        print(f"OK: the pasted anchor (depth {pasted.depth}, anchored {pasted.anchored_at}) agrees; {where}")


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from functions.audit.anchor_check import check_against_chain, check_anchor_chain
    from functions.audit.verify import verify

    pasted = _pasted(args)
    # The anchors first, then the chain: an anchor written while the chain is read is then never deeper than
    # the entries read (read the other way round, it would look like a truncation).
    bucket, anchors, unreadable = _bucket_anchors(args)
    entries, head = _chain(args)
    report = verify(entries, head)
    disagreements = check_against_chain([*anchors, *([pasted] if pasted else [])], entries)
    positions = sorted([*([report.finding] if report.finding else []), *(f for _, f in disagreements)], key=_seq)
    broken = [*unreadable, *check_anchor_chain(anchors)]  # the anchors' own chain
    for finding in [*positions[:1], *broken]:
        print(finding.line())
    if positions:
        first = positions[0]
        depth, root = (report.depth, report.root) if first is report.finding else _intact(entries, first.seq)
        print(f"(the chain is intact up to depth {depth}, root {root})")
        if len(positions) > 1:
            print(f"({len(positions) - 1} more finding(s) after it; the first is where the chain was changed)")
    if positions or broken:
        return EXIT_INVALID
    print(f"OK: depth {report.depth}, root {report.root}")
    _print_anchors_ok(bucket, anchors, pasted)
    return EXIT_OK


def _seq(finding: Any) -> int:
    return finding.seq


def _since(text: str | None) -> str | None:
    from functions.timestamps import parse_iso, utc_iso

    if text is None:
        return None
    try:
        return utc_iso(parse_iso(text))
    except ValueError:
        raise UsageError(
            f"--since {text!r}: expected an ISO 8601 time with its offset, like 2026-11-23T04:24:49Z"
        ) from None


def _line(entry: Any) -> str:
    target = " ".join(
        part
        for part in (
            f"{entry.service}@{entry.commit[:12]}" if entry.service and entry.commit else entry.service,
            entry.environment,
            f"{entry.before_status or '-'} -> {entry.after_status or '-'}" if entry.after_status else None,
        )
        if part
    )
    reason = f"  ({entry.reason})" if entry.reason else ""
    return f"{entry.seq:>6}  {entry.timestamp}  {entry.action}  {target}  by {entry.actor}{reason}"


def cmd_audit_log(args: argparse.Namespace) -> int:
    since = _since(args.since)
    entries, _ = _chain(args)
    chosen = [
        e
        for e in entries
        if (args.service is None or e.service == args.service)
        and (since is None or (isinstance(e.timestamp, str) and e.timestamp >= since))
    ]
    if args.json:
        print(json.dumps([e.to_dict() for e in chosen], indent=2, ensure_ascii=False))
    elif not chosen:
        print(
            "no audit entries" + (f" of {args.service}" if args.service else "") + (f" since {since}" if since else "")
        )
    else:
        print("\n".join(_line(e) for e in chosen))
    return EXIT_OK
