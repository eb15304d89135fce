"""The CodeBuild entry point: re-verify the artifact against its metadata, then deploy (or only check
drift) with the right role, external id and flags."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

from devtools.emulator.aws import create_metadata_table
from devtools.emulator.kms import make_kms_faithful
from functions.artifacts.manifest import build_manifest, canonical_bytes, dumps
from functions.artifacts.publish import publish
from functions.artifacts.signing import KmsSigner, sign_message
from functions.deployer import codebuild

from .conftest import FIXTURE_CDK_OUT, REGION

COMMIT = "c" * 40
BUCKET = "cdk-artifacts-candidate-123456789012-us-east-1"
TABLE = "cdk-artifact-metadata"


def environ(**extra: str) -> dict[str, str]:
    return {
        "SERVICE": "orders",
        "COMMIT_SHA": COMMIT,
        "ENVIRONMENT": "prod",
        "MODE": "deploy",
        "DEPLOYMENT_ID": "orders-cccccccccccc-prod-1",
        "NAME_PREFIX": "cdkcp",
        "TOOLS_ACCOUNT_ID": "111111111111",
        "SERVICE_ACCOUNTS": json.dumps({"orders": {"stage": "222222222222", "prod": "333333333333"}}),
        "ARTIFACT_BUCKET": BUCKET,
        "TABLE_NAME": TABLE,
        "CI_SIGNER_KEY_ID": "alias/cdk-ci-artifact-signer",
        "AWS_REGION": REGION,
        **extra,
    }


def test_arguments_name_the_services_roles_and_the_prod_gates(tmp_path: Path) -> None:
    arguments = codebuild.deployer_arguments(environ(), tmp_path, None)
    pairs = dict(zip(arguments[::2], arguments[1::2], strict=False))
    assert pairs["--role-arn"] == "arn:aws:iam::333333333333:role/cdkcp-orders-prod-deploy"
    assert pairs["--execution-role-arn"] == "arn:aws:iam::333333333333:role/cdkcp-orders-prod-cfn-exec"
    assert pairs["--external-id"] == "cdkcp:111111111111:orders:prod"
    assert "--detect-drift" in arguments and "--drift-only" not in arguments
    assert "--drift-only" in codebuild.deployer_arguments(environ(MODE="drift-check"), tmp_path, None)
    rollback = codebuild.deployer_arguments(environ(MODE="rollback"), tmp_path, None)
    assert "--detect-drift" not in rollback and "--drift-only" not in rollback  # restoring the known good
    stage = codebuild.deployer_arguments(environ(ENVIRONMENT="stage"), tmp_path, None)
    assert "--detect-drift" not in stage and "arn:aws:iam::222222222222:role/cdkcp-orders-stage-deploy" in stage


@pytest.fixture
def published(aws, monkeypatch, tmp_path: Path) -> Path:
    make_kms_faithful(monkeypatch)
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/cdk-ci-artifact-signer", TargetKeyId=key)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    create_metadata_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    cdk_out = tmp_path / "cdk.out"
    shutil.copytree(FIXTURE_CDK_OUT, cdk_out)
    manifest = build_manifest(
        cdk_out, service="orders", commit=COMMIT, cdk_cli_version="2.1148.1", git_signature_verified=True
    )
    signer = KmsSigner("alias/cdk-ci-artifact-signer", kms)
    manifest["signing_identity"] = signer.identity
    manifest["signature"] = sign_message(signer, canonical_bytes(manifest))
    publish(
        cdk_out, dumps(manifest), bucket=BUCKET, table=TABLE, region=REGION,
        s3=boto3.client("s3", region_name=REGION), dynamodb=boto3.client("dynamodb", region_name=REGION),
    )  # fmt: skip
    return cdk_out


def test_a_tampered_artifact_is_refused_before_any_deploy(published, capsys) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key=f"orders/{COMMIT}/cdk.out/orders-prod-api.template.json", Body=b"{}")

    assert codebuild.main(environ=environ()) == codebuild.EXIT_INVALID_ARTIFACT
    assert "FAIL files: orders-prod-api.template.json" in capsys.readouterr().err
    from moto.cloudformation.models import cloudformation_backends

    assert cloudformation_backends["333333333333"][REGION].stacks == {}  # the prod account was not touched


def test_drift_gate_checks_the_prod_stacks_and_deploys_nothing(published, capsys, monkeypatch) -> None:
    monkeypatch.chdir(published.parent)
    assert codebuild.main(environ=environ(MODE="drift-check")) == 0
    result = json.loads((published.parent / "deploy-result.json").read_text())
    assert result["outcome"] == "succeeded"
    assert result["drift"] == {"orders-prod-data": "NEW", "orders-prod-api": "NEW"}
