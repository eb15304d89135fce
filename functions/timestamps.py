"""The one way times are written: ISO 8601 in UTC to the second, `2026-11-23T04:24:49Z`.

Manifests (`build_time`), metadata items (`recorded_at`, ...) and the pipeline all write this form, so
that a string comparison orders times and every reader parses the same thing. Pure: no AWS.
"""

from __future__ import annotations

from datetime import UTC, datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_iso(moment: datetime | None = None) -> str:
    """`moment` (default: now) as `YYYY-MM-DDTHH:MM:SSZ`; fractions of a second are dropped."""
    return (moment or datetime.now(UTC)).strftime(ISO_FORMAT)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time with an offset or `Z` (ours, or Step Functions' with fractions) as an aware
    datetime; raises ValueError if `text` is not one."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment
