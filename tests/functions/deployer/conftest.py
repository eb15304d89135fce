"""Harness for the deployer: moto, bridges for the CloudFormation operations moto 5.2.5 lacks, a fake
clock, a recorder of API calls, and small cloud assemblies written on the fly.

What moto lacks and how it is bridged here (never in the product code, which follows real AWS):
- `ContinueUpdateRollback` is not implemented: `CfnBridge` adds it to moto's CloudFormation responses;
  it moves a stack from `UPDATE_ROLLBACK_FAILED` to `bridge.rollback_outcome` (by default
  `UPDATE_ROLLBACK_COMPLETE`, as real CloudFormation does when every resource rolls back).
- Drift detection (`DetectStackDrift`, `DescribeStackDriftDetectionStatus`,
  `DescribeStackResourceDrifts`) is not implemented: `CfnBridge` adds the three operations, served
  from `bridge.drifts` (stack name -> drifted resources), with one `DETECTION_IN_PROGRESS` poll before
  the detection completes, as real detections take a while.
Both go through moto's real request parsing and botocore's response parsing, so the deployer's calls
and response handling are exercised end to end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.emulator.cloudformation import CfnBridge, install_cfn_bridges
from functions.sessions import assume_role_session

REGION = "us-east-1"
TOOLS_ACCOUNT = "111111111111"  # named in external ids only
DEFAULT_ACCOUNT = "123456789012"  # moto's account for the caller's own credentials
STAGE_ACCOUNT = "222222222222"
PROD_ACCOUNT = "333333333333"
ACCOUNTS = {"stage": STAGE_ACCOUNT, "prod": PROD_ACCOUNT}
FIXTURE_CDK_OUT = Path(__file__).resolve().parents[2] / "fixtures" / "cdk.out"
STACK_POLICY = {
    "Statement": [
        {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["Update:Replace", "Update:Delete"], "Principal": "*", "Resource": "*"},
    ]
}


def deploy_role_arn(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[env]}:role/cdkcp-orders-{env}-deploy"


def execution_role_arn(env: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[env]}:role/cdkcp-orders-{env}-cfn-exec"


def external_id(env: str) -> str:
    return f"cdkcp:{TOOLS_ACCOUNT}:orders:{env}"


def topic_template(*topics: str, description: str = "orders") -> dict[str, Any]:
    """A template moto can deploy through change sets (no Outputs/Exports needed)."""
    return {
        "Description": description,
        "Resources": {name: {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": name}} for name in topics},
    }


def cfn_backend(account: str) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends[account][REGION]


def moto_stack(account: str, name: str) -> Any:
    """The live (not deleted) stack of that name in moto's backend."""
    for stack in cfn_backend(account).stacks.values():
        if stack.name == name:
            return stack
    raise KeyError(name)


@pytest.fixture(scope="session", autouse=True)
def _shared_botocore_loader() -> Iterator[None]:
    """Speed only: every botocore session (the deployer makes one per assumed role) parses the service
    models again; tests make many sessions, so they share one loader and its cache."""
    import botocore.loaders
    import botocore.session

    shared: dict[str | None, Any] = {}
    original = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> Any:
        if search_path_string not in shared:
            shared[search_path_string] = original(search_path_string)
        return shared[search_path_string]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", create_loader)
        yield


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call in the test. The caller's own credentials (CodeBuild's role) land in moto's
    default account; only the assumed deploy roles reach the stage and prod accounts. (`MOTO_ACCOUNT_ID`
    cannot stand in for the tools account: it would override the assumed roles' accounts too.)"""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "CODEBUILD_BUILD_ID"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def bridge(aws: None, monkeypatch: pytest.MonkeyPatch) -> CfnBridge:
    return install_cfn_bridges(monkeypatch)


class FakeClock:
    """`clock` and `sleep` for the deployer: time passes only when the deployer sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] | None = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


class CallRecorder:
    """Every CloudFormation call a session's clients make, with its parameters, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def deploy_session(env: str, recorder: CallRecorder | None = None) -> boto3.Session:
    session = assume_role_session(
        deploy_role_arn(env),
        external_id=external_id(env),
        region=REGION,
        role_session_name=f"test-{env}",
    )
    if recorder is not None:
        session.events.register("provide-client-params.cloudformation", recorder)
    return session


@dataclass
class StackSpec:
    name: str
    template: dict[str, Any] | str
    account: str = STAGE_ACCOUNT
    region: str = REGION
    dependencies: list[str] = field(default_factory=list)
    tags: dict[str, str] | None = None
    parameters: dict[str, str] | None = None
    template_url: str | None = None
    stack_name: str | None = None  # properties.stackName, when it differs from the artifact id


def write_assembly(directory: Path, specs: list[StackSpec], extra: dict[str, Any] | None = None) -> Path:
    """A minimal cloud assembly shaped like the CDK CLI's: stacks, their asset manifests, dependencies."""
    directory.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Any] = {}
    for spec in specs:
        template_file = f"{spec.name}.template.json"
        body = spec.template if isinstance(spec.template, str) else json.dumps(spec.template, indent=1)
        (directory / template_file).write_text(body)
        asset_manifest = f"{spec.name}.assets.json"
        (directory / asset_manifest).write_text(json.dumps(_asset_manifest(spec, template_file)))
        artifacts[f"{spec.name}.assets"] = {"type": "cdk:asset-manifest", "properties": {"file": asset_manifest}}
        properties: dict[str, Any] = {"templateFile": template_file, "terminationProtection": False}
        for key, value in (
            ("stackTemplateAssetObjectUrl", spec.template_url),
            ("tags", spec.tags),
            ("parameters", spec.parameters),
            ("stackName", spec.stack_name),
        ):
            if value is not None:
                properties[key] = value
        artifacts[spec.name] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{spec.account}/{spec.region}",
            "properties": properties,
            "dependencies": [*spec.dependencies, f"{spec.name}.assets"],
            "displayName": spec.name,
        }
    artifacts.update(extra or {})
    manifest = {"version": "55.0.0", "artifacts": artifacts}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return directory


def _asset_manifest(spec: StackSpec, template_file: str) -> dict[str, Any]:
    """The stack's asset manifest: its template as a file asset when it is published by URL."""
    files: dict[str, Any] = {}
    if spec.template_url:
        bucket, key = spec.template_url.removeprefix("s3://").split("/", 1)
        publisher = f"cdk-hnb659fds-file-publishing-role-{spec.account}-{spec.region}"
        role = f"arn:${{AWS::Partition}}:iam::{spec.account}:role/{publisher}"
        files["template"] = {
            "source": {"path": template_file, "packaging": "file"},
            "destinations": {"d": {"bucketName": bucket, "objectKey": key, "assumeRoleArn": role}},
        }
    return {"version": "55.0.0", "files": files, "dockerImages": {}}


def write_policy(directory: Path) -> Path:
    path = directory / "stack-policy.json"
    path.write_text(json.dumps(STACK_POLICY))
    return path
