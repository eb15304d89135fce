"""The Lambda entry points as Lambda calls them: the environment the program writes, an event, a
context object; metrics read back from the EMF lines on stdout."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from dataclasses import replace
from typing import Any

import boto3
import pytest

from devtools.emulator.lambdas import LambdaContext
from functions.artifacts.errors import InvalidArtifact
from functions.handlers import clients
from functions.pipeline import lifecycle as lc
from functions.pipeline.settings import FunctionSettings
from functions.pipeline.store import MetadataTable
from tests.conftest import PROJECT_DIR
from tests.functions.pipeline.conftest import COMMIT, EXECUTION, SERVICE, item_in, seed


@pytest.fixture
def environment(settings: FunctionSettings, monkeypatch: pytest.MonkeyPatch) -> FunctionSettings:
    """What the program writes for every function (`FunctionSettings.to_environ`), fresh caches."""
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(
        name="p",
        definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    boto3.client("events", region_name="us-east-1").create_event_bus(Name=settings.event_bus_name)
    configured = replace(settings, state_machine_arn=machine)
    for name, value in configured.to_environ().items():
        monkeypatch.setenv(name, value)
    clients.forget()
    yield configured
    clients.forget()


def _invoke(module: str, event: dict[str, Any]) -> Any:
    handler = importlib.import_module(f"functions.handlers.{module}").handler
    return handler(event, LambdaContext(f"cdkcp-{module}"))


def _metrics(stdout: str) -> dict[str, list[float]]:
    emitted: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                emitted[definition["Name"]] = document[definition["Name"]]
    return emitted


RUN = {"service": SERVICE, "commit_sha": COMMIT, "execution_id": EXECUTION}


def test_the_transition_function_records_a_stage_test_failure(
    environment: FunctionSettings, table: MetadataTable, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(table, item_in("stage", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"}))
    error = {"Error": "States.TaskFailed", "Cause": "integration tests failed"}
    result = _invoke("transition", {**RUN, "environment": "stage", "action": "test_failed", "error": error})
    assert result == {"action": "test_failed", "applied": True, "succeeded": False}
    assert table.get(SERVICE, COMMIT)["status"] == "rejected"
    assert _metrics(capsys.readouterr().out) == {"TestFailureRate": [1.0]}


def test_the_transition_function_refuses_an_unknown_action_by_name(environment: FunctionSettings) -> None:
    with pytest.raises(ValueError, match="'ship_it' is not a valid Action"):
        _invoke("transition", {**RUN, "environment": "stage", "action": "ship_it"})


def test_validate_raises_the_error_the_state_machine_catches(environment: FunctionSettings, table) -> None:
    with pytest.raises(InvalidArtifact) as raised:
        _invoke("validate", {**RUN, "environment": "stage"})
    assert type(raised.value).__name__ == lc.ERROR_INVALID_ARTIFACT and "no metadata item" in str(raised.value)


def test_the_dispatcher_starts_the_prod_run(environment: FunctionSettings) -> None:
    event = {
        "detail": {
            "bucket": {"name": environment.release_bucket},
            "object": {"key": f"orders/{COMMIT}/artifact-manifest.json"},
        }
    }
    result = _invoke("dispatcher", event)
    assert result["started"] and result["execution_name"] == f"orders-{COMMIT}-prod-1"


def test_intake_refuses_with_a_reason_an_event_and_a_metric(
    environment: FunctionSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    key = f"orders/{COMMIT}/artifact-manifest.json"
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=environment.candidate_bucket, Key=key, Body=b"{")
    event = {"detail": {"bucket": {"name": environment.candidate_bucket}, "object": {"key": key}}}
    result = _invoke("intake", event)
    assert result["accepted"] is False and result["check"] == "service"
    assert result["reason"] == "service 'orders' (from the S3 prefix) is not configured in the service catalog"
    assert _metrics(capsys.readouterr().out) == {"ArtifactRefused": [1.0]}


def test_the_rollback_planner_and_the_finalizer_take_plain_documents(environment: FunctionSettings, table) -> None:
    seed(table, item_in("prod", status="rollback_initiated"))
    plan = _invoke("rollback_plan", {**RUN, "environment": "prod", "max_attempts": 2, "rollback": None})
    assert plan["possible"] is False and plan["attempt"] == 1
    again = _invoke("rollback_plan", {**RUN, "environment": "prod", "max_attempts": 2, "rollback": plan})
    assert again["attempt"] == 2 and again["wait_seconds"] == 120
    final = _invoke("finalizer", {**RUN, "environment": "prod", "outcome": None, "error": None})
    assert final["succeeded"] is False and table.get(SERVICE, COMMIT)["finalizer_ran"] is True


def test_a_misconfigured_function_fails_at_cold_start_naming_the_variable(settings: FunctionSettings) -> None:
    environ = {k: v for k, v in settings.to_environ().items() if k != "EVENT_BUS_NAME"}
    completed = subprocess.run(
        [sys.executable, "-c", "import functions.handlers.transition"],
        cwd=PROJECT_DIR,
        env={**environ, "PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    assert "environment variable EVENT_BUS_NAME is required" in completed.stderr


def test_a_function_refuses_a_catalog_that_is_not_the_one_the_program_pinned(environment: FunctionSettings) -> None:
    """Someone with write access to the tooling bucket adds `orders` to the catalog: the function reads
    the object, its hash differs from SERVICE_CATALOG_SHA256, and the invocation fails naming both."""
    from functions.pipeline.catalog import ServiceCatalog, split_location
    from functions.pipeline.settings import SettingsError

    forged = ServiceCatalog.of({"orders": {"stage": "222222222222", "prod": "333333333333"}})
    bucket, key = split_location(environment.service_catalog_uri)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=bucket, Key=key, Body=forged.to_bytes())
    manifest = f"orders/{COMMIT}/artifact-manifest.json"
    s3.put_object(Bucket=environment.candidate_bucket, Key=manifest, Body=b"{")
    event = {"detail": {"bucket": {"name": environment.candidate_bucket}, "object": {"key": manifest}}}
    with pytest.raises(SettingsError) as refused:
        _invoke("intake", event)
    assert f"the service catalog {environment.service_catalog_uri} is not the one the program wrote" in str(
        refused.value
    )
    assert forged.sha256 in str(refused.value) and environment.service_catalog_sha256 in str(refused.value)


def test_the_transient_error_the_state_machine_retries_is_the_one_the_functions_raise() -> None:
    from functions.artifacts.errors import TransientAwsError

    assert TransientAwsError.__name__ == lc.ERROR_TRANSIENT_AWS


def test_the_finalizer_takes_the_status_change_of_a_run_stopped_from_outside(
    environment: FunctionSettings, table: MetadataTable, capsys: pytest.CaptureFixture[str]
) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    document = {"service": SERVICE, "commit_sha": COMMIT, "environment": "stage", "trigger": {}}
    run = sfn.start_execution(stateMachineArn=environment.state_machine_arn, name="run-1", input=json.dumps(document))[
        "executionArn"
    ]
    seed(table, item_in("stage", execution_id=run))

    def ended(status: str) -> dict[str, Any]:
        detail = {"executionArn": run, "stateMachineArn": environment.state_machine_arn, "status": status}
        return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "detail": detail}

    assert "still running" in _invoke("finalizer", ended("ABORTED"))["ignored"]  # DescribeExecution says so
    assert table.get(SERVICE, COMMIT)["execution_status"] == "running"
    sfn.stop_execution(executionArn=run)
    result = _invoke("finalizer", ended("ABORTED"))
    assert result["corrections"] and table.get(SERVICE, COMMIT)["execution_status"] == "killed"
    assert _metrics(capsys.readouterr().out) == {"FinalizerCorrected": [1.0]}
    foreign = {**ended("ABORTED"), "detail": {**ended("ABORTED")["detail"], "stateMachineArn": "arn:other"}}
    assert "another state machine" in _invoke("finalizer", foreign)["refused"]
