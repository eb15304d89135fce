"""The deployer's request and modes: one spelling per mode, the per-run variables validated by name,
and the request refusing what it cannot do before any AWS call."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from functions.deployer.errors import UsageError
from functions.deployer.request import DEPLOYER_MODES, DeployRequest, Mode, RunVariables, StackPolicy, role_account
from functions.pipeline.lifecycle import Environment
from functions.pipeline.settings import SettingsError

from .conftest import PROD_ACCOUNT, REGION, STACK_POLICY, deploy_role_arn, execution_role_arn, external_id

PROJECT = Path(__file__).resolve().parents[3]
RUN = {
    "SERVICE": "orders",
    "COMMIT_SHA": "c" * 40,
    "ENVIRONMENT": "prod",
    "MODE": "drift-check",
    "DEPLOYMENT_ID": "orders-cccccccccccccccccccccccccccccccccccccccc-prod-1",
}


def request(tmp_path: Path, **changes: object) -> DeployRequest:
    base = DeployRequest(
        cdk_out=tmp_path,
        service="orders",
        environment=Environment.PROD,
        account=PROD_ACCOUNT,
        region=REGION,
        role_arn=deploy_role_arn("prod"),
        external_id=external_id("prod"),
        execution_role_arn=execution_role_arn("prod"),
        deployment_id="d-1",
    )
    return replace(base, **changes)


def test_the_modes_are_the_state_machines_wire_values() -> None:
    assert [m.value for m in Mode] == ["deploy", "drift-check", "rollback", "test"]
    assert Mode("drift-check") is Mode.DRIFT_CHECK and Mode.DRIFT_CHECK == "drift-check"
    assert Mode.TEST not in DEPLOYER_MODES


def test_the_wire_strings_become_the_enums(tmp_path: Path) -> None:
    built = request(tmp_path, environment="prod", mode="rollback")
    assert built.environment is Environment.PROD and built.mode is Mode.ROLLBACK
    with pytest.raises(UsageError, match="mode 'drift' is not one of"):
        request(tmp_path, mode="drift")


def test_only_a_prod_deploy_gates_on_drift(tmp_path: Path) -> None:
    assert request(tmp_path).detect_drift
    assert not request(tmp_path, environment=Environment.STAGE).detect_drift
    assert not request(tmp_path, mode=Mode.ROLLBACK).detect_drift
    assert not request(tmp_path, mode=Mode.DRIFT_CHECK).detect_drift  # the gate itself deploys nothing


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": Mode.TEST}, "--mode test: the deployer runs deploy, drift-check, rollback"),
        ({"account": "3333"}, "--account '3333' is not a 12-digit account id"),
        ({"region": "mars"}, "--region 'mars' is not a region name"),
        ({"role_arn": "arn:aws:iam::333333333333:user/x"}, "--role-arn 'arn:aws:iam::333333333333:user/x' is not"),
        ({"execution_role_arn": execution_role_arn("stage")}, "is in account 222222222222, not the target"),
        ({"poll_seconds": 0}, "--timeout-seconds and --poll-seconds must be positive"),
        ({"stack_policy": StackPolicy({"Statement": []}, "STACK_POLICIES['orders']['prod']")},
         "STACK_POLICIES['orders']['prod']: not a stack policy"),
    ],
)  # fmt: skip
def test_an_invalid_request_is_a_usage_error_naming_the_option(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        request(tmp_path, **changes).check()
    assert message in str(caught.value)


def test_a_missing_cdk_out_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a directory"):
        request(tmp_path / "missing").check()


def test_a_valid_request_passes(tmp_path: Path) -> None:
    request(tmp_path, stack_policy=StackPolicy(STACK_POLICY, "test")).check()
    assert role_account(deploy_role_arn("prod")) == PROD_ACCOUNT


def test_a_stack_policy_file_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text("{nope")
    with pytest.raises(UsageError, match=f"--stack-policy {path}: Expecting property name"):
        StackPolicy.from_file(path)
    with pytest.raises(UsageError, match=f"--stack-policy {tmp_path / 'absent.json'}: "):
        StackPolicy.from_file(tmp_path / "absent.json")


def test_run_variables_are_read_and_written_back() -> None:
    variables = RunVariables.from_environ({**RUN, "UNRELATED": "x"})

    assert variables == RunVariables(
        service="orders",
        commit_sha="c" * 40,
        environment=Environment.PROD,
        mode=Mode.DRIFT_CHECK,
        deployment_id="orders-cccccccccccccccccccccccccccccccccccccccc-prod-1",
    )
    assert variables.to_environ() == RUN


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"MODE": ""}, "environment variable MODE is required"),
        ({"DEPLOYMENT_ID": "  "}, "environment variable DEPLOYMENT_ID is required"),
        ({"MODE": "drift"}, "environment variable MODE='drift': expected one of deploy, drift-check, rollback, test"),
        ({"ENVIRONMENT": "Prod"}, "environment variable ENVIRONMENT='Prod': expected one of stage, prod"),
        ({"COMMIT_SHA": "C" * 40}, "environment variable COMMIT_SHA="),
    ],
)
def test_a_wrong_run_variable_is_named(changes: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        RunVariables.from_environ({**RUN, **changes})
    assert message in str(caught.value)


def test_the_module_imports_without_boto3() -> None:
    """The Pulumi program's ASL builder imports `Mode` from here."""
    code = "import sys, functions.deployer.request; print([m for m in ('boto3', 'botocore') if m in sys.modules])"
    completed = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
