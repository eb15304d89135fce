"""The pipeline's Validate step: the same verification `artifactctl manifest verify` runs, against the
artifact as stored in S3 and the expectations recorded in its metadata item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from functions.artifacts.errors import Finding, InvalidArtifact
from functions.artifacts.signing import load_public_key
from functions.artifacts.verify import Expectations, verify_artifact

from . import vocabulary as v
from .artifacts import download, scratch_directory
from .settings import FunctionSettings
from .store import MetadataTable, Update, now_iso


def validate(
    service: str,
    commit_sha: str,
    environment: str,
    execution_id: str,
    *,
    settings: FunctionSettings,
    public_key_pem: str,
    table: MetadataTable,
    s3: Any,
) -> dict[str, Any]:
    item = table.get(service, commit_sha)
    if item is None:
        raise InvalidArtifact([Finding("commit", commit_sha, f"no metadata item for {service}@{commit_sha}")])
    bucket = settings.candidate_bucket if environment == v.STAGE else settings.release_bucket
    public_key = load_public_key(public_key_pem.encode(), "the CI signer public key")
    with scratch_directory() as scratch:
        cdk_out, manifest = download(s3, bucket, service, commit_sha, Path(scratch))
        report = verify_artifact(
            cdk_out,
            manifest,
            public_key,
            Expectations(
                service=service,
                commit=commit_sha,
                artifact_sha256=item.get("artifact_sha256"),
                context_hash=item.get("cdk_context_hash"),
                approved_cdk_versions=settings.approved_cdk_versions or None,
            ),
        )
    if not report.ok:
        raise InvalidArtifact(report.findings)
    table.update(
        service,
        commit_sha,
        Update(
            sets={"integrity_verified": True, "asset_verification_passed": True, "validated_at": now_iso()},
            conditions=[("execution_id", "=", execution_id)],
        ),
    )
    return {"verified": True, "files": report.files_checked, "artifact_sha256": item.get("artifact_sha256")}
