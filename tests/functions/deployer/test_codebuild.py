"""The CodeBuild entry point: a validated build environment, the artifact verified again against its
metadata, then the deploy (or only the drift check) with the right role, external id and mode."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

from devtools.emulator.aws import create_metadata_table
from devtools.emulator.kms import make_kms_faithful
from functions.artifacts.manifest import build_manifest, dumps
from functions.artifacts.metadata import candidate_item
from functions.artifacts.publish import publish
from functions.artifacts.signing import KmsSigner, sign_manifest
from functions.deployer import codebuild
from functions.deployer.request import DeployRequest, Mode, RunVariables
from functions.naming import ci_signer_alias
from functions.pipeline.settings import BuildSettings
from functions.pipeline.store import MetadataTable

from .conftest import (
    FIXTURE_CDK_OUT,
    PROD_ACCOUNT,
    REGION,
    STACK_POLICY,
    STAGE_ACCOUNT,
    CfnBridge,
    StackSpec,
    moto_stack,
    topic_template,
    write_assembly,
)

COMMIT = "c" * 40
BUCKET = "cdk-artifacts-candidate-123456789012-us-east-1"
TABLE = "cdk-artifact-metadata"


def environ(**extra: str) -> dict[str, str]:
    return {
        "SERVICE": "orders",
        "COMMIT_SHA": COMMIT,
        "ENVIRONMENT": "prod",
        "MODE": "deploy",
        "DEPLOYMENT_ID": "orders-cccccccccccccccccccccccccccccccccccccccc-prod-1",
        "NAME_PREFIX": "cdkcp",
        "TOOLS_ACCOUNT_ID": "111111111111",
        "SERVICE_ACCOUNTS": json.dumps({"orders": {"stage": "222222222222", "prod": "333333333333"}}),
        "ARTIFACT_BUCKET": BUCKET,
        "TABLE_NAME": TABLE,
        "AWS_REGION": REGION,
        **extra,
    }


def request(tmp_path: Path, **variables: str) -> DeployRequest:
    env = environ(**variables)
    return codebuild.deploy_request(BuildSettings.from_environ(env), RunVariables.from_environ(env), tmp_path)


def test_the_request_names_the_services_roles_and_the_prod_drift_gate(tmp_path: Path) -> None:
    prod = request(tmp_path, STACK_POLICIES=json.dumps({"orders": {"prod": STACK_POLICY}}))

    assert (prod.service, prod.environment, prod.account, prod.region) == ("orders", "prod", PROD_ACCOUNT, REGION)
    assert prod.role_arn == "arn:aws:iam::333333333333:role/cdkcp-orders-prod-deploy"
    assert prod.execution_role_arn == "arn:aws:iam::333333333333:role/cdkcp-orders-prod-cfn-exec"
    assert prod.external_id == "cdkcp:111111111111:orders:prod"
    assert prod.deployment_id == "orders-cccccccccccccccccccccccccccccccccccccccc-prod-1" and prod.cdk_out == tmp_path
    assert prod.result_path == Path("deploy-result.json")
    assert prod.mode is Mode.DEPLOY and not prod.detect_drift  # the state machine's DriftGate checked
    assert prod.policy_document == STACK_POLICY
    assert prod.stack_policy is not None and prod.stack_policy.origin == "STACK_POLICIES['orders']['prod']"
    prod.check()

    gate = request(tmp_path, MODE="drift-check")
    assert gate.mode is Mode.DRIFT_CHECK and not gate.detect_drift
    rollback = request(tmp_path, MODE="rollback")
    assert rollback.mode is Mode.ROLLBACK and not rollback.detect_drift  # restoring the known good
    stage = request(tmp_path, ENVIRONMENT="stage")
    assert stage.account == STAGE_ACCOUNT and not stage.detect_drift and stage.stack_policy is None
    assert stage.role_arn == "arn:aws:iam::222222222222:role/cdkcp-orders-stage-deploy"


@pytest.mark.parametrize("variable", ["SERVICE", "COMMIT_SHA", "ENVIRONMENT", "MODE", "DEPLOYMENT_ID", "TABLE_NAME"])
def test_a_missing_variable_exits_2_naming_it(variable: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = environ()
    del env[variable]

    assert codebuild.main(env) == 2

    err = capsys.readouterr().err
    assert f"environment variable {variable} is required" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MODE": "test"}, "MODE='test': the deployer runs deploy, drift-check, rollback"),
        ({"MODE": "drift"}, "MODE='drift': expected one of deploy, drift-check, rollback, test"),
        ({"ENVIRONMENT": "dev"}, "ENVIRONMENT='dev': expected one of stage, prod"),
        ({"COMMIT_SHA": "main"}, "COMMIT_SHA='main'"),
        ({"SERVICE": "billing"}, "SERVICE_ACCOUNTS has no prod account for 'billing'"),
        ({"STACK_POLICIES": "[1]"}, "STACK_POLICIES: expected a JSON object"),
    ],
)
def test_a_misconfigured_build_exits_2_before_touching_aws(
    aws: None, change: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert codebuild.main(environ(**change)) == 2

    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def publish_artifact(source: Path, tmp_path: Path, signed_by: str = "orders") -> Path:
    """CI's part (the cloud assembly signed with a service's KMS key — the orders service's own, unless
    `signed_by` names another — and published), and the candidate item intake records when the
    manifest arrives."""
    kms = boto3.client("kms", region_name=REGION)
    cdk_out = tmp_path / "cdk.out"
    shutil.copytree(source, cdk_out)
    manifest = build_manifest(
        cdk_out, service="orders", commit=COMMIT, cdk_cli_version="2.1148.1", git_signature_verified=True
    )
    manifest = sign_manifest(manifest, KmsSigner(ci_signer_alias(signed_by), kms))
    publish(cdk_out, dumps(manifest), bucket=BUCKET, s3=boto3.client("s3", region_name=REGION))
    item = candidate_item(manifest, artifact_url=f"s3://{BUCKET}/orders/{COMMIT}/", region=REGION)
    assert MetadataTable(boto3.resource("dynamodb", region_name=REGION).Table(TABLE)).create(item) is None
    return cdk_out


@pytest.fixture
def tools(aws, monkeypatch) -> None:
    """The tools account's side: each service's signing key, the artifact bucket and the metadata table."""
    make_kms_faithful(monkeypatch)
    kms = boto3.client("kms", region_name=REGION)
    for service in ("orders", "payments"):
        key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=ci_signer_alias(service), TargetKeyId=key)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    create_metadata_table(boto3.client("dynamodb", region_name=REGION), TABLE)


@pytest.fixture
def published(tools, tmp_path: Path) -> Path:
    return publish_artifact(FIXTURE_CDK_OUT, tmp_path)


def test_a_tampered_artifact_is_refused_before_any_deploy(published, capsys) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key=f"orders/{COMMIT}/cdk.out/orders-prod-api.template.json", Body=b"{}")

    assert codebuild.main(environ=environ()) == codebuild.EXIT_INVALID_ARTIFACT
    assert "FAIL files: orders-prod-api.template.json" in capsys.readouterr().err
    from moto.cloudformation.models import cloudformation_backends

    assert cloudformation_backends["333333333333"][REGION].stacks == {}  # the prod account was not touched


def test_an_artifact_signed_with_another_services_key_is_refused_before_any_deploy(
    tools, tmp_path: Path, capsys
) -> None:
    publish_artifact(FIXTURE_CDK_OUT, tmp_path, signed_by="payments")

    assert codebuild.main(environ=environ()) == codebuild.EXIT_INVALID_ARTIFACT
    assert "FAIL signature: signature: does not verify" in capsys.readouterr().err
    from moto.cloudformation.models import cloudformation_backends

    assert cloudformation_backends["333333333333"][REGION].stacks == {}


def test_a_service_without_a_signing_key_is_refused_naming_its_alias(aws, capsys) -> None:
    assert codebuild.main(environ=environ()) == codebuild.EXIT_INVALID_ARTIFACT
    assert "alias/cdk-ci-artifact-signer-orders" in capsys.readouterr().err


def test_drift_gate_checks_the_prod_stacks_and_deploys_nothing(published, capsys, monkeypatch) -> None:
    monkeypatch.chdir(published.parent)
    assert codebuild.main(environ=environ(MODE="drift-check")) == 0
    result = json.loads((published.parent / "deploy-result.json").read_text())
    assert result["outcome"] == "succeeded"
    assert result["drift"] == {"orders-prod-data": "NEW", "orders-prod-api": "NEW"}


def test_a_verified_artifact_is_deployed_with_the_configured_stack_policy(
    tools: None, bridge: CfnBridge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [
        StackSpec("orders-prod-data", topic_template("Data"), account=PROD_ACCOUNT),
        StackSpec("orders-prod-api", topic_template("Api"), account=PROD_ACCOUNT, dependencies=["orders-prod-data"]),
    ]
    published = publish_artifact(write_assembly(tmp_path / "source", specs), tmp_path)
    monkeypatch.chdir(published.parent)
    policies = json.dumps({"orders": {"prod": STACK_POLICY}})

    code = codebuild.main(environ(STACK_POLICIES=policies), poll_seconds=0.001)

    assert code == 0, capsys.readouterr().err
    result = json.loads((published.parent / "deploy-result.json").read_text())
    assert (
        result["outcome"] == "succeeded"
        and result["deployment_id"] == "orders-cccccccccccccccccccccccccccccccccccccccc-prod-1"
    )
    assert [(s["name"], s["action"]) for s in result["stacks"]] == [
        ("orders-prod-data", "created"),
        ("orders-prod-api", "created"),
    ]
    for name in ("orders-prod-data", "orders-prod-api"):
        assert json.loads(moto_stack(PROD_ACCOUNT, name).policy) == STACK_POLICY


@pytest.mark.parametrize(
    ("mode", "exit_code", "expected"),
    [
        ("drift-check", 0, ("clean", 0)),
        ("drift-check", 3, ("drift_detected", 0)),  # a drift check that found drift could tell: the build succeeds
        ("drift-check", 1, ("deploy_failed", 1)),  # e.g. the deploy role could not be assumed
        ("drift-check", 2, ("usage_error", 2)),
        ("drift-check", 5, ("invalid_artifact", 5)),
        ("deploy", 0, ("succeeded", 0)),
        ("deploy", 3, ("drift_detected", 3)),  # a deploy that aborts on drift fails its build
        ("rollback", 4, ("manual_intervention_required", 4)),
        # an asset that is not the signed content: the deploy says so as a succeeded build (the pipeline
        # records AssetHashMismatch); so does a rollback's (recorded as a failed attempt, then retried)
        ("deploy", 6, ("asset_mismatch", 0)),
        ("rollback", 6, ("asset_mismatch", 0)),
        # stopped before any change set, not the artifact's fault: nothing deployed, the release retryable
        ("deploy", 7, ("not_started", 0)),
        ("rollback", 7, ("not_started", 7)),
        ("deploy", 9, ("failed", 9)),
    ],
)
def test_the_build_outcome_of_each_exit_code(mode: str, exit_code: int, expected: tuple[str, int]) -> None:
    assert codebuild.build_outcome(mode, exit_code) == expected


def test_the_outcome_command_prints_the_exported_value_and_exits_with_the_builds_status(capsys) -> None:
    assert codebuild.report_outcome(["drift-check", "3"]) == 0
    assert capsys.readouterr().out == "drift_detected\n"
    assert codebuild.report_outcome(["drift-check", "1"]) == 1
    assert capsys.readouterr().out == "deploy_failed\n"
    assert codebuild.report_outcome(["drift"]) == 2
    assert "expected MODE EXIT_CODE" in capsys.readouterr().err


def test_the_deploy_buildspec_exports_only_the_outcome_the_state_machine_reads() -> None:
    import yaml

    from components.pipeline import definition
    from functions.deployer.errors import OUTCOME_VARIABLE

    spec = yaml.safe_load((Path(__file__).parents[3] / "buildspecs" / "deploy.yml").read_text())
    # The state machine reads ExportedEnvironmentVariables[0]: this must stay the only one.
    assert spec["env"]["exported-variables"] == [OUTCOME_VARIABLE]
    assert definition.DRIFT_OUTCOME.endswith("ExportedEnvironmentVariables[0].Value")
    commands = spec["phases"]["build"]["commands"]
    assert commands[0] == "python -m functions.deployer.codebuild || DEPLOYER_EXIT=$?"
    assert commands[-1].startswith(f'{OUTCOME_VARIABLE}="$(python -m functions.deployer.codebuild outcome "$MODE"')


def test_the_image_digests_of_the_request_are_the_verified_manifests() -> None:
    assets = {
        "api-image": {"type": "docker", "hash": "x", "destinations": [], "digest": "sha256:" + "1" * 64},
        "worker-image": {"type": "docker", "hash": "y", "destinations": []},  # refused by the deployer later
        "code": {"type": "file", "hash": "z", "destinations": []},
    }
    assert codebuild.image_digests(assets) == {"api-image": "sha256:" + "1" * 64}


def _throttled_kms() -> object:
    from botocore.stub import Stubber

    kms = boto3.client("kms", region_name=REGION)
    stubber = Stubber(kms)
    stubber.add_client_error("get_public_key", service_error_code="ThrottlingException", http_status_code=400)
    stubber.activate()
    return kms


def test_kms_not_answering_for_the_key_is_a_deploy_not_started_not_an_invalid_artifact(published, capsys) -> None:
    assert codebuild.main(environ=environ(), kms=_throttled_kms()) == codebuild.EXIT_NOT_STARTED
    err = capsys.readouterr().err
    assert "KMS did not answer" in err and "ThrottlingException" in err and "not started" in err
    assert codebuild.build_outcome(Mode.DEPLOY, codebuild.EXIT_NOT_STARTED) == ("not_started", 0)
    from moto.cloudformation.models import cloudformation_backends

    assert cloudformation_backends["333333333333"][REGION].stacks == {}
    # a drift check or a rollback keeps the plain failed build (each is retried as it is)
    assert codebuild.main(environ=environ(MODE="drift-check"), kms=_throttled_kms()) == codebuild.EXIT_DEPLOY_FAILED


def test_s3_failing_to_give_the_artifact_is_a_deploy_not_started(published, capsys) -> None:
    from botocore.stub import Stubber

    s3 = boto3.client("s3", region_name=REGION)
    stubber = Stubber(s3)
    stubber.add_client_error("list_objects_v2", service_error_code="SlowDown", http_status_code=503)
    stubber.activate()

    assert codebuild.main(environ=environ(), s3=s3) == codebuild.EXIT_NOT_STARTED
    assert "reading the artifact failed" in capsys.readouterr().err


def test_a_missing_manifest_is_an_invalid_artifact_not_a_traceback(published, capsys) -> None:
    boto3.client("s3", region_name=REGION).delete_object(Bucket=BUCKET, Key=f"orders/{COMMIT}/artifact-manifest.json")
    assert codebuild.main(environ=environ()) == codebuild.EXIT_INVALID_ARTIFACT
    assert "manifest not found" in capsys.readouterr().err


@pytest.mark.parametrize(("fails", "expected"), [("prepare", 7), ("wait_change_set", 1)])
def test_a_deploy_failing_before_its_first_change_set_was_not_started_and_after_it_failed(
    tools: None,
    bridge: CfnBridge,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fails: str,
    expected: int,
) -> None:
    """Before `CreateChangeSet` nothing changed (exit 7, the release stays retryable); once a change set
    exists the stacks may have changed, and the deploy failed (exit 1: prod rolls back)."""
    from botocore.exceptions import ClientError

    from functions.deployer import deploy

    def throttled(*args: object, **kwargs: object) -> None:
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, fails)

    specs = [StackSpec("orders-prod-data", topic_template("Data"), account=PROD_ACCOUNT)]
    published = publish_artifact(write_assembly(tmp_path / "source", specs), tmp_path)
    monkeypatch.setattr(deploy, fails, throttled)
    monkeypatch.chdir(published.parent)

    assert codebuild.main(environ=environ(), poll_seconds=0.001) == expected
    result = json.loads((published.parent / "deploy-result.json").read_text())
    assert result["outcome"] == "deploy_failed" and result["change_sets"] == (0 if expected == 7 else 1)
    assert ("not started" in capsys.readouterr().err) is (expected == 7)
