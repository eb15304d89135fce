"""The finalizer at the end of every run (spec: Metadata Finalizer, Stuck Execution Handling & Metadata
Consistency): the state machine's `Finalize` state, and EventBridge for a run that ended FAILED, TIMED_OUT
or ABORTED without it (`endings.py`).

It compares the metadata with how the run ended and with the real state (`evidence.py`: the run's deploy
build in its execution history and CodeBuild, the service's stacks read through the read-only role in
the service's account), and corrects both ways what a crash, a timeout, an abort or a lost step left
behind: a deploy that happened but was not recorded becomes `deployed`, one that changed nothing is
retryable again (`lifecycle.RECONCILIATIONS`); what no evidence explains gets the generic repairs
(`lifecycle.REPAIRS`: an execution still `running`, an environment still `deploying` or `test_running`);
`deployed` recorded while a stack is failed becomes `failed`. Each correction is written once (guarded on
the value it corrects) and emits `FinalizerCorrectedMetadata` and the `FinalizerCorrected` metric; the
lease's `sweep_phase=running` is cleared; the environment's lock is released by its holder.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from functions import naming

from . import evidence
from . import lifecycle as lc
from .endings import Ending, Refused, ending_of
from .evidence import FAILED_STACK, DeployBuild, StackState
from .notify import Notifier
from .store import MetadataTable
from .transitions import BestEffort, Context, MetricSink, Run, announce, commit, release_lock

UNAVAILABLE = "<unavailable>"
LOG = logging.getLogger(__name__)


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


@dataclass
class Findings:
    """What the finalizer read and concluded for one run."""

    stacks: dict[str, str]
    finding: lc.Finding | None = None
    build: DeployBuild | None = None
    execution_status: lc.ExecutionStatus | None = None  # how the run ended, when Step Functions said so
    parked: lc.ParkedBecause | None = None  # why the run's ending parks the artifact for a person


def corrections(
    context: Context, findings: Findings
) -> tuple[dict[str, Any], list[str], dict[str, Any], lc.Reconciliation | None]:
    """What the run left inconsistent: attribute values to write, a note for each, the values they
    correct (the write is guarded on them), and the reconciliation that applies, if any."""
    sets: dict[str, Any] = {}
    notes: list[str] = []
    found: dict[str, Any] = {}
    environment = context.run.environment
    reconciled = lc.reconciliation(findings.finding, environment)
    broken = [name for name, status in findings.stacks.items() if FAILED_STACK.search(status) or status == "NOT_FOUND"]
    findings.parked = _stopped_or_broken(context, findings, broken)
    for repair in lc.REPAIRS:
        if context.read(repair.path) != repair.found:
            continue
        found[repair.path] = repair.found.value if hasattr(repair.found, "value") else repair.found
        if repair.path == lc.ENV_STATUS and reconciled is not None:
            sets.update(reconciled.sets)
            corrected = context.resolve(reconciled.sets[lc.ENV_STATUS])
            path = lc.env_path(repair.path, environment)
            notes.append(f"{path}: {repair.found} -> {corrected} ({reconciled.finding})")
            continue
        corrected = findings.execution_status if repair.path == lc.EXECUTION_STATUS else None
        corrected = context.resolve(corrected or repair.corrected)
        sets.update({repair.path: corrected, **repair.also})
        notes.append(f"{lc.env_path(repair.path, environment)}: {repair.found} -> {corrected}")
        _retried(context, findings, repair.path, sets, notes, found)
    if context.read(lc.ENV_STATUS) == lc.EnvStatus.DEPLOYED and broken:
        sets[lc.ENV_STATUS] = lc.EnvStatus.FAILED
        found[lc.ENV_STATUS] = lc.EnvStatus.DEPLOYED.value
        notes.append(f"deployed, but stacks failed: {', '.join(broken)}")
    if findings.parked in (lc.ParkedBecause.STOPPED_BY_HAND, lc.ParkedBecause.BROKEN_STACKS):
        _park(context, findings.parked, ", ".join(broken), sets, notes, found)
    return sets, notes, found, reconciled


def _stopped_or_broken(context: Context, findings: Findings, broken: list[str]) -> lc.ParkedBecause | None:
    """Whether the ending parks the artifact whatever else is corrected (`lc.ParkedBecause`): a run stopped
    by hand (ABORTED while it still held its item `running`: the watchdog requeues before it stops), or a
    prod recorded `deployed` with a failed stack. Only while the artifact is its environment's release."""
    environment = lc.Environment(context.run.environment)
    if context.read(lc.STATUS) != lc.RETRIED_STATUS[environment]:
        return None
    running = context.read(lc.SWEEP_PHASE) == lc.SweepPhase.RUNNING
    if findings.execution_status == lc.ExecutionStatus.KILLED and running:
        return lc.ParkedBecause.STOPPED_BY_HAND
    if environment is lc.Environment.PROD and broken and context.read(lc.ENV_STATUS) == lc.EnvStatus.DEPLOYED:
        return lc.ParkedBecause.BROKEN_STACKS
    return None


def _park(
    context: Context, because: lc.ParkedBecause, stacks: str, sets: dict[str, Any], notes: list[str], found: dict
) -> None:
    """Parked for a person (`lc.parked_sets`), guarded on the artifact still being its environment's release
    (and, stopped by hand, on the run still holding it `running`)."""
    environment = lc.Environment(context.run.environment)
    detail = stacks if because is lc.ParkedBecause.BROKEN_STACKS else ""
    sets.update(lc.parked_sets(environment, lc.parked_reason(environment, because, detail)))
    found[lc.STATUS] = lc.RETRIED_STATUS[environment].value
    if because is lc.ParkedBecause.STOPPED_BY_HAND:
        found[lc.SWEEP_PHASE] = lc.SweepPhase.RUNNING.value
    notes.append(f"{sets[lc.SWEEP_PHASE]}: parked, manual intervention required ({because})")


def _retried(
    context: Context, findings: Findings, path: str, sets: dict[str, Any], notes: list[str], found: dict[str, Any]
) -> None:
    """After a generic repair, the environment goes back into the sweep (or is parked for a person):
    `lc.UNPROVEN_ENDINGS`, guarded on the artifact still being its environment's release."""
    environment = lc.Environment(context.run.environment)
    again = lc.UNPROVEN_ENDINGS.get((path, environment))
    status = lc.RETRIED_STATUS[environment]
    if again is None or context.read(lc.STATUS) != status or lc.SWEEP_PHASE in sets or findings.parked:
        return  # not retryable, or its phase is already decided (a reconciliation, a repair before, parked)
    sets.update(again)
    found[lc.STATUS] = status.value
    phase = again[lc.SWEEP_PHASE]
    if again.get(lc.MANUAL_INTERVENTION):
        findings.parked = lc.ParkedBecause.UNPROVEN_DEPLOY
    notes.append(f"{phase}: {'parked, manual intervention required' if 'parked' in phase else 'next attempt'}")


@dataclass(frozen=True)
class Readers:
    """Where the finalizer reads the real state from (the Lambda's clients; fakes in tests)."""

    cloudformation_for: Callable[[str, str], Any]
    cloud_assembly_for: Callable[[str, str, str], dict[str, Any]]
    stepfunctions: Any = None  # the run's execution history (None: not read)
    codebuild: Any = None  # its deploy build's status


def finalize(
    event: dict[str, Any],
    *,
    table: MetadataTable,
    notify: Notifier,
    metric: MetricSink,
    cloudformation_for: Callable[[str, str], Any],
    cloud_assembly_for: Callable[[str, str, str], dict[str, Any]],
    stepfunctions: Any = None,
    codebuild: Any = None,
    state_machine_arn: str = "",
) -> dict[str, Any]:
    """Finalize the run's item, then release the environment's lock, whatever happened to the item: the
    release is conditional on this run holding the lock, so a run that never took it releases nothing."""
    try:
        ending = ending_of(event, state_machine_arn=state_machine_arn, stepfunctions=stepfunctions)
    except Refused as refusal:
        LOG.warning("finalizer refused an event: %s", refusal)
        return {"succeeded": False, "corrections": [], "refused": str(refusal)}
    run, outcome = ending.run, ending.outcome
    if ending.status is not None and ending.status not in lc.EXECUTION_ENDED:  # RUNNING, PENDING_REDRIVE
        # A late or forged event: the run is not over, its own `Finalize` will come.
        return {"succeeded": False, "corrections": [], "ignored": f"{run.execution_id} is still running"}
    if outcome.get("action") == lc.Action.LEASE_LOST:
        # This run never owned the item nor took the lock (one transaction): nothing of it to finalize.
        return {"succeeded": bool(outcome.get("succeeded")), "lease_lost": outcome.get("reason"), "corrections": []}
    readers = Readers(cloudformation_for, cloud_assembly_for, stepfunctions, codebuild)
    try:
        result = _finalize_item(ending, table, notify, metric, readers)
    except Exception:
        # The item's failure is the one to report (the task fails and is caught); a failure to release
        # on top of it must not hide it (the lock then expires, or the watchdog breaks it).
        try:
            release_lock(table, run)
        except Exception as release_error:  # noqa: BLE001 - reported beside the original, never instead
            LOG.error("releasing the lock of %s failed too: %s", run.execution_id, release_error)
        raise
    return {**result, "lock_released": release_lock(table, run)}


def _read_stacks(run: Run, readers: Readers) -> dict[str, StackState] | None:
    try:
        assembly = readers.cloud_assembly_for(run.service, run.commit_sha, run.environment)
        names = stack_names(assembly, run.service, run.environment)
        return evidence.stack_states(readers.cloudformation_for(run.service, run.environment), names)
    except Exception as exc:  # an unreachable account must not stop the metadata from being finalized
        LOG.warning("the stacks of %s in %s are unavailable: %s", run.service, run.environment, exc)
        raise _Unavailable(str(exc)[:200]) from None


class _Unavailable(Exception):
    pass


def _read_findings(ending: Ending, item: Mapping[str, Any], readers: Readers) -> tuple[Findings, Run]:
    """The stacks, and for an environment left `deploying` the run's deploy build and what they say."""
    run = ending.run
    try:
        states: dict[str, StackState] | None = _read_stacks(run, readers)
        statuses = {name: state.status for name, state in (states or {}).items()}
    except _Unavailable as exc:
        states, statuses = None, {UNAVAILABLE: str(exc)}
    findings = Findings(statuses, execution_status=ending.execution_status)
    if lc.read(item, lc.ENV_STATUS, run.environment) != lc.EnvStatus.DEPLOYING or readers.stepfunctions is None:
        return findings, run
    try:
        findings.build = evidence.deploy_build(readers.stepfunctions, readers.codebuild, run.execution_id)
    except Exception as exc:  # noqa: BLE001 - no history, no finding: the generic repairs apply
        LOG.warning("the deploy build of %s is unknown: %s", run.execution_id, exc)
        return findings, run
    started = lc.read(item, lc.ENV_DEPLOY_STARTED_AT, run.environment)
    findings.finding = evidence.finding(findings.build, states, started)
    if findings.build.build_id:
        run = dataclasses.replace(run, deploy={"build_id": findings.build.build_id})
    return findings, run


def _rollback_interrupted(
    ending: Ending, item: dict[str, Any], table: MetadataTable, notify: Notifier, metric: MetricSink
) -> dict[str, Any]:
    """A rollback whose run ended without its `Finalize` (stopped by hand, timed out): prod's state is
    unknown, a person decides (`rollback_interrupted`: rollback_failed, manual intervention, critical
    alert), worded from how it ended; `RollbackFailed` only (the watchdog's stop of a stuck run is the
    one `StuckPipelineTerminated`)."""
    run = ending.run
    how = lc.ROLLBACK_ENDED.get(str(ending.status), str(ending.status).lower())
    run = dataclasses.replace(run, error={"Error": how, "Cause": run.error_text().rstrip(": ") or str(ending.status)})
    context = Context(run, item, lc.rollback_ended())
    if run.environment != lc.Environment.PROD or not commit(table, context):
        return item
    announce(BestEffort(notify), metric, context, execution_status=ending.status)
    return table.get(run.service, run.commit_sha) or item


def _finalize_item(
    ending: Ending, table: MetadataTable, notify: Notifier, metric: MetricSink, readers: Readers
) -> dict[str, Any]:
    run = ending.run
    item = table.get(run.service, run.commit_sha)
    if item is None or item.get(lc.EXECUTION_ID) != run.execution_id:
        return {"succeeded": False, "corrections": [], "reason": "the item belongs to another execution"}
    if ending.status is not None and item.get(lc.STATUS) == lc.Status.ROLLBACK_INITIATED:
        item = _rollback_interrupted(ending, item, table, notify, metric)
    findings, run = _read_findings(ending, item, readers)
    base = Context(run, item, lc.transition(lc.Action.FINALIZED, run.environment))
    sets, notes, found, reconciled = corrections(base, findings)
    clears_running = item.get(lc.SWEEP_PHASE) == lc.SweepPhase.RUNNING and lc.SWEEP_PHASE not in sets
    first = item.get(lc.FINALIZED_EXECUTION) != run.execution_id
    result = {"succeeded": bool(ending.outcome.get("succeeded")) and not notes, "corrections": notes}
    result["stacks"] = findings.stacks
    if findings.finding:
        result["finding"] = findings.finding.value
    if not (notes or first or clears_running):
        return {**result, "already_finalized": True}  # this run was finalized, and nothing changed since
    guard = reconciled.guard if reconciled else ()
    finalizing = lc.finalizing(run.environment, found.items(), clears_running=clears_running, extra_guard=guard)
    if findings.parked:
        reason = sets[lc.ENV_FAILURE_REASON]
        finalizing = lc.parked_by_finalizer(finalizing, findings.parked, reason)
    context = Context(run, item, finalizing, base.moment)
    sets[lc.ENV_STACKS] = findings.stacks
    if notes:
        sets.update({"finalizer_correction_applied": True, "finalizer_corrected": True})
        sets["finalizer_corrected_at"] = lc.Ref.NOW
    elif first:
        sets["finalizer_correction_applied"] = False
    applied = commit(table, context, sets)
    if applied and notes:
        announce(BestEffort(notify), metric, context, corrections=notes)
    elif applied and first:
        metric(lc.Metric.FINALIZER_CORRECTED.value, 0)
    if not applied:  # the item changed since it was read (another writer): nothing written, nothing claimed
        return {**result, "corrections": [], "applied": False}
    return result
