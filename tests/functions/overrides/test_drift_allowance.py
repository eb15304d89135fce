"""allow_drift is one run's: the drift gate of the execution the override named deploys on drift, no
other run of the release (the next attempt included) and no other mode."""

from __future__ import annotations

import pytest

from functions.deployer.codebuild import drift_allowed
from functions.deployer.request import Mode, RunVariables
from functions.pipeline.lifecycle import Environment

NAME = "orders-" + "b" * 40 + "-prod-2"


def _variables(mode: Mode = Mode.DRIFT_CHECK, deployment_id: str = NAME) -> RunVariables:
    return RunVariables(
        service="orders", commit_sha="b" * 40, environment=Environment.PROD, mode=mode, deployment_id=deployment_id
    )


@pytest.mark.parametrize(
    ("item", "variables", "allowed"),
    [
        ({"drift_allowed_for": NAME}, _variables(), True),
        ({"drift_allowed_for": NAME}, _variables(deployment_id=NAME[:-1] + "3"), False),  # the next attempt
        ({"drift_allowed_for": NAME}, _variables(Mode.DEPLOY), False),
        ({}, _variables(), False),
        ({"drift_allowed_for": ""}, _variables(deployment_id=""), False),
    ],
)
def test_only_the_named_runs_drift_gate_may_deploy_on_drift(item: dict, variables: RunVariables, allowed: bool) -> None:
    assert drift_allowed(item, variables) is allowed
