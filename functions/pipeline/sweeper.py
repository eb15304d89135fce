"""The Global Artifact Sweeper and its Execution Watchdog (spec: Global Artifact Sweeper, Stuck Execution
Handling). Every 2 minutes (EventBridge Scheduler, reserved concurrency 1):

- it reads only the sparse index `sweep-by-age` (never a Scan): artifacts waiting for their next attempt
  in `stage`/`prod` for more than SWEEP_AFTER_SECONDS, runs in the `running` phase for more than
  WATCHDOG_SECONDS, and three counts (`running`: ExecutionsInFlight; `stage_parked` older than the
  configured days: ArtifactNeverPromoted; `prod_parked`: ProdReleasesParked). It reads the item of each
  one it acts on (the index is KEYS_ONLY);
- a waiting artifact: its manifest must still be in its environment's bucket (else parked, with the
  reason); the execution of its current attempt is described: anything but an ending (RUNNING,
  PENDING_REDRIVE) is in flight (never a second run); absent is a dropped event (started if a lease
  would take the item, else parked: "cannot be leased: ..."); ended starts the next attempt while fewer
  than the environment's maximum runs leased it (`LEASED_ATTEMPTS`: waiting for the lock is no attempt),
  else the artifact is parked (`attempts_exhausted`, manual intervention, an alert);
- a run in `running` past the watchdog's threshold: if its execution history had no event for
  WATCHDOG_SECONDS, it is requeued (`requeued`, or `rollback_interrupted` for a rollback, which stays
  `running` until its ending is finalized, so that a failed stop is retried), then stopped
  (`StopExecution`, error `StuckPipelineTerminated`: its ABORTED ending finds the item requeued) and its
  environment's lock released; a run that ended without being finalized is reconciled (the finalizer's
  reconciliation when wired, else requeued).

Transient AWS errors on one item never stop the sweep of the others: they are reported, and the sweep
raises at the end (the Lambda error alarm sees it). A lost guard (another writer won) is not an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions import naming
from functions.artifacts.metadata import SWEEP_INDEX
from functions.timestamps import parse_iso, utc_iso

from . import lifecycle as lc
from .dispatch import start_run
from .endings import status_change
from .leasing import unleasable
from .settings import FunctionSettings
from .store import MetadataTable
from .transitions import BestEffort, Context, MetricSink, Run, announce, commit, release_lock

STUCK_ERROR = "StuckPipelineTerminated"


class SweepIncomplete(RuntimeError):
    """Some items could not be swept (AWS did not answer): the others were; the next sweep retries."""


@dataclass
class SweeperClients:
    settings: FunctionSettings
    table: MetadataTable
    sfn: Any
    s3: Any
    notify: Any  # a Notifier
    metric: MetricSink
    # The finalizer's reconciliation of a run that ended without being finalized (item, execution),
    # when wired; without it, the watchdog requeues such a run itself.
    reconcile: Callable[[Mapping[str, Any], Mapping[str, Any]], Any] | None = None


def finalize_through(lambda_client: Any, finalizer: str, state_machine_arn: str) -> Callable[..., None]:
    """The watchdog's reconciliation of a run that ended without clearing its item (its status change
    never reached the finalizer, or the finalizer failed): the finalizer function is invoked, as its rule
    would, with the status change the event carried. One function reconciles every ending, through its
    own roles (the stacks, the run's history, its deploy build); asynchronously, so that a failure of it
    goes to its dead-letter queue and its error alarm, and the next sweep asks again."""

    def reconcile(item: Mapping[str, Any], ending: Mapping[str, Any]) -> None:
        event = status_change(state_machine_arn, str(ending["executionArn"]), str(ending["status"]))
        lambda_client.invoke(FunctionName=finalizer, InvocationType="Event", Payload=json.dumps(event).encode())

    return reconcile


@dataclass
class Sweep:
    """What one sweep found and did."""

    now: datetime
    items_read: int = 0  # index entries Query returned or counted, and items read with GetItem
    waiting: int = 0
    watched: int = 0
    in_flight: int = 0
    never_promoted: int = 0
    prod_parked: int = 0
    stuck: int = 0
    corrections: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "items_read": self.items_read,
            "waiting": self.waiting,
            "watched": self.watched,
            "in_flight": self.in_flight,
            "stuck": self.stuck,
            "never_promoted": self.never_promoted,
            "prod_parked": self.prod_parked,
            "corrections": self.corrections,
            "notes": self.notes,
            "errors": self.errors,
        }


# --- reading the index ---------------------------------------------------------------------------------


def _query(table: MetadataTable, phase: str, before: str | None, *, count: bool = False) -> Iterator[dict[str, Any]]:
    """The index entries (keys only) of `phase`, older than `before`; with `count`, one `{"Count": n}`
    per page instead."""
    from boto3.dynamodb.conditions import Key

    condition = Key(lc.SWEEP_PHASE).eq(phase)
    if before is not None:
        condition = condition & Key(lc.SWEEP_SINCE).lt(before)
    arguments: dict[str, Any] = {"IndexName": SWEEP_INDEX, "KeyConditionExpression": condition}
    if count:
        arguments["Select"] = "COUNT"
    while True:
        page = table.table.query(**arguments)
        if count:
            yield {"Count": page.get("Count", 0), "ScannedCount": page.get("ScannedCount", page.get("Count", 0))}
        else:
            yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _count(state: Sweep, table: MetadataTable, phase: str, before: str | None) -> int:
    """A COUNT query: DynamoDB still reads every matching index entry (`ScannedCount`, in `items_read`)."""
    total = 0
    for page in _query(table, phase, before, count=True):
        total += int(page["Count"])
        state.items_read += int(page["ScannedCount"])
    return total


# --- one sweep -----------------------------------------------------------------------------------------


def sweep(clients: SweeperClients, now: datetime | None = None) -> dict[str, Any]:
    """One sweep of the index; raises `SweepIncomplete` at the end if some items could not be swept."""
    state = Sweep(now or datetime.now(UTC))
    table, settings = clients.table, clients.settings
    due = utc_iso(state.now - timedelta(seconds=lc.SWEEP_AFTER_SECONDS))
    stuck_before = utc_iso(state.now - timedelta(seconds=lc.WATCHDOG_SECONDS))
    parked_before = utc_iso(state.now - timedelta(days=settings.never_promoted))
    sender = BestEffort(clients.notify)

    for environment in lc.Environment:
        for key in _query(table, environment.value, due):
            state.items_read += 1
            state.waiting += 1
            _guarded_step(state, key, lambda k=key, e=environment: _sweep_waiting(clients, state, sender, k, e))
    for key in _query(table, lc.SweepPhase.RUNNING.value, stuck_before):
        state.items_read += 1
        state.watched += 1
        _guarded_step(state, key, lambda k=key: _watch(clients, state, sender, k))
    state.in_flight = _count(state, table, lc.SweepPhase.RUNNING.value, None)
    state.never_promoted = _count(state, table, lc.SweepPhase.STAGE_PARKED.value, parked_before)
    state.prod_parked = _count(state, table, lc.SweepPhase.PROD_PARKED.value, None)

    clients.metric(lc.Metric.ARTIFACT_NEVER_PROMOTED.value, state.never_promoted)
    clients.metric(lc.Metric.EXECUTIONS_IN_FLIGHT.value, state.in_flight)
    clients.metric(lc.Metric.PROD_PARKED.value, state.prod_parked)
    clients.metric(lc.Metric.EXECUTIONS_STUCK.value, state.stuck)
    clients.metric(lc.Metric.SWEEPER_CORRECTIONS.value, len(state.corrections))
    if state.waiting or state.watched:
        counts = {"waiting": state.waiting, "watched": state.watched, "stuck": state.stuck}
        sender.event(lc.Event.SWEEPER_TRIGGERED.value, {**counts, "corrections": len(state.corrections)})
    state.notes.extend(sender.failures)
    if state.errors:
        raise SweepIncomplete(f"{len(state.errors)} item(s) not swept: " + "; ".join(state.errors))
    return state.report()


def _guarded_step(state: Sweep, key: Mapping[str, Any], step: Callable[[], None]) -> None:
    """One item's step: an AWS error is reported and the sweep goes on with the others."""
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - reported, and raised at the end of the sweep
        state.errors.append(f"{key.get('service')}@{key.get('commit_sha')}: {type(exc).__name__}: {exc}"[:500])


def _corrected(state: Sweep, sender: BestEffort, item: Mapping[str, Any], environment: str, **detail: Any) -> None:
    correction = {
        "service": item["service"],
        "commit_sha": item["commit_sha"],
        "environment": str(environment),
        **detail,
    }
    state.corrections.append(correction)
    sender.event(lc.Event.SWEEPER_CORRECTED.value, correction)


def _audit(clients: SweeperClients, item: Mapping[str, Any], **fields: Any) -> None:
    """A correction that changes no item (starting or stopping a run): its entry, on its own, after it."""
    clients.table.record({"service": item["service"], "commit": item["commit_sha"], **fields})


def _read(clients: SweeperClients, state: Sweep, key: Mapping[str, Any]) -> dict[str, Any] | None:
    state.items_read += 1
    return clients.table.get(str(key["service"]), str(key["commit_sha"]))


# --- an artifact waiting for its next attempt ----------------------------------------------------------


def recorded_attempt(item: Mapping[str, Any], environment: lc.Environment) -> int:
    """The attempt of the run that last leased the item in `environment` (its deployment id's suffix), 1
    if none did."""
    deployment = lc.read(item, "environment_states.{env}.deployment_id", environment) or ""
    suffix = str(deployment).rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() and int(suffix) >= 1 else 1


def leased_attempts(item: Mapping[str, Any], environment: lc.Environment) -> int:
    """How many runs took the lease in `environment` (what `maxAttempts` counts): a run that only waited
    for the lock is no attempt."""
    return int(lc.read(item, lc.LEASED_ATTEMPTS, environment) or 0)


def in_flight(status: str | None) -> bool:
    """Not an ending: RUNNING, or PENDING_REDRIVE (an operator redrove it; it resumes past its lease)."""
    return status is not None and status not in lc.EXECUTION_ENDED


def execution_arn(settings: FunctionSettings, name: str) -> str:
    """The deterministic ARN of the execution `name` of this state machine."""
    return settings.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def _execution_status(sfn: Any, arn: str) -> str | None:
    """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED; None if no such execution was started."""
    try:
        return str(sfn.describe_execution(executionArn=arn)["status"])
    except sfn.exceptions.ExecutionDoesNotExist:
        return None


def _manifest_missing(clients: SweeperClients, item: Mapping[str, Any], environment: lc.Environment) -> str | None:
    """Why the artifact cannot run any more (its manifest is gone from its environment's bucket), else None."""
    from botocore.exceptions import ClientError

    bucket = clients.settings.bucket_of(environment)
    key = naming.artifact_prefix(item["service"], item["commit_sha"]) + naming.MANIFEST_NAME
    try:
        clients.s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return f"its manifest s3://{bucket}/{key} is missing: it cannot be deployed again"
        raise
    return None


def _sweep_waiting(
    clients: SweeperClients, state: Sweep, sender: BestEffort, key: Mapping[str, Any], environment: lc.Environment
) -> None:
    item = _read(clients, state, key)
    if item is None or item.get(lc.SWEEP_PHASE) != environment.value:
        state.notes.append(f"{key['service']}@{key['commit_sha']}: moved on since the index was read")
        return
    missing = _manifest_missing(clients, item, environment)
    if missing:
        _park(clients, state, sender, item, environment, reason=missing, attempts=recorded_attempt(item, environment))
        return
    settings, maximum = clients.settings, clients.settings.max_attempts(environment)
    attempt, leased = recorded_attempt(item, environment), leased_attempts(item, environment)
    while True:
        name = naming.execution_name(item["service"], item["commit_sha"], environment, attempt)
        arn = execution_arn(settings, name)
        status = _execution_status(clients.sfn, arn)
        if in_flight(status):
            _still_running(clients, state, item, arn, name, status)
            return
        if status is None and (attempt == 1 or leased < maximum):
            why = unleasable(item, environment)
            if why:  # a run would only lose its lease, and count nothing: a person decides
                _park(clients, state, sender, item, environment, reason=f"cannot be leased: {why}", attempts=leased)
                return
            _start(clients, state, sender, item, environment, attempt)
            return
        if leased >= maximum:
            reason = f"{leased} attempt(s) of {environment} ended without success (maximum {maximum})"
            _park(clients, state, sender, item, environment, reason=reason, attempts=leased)
            return
        attempt += 1


def _still_running(
    clients: SweeperClients, state: Sweep, item: Mapping[str, Any], arn: str, name: str, status: Any
) -> None:
    """An execution in flight is never doubled. One the watchdog requeued (its item says killed) but could
    not stop (StopExecution failed after the requeue was written) is stopped again."""
    killed = item.get(lc.EXECUTION_ID) == arn and item.get(lc.EXECUTION_STATUS) == lc.ExecutionStatus.KILLED
    if killed and status == "RUNNING":
        clients.sfn.stop_execution(executionArn=arn, error=STUCK_ERROR, cause=f"{name}: requeued by the watchdog")
        run = Run(item["service"], item["commit_sha"], lc.Environment(name.rsplit("-", 2)[-2]), arn)
        _audit(clients, item, action="watchdog_stopped", environment=run.environment.value, execution=arn)
        released = release_lock(clients.table, run)
        state.notes.append(f"{name}: requeued but still running: stopped again (lock released: {released})")
        return
    state.notes.append(f"{name}: in flight ({status})")


def _start(
    clients: SweeperClients,
    state: Sweep,
    sender: BestEffort,
    item: Mapping[str, Any],
    environment: lc.Environment,
    attempt: int,
) -> None:
    reason = "dropped_event" if attempt == 1 else "retry"
    bucket = clients.settings.bucket_of(environment)
    key = naming.artifact_prefix(item["service"], item["commit_sha"]) + naming.MANIFEST_NAME
    started = start_run(
        settings=clients.settings,
        sfn=clients.sfn,
        service=item["service"],
        commit=item["commit_sha"],
        environment=environment,
        bucket=bucket,
        key=key,
        attempt=attempt,
        trigger={"source": "sweeper", "bucket": bucket, "key": key, "attempt": attempt, "reason": reason},
    )
    if started.get("started"):
        why, arn = f"attempt {attempt} started ({reason})", started["execution_arn"]
        _audit(clients, item, action="sweeper_started", environment=environment.value, reason=why, execution=arn)
        _corrected(
            state, sender, item, environment, reason=reason, attempt=attempt, execution=started["execution_name"]
        )
    else:
        state.notes.append(f"{item['service']}@{item['commit_sha']} {environment} attempt {attempt}: {started}")


def _park(
    clients: SweeperClients,
    state: Sweep,
    sender: BestEffort,
    item: Mapping[str, Any],
    environment: lc.Environment,
    *,
    reason: str,
    attempts: int,
) -> None:
    """`attempts_exhausted`: the artifact leaves the sweep for a human (an alert names it); one no lease
    would take, whatever its status (`lc.unleasable_parked`)."""
    run = Run(
        service=item["service"],
        commit_sha=item["commit_sha"],
        environment=environment,
        execution_id="sweeper",
        error={"Error": "ManualInterventionRequired", "Cause": reason},
    )
    parking = lc.transition(lc.Action.ATTEMPTS_EXHAUSTED, environment)
    if reason.startswith("cannot be leased"):
        parking = lc.unleasable_parked(environment)
    context = Context(run, item, parking, state.now)
    if commit(clients.table, context):
        announce(sender, clients.metric, context, attempts=attempts)
        _corrected(state, sender, item, environment, reason="attempts_exhausted", attempts=attempts, why=reason)
    else:
        state.notes.append(f"{item['service']}@{item['commit_sha']}: not parked, another writer moved it first")


# --- the watchdog --------------------------------------------------------------------------------------


def _last_event_at(sfn: Any, arn: str) -> datetime | None:
    events = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=1).get("events") or []
    if not events:
        return None
    moment = events[0]["timestamp"]
    return moment if isinstance(moment, datetime) else parse_iso(str(moment))


def _watch(clients: SweeperClients, state: Sweep, sender: BestEffort, key: Mapping[str, Any]) -> None:
    item = _read(clients, state, key)
    arn = (item or {}).get(lc.EXECUTION_ID)
    if item is None or item.get(lc.SWEEP_PHASE) != lc.SweepPhase.RUNNING.value or not arn:
        state.notes.append(f"{key['service']}@{key['commit_sha']}: not running any more")
        return
    name = str(item.get(lc.DEPLOYMENT_ID) or arn.rsplit(":", 1)[-1])
    environment = lc.Environment(name.rsplit("-", 2)[-2])
    status = _execution_status(clients.sfn, arn)
    if status == "RUNNING":
        last = _last_event_at(clients.sfn, arn)
        quiet = last is not None and (state.now - last).total_seconds() < lc.WATCHDOG_SECONDS
        if quiet or last is None:
            state.notes.append(f"{name}: running, last event at {last}")
            return
        reason = f"no progress since {utc_iso(last)} (over {lc.WATCHDOG_SECONDS // 60} minutes)"
        # Requeued first, then stopped: its ABORTED ending then finds the item requeued, never `deploying`.
        _requeue(clients, state, sender, item, environment, arn, reason, stop=name)
        state.stuck += 1
        return
    if in_flight(status):  # PENDING_REDRIVE: it resumes past its lease, holding the lock
        state.notes.append(f"{name}: in flight ({status})")
        return
    reason = f"the run ended ({status}) without being finalized"
    if clients.reconcile is not None:
        clients.reconcile(item, {"executionArn": arn, "status": status})
        _corrected(state, sender, item, environment, reason="reconciled", execution=name, status=status)
        return
    _requeue(clients, state, sender, item, environment, arn, reason)


def _requeue(
    clients: SweeperClients,
    state: Sweep,
    sender: BestEffort,
    item: Mapping[str, Any],
    environment: lc.Environment,
    arn: str,
    reason: str,
    stop: str | None = None,
) -> None:
    """`requeued` (a rollback: `rollback_interrupted`), then (`stop`: the stuck run's name) the run is
    stopped, then the environment's lock that run held is released."""
    run = Run(
        service=item["service"],
        commit_sha=item["commit_sha"],
        environment=environment,
        execution_id=arn,
        error={"Error": STUCK_ERROR, "Cause": reason},
        started_at=item.get(lc.EXECUTION_STARTED_AT),
    )
    rollback = item.get(lc.STATUS) == lc.Status.ROLLBACK_INITIATED and environment is lc.Environment.PROD
    action = lc.Action.ROLLBACK_INTERRUPTED if rollback else lc.Action.REQUEUED
    context = Context(run, item, lc.transition(action, environment), state.now)
    applied = commit(clients.table, context)
    if applied:
        announce(sender, clients.metric, context, execution_arn=arn)
    if stop:
        clients.sfn.stop_execution(executionArn=arn, error=STUCK_ERROR, cause=f"{stop}: {reason}"[:32768])
    released = release_lock(clients.table, run)
    if applied or released:
        _corrected(state, sender, item, environment, reason=action.value, why=reason, lock_released=released)
    if not applied:
        state.notes.append(f"{arn}: {action.value} not written, the item moved on (left to the finalizer)")
