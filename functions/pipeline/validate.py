"""The pipeline's Validate step: the same verification `artifactctl manifest verify` runs, against the
artifact as stored in S3, the expectations recorded in its metadata item, and the service's blessed
context (never the context hash CI itself wrote). The signature is checked with the key of the
service the run is for (`ServiceKeys`), so another service's key never verifies it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from functions.artifacts.errors import Finding, InvalidArtifact, has_hash_mismatch
from functions.artifacts.verify import Expectations, verify_artifact

from . import lifecycle as lc
from .artifacts import download_versioned, scratch_directory
from .auditing import audit_lease
from .blessed_context import expected_context
from .catalog import ServiceCatalog
from .settings import FunctionSettings
from .signers import ServiceKeys
from .store import MetadataTable, revoked_because
from .transitions import Context, MetricSink, Run, commit


def validate(
    run: Run,
    *,
    settings: FunctionSettings,
    catalog: ServiceCatalog,
    keys: ServiceKeys,
    table: MetadataTable,
    s3: Any,
    context_public_key_pem: Callable[[], str],
    metric: MetricSink,
) -> dict[str, Any]:
    item = table.get(run.service, run.commit_sha)
    if item is None:
        raise InvalidArtifact(
            [Finding("commit", run.commit_sha, f"no metadata item for {run.service}@{run.commit_sha}")]
        )
    audit_lease(table, run, item)
    _refuse_revoked_content(table, run.service, item.get("artifact_sha256"))
    public_key = keys.public_key(run.service)  # SigningError (KMS refused): a failed run, not a rejection
    context = expected_context(
        run.service, settings=settings, catalog=catalog, s3=s3, context_public_key_pem=context_public_key_pem
    )
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
                context_hash=context,
                approved_cdk_versions=settings.approved_cdk_versions,
            ),
        )
    if not report.ok:
        if has_hash_mismatch(report.findings):  # only hash mismatches, not every way an artifact is invalid
            metric(lc.Metric.ASSET_HASH_MISMATCH.value, 1)
        raise InvalidArtifact(report.findings)
    # The manifest version that verified: promotion copies that one, and checks its copy of each file against it.
    pinned = {lc.MANIFEST_VERSION_ID: version} if version else None
    commit(table, Context(run, item, lc.transition(lc.Action.VALIDATED, run.environment)), pinned)
    return {"verified": True, "files": report.files_checked, "artifact_sha256": item.get("artifact_sha256")}


def _refuse_revoked_content(table: MetadataTable, service: str, artifact_sha256: str | None) -> None:
    """Content revoked after intake recorded it (a race with a prod failure of the same bytes under
    another commit) is refused here too."""
    revoked = table.revocation(service, artifact_sha256)
    if revoked is not None:
        raise InvalidArtifact([Finding("revoked", f"artifact_sha256 {artifact_sha256}", revoked_because(revoked))])
