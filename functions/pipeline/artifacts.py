"""Artifacts in the tools buckets, as the pipeline reads and copies them: `{service}/{commit}/`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from functions.artifacts.errors import Finding, InvalidArtifact
from functions.artifacts.tree import path_problem
from functions.naming import MANIFEST_NAME, artifact_prefix


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


def copy_artifact(
    s3: Any,
    source_bucket: str,
    target_bucket: str,
    service: str,
    commit_sha: str,
    *,
    include_manifest: bool = True,
    only_manifest: bool = False,
    manifest_version: str | None = None,
) -> int:
    """Copy the artifact's objects, the manifest last (its upload triggers the next pipeline run), at
    `manifest_version` when given: the manifest Validate verified, whatever was written since. The other
    objects are copied as they are now: the next run's Validate verifies them against that manifest."""
    prefix = artifact_prefix(service, commit_sha)
    manifest = prefix + MANIFEST_NAME
    if only_manifest:
        source = {"Bucket": source_bucket, "Key": manifest}
        s3.copy_object(Bucket=target_bucket, Key=manifest, CopySource=source | _version(manifest_version))
        return 1
    keys = list_keys(s3, source_bucket, prefix)
    ordered = sorted(k for k in keys if k != manifest)
    if include_manifest and manifest in keys:
        ordered.append(manifest)
    for key in ordered:
        s3.copy_object(Bucket=target_bucket, Key=key, CopySource={"Bucket": source_bucket, "Key": key})
    return len(ordered)


def _version(version_id: str | None) -> dict[str, str]:
    return {"VersionId": version_id} if version_id else {}


def scratch_directory() -> tempfile.TemporaryDirectory:
    """Lambda's /tmp (or the system's) for a downloaded artifact."""
    return tempfile.TemporaryDirectory(dir=os.environ.get("ARTIFACT_SCRATCH_DIR"))
