"""`functions.timestamps`: the one written form of a time, and reading it (and Step Functions') back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from functions.timestamps import parse_iso, utc_iso


def test_times_are_written_in_utc_to_the_second_with_a_z() -> None:
    assert utc_iso(datetime(2026, 11, 23, 4, 24, 49, 987654, tzinfo=UTC)) == "2026-11-23T04:24:49Z"


def test_now_is_the_default() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    written = parse_iso(utc_iso())
    assert before <= written <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T04:24:49Z", datetime(2026, 11, 23, 4, 24, 49, tzinfo=UTC)),
        ("2026-11-23T04:24:49.25Z", datetime(2026, 11, 23, 4, 24, 49, 250000, tzinfo=UTC)),
        ("2026-11-23T04:24:49.123+00:00", datetime(2026, 11, 23, 4, 24, 49, 123000, tzinfo=UTC)),
        ("2026-11-23T05:24:49+01:00", datetime(2026, 11, 23, 4, 24, 49, tzinfo=UTC)),
    ],
)
def test_iso_times_are_read_as_aware_datetimes(text: str, expected: datetime) -> None:
    parsed = parse_iso(text)
    assert parsed == expected and parsed.utcoffset() is not None


def test_a_written_time_reads_back_as_the_same_second() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(0)))
    assert parse_iso(utc_iso(moment)) == moment


@pytest.mark.parametrize("text", ["2026-11-23T04:24:49", "yesterday", ""])
def test_a_time_without_an_offset_or_not_a_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)
