"""The pipeline's Validate step: the same verification `artifactctl manifest verify` runs, against the
artifact as stored in S3 and the expectations recorded in its metadata item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from functions.artifacts.errors import Finding, InvalidArtifact
from functions.artifacts.signing import load_public_key
from functions.artifacts.verify import Expectations, verify_artifact

from . import lifecycle as lc
from .artifacts import download_versioned, scratch_directory
from .settings import FunctionSettings
from .store import MetadataTable
from .transitions import Context, Run, commit


def validate(
    run: Run, *, settings: FunctionSettings, public_key_pem: str, table: MetadataTable, s3: Any
) -> dict[str, Any]:
    item = table.get(run.service, run.commit_sha)
    if item is None:
        raise InvalidArtifact(
            [Finding("commit", run.commit_sha, f"no metadata item for {run.service}@{run.commit_sha}")]
        )
    public_key = load_public_key(public_key_pem.encode(), "the CI signer public key")
    with scratch_directory() as scratch:
        bucket = settings.bucket_of(run.environment)
        cdk_out, manifest, version = download_versioned(s3, bucket, run.service, run.commit_sha, Path(scratch))
        report = verify_artifact(
            cdk_out,
            manifest,
            public_key,
            Expectations(
                service=run.service,
                commit=run.commit_sha,
                artifact_sha256=item.get("artifact_sha256"),
                context_hash=item.get("cdk_context_hash"),
                approved_cdk_versions=settings.approved_cdk_versions,
            ),
        )
    if not report.ok:
        raise InvalidArtifact(report.findings)
    # The manifest version that verified: promotion copies exactly that one.
    pinned = {lc.MANIFEST_VERSION_ID: version} if version else None
    commit(table, Context(run, item, lc.transition(lc.Action.VALIDATED, run.environment)), pinned)
    return {"verified": True, "files": report.files_checked, "artifact_sha256": item.get("artifact_sha256")}
