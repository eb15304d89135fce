"""From a release manifest upload to exactly one prod execution: only release manifests start runs here
(candidate manifests go through intake, `test_intake.py`)."""

from __future__ import annotations

import json

import boto3
import pytest

from functions.pipeline.dispatch import dispatch
from functions.pipeline.settings import FunctionSettings

COMMIT = "c" * 40


@pytest.fixture
def machine(settings: FunctionSettings) -> FunctionSettings:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(
        name="p",
        definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    from dataclasses import replace

    return replace(settings, state_machine_arn=arn)


def _upload(bucket: str, key: str) -> dict:
    return {"detail": {"bucket": {"name": bucket}, "object": {"key": key}}}


def test_a_release_manifest_starts_the_prod_run_once(machine: FunctionSettings) -> None:
    environment = "prod"
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    event = _upload("releases", f"orders/{COMMIT}/artifact-manifest.json")
    first = dispatch(event, settings=machine, sfn=sfn)
    assert first["started"] and first["execution_name"] == f"orders-{COMMIT}-{environment}-1"
    described = sfn.describe_execution(executionArn=first["execution_arn"])
    assert json.loads(described["input"])["environment"] == environment
    # A repeated delivery: Step Functions answers a running execution's name and input with that same
    # execution, and refuses a closed one (ExecutionAlreadyExists, reported as a duplicate).
    again = dispatch(event, settings=machine, sfn=sfn)
    assert again.get("execution_arn", first["execution_arn"]) == first["execution_arn"]
    assert len(sfn.list_executions(stateMachineArn=machine.state_machine_arn)["executions"]) == 1


@pytest.mark.parametrize(
    ("bucket", "key", "reason"),
    [
        ("releases", f"orders/{COMMIT}/cdk.out/manifest.json", "not an artifact manifest"),
        ("releases", f"Orders/{COMMIT}/artifact-manifest.json", "not an artifact manifest"),
        ("releases", f"orders/{COMMIT[:39]}/artifact-manifest.json", "not an artifact manifest"),
        ("releases", f"../orders/{COMMIT}/artifact-manifest.json", "not an artifact manifest"),
        ("candidates", f"orders/{COMMIT}/artifact-manifest.json", "its manifests go through intake"),
        ("somebody-elses-bucket", f"orders/{COMMIT}/artifact-manifest.json", "not a pipeline bucket"),
    ],
)
def test_anything_else_starts_nothing(machine: FunctionSettings, bucket: str, key: str, reason: str) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    result = dispatch(_upload(bucket, key), settings=machine, sfn=sfn)
    assert result["started"] is False and reason in result["reason"]
    assert sfn.list_executions(stateMachineArn=machine.state_machine_arn)["executions"] == []


def test_commits_sharing_a_prefix_are_two_runs_not_a_duplicate(machine: FunctionSettings) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    first, second = "0123456789ab" + "c" * 28, "0123456789ab" + "d" * 28
    started = [
        dispatch(_upload("releases", f"orders/{commit}/artifact-manifest.json"), settings=machine, sfn=sfn)
        for commit in (first, second)
    ]
    assert [s["started"] for s in started] == [True, True], started
    assert [s["execution_name"] for s in started] == [f"orders-{first}-prod-1", f"orders-{second}-prod-1"]
    assert len(sfn.list_executions(stateMachineArn=machine.state_machine_arn)["executions"]) == 2


def test_a_service_name_too_long_for_an_execution_name_starts_nothing(machine: FunctionSettings) -> None:
    from functions import naming

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    service = "s" * (naming.SERVICE_NAME_MAX + 1)
    result = dispatch(_upload("releases", f"{service}/{COMMIT}/artifact-manifest.json"), settings=machine, sfn=sfn)
    assert not result["started"] and f"longer than {naming.SERVICE_NAME_MAX} characters" in result["reason"]
    assert sfn.list_executions(stateMachineArn=machine.state_machine_arn)["executions"] == []
