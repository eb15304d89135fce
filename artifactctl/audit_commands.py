"""`artifactctl audit verify | log`: check the audit hash chain, list its entries."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import EXIT_INVALID, EXIT_OK, UsageError, aws_client, region_of


def _chain(args: argparse.Namespace) -> tuple[list[Any], Any]:
    from functions.audit.store import read_chain

    return read_chain(aws_client("dynamodb", region_of(args)), args.table)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from functions.audit.verify import verify

    report = verify(*_chain(args))
    if report.finding:
        print(report.finding.line())
        print(f"(the chain is intact up to depth {report.depth}, root {report.root})")
        return EXIT_INVALID
    print(f"OK: depth {report.depth}, root {report.root}")
    return EXIT_OK


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
