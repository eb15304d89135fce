"""The finalizer step at the end of every pipeline path (spec: Metadata Finalizer).

It compares the metadata with the real state of the service's stacks (read through the read-only role
in the service's account) and with how the run ended, and corrects what a crash, a timeout or a lost
step left behind (`lifecycle.REPAIRS`: an execution still `running`, an environment still `deploying`
or `test_running`), and `deployed` recorded while a stack is failed. Corrections emit
`FinalizerCorrectedMetadata` and the `FinalizerCorrected` metric.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from functions import naming

from . import lifecycle as lc
from .notify import Notifier
from .store import MetadataTable
from .transitions import BestEffort, Context, MetricSink, Run, announce, commit, release_lock

FAILED_STACK = re.compile(r"(_FAILED|^ROLLBACK_COMPLETE|^ROLLBACK_IN_PROGRESS)$")
UNAVAILABLE = "<unavailable>"


def stack_names(cloud_assembly: dict[str, Any], service: str, environment: str) -> list[str]:
    """The artifact's stacks for this environment, from its `cdk.out/manifest.json`."""
    names = []
    for artifact_id, artifact in (cloud_assembly.get("artifacts") or {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        name = (artifact.get("properties") or {}).get("stackName") or artifact_id
        if isinstance(name, str) and name.startswith(naming.stack_prefix(service, environment)):
            names.append(name)
    return sorted(names)


def stack_statuses(cloudformation: Any, names: list[str]) -> dict[str, str]:
    """Each stack described by name: the read-only role may describe only the service's stacks."""
    from botocore.exceptions import ClientError

    statuses: dict[str, str] = {}
    for name in names:
        try:
            statuses[name] = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        except ClientError as exc:
            if "does not exist" not in str(exc):
                raise
            statuses[name] = "NOT_FOUND"
    return statuses


def corrections(context: Context, stacks: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """What the run left inconsistent, as attribute values to write, and a note for each."""
    sets: dict[str, Any] = {}
    notes: list[str] = []
    for repair in lc.REPAIRS:
        if context.read(repair.path) == repair.found:
            corrected = context.resolve(repair.corrected)
            sets.update({repair.path: corrected, **repair.also})
            notes.append(f"{repair.path.replace('{env}', context.run.environment)}: {repair.found} -> {corrected}")
    broken = [name for name, status in stacks.items() if FAILED_STACK.search(status) or status == "NOT_FOUND"]
    if context.read(lc.ENV_STATUS) == lc.EnvStatus.DEPLOYED and broken:
        sets[lc.ENV_STATUS] = lc.EnvStatus.FAILED
        notes.append(f"deployed, but stacks failed: {', '.join(broken)}")
    return sets, notes


def finalize(
    event: dict[str, Any],
    *,
    table: MetadataTable,
    notify: Notifier,
    metric: MetricSink,
    cloudformation_for: Callable[[str, str], Any],
    cloud_assembly_for: Callable[[str, str, str], dict[str, Any]],
) -> dict[str, Any]:
    """Finalize the run's item, then release the environment's lock, whatever happened to the item: the
    release is conditional on this run holding the lock, so a run that never took it releases nothing."""
    run = Run.from_event(event)
    outcome = event.get("outcome") or {}
    if outcome.get("action") == lc.Action.LEASE_LOST:
        # This run never owned the item nor took the lock (one transaction): nothing of it to finalize.
        return {"succeeded": bool(outcome.get("succeeded")), "lease_lost": outcome.get("reason"), "corrections": []}
    try:
        result = _finalize_item(run, outcome, table, notify, metric, cloudformation_for, cloud_assembly_for)
    except Exception:
        # The item's failure is the one to report (the task fails and is caught); a failure to release
        # on top of it must not hide it (the lock then expires, or the watchdog breaks it).
        try:
            release_lock(table, run)
        except Exception as release_error:  # noqa: BLE001 - reported beside the original, never instead
            logging.getLogger(__name__).error(
                "releasing the lock of %s failed too: %s", run.execution_id, release_error
            )
        raise
    return {**result, "lock_released": release_lock(table, run)}


def _finalize_item(
    run: Run,
    outcome: Mapping[str, Any],
    table: MetadataTable,
    notify: Notifier,
    metric: MetricSink,
    cloudformation_for: Callable[[str, str], Any],
    cloud_assembly_for: Callable[[str, str, str], dict[str, Any]],
) -> dict[str, Any]:
    item = table.get(run.service, run.commit_sha)
    if item is None or item.get(lc.EXECUTION_ID) != run.execution_id:
        return {"succeeded": False, "corrections": [], "reason": "the item belongs to another execution"}
    try:
        names = stack_names(
            cloud_assembly_for(run.service, run.commit_sha, run.environment), run.service, run.environment
        )
        stacks = stack_statuses(cloudformation_for(run.service, run.environment), names)
    except Exception as exc:  # an unreachable account must not stop the metadata from being finalized
        stacks = {UNAVAILABLE: str(exc)[:200]}

    context = Context(run, item, lc.transition(lc.Action.FINALIZED, run.environment))
    sets, notes = corrections(context, stacks)
    sets.update({lc.ENV_STACKS: stacks, "finalizer_correction_applied": bool(notes)})
    if notes:
        sets.update({"finalizer_corrected": True, "finalizer_corrected_at": lc.Ref.NOW})
    applied = commit(table, context, sets)
    if applied and notes:
        announce(BestEffort(notify), metric, context, corrections=notes)
    elif not notes:
        metric(lc.Metric.FINALIZER_CORRECTED.value, 0)
    return {"succeeded": bool(outcome.get("succeeded")) and not notes, "corrections": notes, "stacks": stacks}
