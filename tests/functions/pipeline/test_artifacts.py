"""Reading an artifact out of a bucket: only safe keys become files, and a missing manifest is an
invalid artifact, not a crash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from functions.artifacts.errors import InvalidArtifact
from functions.artifacts.manifest import Manifest, dumps
from functions.artifacts.provenance import envelope
from functions.pipeline.artifacts import copy_manifest, copy_verified_objects, download
from tests.functions.artifact_support import new_signer

COMMIT = "c" * 40
PREFIX = f"orders/{COMMIT}/"
SIGNER = new_signer()
KEY = SIGNER.private_key.public_key()  # the service's signing key, as ServiceKeys reads it


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


def _verified(artifact_manifest: Manifest, files: dict[str, bytes]) -> str | None:
    """Put `files` under cdk.out/ and a manifest naming their hashes; the manifest's version id."""
    for relative, body in files.items():
        _put("cdk.out/" + relative, body)
    hashes = {relative: hashlib.sha256(body).hexdigest() for relative, body in files.items()}
    body = dumps(replace(artifact_manifest, file_hashes=hashes))
    s3 = boto3.client("s3", region_name="us-east-1")
    return s3.put_object(Bucket="candidates", Key=PREFIX + "artifact-manifest.json", Body=body).get("VersionId")


def _released() -> list[str]:
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="releases").get("Contents", [])
    return sorted(o["Key"].removeprefix(PREFIX) for o in listed)


def test_the_release_copy_is_exactly_the_files_the_verified_manifest_names(bucket: str, artifact_manifest) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="releases")
    files = {"manifest.json": b'{"version": "1"}', "a/b.json": b"{}"}
    version = _verified(artifact_manifest, files)
    manifest = replace(artifact_manifest, file_hashes={r: hashlib.sha256(b).hexdigest() for r, b in files.items()})
    _put("artifact-provenance.dsse.json", json.dumps(envelope(manifest, SIGNER)).encode())
    _put("cdk.out/added-after-validate.json")
    _put("unnamed-object-beside-the-manifest.json")  # not the manifest's, not the provenance: not copied

    assert copy_verified_objects(s3, "candidates", "releases", "orders", COMMIT, version, KEY) == 3
    assert _released() == ["artifact-provenance.dsse.json", "cdk.out/a/b.json", "cdk.out/manifest.json"]
    assert copy_manifest(s3, "candidates", "releases", "orders", COMMIT, version) == 1
    assert "artifact-manifest.json" in _released()


def test_an_object_overwritten_since_validate_fails_the_copy_naming_it(bucket: str, artifact_manifest) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="releases")
    s3.put_bucket_versioning(Bucket="candidates", VersioningConfiguration={"Status": "Enabled"})
    version = _verified(artifact_manifest, {"manifest.json": b'{"version": "1"}', "stack.template.json": b"{}"})
    _put("cdk.out/stack.template.json", b'{"Resources": {"Evil": {}}}')
    _put("artifact-manifest.json", b'{"forged": true}')  # the version Validate verified is still read

    with pytest.raises(InvalidArtifact, match="stack.template.json: changed in the candidate bucket") as raised:
        copy_verified_objects(s3, "candidates", "releases", "orders", COMMIT, version, KEY)
    assert [f.subject for f in raised.value.findings] == ["stack.template.json"]
    assert "artifact-manifest.json" not in _released()


def test_a_file_that_is_also_a_folder_is_an_invalid_artifact(bucket: str, tmp_path: Path) -> None:
    _put("artifact-manifest.json")
    _put("cdk.out/asset")
    _put("cdk.out/asset/index.js")
    with pytest.raises(InvalidArtifact, match="clashes with another"):
        download(boto3.client("s3"), bucket, "orders", COMMIT, tmp_path)
