"""Artifacts in the tools buckets, as the pipeline reads and copies them: `{service}/{commit}/`."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path
from typing import Any

from functions.artifacts.errors import Finding, HashMismatch, InvalidArtifact
from functions.artifacts.manifest import parse_manifest
from functions.artifacts.tree import path_problem
from functions.naming import MANIFEST_NAME, PROVENANCE_NAME, artifact_prefix


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def download(s3: Any, bucket: str, service: str, commit_sha: str, target: Path) -> tuple[Path, bytes]:
    """The artifact's cdk.out tree under `target` and its manifest's bytes."""
    cdk_out, manifest, _ = download_versioned(s3, bucket, service, commit_sha, target)
    return cdk_out, manifest


def download_versioned(
    s3: Any, bucket: str, service: str, commit_sha: str, target: Path
) -> tuple[Path, bytes, str | None]:
    """`download`, and the version id of the manifest object whose bytes were read (None when the bucket
    is not versioned): promotion copies exactly that version."""
    prefix = artifact_prefix(service, commit_sha)
    keys = list_keys(s3, bucket, prefix)
    if prefix + MANIFEST_NAME not in keys:
        raise InvalidArtifact([Finding("structure", f"s3://{bucket}/{prefix}{MANIFEST_NAME}", "manifest not found")])
    cdk_out = target / "cdk.out"
    cdk_out.mkdir(parents=True)
    for key in keys:
        if not key.startswith(prefix + "cdk.out/"):
            continue
        relative = key[len(prefix + "cdk.out/") :]
        reason = path_problem(relative)
        if reason:
            raise InvalidArtifact([Finding("files", relative, f"unsafe object key: {reason}")])
        destination = cdk_out / relative
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(destination))
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:  # `x` beside `x/y`
            raise InvalidArtifact([Finding("files", relative, f"object key clashes with another: {exc}")]) from None
    response = s3.get_object(Bucket=bucket, Key=prefix + MANIFEST_NAME)
    version = response.get("VersionId")
    return cdk_out, response["Body"].read(), (version if version and version != "null" else None)


MAX_PROVENANCE_BYTES = 64 * 1024 * 1024  # as `artifactctl publish` reads it


def copy_verified_objects(
    s3: Any,
    source_bucket: str,
    target_bucket: str,
    service: str,
    commit_sha: str,
    manifest_version: str,
    public_key: Any,
) -> int:
    """Copy every object but the manifest, checked against the manifest at `manifest_version` (the one
    Validate verified): exactly the `cdk.out` files it names, each copied with S3 computing the copy's
    SHA-256 (`ChecksumAlgorithm`), which must be the manifest's hash; a `cdk.out` object it does not name
    is not copied. Beside the manifest only the DSSE provenance is copied, and only if it is this
    manifest's, signed by the service's key (`public_key`). `InvalidArtifact` names every copy that is not
    the verified bytes (an object overwritten in the candidate bucket since Validate); the manifest is
    then never copied, so no prod run starts (the copies already made stay unreleased: nothing reads a
    release without its manifest, and a retry overwrites them)."""
    prefix = artifact_prefix(service, commit_sha)
    manifest_key = prefix + MANIFEST_NAME
    read = s3.get_object(Bucket=source_bucket, Key=manifest_key, **_version(manifest_version))
    manifest, findings = parse_manifest(read["Body"].read())
    if manifest is None:
        raise InvalidArtifact(findings or [Finding("structure", manifest_key, "the verified manifest does not parse")])
    files = {prefix + "cdk.out/" + relative: sha256 for relative, sha256 in manifest.file_hashes.items()}
    provenance = _verified_provenance(s3, source_bucket, prefix, manifest, public_key)
    mismatched = []
    for key in sorted(files):
        expected = base64.b64encode(bytes.fromhex(files[key])).decode("ascii")
        copied = s3.copy_object(
            Bucket=target_bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": key}, ChecksumAlgorithm="SHA256"
        )
        actual = copied.get("CopyObjectResult", {}).get("ChecksumSHA256")
        if actual != expected:
            mismatched.append(
                HashMismatch(
                    "files",
                    key[len(prefix + "cdk.out/") :],
                    f"changed in the candidate bucket since stage's Validate: SHA-256 {actual}, verified {expected}",
                )
            )
    if mismatched:
        raise InvalidArtifact(mismatched)
    if provenance is not None:
        s3.copy_object(Bucket=target_bucket, Key=provenance[0], CopySource=provenance[1])
    return len(files) + (provenance is not None)


def _verified_provenance(
    s3: Any, bucket: str, prefix: str, manifest: Any, public_key: Any
) -> tuple[str, dict[str, str]] | None:
    """The DSSE provenance beside the manifest (key, the exact version to copy), checked to describe this
    manifest and to be signed by the service's key; None if CI published none."""
    from functions.artifacts.provenance import envelope_problems

    key = prefix + PROVENANCE_NAME
    if key not in list_keys(s3, bucket, key):
        return None
    read = s3.get_object(Bucket=bucket, Key=key)
    problems = envelope_problems(read["Body"].read(MAX_PROVENANCE_BYTES + 1), manifest, public_key)
    if problems:
        raise InvalidArtifact(problems)
    source = {"Bucket": bucket, "Key": key} | _version(read.get("VersionId"))
    return key, source


def copy_manifest(
    s3: Any, source_bucket: str, target_bucket: str, service: str, commit_sha: str, manifest_version: str | None
) -> int:
    """Copy the manifest at `manifest_version` (the one Validate verified, whatever was written since):
    its upload to the release bucket starts the prod run."""
    manifest = artifact_prefix(service, commit_sha) + MANIFEST_NAME
    source = {"Bucket": source_bucket, "Key": manifest} | _version(manifest_version)
    s3.copy_object(Bucket=target_bucket, Key=manifest, CopySource=source)
    return 1


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def scratch_directory() -> tempfile.TemporaryDirectory:
    """Lambda's /tmp (or the system's) for a downloaded artifact."""
    return tempfile.TemporaryDirectory(dir=os.environ.get("ARTIFACT_SCRATCH_DIR"))
