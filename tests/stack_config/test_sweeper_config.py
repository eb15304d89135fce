"""The sweeper's configuration (`maxAttempts`, `artifactNeverPromotedDays`): defaults, and bad values
refused before any resource is declared, naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from stack_config import ConfigError, load_stack_config
from tests.conftest import stack_bag

NS = "cdk-control-plane"


def problems_of(bag: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_stack_config(bag, source="test")
    return str(caught.value)


def test_the_example_tools_stack_configures_the_sweeper() -> None:
    config = load_stack_config(stack_bag("tools"))
    assert (config.max_attempts.stage, config.max_attempts.prod) == (3, 3)
    assert config.artifact_never_promoted_days == 7


def test_the_sweeper_has_defaults() -> None:
    bag = stack_bag("tools")
    del bag[f"{NS}:maxAttempts"], bag[f"{NS}:artifactNeverPromotedDays"]
    config = load_stack_config(bag)
    assert (config.max_attempts.stage, config.max_attempts.prod, config.artifact_never_promoted_days) == (3, 3, 7)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"stage": 0, "prod": 3}, "maxAttempts.stage"),
        ({"stage": 3, "prod": 11}, "maxAttempts.prod"),
        ({"stage": 3, "qa": 3}, "maxAttempts.qa"),
    ],
)
def test_attempts_out_of_range_are_refused_naming_the_key(value: dict[str, int], key: str) -> None:
    bag = stack_bag("tools")
    bag[f"{NS}:maxAttempts"] = value
    assert f"{NS}:{key}" in problems_of(bag)


@pytest.mark.parametrize("days", [0, 91, "soon"])
def test_never_promoted_days_out_of_range_are_refused_naming_the_key(days: Any) -> None:
    bag = stack_bag("tools")
    bag[f"{NS}:artifactNeverPromotedDays"] = days
    assert f"{NS}:artifactNeverPromotedDays" in problems_of(bag)
