"""The orchestrator's side of a signed request (the `override` function's whole job).

In order, each refusal naming its reason: the document parses strictly; the signature verifies offline
with the override key's public half; it is within its window (not expired, not issued more than the
clock skew ahead); its nonce was never used; a break-glass action finds the break-glass flag on; the
target matches the table (the item's state is one the action's row leaves, the lock is the named
commit's and its run has ended, a rollback target is a known-good release). Only then is the nonce
claimed (a conditional write: of two submissions of one request exactly one gets here) and the effect
applied (`effects.py`). A refusal writes nothing but its audit entry.

Every outcome, refusal included, appends an audit entry (actor: the requester, the request's exact
text, the reason) and emits `OverrideRequested`, then `OverrideApplied` or `OverrideRefused`; a
break-glass use also alerts (the alert topic, and the audit anchors' topic: the external inbox).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from functions.overrides import break_glass_parameter
from functions.pipeline import lifecycle as lc
from functions.pipeline.notify import Notifier
from functions.pipeline.rollback import known_good_release
from functions.pipeline.store import MetadataTable
from functions.pipeline.transitions import BestEffort, Context, Run, commit

from . import effects, targets
from .request import OverrideAction, OverrideRequest, RequestError, parse_request, timing_problem, verify_signature

BREAK_GLASS_ON = "on"
UNVERIFIED = "unverified-request"  # the actor of a request that could not be read


@dataclass
class Deps:
    settings: Any  # FunctionSettings: table, state machine, prefix, audit table
    table: MetadataTable
    sfn: Any
    ssm: Any
    s3: Any
    audit: Any  # the low-level DynamoDB client the audit chain appends with
    notify: Notifier
    public_key: Callable[[], Any]  # the override key's public half (read once per cold start)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # The audit anchors' topic (`audit-anchor-publish`, the external inbox): a break-glass use is mailed
    # there too. None: the critical-alerts topic only (tests of the core alone).
    anchor_topic_arn: str | None = None


@dataclass(frozen=True)
class Outcome:
    applied: bool
    reason: str
    request: OverrideRequest | None = None
    execution_arn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        request = self.request
        found: dict[str, Any] = {"applied": self.applied, "outcome": "applied" if self.applied else "refused"}
        found["reason"] = self.reason
        if request is not None:
            found.update(override_id=request.override_id, action=request.action.value, **request.target.to_dict())
        return {**found, **({"execution_arn": self.execution_arn} if self.execution_arn else {})}


def submit(text: str, deps: Deps) -> Outcome:
    """Check, then act, and report every outcome (an audit entry and events), whatever happened. The nonce
    is used up as soon as the signature and the window hold, so a refused request is never good later."""
    sender = BestEffort(deps.notify)
    try:
        request = parse_request(text)
    except (RequestError, ValueError) as exc:
        sender.event(lc.Event.OVERRIDE_REQUESTED.value, {"readable": False})
        outcome = Outcome(False, f"malformed request: {exc}")
        _report(outcome, text, deps, sender, before=None, verified=False)
        return outcome
    sender.event(lc.Event.OVERRIDE_REQUESTED.value, _detail(request))
    item = _subject(request, deps)
    before = (item or {}).get(lc.LOCK_HOLDER_NAME if request.action is OverrideAction.RELEASE_LOCK else lc.STATUS)
    problem = verify_signature(request, deps.public_key())
    verified = problem is None
    problem = problem or timing_problem(request, deps.now()) or _nonce_problem(request, deps)
    if problem is None and not _claim_nonce(request, deps):
        problem = f"replayed: nonce {request.nonce} was used by a request submitted meanwhile"
    problem = problem or _refusal(request, item, deps)
    if problem is not None:
        outcome = Outcome(False, problem, request)
        _report(outcome, text, deps, sender, before=before, verified=verified)
        return outcome
    try:
        effect = effects.apply_effect(request, item or {}, table=deps.table, sfn=deps.sfn, settings=deps.settings)
    except Exception as exc:  # after the nonce was used, and maybe after the item was: recorded, then raised
        reason = f"failed while applying ({type(exc).__name__}: {exc}); check the item, then submit a new request"
        _report(Outcome(False, reason, request), text, deps, sender, before=before, verified=True)
        raise
    outcome = Outcome(effect.applied, effect.reason, request, effect.execution_arn)
    _report(outcome, text, deps, sender, before=before, verified=True)
    return outcome


def _subject(request: OverrideRequest, deps: Deps) -> dict[str, Any] | None:
    """The item the request acts on: the artifact's, or for release_lock the environment's lock."""
    target = request.target
    if request.action is OverrideAction.RELEASE_LOCK:
        return deps.table.get(target.service, lc.env_path(lc.LOCK_RECORD, target.environment))
    return deps.table.get(target.service, target.commit_sha)


def _refusal(request: OverrideRequest, item: dict[str, Any] | None, deps: Deps) -> str | None:
    """What a signed request in its window (its nonce now used) may still be refused for: the break-glass
    flag, then the target (None: accept)."""
    checks: list[Callable[[], str | None]] = [
        lambda: _break_glass_problem(request, deps) if request.break_glass else None,
        lambda: _target_problem(request, item, deps),
    ]
    return next((problem for check in checks if (problem := check()) is not None), None)


def _nonce_problem(request: OverrideRequest, deps: Deps) -> str | None:
    used = deps.table.get(request.target.service, lc.override_record_key(request.nonce))
    if used and used.get(lc.NONCE_USED_AT):
        return f"replayed: nonce {request.nonce} was already used at {used[lc.NONCE_USED_AT]}"
    return None


def break_glass_enabled(ssm: Any, prefix: str) -> tuple[bool, str]:
    """(on?, what was read). Fails closed: a flag that cannot be read is off."""
    name = break_glass_parameter(prefix)
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except Exception as exc:  # ParameterNotFound, AccessDenied, throttling: all mean no break-glass
        return False, f"{name} could not be read ({type(exc).__name__})"
    return value.strip().lower() == BREAK_GLASS_ON, f"{name} is {value!r}"


def _break_glass_problem(request: OverrideRequest, deps: Deps) -> str | None:
    enabled, read = break_glass_enabled(deps.ssm, deps.settings.name_prefix)
    if not enabled:
        return f"{request.action} is break-glass and the break-glass flag is off: {read}"
    return None


def _target_problem(request: OverrideRequest, item: dict[str, Any] | None, deps: Deps) -> str | None:
    target = request.target
    if request.action is OverrideAction.RELEASE_LOCK:
        problem = targets.lock_problem(request, item)
        return problem or _holder_still_running(str((item or {}).get(lc.LOCK_HOLDER)), deps)
    problem = targets.item_problem(request, item)
    if problem is None and request.action is OverrideAction.LIFT_REVOCATION:
        content = (item or {}).get("artifact_sha256")
        problem = targets.revocation_problem(request, deps.table.revocation(target.service, content))
    if problem is None and request.action is OverrideAction.MANUAL_ROLLBACK:
        _, problem = known_good_release(
            target.service, str(target.target_commit), settings=deps.settings, table=deps.table, s3=deps.s3
        )
        problem = f"rollback target: {problem}" if problem else None
    return problem


def _holder_still_running(holder: str, deps: Deps) -> str | None:
    """A lock whose run is alive is not stuck: stop the run first (its finalizer then releases it)."""
    try:
        status = deps.sfn.describe_execution(executionArn=holder)["status"]
    except deps.sfn.exceptions.ExecutionDoesNotExist:
        return None
    if status in ("RUNNING", "PENDING_REDRIVE"):
        return f"the lock's holder {holder} is {status}: stop it (StopExecution) instead; its finalizer releases it"
    return None


def _claim_nonce(request: OverrideRequest, deps: Deps) -> bool:
    """The nonce's record, written once (`_override#<nonce>`, guard: never used)."""
    target = request.target
    row = lc.transition(lc.Action.OVERRIDE_NONCE, target.environment)
    row = dataclasses.replace(row, record=lc.override_record_key(request.nonce))
    run = Run(target.service, target.commit_sha, target.environment, f"override:{request.nonce}")
    used = {
        "requester": request.requester,
        "action": request.action.value,
        "target_commit_sha": target.commit_sha,
        "issued_at": request.issued_at,
        "expires_at": request.expires_at,
    }
    return commit(deps.table, Context(run, {}, row), used)


def _detail(request: OverrideRequest, **extra: Any) -> dict[str, Any]:
    detail = {"override_id": request.override_id, "action": request.action.value, "requester": request.requester}
    return {**detail, **request.target.to_dict(), "break_glass": request.break_glass, **extra}


def _text(value: Any, limit: int) -> str | None:
    """A field of the audit entry: valid UTF-8 (a lone surrogate escaped), within the entry's limits."""
    if value is None or value == "":
        return None
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")[:limit]


def _report(outcome: Outcome, text: str, deps: Deps, sender: BestEffort, *, before: Any, verified: bool) -> None:
    """The audit entry, the outcome's event, and a break-glass use's alert. The actor is the requester only
    once the signature holds; an unverified request is the claimed requester's word, kept in the reason."""
    from functions.audit import store

    request = outcome.request
    after = _after(outcome, deps) if request is not None else None
    verdict = "applied" if outcome.applied else "refused"
    reason = f"{outcome.reason} | justification: {request.reason}" if request else outcome.reason
    if request is not None and not verified:
        reason = f"claimed requester {request.requester}: {reason}"
    fields = {
        "actor": request.requester if request and verified else UNVERIFIED,
        "action": f"override:{request.action.value if request else 'unreadable'}:{verdict}",
        "service": request.target.service if request else None,
        "commit": request.target.commit_sha if request else None,
        "environment": request.target.environment.value if request else None,
        "before_status": str(before) if before is not None else None,
        "after_status": str(after) if after is not None else None,
        "reason": _text(reason, 4000),
        "signed_request": _text(text, 60_000),
    }
    store.append(deps.audit, fields, table=deps.settings.audit_table_name)
    if request is None:
        sender.event(lc.Event.OVERRIDE_REFUSED.value, {"reason": outcome.reason})
        return
    event = lc.Event.OVERRIDE_APPLIED if outcome.applied else lc.Event.OVERRIDE_REFUSED
    sender.event(event.value, _detail(request, reason=outcome.reason, execution_arn=outcome.execution_arn))
    if request.break_glass and outcome.applied:
        _break_glass_alert(request, outcome, deps, sender)


def _after(outcome: Outcome, deps: Deps) -> Any:
    request = outcome.request
    assert request is not None
    if request.action is OverrideAction.RELEASE_LOCK:
        return "released" if outcome.applied else None
    return (deps.table.get(request.target.service, request.target.commit_sha) or {}).get(lc.STATUS)


def _break_glass_alert(request: OverrideRequest, outcome: Outcome, deps: Deps, sender: BestEffort) -> None:
    subject = f"BREAK-GLASS: {request.action} on {request.target.service} by {request.requester.rsplit('/', 1)[-1]}"
    detail = _detail(request, justification=request.reason, outcome=outcome.reason)
    sender.alert(subject, detail)
    if deps.anchor_topic_arn:
        try:
            deps.notify.sns.publish(
                TopicArn=deps.anchor_topic_arn, Subject=_text(subject, 100), Message=json.dumps(detail, default=str)
            )
        except Exception as exc:
            sender.failures.append(f"anchor topic: {exc}")
