"""Promotion after stage tests pass: the artifact moves to the release bucket (whose manifest event
starts the prod run) and its item becomes `promoted` (lifecycle: `Action.PROMOTED`).

The release copy is re-verified as it is made, against the manifest version stage's Validate verified
(its version id is on the item): promotion copies exactly the files that manifest names, S3 computes
each copy's SHA-256, and each must be the manifest's (`copy_verified_objects`). An object overwritten in
the candidate bucket during stage tests fails promotion (`InvalidArtifact`, before the claim, the state
machine's RecordFailed: the stage run fails naming the objects, the item stays a candidate) and the
manifest is never copied, so no prod run starts. What the release bucket holds is what stage verified;
the prod run's Validate verifies it once more against the item's `artifact_sha256`."""

from __future__ import annotations

from typing import Any

from functions.artifacts.errors import InvalidArtifact, has_hash_mismatch

from . import lifecycle as lc
from .artifacts import copy_manifest, copy_verified_objects
from .notify import Notifier
from .settings import FunctionSettings
from .signers import ServiceKeys
from .store import MetadataTable
from .transitions import BestEffort, Context, MetricSink, Run, announce, commit


def promote(
    run: Run,
    *,
    settings: FunctionSettings,
    table: MetadataTable,
    s3: Any,
    keys: ServiceKeys,
    notify: Notifier,
    metric: MetricSink,
) -> dict[str, Any]:
    refused = {"action": lc.Action.PROMOTED.value, "applied": False, "succeeded": False}
    item = table.get(run.service, run.commit_sha) or {}
    if item.get(lc.EXECUTION_ID) != run.execution_id:
        return refused
    source, target = settings.candidate_bucket, settings.release_bucket
    verified = lc.read(item, lc.MANIFEST_VERSION_ID, lc.Environment.STAGE)
    if not verified:  # the buckets are versioned: no version means Validate did not record what it verified
        raise ValueError(f"{run.service}@{run.commit_sha} has no verified manifest version from stage's Validate")
    already_claimed = item.get(lc.STATUS) == lc.Status.PROMOTED
    # 1. every object but the manifest, each checked to be the bytes the verified manifest names
    # (idempotent: a retry copies the same bytes again); InvalidArtifact if any is not. A retry after
    # the claim skips it: the claim follows a complete verified copy, which a candidate overwritten since
    # must not undo;
    copied = 0
    if not already_claimed:
        key = keys.public_key(run.service)
        try:
            copied = copy_verified_objects(s3, source, target, run.service, run.commit_sha, verified, key)
        except InvalidArtifact as invalid:  # a copy that is not the verified bytes: a hash mismatch
            if has_hash_mismatch(invalid.findings):
                metric(lc.Metric.ASSET_HASH_MISMATCH.value, 1)
            raise
    # 2. the claim (conditional); a retry after it finds the item already promoted by this execution;
    context = Context(run, item, lc.transition(lc.Action.PROMOTED, lc.Environment.STAGE))
    if not (already_claimed or commit(table, context)):
        return refused
    # 3. the manifest last, the version Validate verified in stage: its upload starts the prod run, which
    # finds the item promoted and verifies every object copied in 1 against it again.
    copied += copy_manifest(s3, source, target, run.service, run.commit_sha, verified)
    sender = BestEffort(notify)
    announce(sender, metric, context, artifact_sha256=item.get("artifact_sha256"), objects=copied)
    result = {"action": lc.Action.PROMOTED.value, "applied": True, "succeeded": True, "objects": copied}
    return {**result, **({"notification_failures": sender.failures} if sender.failures else {})}
