"""The manifest of a real `cdk.out` made by the CDK CLI (tests/fixtures/cdk-app)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from functions.artifacts.manifest import FIELDS, SCHEMA, build_manifest, dumps, parse_manifest
from functions.artifacts.tree import artifact_sha256, list_files, sha256_file
from functions.artifacts.verify import Expectations, verify_artifact

from ..artifact_support import CDK_OUT, CLI_VERSION, COMMIT

STACKS = ("orders-stage-data", "orders-stage-api", "orders-prod-data", "orders-prod-api")


def test_fixture_is_a_real_two_environment_assembly() -> None:
    cloud = json.loads((CDK_OUT / "manifest.json").read_text())
    stacks = {k: v for k, v in cloud["artifacts"].items() if v["type"] == "aws:cloudformation:stack"}
    assert set(stacks) == set(STACKS)
    assert stacks["orders-stage-api"]["environment"] == "aws://222222222222/us-east-1"
    assert stacks["orders-prod-api"]["environment"] == "aws://333333333333/us-east-1"
    assert "orders-stage-data" in stacks["orders-stage-api"]["dependencies"]
    assert list(CDK_OUT.glob("*.nested.template.json"))
    assert list(CDK_OUT.glob("asset.*/index.py"))


def test_manifest_lists_every_file_with_its_hash() -> None:
    manifest = build_manifest(CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION)
    files = sorted(str(p.relative_to(CDK_OUT)) for p in CDK_OUT.rglob("*") if p.is_file())
    assert sorted(manifest.file_hashes) == files
    assert manifest.file_hashes["manifest.json"] == sha256_file(CDK_OUT / "manifest.json")
    assert set(manifest.to_document()) == set(FIELDS)
    assert manifest.schema == SCHEMA and manifest.signature is None
    assert parse_manifest(dumps(manifest)) == (manifest, [])


def test_artifact_sha256_is_what_coreutils_computes_for_the_tree() -> None:
    manifest = build_manifest(CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION)
    pipeline = "find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum"
    coreutils = subprocess.run(pipeline, shell=True, cwd=CDK_OUT, capture_output=True, text=True, check=True)
    assert manifest.artifact_sha256 == coreutils.stdout.split()[0]
    assert manifest.artifact_sha256 == artifact_sha256(manifest.file_hashes)


def test_artifact_sha256_does_not_depend_on_file_order_or_location(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "cdk.out"
    shutil.copytree(CDK_OUT, copy)
    first = build_manifest(CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION, jobs=1)
    second = build_manifest(copy, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION, jobs=4)
    assert first.artifact_sha256 == second.artifact_sha256
    assert artifact_sha256(dict(reversed(list(first.file_hashes.items())))) == first.artifact_sha256


def test_assets_are_parsed_from_every_assets_manifest_with_destinations() -> None:
    assets = build_manifest(CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION).assets
    declared = {}
    for path in CDK_OUT.glob("*.assets.json"):
        declared.update(json.loads(path.read_text())["files"])
    assert set(assets) == set(declared)
    lambda_code = next(a for a in assets.values() if a.get("packaging") == "zip")
    assert lambda_code["type"] == "file" and lambda_code["source"].startswith("asset.")
    accounts = {d["account"] for d in lambda_code["destinations"]}
    assert accounts == {"222222222222", "333333333333"}  # one asset, both environments
    assert all(d["s3Uri"].startswith("s3://cdk-hnb659fds-assets-") for d in lambda_code["destinations"])
    assert all(
        d["assumeRoleArn"].endswith("-file-publishing-role-" + d["account"] + "-us-east-1")
        for d in lambda_code["destinations"]
    )


def test_library_versions_come_from_the_construct_tree() -> None:
    manifest = build_manifest(CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION)
    package = json.loads((CDK_OUT.parent / "cdk-app" / "package.json").read_text())
    assert manifest.cdk_library_versions["aws-cdk-lib"] == package["dependencies"]["aws-cdk-lib"]


def test_context_hash_is_the_sha256_of_the_context_file(tmp_path: Path) -> None:
    context = tmp_path / ".cdk.context.json"
    context.write_text('{"availability-zones:account=222222222222:region=us-east-1": ["us-east-1a"]}')
    manifest = build_manifest(
        CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION, context_file=context
    )
    assert manifest.cdk_context_hash == sha256_file(context)


def test_signed_real_artifact_verifies(artifact, signer) -> None:
    cdk_out, manifest = artifact
    expect = Expectations(
        service="orders",
        commit=COMMIT,
        artifact_sha256=manifest.artifact_sha256,
        approved_cdk_versions=[CLI_VERSION],
    )
    report = verify_artifact(cdk_out, dumps(manifest), signer.private_key.public_key(), expect, jobs=2)
    assert report.ok, report.findings
    assert report.files_checked == len(list_files(cdk_out)[0]) == 19
