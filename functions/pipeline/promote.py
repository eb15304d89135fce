"""Promotion after stage tests pass: the artifact moves to the release bucket (whose manifest event
starts the prod run) and its item becomes `promoted` (lifecycle: `Action.PROMOTED`)."""

from __future__ import annotations

from typing import Any

from . import lifecycle as lc
from .artifacts import copy_artifact
from .notify import Notifier
from .settings import FunctionSettings
from .store import MetadataTable
from .transitions import BestEffort, Context, MetricSink, Run, announce, commit


def promote(
    run: Run, *, settings: FunctionSettings, table: MetadataTable, s3: Any, notify: Notifier, metric: MetricSink
) -> dict[str, Any]:
    refused = {"action": lc.Action.PROMOTED.value, "applied": False, "succeeded": False}
    item = table.get(run.service, run.commit_sha) or {}
    if item.get(lc.EXECUTION_ID) != run.execution_id:
        return refused
    source, target = settings.candidate_bucket, settings.release_bucket
    # 1. every object but the manifest (idempotent: a retry copies the same bytes again);
    copied = copy_artifact(s3, source, target, run.service, run.commit_sha, include_manifest=False)
    # 2. the claim (conditional); a retry after it finds the item already promoted by this execution;
    context = Context(run, item, lc.transition(lc.Action.PROMOTED, lc.Environment.STAGE))
    already_claimed = item.get(lc.STATUS) == lc.Status.PROMOTED
    if not (already_claimed or commit(table, context)):
        return refused
    # 3. the manifest last: its upload starts the prod run, which finds the item promoted.
    copied += copy_artifact(s3, source, target, run.service, run.commit_sha, only_manifest=True)
    sender = BestEffort(notify)
    announce(sender, metric, context, artifact_sha256=item.get("artifact_sha256"), objects=copied)
    result = {"action": lc.Action.PROMOTED.value, "applied": True, "succeeded": True, "objects": copied}
    return {**result, **({"notification_failures": sender.failures} if sender.failures else {})}
