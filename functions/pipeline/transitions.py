"""Guarded metadata transitions of one execution, and the events and metrics that go with them.

Each action updates every attribute the spec names for it, on the condition that the item is still in
the state this execution left it (its `execution_id`, the environment's status); a failed condition
means another execution owns the item, and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import vocabulary as v
from .notify import Notifier
from .store import MetadataTable, Update, now_iso, seconds_between

MetricSink = Callable[[str, float], None]


@dataclass(frozen=True)
class Request:
    service: str
    commit_sha: str
    environment: str
    execution_id: str
    action: str
    error: dict[str, Any] | None
    deploy: dict[str, Any] | None
    rollback: dict[str, Any] | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Request:
        missing = [k for k in ("service", "commit_sha", "environment", "execution_id", "action") if not event.get(k)]
        if missing:
            raise ValueError(f"transition request lacks {', '.join(missing)}")
        if event["environment"] not in v.ENVIRONMENTS:
            raise ValueError(f"environment {event['environment']!r} is not stage or prod")
        rollback = event.get("rollback") or None
        return cls(
            service=event["service"],
            commit_sha=event["commit_sha"],
            environment=event["environment"],
            execution_id=event["execution_id"],
            action=event["action"],
            error=event.get("error") or None,
            deploy=event.get("deploy") or None,
            rollback=rollback.get("value", rollback) if isinstance(rollback, dict) else None,
        )

    @property
    def env(self) -> str:
        return f"environment_states.{self.environment}"

    def error_text(self) -> str:
        if not self.error:
            return ""
        cause = self.error.get("Cause") or ""
        try:
            parsed = json.loads(cause)
            cause = parsed.get("errorMessage") or parsed.get("message") or cause
        except (ValueError, AttributeError):
            pass
        return f"{self.error.get('Error', 'Error')}: {cause}"[:1000]


class _BestEffort:
    """Events and alerts after a committed transition: a failure to send is logged, never turned into
    a failed transition (the state machine would then take the wrong path for a change that happened)."""

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


def apply(request: Request, table: MetadataTable, notify: Notifier, metric: MetricSink) -> dict[str, Any]:
    item = table.get(request.service, request.commit_sha)
    if item is None:
        return {"action": request.action, "succeeded": False, "applied": False, "reason": "no metadata item"}
    if request.action == "lease_lost":
        return _lease_lost(request, item)
    handler = _ACTIONS.get(request.action)
    if handler is None:
        raise ValueError(f"unknown transition {request.action!r}")
    sender = _BestEffort(notify)
    result = handler(request, item, table, sender, metric)
    if sender.failures:
        result["notification_failures"] = sender.failures
    return result


def _mine(request: Request, update: Update, *statuses: str) -> Update:
    """Condition on this execution owning the item, and the environment being in `statuses`."""
    update.conditions.append(("execution_id", "=", request.execution_id))
    if statuses:
        update.conditions.append((f"{request.env}.status", "in", list(statuses)))
    return update


def _result(request: Request, applied: bool, succeeded: bool, **extra: Any) -> dict[str, Any]:
    return {"action": request.action, "applied": applied, "succeeded": succeeded and applied, **extra}


def _finished(request: Request, status: str) -> dict[str, Any]:
    return {"execution_status": status, "execution_completed_at": now_iso()}


# --- actions ------------------------------------------------------------------------------------------


def _deployed(request, item, table, notify, metric):
    now = now_iso()
    env_state = item.get("environment_states", {}).get(request.environment, {})
    duration = seconds_between(env_state.get("deploy_started_at"), now)
    update = _mine(
        request,
        Update(
            sets={
                f"{request.env}.status": v.ENV_DEPLOYED,
                f"{request.env}.deploy_completed_at": now,
                f"{request.env}.test_status": v.TEST_RUNNING,
                f"{request.env}.test_started_at": now,
                f"{request.environment}_deploy_duration_seconds": duration,
                "deploy_build_id": (request.deploy or {}).get("build_id"),
            }
        ),
        v.DEPLOYING,
    )
    applied = table.update(request.service, request.commit_sha, update)
    if applied:
        notify.event(v.DEPLOY_SUCCEEDED, _detail(request, phase="deploy"))
    return _result(request, applied, True)


def _test_failed(request, item, table, notify, metric):
    now = now_iso()
    env_state = item["environment_states"][request.environment]
    update = _mine(
        request,
        Update(
            sets={
                f"{request.env}.test_status": v.TEST_FAILED,
                f"{request.env}.test_completed_at": now,
                f"{request.environment}_test_duration_seconds": seconds_between(env_state.get("test_started_at"), now),
                "status": v.REJECTED,
                **_finished(request, v.EXECUTION_FAILED),
            }
        ),
        v.ENV_DEPLOYED,
    )
    applied = table.update(request.service, request.commit_sha, update)
    if applied:
        notify.event(v.TEST_FAILED_EVENT, _detail(request, reason=request.error_text()))
        metric("TestFailureRate", 1)
    return _result(request, applied, False)


def _prod_succeeded(request, item, table, notify, metric):
    now = now_iso()
    env_state = item["environment_states"][v.PROD]
    update = _mine(
        request,
        Update(
            sets={
                f"{request.env}.test_status": v.TEST_PASSED,
                f"{request.env}.test_completed_at": now,
                "prod_test_duration_seconds": seconds_between(env_state.get("test_started_at"), now),
                "status": v.DEPLOYED,
                "global_health_status": "healthy",
                **_finished(request, v.SUCCEEDED),
            },
            removes=["expire_at"],  # a release live in prod never expires
        ),
        v.ENV_DEPLOYED,
    )
    applied = table.update(request.service, request.commit_sha, update)
    if applied:
        table.set_last_known_good(request.service, request.commit_sha, item.get("build_time", now), now)
        notify.event(v.DEPLOY_SUCCEEDED, _detail(request, phase="smoke"))
        latency = seconds_between(item.get("build_time"), now)
        if latency is not None:
            metric("DeployLatency", float(latency))
        metric("TestFailureRate", 0)
    return _result(request, applied, True)


def _lease_lost(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    """Why this run could not take the environment. Only a run already holding it (or having run it)
    makes this a harmless duplicate; anything else is a refusal the operator should see."""

    def lost(duplicate: bool, reason: str) -> dict[str, Any]:
        outcome = "duplicate" if duplicate else "refused"
        return {"action": "lease_lost", "outcome": outcome, "succeeded": duplicate, "applied": False, "reason": reason}

    expected = v.CANDIDATE if request.environment == v.STAGE else v.PROMOTED
    env_status = item.get("environment_states", {}).get(request.environment, {}).get("status")
    holder = item.get("execution_id")
    if item.get("eligibility_revoked"):
        return lost(False, f"the release is not eligible: {item.get('eligibility_revoked_reason', 'revoked')}")
    if holder and holder != request.execution_id and env_status == v.DEPLOYING:
        return lost(True, f"another run holds {request.environment}: {holder}")
    if item.get("status") != expected and holder and env_status not in (v.PENDING, v.FAILED):
        return lost(True, f"already run: status {item.get('status')}, {request.environment} {env_status}")
    if item.get("status") != expected:
        return lost(False, f"status is {item.get('status')}; a {request.environment} run needs {expected}")
    return lost(False, f"{request.environment} is {env_status}")


def _rollback_initiated(reason: str, now: str) -> dict[str, Any]:
    """What a prod failure that starts a rollback records. Such a release is never promoted or
    redeployed again without a signed override."""
    return {
        "status": v.ROLLBACK_INITIATED,
        "global_health_status": "degraded",
        "eligibility_revoked": True,
        "eligibility_revoked_reason": reason[:500],
        "rollback_initiated_at": now,
        "rollback_attempts": 0,
    }


def _smoke_failed(request, item, table, notify, metric):
    now = now_iso()
    env_state = item["environment_states"][v.PROD]
    update = _mine(
        request,
        Update(
            sets={
                f"{request.env}.test_status": v.TEST_FAILED,
                f"{request.env}.test_completed_at": now,
                "prod_test_duration_seconds": seconds_between(env_state.get("test_started_at"), now),
                **_rollback_initiated(f"prod smoke test failed: {request.error_text()}", now),
            }
        ),
        v.ENV_DEPLOYED,
    )
    applied = table.update(request.service, request.commit_sha, update)
    if applied:
        notify.event(v.SMOKE_TEST_FAILED, _detail(request, reason=request.error_text()))
        notify.event(v.ROLLBACK_INITIATED_EVENT, _detail(request))
        metric("TestFailureRate", 1)
    return _result(request, applied, False)


def _prod_deploy_failed(request, item, table, notify, metric):
    """A prod deploy that failed or timed out: earlier stacks may already run the new release, so
    prod rolls back like after a failed smoke test, and the release is never redeployed."""
    now = now_iso()
    update = _mine(
        request,
        Update(
            sets={
                f"{request.env}.status": v.FAILED,
                f"{request.env}.failure_reason": request.error_text() or "deploy failed",
                **_rollback_initiated(f"prod deploy failed: {request.error_text()}", now),
            }
        ),
        v.DEPLOYING,
    )
    applied = table.update(request.service, request.commit_sha, update)
    if applied:
        notify.event(v.DEPLOY_FAILED, _detail(request, reason=request.error_text()))
        notify.event(v.ROLLBACK_INITIATED_EVENT, _detail(request))
    return _result(request, applied, False)


def _rollback_attempt_failed(request, item, table, notify, metric):
    plan = request.rollback or {}
    update = Update(
        adds={"rollback_attempts": 1},
        sets={"rollback_failure_reason": request.error_text() or "rollback deploy failed"},
        conditions=[("execution_id", "=", request.execution_id), ("status", "=", v.ROLLBACK_INITIATED)],
    )
    applied = table.update(request.service, request.commit_sha, update)
    attempt = int(plan.get("attempt", 1))
    retry = applied and attempt < int(plan.get("max_attempts", v.DEFAULT_MAX_ROLLBACK_ATTEMPTS))
    metric("RollbackFailureRate", 1)
    return _result(request, applied, False, retry=retry, attempt=attempt)


def _rollback_succeeded(request, item, table, notify, metric):
    now = now_iso()
    plan = request.rollback or {}
    update = Update(
        adds={"rollback_attempts": 1},
        sets={
            "status": v.ROLLBACK_SUCCEEDED,
            f"{request.env}.status": v.ROLLBACK_SUCCEEDED,
            "rollback_completed_at": now,
            "rollback_target_commit": plan.get("target_commit"),
            "global_health_status": "healthy",
            **_finished(request, v.EXECUTION_FAILED),
        },
        conditions=[("execution_id", "=", request.execution_id), ("status", "=", v.ROLLBACK_INITIATED)],
    )
    applied = table.update(request.service, request.commit_sha, update)
    if applied:
        notify.event(v.ROLLBACK_SUCCEEDED_EVENT, _detail(request, target_commit=plan.get("target_commit")))
        latency = seconds_between(item.get("rollback_initiated_at"), now)
        if latency is not None:
            metric("RollbackLatency", float(latency))
    return _result(request, applied, False, rolled_back_to=plan.get("target_commit"))


def _rollback_failed(request, item, table, notify, metric):
    plan = request.rollback or {}
    reason = plan.get("reason") or request.error_text() or item.get("rollback_failure_reason") or "rollback failed"
    update = Update(
        sets={
            "status": v.ROLLBACK_FAILED,
            f"{request.env}.status": v.ROLLBACK_FAILED,
            "rollback_attempts_exhausted": True,
            "manual_intervention_required": True,
            "rollback_failure_reason": reason,
            "global_health_status": "degraded",
            **_finished(request, v.EXECUTION_FAILED),
        },
        conditions=[("execution_id", "=", request.execution_id), ("status", "=", v.ROLLBACK_INITIATED)],
    )
    applied = table.update(request.service, request.commit_sha, update)
    if applied:
        detail = _detail(request, reason=reason, attempts=item.get("rollback_attempts"), severity="critical")
        notify.event(v.ROLLBACK_FAILED_EVENT, detail)
        notify.alert(f"CRITICAL: rollback of {request.service} failed, manual intervention required", detail)
    return _result(request, applied, False)


def _failure(
    event_type: str,
    *,
    stage_lifecycle: str | None = None,
    execution_status: str = v.EXECUTION_FAILED,
    **extra_sets: Any,
):
    def handler(request, item, table, notify, metric):
        env_state = item.get("environment_states", {}).get(request.environment, {})
        sets: dict[str, Any] = {
            f"{request.env}.status": v.FAILED,
            f"{request.env}.failure_reason": request.error_text() or request.action,
            **_finished(request, execution_status),
            **extra_sets,
        }
        if env_state.get("test_status") == v.TEST_RUNNING:
            sets[f"{request.env}.test_status"] = v.NOT_TESTED
        if stage_lifecycle and request.environment == v.STAGE:
            sets["status"] = stage_lifecycle
        update = _mine(request, Update(sets=sets), v.DEPLOYING, v.ENV_DEPLOYED)
        applied = table.update(request.service, request.commit_sha, update)
        if applied:
            notify.event(event_type, _detail(request, reason=request.error_text() or request.action))
            if event_type == v.INVALID_ARTIFACT:
                metric("AssetHashMismatch", 1)
        return _result(request, applied, False)

    return handler


def _detail(request: Request, **extra: Any) -> dict[str, Any]:
    return {
        "service": request.service,
        "commit_sha": request.commit_sha,
        "environment": request.environment,
        "execution_id": request.execution_id,
        **{k: x for k, x in extra.items() if x is not None},
    }


_ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "deployed": _deployed,
    "test_failed": _test_failed,
    "prod_succeeded": _prod_succeeded,
    "smoke_failed": _smoke_failed,
    "prod_deploy_failed": _prod_deploy_failed,
    "rollback_attempt_failed": _rollback_attempt_failed,
    "rollback_succeeded": _rollback_succeeded,
    "rollback_failed": _rollback_failed,
    # Stage rejects an artifact that fails verification; in prod it was already promoted once.
    "invalid_artifact": _failure(v.INVALID_ARTIFACT, stage_lifecycle=v.REJECTED, integrity_verified=False),
    "deploy_failed": _failure(v.DEPLOY_FAILED),
    "drift_detected": _failure(v.DEPLOY_FAILED, stack_drift_detected=True),
    "timed_out": _failure(v.DEPLOY_FAILED, execution_status=v.TIMEOUT),
    "failed": _failure(v.DEPLOY_FAILED),
}
