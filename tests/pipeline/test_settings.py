"""A misconfigured function fails at cold start, naming the variable."""

from __future__ import annotations

import pytest

from functions.pipeline.settings import Settings, SettingsError


def test_required_variables_are_named() -> None:
    with pytest.raises(SettingsError, match="TABLE_NAME is required"):
        Settings.from_environ({"EVENT_BUS_NAME": "bus"})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAX_ROLLBACK_ATTEMPTS", "two", "MAX_ROLLBACK_ATTEMPTS='two': expected an integer"),
        ("MAX_ROLLBACK_ATTEMPTS", "0", "MAX_ROLLBACK_ATTEMPTS=0: expected at least 1"),
        ("SERVICE_ACCOUNTS", "{oops", "SERVICE_ACCOUNTS: not JSON"),
    ],
)
def test_bad_values_are_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_environ({"TABLE_NAME": "t", "EVENT_BUS_NAME": "b", variable: value})


def test_defaults_follow_the_spec() -> None:
    settings = Settings.from_environ({"TABLE_NAME": "t", "EVENT_BUS_NAME": "b"})
    assert settings.max_rollback_attempts == 2 and settings.rollback_base_delay_seconds == 60
