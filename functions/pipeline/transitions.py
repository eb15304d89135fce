"""Applying the lifecycle table: one guarded write per transition, then its events and metrics.

`commit` renders a transition (`lifecycle.TRANSITIONS`) for this run and writes it on its guard; a failed
guard means another run owns the item (or the item is not in a state the transition may leave), and
nothing is written. `announce` sends what the transition emits, best-effort: a change that happened is
never reported as failed because EventBridge was down. `apply` is the transition Lambda's whole job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from functions.artifacts.manifest import COMMIT, SERVICE
from functions.timestamps import parse_iso, utc_iso

from . import lifecycle as lc
from .auditing import audit_fields
from .expressions import render, to_dynamo
from .notify import Notifier
from .store import MetadataTable, seconds_between

MetricSink = Callable[[str, float], None]
_SKIP = object()  # a conditional value that does not apply to this item


@dataclass(frozen=True)
class Run:
    """One execution's view of its artifact, as the state machine passes it to a function."""

    service: str
    commit_sha: str
    environment: lc.Environment
    execution_id: str
    action: lc.Action | None = None
    error: Mapping[str, Any] | None = None
    deploy: Mapping[str, Any] | None = None
    rollback: Mapping[str, Any] | None = None  # the rollback plan of this attempt
    started_at: str | None = None  # the execution's start (Step Functions' ISO 8601)

    @classmethod
    def from_event(cls, event: Mapping[str, Any], *, needs_action: bool = False) -> Run:
        required = ("service", "commit_sha", "environment", "execution_id") + (("action",) if needs_action else ())
        missing = [k for k in required if not event.get(k)]
        if missing:
            raise ValueError(f"the pipeline event lacks {', '.join(missing)}")
        try:
            environment = lc.Environment(event["environment"])
            action = lc.Action(event["action"]) if event.get("action") else None
        except ValueError as exc:
            raise ValueError(f"the pipeline event: {exc}") from None
        if not SERVICE.match(str(event["service"])) or not COMMIT.match(str(event["commit_sha"])):
            raise ValueError(f"the pipeline event names no artifact: {event['service']!r} @ {event['commit_sha']!r}")
        documents = {k: event.get(k) for k in ("error", "deploy", "rollback")}
        wrong = [k for k, v in documents.items() if v is not None and not isinstance(v, Mapping)]
        if wrong:
            raise ValueError(f"the pipeline event's {', '.join(wrong)} must be an object or null")
        return cls(
            service=event["service"],
            commit_sha=event["commit_sha"],
            environment=environment,
            execution_id=event["execution_id"],
            action=action,
            error=event.get("error") or None,
            deploy=event.get("deploy") or None,
            rollback=event.get("rollback") or None,
            started_at=event.get("execution_started_at") or None,
        )

    def error_text(self) -> str:
        """The phase's error as one line: a function's message, or which build failed and how (a failed
        `startBuild.sync` carries the whole Build as its cause; its log holds the details)."""
        if not self.error:
            return ""
        cause = self.error.get("Cause") or ""
        try:
            parsed = json.loads(cause)
        except (ValueError, TypeError):
            parsed = None
        if isinstance(parsed, Mapping):
            build = parsed.get("Build")
            if isinstance(build, Mapping):
                phase = next(
                    (p for p in build.get("Phases") or [] if p.get("PhaseStatus") not in (None, "SUCCEEDED")), {}
                )
                failed_in = f" in {phase['PhaseType']}" if phase.get("PhaseType") else ""
                cause = f"build {build.get('Id')} {build.get('BuildStatus', 'FAILED')}{failed_in} (see its log)"
            else:
                cause = parsed.get("errorMessage") or parsed.get("message") or cause
        return f"{self.error.get('Error', 'Error')}: {cause}"[:1000]

    def detail(self, **extra: Any) -> dict[str, Any]:
        base = {
            "service": self.service,
            "commit_sha": self.commit_sha,
            "environment": self.environment.value,
            "execution_id": self.execution_id,
        }
        return {**base, **{k: x for k, x in extra.items() if x is not None}}


@dataclass
class Context:
    """Resolves what a transition writes (`lifecycle.Ref`, `Text`, `IfRunning`) for one run and item."""

    run: Run
    item: Mapping[str, Any]
    transition: lc.Transition
    moment: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def now(self) -> str:
        return utc_iso(self.moment)

    def read(self, path: str) -> Any:
        return lc.read(self.item, path, self.run.environment)

    @property
    def reason(self) -> str:
        return self.run.error_text() or self.transition.default_reason or self.transition.action.value

    def _ref(self, ref: lc.Ref) -> Any:
        plan = self.run.rollback or {}
        refs: dict[lc.Ref, Callable[[], Any]] = {
            lc.Ref.NOW: lambda: self.now,
            lc.Ref.EXECUTION_ID: lambda: self.run.execution_id,
            lc.Ref.COMMIT_SHA: lambda: self.run.commit_sha,
            lc.Ref.REASON: lambda: self.reason,
            lc.Ref.BUILD_ID: lambda: (self.run.deploy or {}).get("build_id"),
            lc.Ref.DEPLOY_SECONDS: lambda: seconds_between(self.read(lc.ENV_DEPLOY_STARTED_AT), self.moment),
            lc.Ref.TEST_SECONDS: lambda: seconds_between(self.read(lc.ENV_TEST_STARTED_AT), self.moment),
            # the candidate's creation; an item recorded before intake wrote `recorded_at`: its build
            lc.Ref.SINCE_CANDIDATE: lambda: seconds_between(
                self.item.get(lc.RECORDED_AT) or self.item.get(lc.BUILD_TIME), self.moment
            ),
            lc.Ref.SINCE_ROLLBACK: lambda: seconds_between(self.item.get(lc.ROLLBACK_INITIATED_AT), self.moment),
            lc.Ref.ROLLBACK_TARGET: lambda: plan.get("target_commit"),
            lc.Ref.ROLLBACK_REASON: lambda: (
                plan.get("reason")
                or self.run.error_text()
                or self.item.get(lc.ROLLBACK_FAILURE_REASON)
                or "rollback failed"
            ),
            lc.Ref.ATTEMPTS: lambda: self.item.get(lc.ROLLBACK_ATTEMPTS),
            lc.Ref.BUILD_TIME: lambda: self.item.get(lc.BUILD_TIME) or self.now,
            lc.Ref.END_STATUS: lambda: (
                lc.ExecutionStatus.TIMEOUT
                if (self.run.error or {}).get("Error") == "States.Timeout"
                else lc.ExecutionStatus.FAILED
            ),
            lc.Ref.PHASE: lambda: "deploy" if self.run.deploy else "validate",
            # the run's start: the watchdog requeues a stuck run as waiting since then
            lc.Ref.EXECUTION_START: lambda: self.run.started_at or self.item.get(lc.EXECUTION_STARTED_AT) or self.now,
            lc.Ref.IF_ASSET_MISMATCH: lambda: (
                1 if (self.run.error or {}).get("Error") == lc.ERROR_ASSET_MISMATCH else None
            ),
        }
        if ref not in refs:
            raise ValueError(f"{ref.value!r} is known only to the state machine")
        return refs[ref]()

    def resolve(self, raw: Any) -> Any:
        if isinstance(raw, lc.Ref):
            return self.resolve(self._ref(raw))
        if isinstance(raw, lc.Text):
            return raw.template.format(reason=self.run.error_text())[: raw.limit]
        if isinstance(raw, lc.IfRunning):
            return raw.value.value if self.read(lc.ENV_TEST_STATUS) == lc.TestStatus.RUNNING else _SKIP
        if isinstance(raw, Enum):
            return raw.value
        return raw


def expression(context: Context, extra_sets: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The transition's conditional update for this run, every value resolved."""
    t = context.transition
    sets = {p: context.resolve(x) for p, x in {**t.sets, **(extra_sets or {})}.items()}
    return render(
        t.environment,
        guard=t.guard,
        sets={p: x for p, x in sets.items() if x is not _SKIP},
        adds=t.adds,
        removes=t.removes,
        encode=lambda raw: to_dynamo(context.resolve(raw)),
    )


def commit(table: MetadataTable, context: Context, extra_sets: Mapping[str, Any] | None = None) -> bool:
    record, content = context.transition.record, context.item.get("artifact_sha256")
    if record and "{artifact_sha256}" in record and not content:
        return False  # an item without content recorded has no content to revoke
    key = context.run.commit_sha
    if record:  # a record beside the artifacts: `_service`, `_lock#{env}`, `_revoked#{artifact_sha256}`
        key = lc.record_key(record, context.run.environment, content)
    entry = audit_fields(context, extra_sets, None if key == context.run.commit_sha else key)
    return table.update(context.run.service, key, expression(context, extra_sets), audit=entry)


class BestEffort:
    """Events and alerts after a committed transition: a failure to send is recorded in the result,
    never turned into a failed transition (the state machine would take the wrong path for a change
    that happened)."""

    def __init__(self, notify: Notifier) -> None:
        self.notify = notify
        self.failures: list[str] = []

    def event(self, detail_type: str, detail: dict[str, Any]) -> None:
        try:
            self.notify.event(detail_type, detail)
        except Exception as exc:  # EventBridge throttling or outage
            self.failures.append(f"{detail_type}: {exc}")

    def alert(self, subject: str, detail: dict[str, Any]) -> None:
        try:
            self.notify.alert(subject, detail)
        except Exception as exc:
            self.failures.append(f"alert: {exc}")


def announce(sender: BestEffort, metric: MetricSink, context: Context, **detail: Any) -> None:
    """The events, metrics and alert the transition declares (after it was committed)."""
    t, run = context.transition, context.run
    for event, declared in t.events:
        sender.event(event.value, run.detail(**{k: context.resolve(x) for k, x in declared.items()}, **detail))
    for name, value in t.metrics:
        resolved = context.resolve(value)
        if resolved is not None:
            metric(name.value, float(resolved))
    if t.alert:
        declared = next((d for _, d in t.events), {})
        sender.alert(
            t.alert.format(service=run.service),
            run.detail(**{k: context.resolve(x) for k, x in declared.items()}, **detail),
        )


def apply(run: Run, table: MetadataTable, notify: Notifier, metric: MetricSink) -> dict[str, Any]:
    """The transition Lambda: one action the state machine records, and its consequences."""
    if run.action not in lc.RECORDED_BY_THE_STATE_MACHINE:
        raise ValueError(f"the transition function does not record {run.action}: the state machine never asks")
    item = table.get(run.service, run.commit_sha)
    if run.action is lc.Action.LEASE_TERMS:
        return lease_terms(run, item or {})
    if item is None:
        return {"action": run.action.value, "succeeded": False, "applied": False, "reason": "no metadata item"}
    if run.action is lc.Action.LEASE_LOST:
        return explain_lease_refused(run, item, table, BestEffort(notify), metric)
    context = Context(run, item, lc.transition(run.action, run.environment))
    sender = BestEffort(notify)
    applied = commit(table, context)
    result: dict[str, Any] = {
        "action": run.action.value,
        "applied": applied,
        "succeeded": context.transition.succeeded and applied,
    }
    if applied:
        announce(sender, metric, context)
    if context.transition.then and (applied or _applied_by_this_run(table, run, context.transition)):
        follow = lc.transition(context.transition.then, run.environment)
        commit(table, Context(run, item, follow, context.moment))
    result.update(_loop_state(run, applied))
    if sender.failures:
        result["notification_failures"] = sender.failures
    return result


def _applied_by_this_run(table: MetadataTable, run: Run, transition: lc.Transition) -> bool:
    """A retried call whose transition this run already applied (the function failed after the first
    write): its follow-up on the record beside the item (known good, revoked content) may still be
    missing, and is written again (its own guard makes that idempotent)."""
    status = transition.sets.get(lc.STATUS)
    fresh = table.get(run.service, run.commit_sha) or {}
    return status is not None and fresh.get(lc.EXECUTION_ID) == run.execution_id and fresh.get(lc.STATUS) == status


def _loop_state(run: Run, applied: bool) -> dict[str, Any]:
    """What the rollback loop reads from the result: whether another attempt may follow."""
    plan = run.rollback or {}
    if run.action is lc.Action.ROLLBACK_ATTEMPT_FAILED:
        attempt = int(plan.get("attempt", 1))
        retry = applied and attempt < int(plan.get("max_attempts", lc.DEFAULT_MAX_ROLLBACK_ATTEMPTS))
        return {"retry": retry, "attempt": attempt}
    if run.action is lc.Action.ROLLBACK_SUCCEEDED:
        return {"rolled_back_to": plan.get("target_commit")}
    return {}


def explain_lease_lost(run: Run, item: Mapping[str, Any]) -> dict[str, Any]:
    """Why the lease's guard failed, read from the same guard. Only a run already holding the
    environment (or having run it) makes this a harmless duplicate; anything else is a refusal the
    operator should see."""
    lease = lc.lease_row(lc.transition(lc.Action.LEASE, run.environment), item, run.execution_id)
    context = Context(run, item, lease)
    failed = {getattr(c, "path", None) for c in lease.guard if not c.holds(item, run.environment, context.resolve)}
    status, env_status = item.get(lc.STATUS), context.read(lc.ENV_STATUS)
    holder = item.get(lc.EXECUTION_ID)
    retryable = {
        v
        for e in lc.Environment
        for c in lc.transition(lc.Action.LEASE, e).guard
        if getattr(c, "path", None) == lc.ENV_STATUS
        for v in c.values
    } - {lc.EnvStatus.DEPLOYED}  # a lease takes `deployed` only untested; a deployed artifact ran already

    def lost(duplicate: bool, reason: str) -> dict[str, Any]:
        outcome = "duplicate" if duplicate else "refused"
        return {"action": "lease_lost", "outcome": outcome, "succeeded": duplicate, "applied": False, "reason": reason}

    if lc.ELIGIBILITY_REVOKED in failed:
        return lost(False, f"the release is not eligible: {item.get(lc.ELIGIBILITY_REVOKED_REASON, 'revoked')}")
    if holder and holder != run.execution_id and env_status == lc.EnvStatus.DEPLOYING:
        return lost(True, f"another run holds {run.environment}: {holder}")
    if lc.STATUS in failed and holder and env_status not in retryable:
        return lost(True, f"already run: status {status}, {run.environment} {env_status}")
    if lc.STATUS in failed:
        (expected,) = [c for c in lease.guard if isinstance(c, lc.Is) and c.path == lc.STATUS]
        needed = " or ".join(str(v) for v in expected.values)
        return lost(False, f"status is {status}; a {run.environment} run needs {needed}")
    return lost(False, f"{run.environment} is {env_status}")


# --- the lease's transaction (the state machine writes it; these compute its terms and explain it) ------


def lease_terms(run: Run, item: Mapping[str, Any]) -> dict[str, Any]:
    """What the lease writes that the state machine cannot compute: when this run's lock expires (its
    start + LOCK_EXPIRY_SECONDS, in the ISO 8601 form every time here is written in, which orders as a
    string against Step Functions' `$$.State.EnteredTime`) and the build time the prod ordering compares.
    Written to the second, `...:00Z` still sorts after every `...:00.fffZ` of that second ('Z' after '.'):
    the lock never expires before the execution's own timeout (the same bound from the same start)."""
    started = parse_iso(run.started_at) if run.started_at else datetime.now(UTC)
    context = Context(run, item, lc.transition(lc.Action.LEASE, run.environment))
    return {
        "action": lc.Action.LEASE_TERMS.value,
        "expires_at": utc_iso(started + timedelta(seconds=lc.LOCK_EXPIRY_SECONDS)),
        "build_time": context.resolve(lc.Ref.BUILD_TIME),
    }


def explain_lease_refused(
    run: Run, item: Mapping[str, Any], table: MetadataTable, sender: BestEffort, metric: MetricSink
) -> dict[str, Any]:
    """Why the lease's transaction was cancelled, from the items it wrote, re-read in its order of
    consequence: the artifact may not run (`explain_lease_lost`); in prod, it is older than the known good
    (recorded as `superseded`); else the lock is busy (or a concurrent transaction conflicted): wait."""
    lease = lc.lease_row(lc.transition(lc.Action.LEASE, run.environment), item, run.execution_id)
    context = Context(run, item, lease)
    if not all(c.holds(item, run.environment, context.resolve) for c in lease.guard):
        return explain_lease_lost(run, item)
    if run.environment is lc.Environment.PROD and lease.action is lc.Action.LEASE:  # overrides: no ordering
        known_good = lc.transition(lc.Action.KNOWN_GOOD, run.environment)
        record = table.service_record(run.service)
        if not all(c.holds(record, run.environment, context.resolve) for c in known_good.guard):
            return supersede(run, item, record, table, sender, metric)
    lock = table.get(run.service, lc.env_path(lc.LOCK_RECORD, run.environment)) or {}
    holder = lock.get(lc.LOCK_HOLDER)
    if holder:
        reason = (
            f"{run.environment} of {run.service} is locked by {lock.get(lc.LOCK_HOLDER_NAME, holder)} "
            f"(commit {lock.get(lc.LOCK_COMMIT)}) until {lock.get(lc.LOCK_EXPIRES_AT)}"
        )
    else:
        reason = "the lease's transaction was cancelled with its conditions met (a concurrent transaction)"
    busy = {"action": lc.Action.LEASE_LOST.value, "outcome": lc.LOCK_BUSY, "succeeded": False, "applied": False}
    return {**busy, "reason": reason, "holder": holder}


def supersede(
    run: Run,
    item: Mapping[str, Any],
    record: Mapping[str, Any],
    table: MetadataTable,
    sender: BestEffort,
    metric: MetricSink,
) -> dict[str, Any]:
    """A prod run of a build older than the service's known good: refused before anything is deployed,
    and recorded (`superseded`, guarded on the artifact still being the pending release it was)."""
    known_good = record.get(lc.LAST_KNOWN_GOOD)
    reason = (
        f"build {item.get(lc.BUILD_TIME)} is older than the prod known good {known_good} "
        f"(built {record.get(lc.KNOWN_GOOD_BUILD_TIME)}): an older release never overwrites a newer one "
        "(a signed override may allow it)"
    )
    context = Context(run, item, lc.transition(lc.Action.SUPERSEDED, run.environment))
    applied = commit(table, context, {lc.ENV_FAILURE_REASON: reason})
    if applied:
        announce(sender, metric, context, reason=reason, known_good_commit=known_good)
    outcome = {"action": lc.Action.LEASE_LOST.value, "outcome": "superseded", "succeeded": False}
    return {**outcome, "applied": applied, "reason": reason}


def release_lock(table: MetadataTable, run: Run) -> bool:
    """The finalizer's release: only the lock this run holds (never another run's)."""
    return commit(table, Context(run, {}, lc.transition(lc.Action.UNLOCK, run.environment)))
