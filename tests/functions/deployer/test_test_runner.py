"""The test and smoke builds' runner: the repository and command from the build's settings, the
service checked out at the deployed commit, the command's exit code as the build's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from functions.deployer import test_runner
from functions.deployer.request import RunVariables
from functions.deployer.test_runner import TestPlan
from functions.pipeline.settings import BuildSettings

PROJECT = Path(__file__).resolve().parents[3]
COMMAND = "test -f ready && echo tested > ../ran.txt"


def environ(commit: str = "a" * 40, **extra: str) -> dict[str, str]:
    """A test project's environment as components/pipeline/builds.py writes it, plus the run's."""
    return {
        "TABLE_NAME": "cdk-artifact-metadata",
        "NAME_PREFIX": "cdkcp",
        "TOOLS_ACCOUNT_ID": "111111111111",
        "SERVICE_ACCOUNTS": json.dumps({"orders": {"stage": "222222222222", "prod": "333333333333"}}),
        "ARTIFACT_BUCKET": "cdk-artifacts-candidate-111111111111-us-east-1",
        "STACK_POLICIES": "{}",
        "TEST_COMMANDS": json.dumps({"orders": {"stage": COMMAND, "prod": "exit 7"}}),
        "SERVICE_REPOSITORIES": json.dumps({"orders": "example/orders"}),
        "SERVICE": "orders",
        "COMMIT_SHA": commit,
        "ENVIRONMENT": "stage",
        "MODE": "test",
        "DEPLOYMENT_ID": "orders-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-stage-1",
        **extra,
    }


def git(*arguments: str, cwd: Path) -> str:
    identity = ["-c", "user.name=CI", "-c", "user.email=ci@example.com", "-c", "init.defaultBranch=main"]
    return subprocess.run(["git", *identity, *arguments], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repository(tmp_path: Path) -> tuple[str, str]:
    """A local `example/orders` repository, served as `file://{host}/example/orders.git`; its commit."""
    path = tmp_path / "host" / "example" / "orders.git"
    path.mkdir(parents=True)
    git("init", "--quiet", cwd=path)
    (path / "ready").write_text("yes\n")
    git("add", "ready", cwd=path)
    git("commit", "--quiet", "-m", "ready", cwd=path)
    return f"file://{tmp_path / 'host'}", git("rev-parse", "HEAD", cwd=path).strip()


def test_the_plan_takes_the_repository_and_the_environments_command_from_the_build() -> None:
    for environment, command in (("stage", COMMAND), ("prod", "exit 7")):
        env = environ(ENVIRONMENT=environment)
        plan = TestPlan.of(BuildSettings.from_environ(env), RunVariables.from_environ(env))
        assert plan == TestPlan("orders", environment, "a" * 40, "example/orders", command)


def test_the_service_is_tested_at_the_deployed_commit(
    tmp_path: Path, repository: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    host, commit = repository
    workdir = tmp_path / "build"
    workdir.mkdir()

    assert test_runner.main(environ(commit), workdir=workdir, host=host) == 0

    assert (workdir / "ran.txt").read_text() == "tested\n"
    assert git("rev-parse", "HEAD", cwd=workdir / "service").strip() == commit
    assert f"running the stage tests of orders@{commit}: {COMMAND}" in capsys.readouterr().out


def test_the_build_fails_with_the_commands_exit_code(tmp_path: Path, repository: tuple[str, str]) -> None:
    host, commit = repository

    assert test_runner.main(environ(commit, ENVIRONMENT="prod"), workdir=tmp_path, host=host) == 7


def test_an_unknown_commit_fails_before_any_command_runs(
    tmp_path: Path, repository: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    host, _ = repository

    code = test_runner.main(environ("f" * 40), workdir=tmp_path, host=host)

    assert code != 0 and not (tmp_path / "ran.txt").exists()
    err = capsys.readouterr().err
    assert "test_runner: `git -C" in err and "fetch" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SERVICE_REPOSITORIES": "{}"}, "SERVICE_REPOSITORIES has no repository for 'orders'"),
        ({"TEST_COMMANDS": json.dumps({"orders": {"prod": "x"}})}, "TEST_COMMANDS has no stage command for 'orders'"),
        ({"TEST_COMMANDS": ""}, "TEST_COMMANDS has no stage command for 'orders'"),
        ({"SERVICE": ""}, "environment variable SERVICE is required"),
        ({"ENVIRONMENT": "qa"}, "environment variable ENVIRONMENT='qa': expected one of stage, prod"),
        ({"SERVICE_ACCOUNTS": "not json"}, "environment variable SERVICE_ACCOUNTS: not JSON"),
    ],
)
def test_a_misconfigured_build_exits_2_naming_the_variable(
    tmp_path: Path, change: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[object] = []

    code = test_runner.main(environ(**change), workdir=tmp_path, runner=lambda *a, **k: calls.append(a))

    assert code == 2 and calls == []
    assert message in capsys.readouterr().err


def test_the_runner_needs_nothing_the_test_image_lacks() -> None:
    """buildspecs/tests.yml installs no packages: no boto3, botocore or cryptography may be imported."""
    heavy = ("boto3", "botocore", "cryptography")
    code = f"import sys, functions.deployer.test_runner; print([m for m in {heavy!r} if m in sys.modules])"
    completed = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_the_buildspec_runs_the_module() -> None:
    buildspec = (PROJECT / "buildspecs" / "tests.yml").read_text()
    assert "python -m functions.deployer.test_runner" in buildspec
    assert "python -c" not in buildspec
