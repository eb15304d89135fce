"""The deployer's publish-and-check of what CloudFormation reads: files through the destination's
file-publishing role with a SHA-256 checksum, then each object's checksum; images by digest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.emulator.aws import account_client
from functions.deployer import signed_assets
from functions.deployer.assembly import select_stacks
from functions.deployer.errors import AssemblyError, AssetMismatch
from functions.deployer.signed_assets import make_signed, plan_assets, sha256_base64
from functions.deterministic_zip import zip_bytes

from .conftest import REGION, STAGE_ACCOUNT, StackSpec, topic_template, write_assembly

BUCKET = f"cdk-hnb659fds-assets-{STAGE_ACCOUNT}-{REGION}"
REPOSITORY = f"cdk-hnb659fds-container-assets-{STAGE_ACCOUNT}-{REGION}"
ROLE = f"arn:${{AWS::Partition}}:iam::{STAGE_ACCOUNT}:role/cdk-hnb659fds-file-publishing-role-{STAGE_ACCOUNT}-{REGION}"


def assembly(tmp_path: Path, files: dict[str, Any] | None = None, images: dict[str, Any] | None = None) -> Path:
    cdk_out = write_assembly(tmp_path / "cdk.out", [StackSpec("orders-stage-api", topic_template("Api"))])
    (cdk_out / "asset.code").mkdir()
    (cdk_out / "asset.code" / "index.py").write_text("def handler(event, context):\n    return 1\n")
    (cdk_out / "nested.template.json").write_text(json.dumps(topic_template("Nested")))
    document = {"version": "55.0.0", "files": files or {}, "dockerImages": images or {}}
    (cdk_out / "orders-stage-api.assets.json").write_text(json.dumps(document))
    return cdk_out


def file_asset(path: str, packaging: str, key: str, *, role: str = ROLE, bucket: str = BUCKET) -> dict[str, Any]:
    destination = {"bucketName": bucket, "objectKey": key, "region": REGION, "assumeRoleArn": role}
    return {"source": {"path": path, "packaging": packaging}, "destinations": {"d": destination}}


def image_asset(tag: str) -> dict[str, Any]:
    return {
        "source": {"directory": "asset.image"},
        "destinations": {"d": {"repositoryName": REPOSITORY, "imageTag": tag}},
    }


def stage_client(service: str) -> Any:
    return account_client(service, STAGE_ACCOUNT, REGION)


class StageSession:
    """What `assume_role_session` gives the deployer: clients in the stage account."""

    def __init__(self) -> None:
        self.roles: list[str] = []

    def __call__(self, role_arn: str) -> StageSession:
        self.roles.append(role_arn)
        return self

    def client(self, service: str) -> Any:
        return stage_client(service)


def run(cdk_out: Path, digests: dict[str, str] | None = None) -> tuple[dict[str, Any], StageSession]:
    stacks = select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
    plan = plan_assets(cdk_out, stacks, account=STAGE_ACCOUNT, region=REGION)
    session = StageSession()
    report = make_signed(
        plan, session_for=session, deploy_session=session, image_digests=digests or {}, log=lambda _: None
    )
    return report, session


@pytest.fixture
def bucket(aws: None) -> Any:
    s3 = stage_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return s3


def test_file_assets_are_published_from_the_verified_tree_with_their_checksums(tmp_path: Path, bucket: Any) -> None:
    cdk_out = assembly(
        tmp_path,
        files={
            "code": file_asset("asset.code", "zip", "code.zip"),
            "nested": file_asset("nested.template.json", "file", "nested.json"),
        },
    )
    bucket.put_object(Bucket=BUCKET, Key="code.zip", Body=b"attacker's code")
    report, session = run(cdk_out)
    expected = {
        "code.zip": zip_bytes(cdk_out / "asset.code"),
        "nested.json": (cdk_out / "nested.template.json").read_bytes(),
    }
    for key, body in expected.items():
        assert bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
        head = bucket.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == sha256_base64(body)
    assert set(session.roles) == {ROLE.replace("${AWS::Partition}", "aws")}
    assert report["verified"] is True and [f["location"] for f in report["files"]] == [
        f"s3://{BUCKET}/code.zip",
        f"s3://{BUCKET}/nested.json",
    ]


def test_an_object_changed_after_publishing_is_an_asset_mismatch_naming_it(
    tmp_path: Path, bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cdk_out = assembly(tmp_path, files={"nested": file_asset("nested.template.json", "file", "nested.json")})
    check = signed_assets.check_files

    def raced(*args: Any) -> None:
        bucket.put_object(Bucket=BUCKET, Key="nested.json", Body=b'{"Resources": {}}')
        check(*args)

    monkeypatch.setattr(signed_assets, "check_files", raced)
    with pytest.raises(AssetMismatch) as raised:
        run(cdk_out)
    assert raised.value.location == f"s3://{BUCKET}/nested.json" and raised.value.kind == "asset_mismatch"
    assert f"s3://{BUCKET}/nested.json (asset nested) is not the signed content" in str(raised.value)


def test_a_destination_outside_the_target_account_is_refused(tmp_path: Path, bucket: Any) -> None:
    elsewhere = ROLE.replace(f"iam::{STAGE_ACCOUNT}", "iam::999999999999")
    cdk_out = assembly(tmp_path, files={"nested": file_asset("nested.template.json", "file", "k.json", role=elsewhere)})
    with pytest.raises(AssemblyError, match="destination d is not a bucket and key published through a role of"):
        run(cdk_out)


def test_a_template_url_no_asset_publishes_is_refused(tmp_path: Path, aws: None) -> None:
    spec = StackSpec("orders-stage-api", topic_template("Api"), template_url=f"s3://{BUCKET}/big.json")
    cdk_out = write_assembly(tmp_path / "cdk.out", [spec])
    (cdk_out / "orders-stage-api.assets.json").write_text(json.dumps({"version": "55.0.0", "files": {}}))
    stacks = select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
    with pytest.raises(AssemblyError, match="is not published by any asset of the stack"):
        plan_assets(cdk_out, stacks, account=STAGE_ACCOUNT, region=REGION)


def push_image(tag: str) -> str:
    ecr = stage_client("ecr")
    ecr.create_repository(repositoryName=REPOSITORY)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "digest": "sha256:" + "a" * 64,
            "size": 1,
            "mediaType": "application/vnd.docker.container.image.v1+json",
        },
        "layers": [],
    }
    return ecr.put_image(repositoryName=REPOSITORY, imageManifest=json.dumps(manifest), imageTag=tag)["image"][
        "imageId"
    ]["imageDigest"]


def test_an_image_is_checked_against_the_digest_the_manifest_records(tmp_path: Path, bucket: Any) -> None:
    pushed = push_image("v1")
    cdk_out = assembly(tmp_path, images={"image": image_asset("v1")})
    report, _ = run(cdk_out, {"image": pushed})
    assert report["images"] == [{"asset_id": "image", "location": f"{REPOSITORY}:v1", "digest": pushed}]
    with pytest.raises(AssetMismatch, match=f"{REPOSITORY}:v1 \\(asset image\\) is not the signed content"):
        run(cdk_out, {"image": "sha256:" + "0" * 64})


def test_an_image_without_a_recorded_digest_is_refused_saying_how_to_record_it(tmp_path: Path, bucket: Any) -> None:
    push_image("v1")
    cdk_out = assembly(tmp_path, images={"image": image_asset("v1")})
    with pytest.raises(AssemblyError, match="has no recorded digest: .*artifactctl manifest build .* --image-digests"):
        run(cdk_out)


def test_assets_of_the_legacy_synthesizer_are_refused(tmp_path: Path, aws: None) -> None:
    cdk_out = assembly(tmp_path)
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    legacy = {"type": "aws:cdk:asset", "data": {"packaging": "zip", "path": "asset.code", "id": "code"}}
    manifest["artifacts"]["orders-stage-api"]["metadata"] = {"/orders-stage-api/Handler/Code": [legacy]}
    (cdk_out / "manifest.json").write_text(json.dumps(manifest))
    stacks = select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
    with pytest.raises(AssemblyError, match="legacy stack synthesizer"):
        plan_assets(cdk_out, stacks, account=STAGE_ACCOUNT, region=REGION)


def test_a_source_that_is_not_in_the_assembly_or_two_sources_for_one_object_are_refused(
    tmp_path: Path, aws: None
) -> None:
    def plan(files: dict[str, Any]) -> Any:
        cdk_out = assembly(tmp_path / str(len(list(tmp_path.iterdir()))), files=files)
        stacks = select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
        return plan_assets(cdk_out, stacks, account=STAGE_ACCOUNT, region=REGION)

    with pytest.raises(AssemblyError, match="source '../outside' is not a file of the assembly"):
        plan({"x": file_asset("../outside", "file", "x.json")})
    with pytest.raises(AssemblyError, match="source 'nested.template.json' is not a directory"):
        plan({"x": file_asset("nested.template.json", "zip", "x.zip")})
    with pytest.raises(AssemblyError, match=f"assets a and b both publish s3://{BUCKET}/same.json"):
        plan(
            {
                "a": file_asset("nested.template.json", "file", "same.json"),
                "b": file_asset("asset.code", "zip", "same.json"),
            }
        )
