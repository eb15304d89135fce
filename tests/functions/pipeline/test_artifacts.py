"""Reading an artifact out of a bucket: only safe keys become files, and a missing manifest is an
invalid artifact, not a crash."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from functions.artifacts.errors import InvalidArtifact
from functions.pipeline.artifacts import copy_artifact, download

COMMIT = "c" * 40
PREFIX = f"orders/{COMMIT}/"


@pytest.fixture
def bucket(aws: None) -> str:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="candidates")
    return "candidates"


def _put(key: str, body: bytes = b"{}") -> None:
    boto3.client("s3", region_name="us-east-1").put_object(Bucket="candidates", Key=PREFIX + key, Body=body)


def test_the_tree_and_the_manifest_come_back(bucket: str, tmp_path: Path) -> None:
    _put("cdk.out/manifest.json", b'{"version": "1"}')
    _put("cdk.out/asset.abc/index.js", b"exports.handler = 1")
    _put("artifact-manifest.json", b'{"signed": true}')
    cdk_out, manifest = download(boto3.client("s3"), bucket, "orders", COMMIT, tmp_path)
    assert sorted(p.relative_to(cdk_out).as_posix() for p in cdk_out.rglob("*") if p.is_file()) == [
        "asset.abc/index.js",
        "manifest.json",
    ]
    assert manifest == b'{"signed": true}'


@pytest.mark.parametrize("key", ["cdk.out/../../escape.json", "cdk.out/a/./b.json", "cdk.out//double.json"])
def test_an_unsafe_object_key_is_an_invalid_artifact_and_writes_nothing_outside(bucket, tmp_path, key) -> None:
    _put("artifact-manifest.json")
    _put(key)
    with pytest.raises(InvalidArtifact, match="unsafe object key"):
        download(boto3.client("s3"), bucket, "orders", COMMIT, tmp_path / "scratch")
    assert not (tmp_path / "escape.json").exists()


def test_a_missing_manifest_is_an_invalid_artifact(bucket: str, tmp_path: Path) -> None:
    _put("cdk.out/manifest.json")
    with pytest.raises(InvalidArtifact, match="manifest not found"):
        download(boto3.client("s3"), bucket, "orders", COMMIT, tmp_path)


def test_the_manifest_is_copied_last(bucket: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="releases")
    for key in ("artifact-manifest.json", "cdk.out/manifest.json", "artifact-provenance.dsse.json"):
        _put(key)
    copied: list[str] = []
    original = s3.copy_object

    def record(**arguments):
        copied.append(arguments["Key"].removeprefix(PREFIX))
        return original(**arguments)

    s3.copy_object = record  # type: ignore[method-assign]
    assert copy_artifact(s3, "candidates", "releases", "orders", COMMIT) == 3
    assert copied[-1] == "artifact-manifest.json"


def test_a_file_that_is_also_a_folder_is_an_invalid_artifact(bucket: str, tmp_path: Path) -> None:
    _put("artifact-manifest.json")
    _put("cdk.out/asset")
    _put("cdk.out/asset/index.js")
    with pytest.raises(InvalidArtifact, match="clashes with another"):
        download(boto3.client("s3"), bucket, "orders", COMMIT, tmp_path)
