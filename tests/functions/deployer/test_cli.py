"""The command line and `run(request)`: options, log lines, the result file and the exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from functions.deployer import runner
from functions.deployer.__main__ import main
from functions.deployer.request import DeployRequest, StackPolicy
from functions.pipeline.lifecycle import Environment

from .conftest import (
    ACCOUNTS,
    PROD_ACCOUNT,
    REGION,
    STACK_POLICY,
    STAGE_ACCOUNT,
    CfnBridge,
    FakeClock,
    StackSpec,
    deploy_role_arn,
    execution_role_arn,
    external_id,
    moto_stack,
    topic_template,
    write_assembly,
    write_policy,
)

PROJECT = Path(__file__).resolve().parents[3]


def specs(env: str, version: str = "v1") -> list[StackSpec]:
    account = ACCOUNTS[env]
    return [
        StackSpec(f"orders-{env}-data", topic_template("Data", description=version), account=account),
        StackSpec(f"orders-{env}-api", topic_template("Api", description=version), account=account,
                  dependencies=[f"orders-{env}-data"]),
    ]  # fmt: skip


def arguments(cdk_out: Path, env: str, result: Path, *extra: str) -> list[str]:
    return [
        "--cdk-out", str(cdk_out),
        "--service", "orders",
        "--environment", env,
        "--account", ACCOUNTS[env],
        "--region", REGION,
        "--role-arn", deploy_role_arn(env),
        "--external-id", external_id(env),
        "--execution-role-arn", execution_role_arn(env),
        "--result", str(result),
        "--deployment-id", f"build-{result.stem}",
        *extra,
    ]  # fmt: skip


def run(argv: list[str], clock: FakeClock | None = None) -> int:
    clock = clock or FakeClock()
    return main(argv, clock=clock.clock, sleep=clock.sleep)


def read(result: Path) -> dict[str, Any]:
    return json.loads(result.read_text())


def test_success_exit_0_with_log_lines_and_result(
    tmp_path: Path, bridge: CfnBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", specs("stage"))
    result = tmp_path / "r1.json"

    code = run(arguments(cdk_out, "stage", result, "--stack-policy", str(write_policy(tmp_path))))

    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err == ""
    assert "[deployer] stacks in order: orders-stage-data, orders-stage-api" in out.out
    assert f"[deployer] assuming {deploy_role_arn('stage')}" in out.out
    assert "[deployer] orders-stage-api: CREATE_COMPLETE" in out.out
    report = read(result)
    assert report["outcome"] == "succeeded"
    assert report["account"] == STAGE_ACCOUNT and report["deployment_id"] == "build-r1"
    assert [(s["name"], s["action"]) for s in report["stacks"]] == [
        ("orders-stage-data", "created"),
        ("orders-stage-api", "created"),
    ]
    assert report["totals"]["created"] == 2 and report["error"] is None
    assert json.loads(moto_stack(STAGE_ACCOUNT, "orders-stage-api").policy) == STACK_POLICY

    assert run(arguments(cdk_out, "stage", tmp_path / "r2.json")) == 0
    assert read(tmp_path / "r2.json")["totals"]["unchanged"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--account", "2222"], "12-digit"),
        (["--role-arn", deploy_role_arn("prod")], "is in account 333333333333"),
        (["--execution-role-arn", "arn:aws:iam::222222222222:user/x"], "not an IAM role ARN"),
        (["--region", "mars"], "not a region"),
    ],
)
def test_bad_arguments_exit_2(
    tmp_path: Path, aws: None, capsys: pytest.CaptureFixture[str], change: list[str], message: str
) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", specs("stage"))
    argv = arguments(cdk_out, "stage", tmp_path / "r.json")
    index = argv.index(change[0])
    argv[index + 1] = change[1]

    assert run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert read(tmp_path / "r.json")["outcome"] == "usage_error"


def test_missing_argument_and_unknown_environment_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--service", "orders"]) == 2
    assert run(arguments(tmp_path, "stage", tmp_path / "r.json")[:4] + ["--environment", "dev"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_bad_stack_policy_exits_2(tmp_path: Path, aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", specs("stage"))
    policy = tmp_path / "policy.json"
    policy.write_text('{"Statement": "nope"}')
    assert run(arguments(cdk_out, "stage", tmp_path / "r.json", "--stack-policy", str(policy))) == 2
    assert "not a stack policy" in capsys.readouterr().err


def test_bad_image_digests_file_exits_2(tmp_path: Path, aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", specs("stage"))
    digests = tmp_path / "digests.json"
    digests.write_text('["sha256:abc"]')
    assert run(arguments(cdk_out, "stage", tmp_path / "r.json", "--image-digests", str(digests))) == 2
    assert "--image-digests" in capsys.readouterr().err


def test_assembly_error_exits_2_naming_the_stack(tmp_path: Path, aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    cdk_out = write_assembly(
        tmp_path / "cdk.out", [*specs("stage"), StackSpec("billing-stage-data", topic_template("T"))]
    )
    result = tmp_path / "r.json"

    assert run(arguments(cdk_out, "stage", result)) == 2

    err = capsys.readouterr().err
    assert "billing-stage-data" in err and "Traceback" not in err
    assert read(result)["outcome"] == "invalid_assembly"


def test_real_fixture_out_of_prefix_is_refused_before_assuming_any_role(
    tmp_path: Path, aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from .conftest import FIXTURE_CDK_OUT

    argv = arguments(FIXTURE_CDK_OUT, "stage", tmp_path / "r.json")
    argv[argv.index("--service") + 1] = "billing"
    assert run(argv) == 2
    out = capsys.readouterr()
    assert "orders-stage-data targets account 222222222222 but is not named billing-stage-*" in out.err
    assert "assuming" not in out.out


def test_deploy_failure_exits_1_with_the_events_in_the_result(
    tmp_path: Path, bridge: CfnBridge, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def fail_api(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        stack = self.stacks[self.change_sets[change_set_name].stack_id]
        if stack.name.endswith("-api"):  # moto never fails an execution; make it end as a failed create would
            stack._add_stack_event("ROLLBACK_COMPLETE", resource_status_reason="Api failed")
            stack.status = "ROLLBACK_COMPLETE"

    monkeypatch.setattr(CloudFormationBackend, "execute_change_set", fail_api)
    cdk_out = write_assembly(tmp_path / "cdk.out", specs("stage"))
    result = tmp_path / "r.json"

    assert run(arguments(cdk_out, "stage", result)) == 1

    err = capsys.readouterr().err
    assert "deploy failed: orders-stage-api" in err and "ROLLBACK_COMPLETE" in err and "Traceback" not in err
    report = read(result)
    assert report["outcome"] == "deploy_failed"
    assert report["error"]["stack"] == "orders-stage-api"
    assert [(s["name"], s["action"]) for s in report["stacks"]] == [("orders-stage-data", "created")]


def test_drift_exits_3(tmp_path: Path, bridge: CfnBridge, capsys: pytest.CaptureFixture[str]) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", specs("prod"))
    assert run(arguments(cdk_out, "prod", tmp_path / "r1.json", "--mode", "deploy")) == 0
    bridge.drifts["orders-prod-data"] = [{"LogicalResourceId": "Data", "ResourceType": "AWS::SNS::Topic"}]
    changed = write_assembly(tmp_path / "v2" / "cdk.out", specs("prod", "v2"))
    result = tmp_path / "r2.json"

    assert run(arguments(changed, "prod", result)) == 3, "deploy is the default mode; in prod it gates on drift"

    assert "drift detected" in capsys.readouterr().err
    report = read(result)
    assert report["outcome"] == "drift_detected"
    assert report["error"]["drifts"][0]["logical_resource_id"] == "Data"
    assert run(arguments(changed, "prod", tmp_path / "r3.json", "--mode", "rollback")) == 0, "no drift gate"
    assert run(arguments(changed, "prod", tmp_path / "r4.json", "--allow-drift")) == 0


def test_manual_intervention_exits_4(tmp_path: Path, bridge: CfnBridge, capsys: pytest.CaptureFixture[str]) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", specs("prod"))
    assert run(arguments(cdk_out, "prod", tmp_path / "r1.json")) == 0
    moto_stack(PROD_ACCOUNT, "orders-prod-data").status = "ROLLBACK_COMPLETE"
    result = tmp_path / "r2.json"

    assert run(arguments(cdk_out, "prod", result)) == 4

    assert "manual intervention required: orders-prod-data: ROLLBACK_COMPLETE" in capsys.readouterr().err
    assert read(result)["outcome"] == "manual_intervention_required"


def test_module_entry_point_runs(tmp_path: Path) -> None:
    """`python -m functions.deployer` as CodeBuild runs it: --help, and a usage error without traceback."""
    help_run = subprocess.run(
        [sys.executable, "-m", "functions.deployer", "--help"], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert help_run.returncode == 0 and "--execution-role-arn" in help_run.stdout
    assert "--mode {deploy,drift-check,rollback}" in help_run.stdout
    assert "--detect-drift" not in help_run.stdout and "--drift-only" not in help_run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "functions.deployer", *arguments(tmp_path / "missing", "stage", tmp_path / "r.json")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "is not a directory" in bad.stderr and "Traceback" not in bad.stderr


def test_drift_check_mode_reports_drift_and_deploys_nothing(
    tmp_path: Path, bridge: CfnBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", specs("prod"))
    assert run(arguments(cdk_out, "prod", tmp_path / "r0.json", "--mode", "drift-check")) == 0
    assert read(tmp_path / "r0.json")["drift"] == {"orders-prod-data": "NEW", "orders-prod-api": "NEW"}
    assert run(arguments(cdk_out, "prod", tmp_path / "r1.json")) == 0
    bridge.drifts["orders-prod-data"] = [{"LogicalResourceId": "Data", "ResourceType": "AWS::SNS::Topic"}]
    changed = write_assembly(tmp_path / "v2" / "cdk.out", specs("prod", "v2"))

    assert run(arguments(changed, "prod", tmp_path / "r2.json", "--mode", "drift-check")) == 3
    assert run(arguments(changed, "prod", tmp_path / "r3.json", "--mode", "drift-check", "--allow-drift")) == 0

    assert read(tmp_path / "r2.json")["outcome"] == "drift_detected"
    report = read(tmp_path / "r3.json")
    assert report["outcome"] == "succeeded" and report["stacks"] == []
    assert report["drift"] == {"orders-prod-data": "DRIFTED", "orders-prod-api": "IN_SYNC"}
    assert moto_stack(PROD_ACCOUNT, "orders-prod-data").template_dict["Description"] == "v1", "deployed nothing"


def test_the_test_mode_is_not_the_deployers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(arguments(tmp_path, "stage", tmp_path / "r.json", "--mode", "test")) == 2
    assert "argument --mode: invalid choice" in capsys.readouterr().err


def test_run_executes_a_request_and_returns_its_report(tmp_path: Path, bridge: CfnBridge) -> None:
    """The one execution path both entries share: `run(request)`, without the command line."""
    cdk_out = write_assembly(tmp_path / "cdk.out", specs("stage"))
    request = DeployRequest(
        cdk_out=cdk_out,
        service="orders",
        environment=Environment.STAGE,
        account=STAGE_ACCOUNT,
        region=REGION,
        role_arn=deploy_role_arn("stage"),
        external_id=external_id("stage"),
        execution_role_arn=execution_role_arn("stage"),
        deployment_id="d-1",
        stack_policy=StackPolicy(STACK_POLICY, "test"),
    )
    clock, lines = FakeClock(), []

    outcome = runner.run(request, clock=clock.clock, sleep=clock.sleep, log=lines.append)

    assert outcome.exit_code == 0
    assert outcome.report["outcome"] == "succeeded" and outcome.report["deployment_id"] == "d-1"
    assert [(s["name"], s["action"]) for s in outcome.report["stacks"]] == [
        ("orders-stage-data", "created"),
        ("orders-stage-api", "created"),
    ]
    assert "stacks in order: orders-stage-data, orders-stage-api" in lines
    assert json.loads(moto_stack(STAGE_ACCOUNT, "orders-stage-api").policy) == STACK_POLICY
    assert not (tmp_path / "deploy-result.json").exists(), "no result path, no file"
