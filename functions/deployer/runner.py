"""Execute one `DeployRequest`: select the stacks, assume the deploy role, deploy them (or only check
their drift), and report.

Before any change set (deploys and rollbacks), the assets CloudFormation will read are published from
the verified `cdk.out` and checked (`signed_assets`); the report's `assets` section says what was.

Exit codes: 0 deployed (or no drift), 1 deploy failed (including the deploy role not assumable), 2 usage
error (the request, its stack policy, a cloud assembly that cannot be deployed as asked), 3 drift
detected, 4 manual intervention required, 6 an asset is not the signed content (nothing deployed).
Expected errors print one readable message, never a traceback. With a `result_path` the outcome is
written there as JSON whatever it is.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.sessions import assume_role_session, session_name

from .assembly import select_stacks
from .deploy import check_drift, deploy_stacks
from .errors import EXIT_SUCCESS, AssumeRoleFailed, DeployerError, exit_code
from .request import DeployRequest, Mode
from .signed_assets import make_signed, plan_assets


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    report: dict[str, Any]  # what is written to the request's result file

    @property
    def change_sets(self) -> int:
        """The change sets the run created: 0 when it stopped before any (nothing was deployed)."""
        return int(self.report.get("change_sets") or 0)


def log_line(message: str) -> None:
    print(f"[deployer] {message}", flush=True)


def run(
    request: DeployRequest,
    *,
    base_session: Any = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = log_line,
) -> Outcome:
    """Execute `request`; `base_session` holds the caller's own credentials (default: the environment's)."""
    report = _report(request)
    try:
        request.check()
        report.update(_execute(request, base_session, clock, sleep, log))
    except DeployerError as error:
        return fail(request, error, report)
    return _finish(request, report, EXIT_SUCCESS)


def fail(request: DeployRequest, error: DeployerError, report: dict[str, Any] | None = None) -> Outcome:
    """Report an expected error: one line on stderr, the partial result and the error in the report."""
    report = report if report is not None else _report(request)
    print(f"deployer: {error.kind.replace('_', ' ')}: {error}", file=sys.stderr)
    if error.result is not None:
        report.update(error.result.to_dict())
    report.update(outcome=error.kind, error=error.to_dict())
    return _finish(request, report, exit_code(error))


def _execute(
    request: DeployRequest,
    base_session: Any,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    log: Callable[[str], None],
) -> dict[str, Any]:
    service, environment = request.service, request.environment
    stacks = select_stacks(
        request.cdk_out, service=service, environment=environment, account=request.account, region=request.region
    )
    log(f"{service} {environment} in {request.account}/{request.region}: deployment {request.deployment_id}")
    log("stacks in order: " + ", ".join(s.name for s in stacks))
    log(f"assuming {request.role_arn}")
    session = assume_role_session(
        request.role_arn,
        external_id=request.external_id,
        region=request.region,
        role_session_name=session_name("cdkcp-deploy", service, environment, default="cdkcp-deployer"),
        base_session=base_session,
        error=AssumeRoleFailed,
    )
    waiting: dict[str, Any] = {
        "poll_seconds": request.poll_seconds,
        "timeout_seconds": request.timeout_seconds,
        "clock": clock,
        "sleep": sleep,
        "log": log,
    }
    if request.mode is Mode.DRIFT_CHECK:
        drift = check_drift(session, stacks, allow_drift=request.allow_drift, **waiting)
        return {"outcome": "succeeded", "drift": drift}
    assets = _signed_assets(request, stacks, base_session, session, log)
    result = deploy_stacks(
        session,
        stacks,
        execution_role_arn=request.execution_role_arn,
        stack_policy=request.policy_document,
        environment=environment,
        detect_drift=request.detect_drift,
        allow_drift=request.allow_drift,
        deployment_id=request.deployment_id,
        **waiting,
    )
    totals = result.totals
    log(
        f"done in {totals['seconds']:.0f}s: {totals['created']} created, {totals['updated']} updated, "
        f"{totals['unchanged']} unchanged"
    )
    return {**result.to_dict(), "assets": assets, "outcome": "succeeded"}


def _signed_assets(
    request: DeployRequest, stacks: list[Any], base_session: Any, deploy_session: Any, log: Callable[[str], None]
) -> dict[str, Any]:
    """Publish and check every asset of `stacks` (files through their publishing roles, assumed from
    the deployer's own credentials with the service's external id; images with the deploy role)."""
    plan = plan_assets(request.cdk_out, stacks, account=request.account, region=request.region)
    sessions: dict[str, Any] = {}

    def session_for(role_arn: str) -> Any:
        if role_arn not in sessions:
            log(f"assuming {role_arn} to publish assets")
            sessions[role_arn] = assume_role_session(
                role_arn,
                external_id=request.external_id,
                region=request.region,
                role_session_name=session_name("cdkcp-publish", request.service, request.environment),
                base_session=base_session,
                error=AssumeRoleFailed,
            )
        return sessions[role_arn]

    return make_signed(
        plan, session_for=session_for, deploy_session=deploy_session, image_digests=request.image_digests, log=log
    )


def _report(request: DeployRequest) -> dict[str, Any]:
    return {
        "service": request.service,
        "environment": request.environment,
        "account": request.account,
        "region": request.region,
        "deployment_id": request.deployment_id,
        "outcome": None,
        "stacks": [],
        "totals": None,
        "change_sets": 0,
        "error": None,
    }


def _finish(request: DeployRequest, report: dict[str, Any], code: int) -> Outcome:
    _write_result(request.result_path, report)
    return Outcome(code, report)


def _write_result(path: Path | None, report: dict[str, Any]) -> None:
    if path is None:
        return
    try:
        path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"deployer: could not write the result to {path}: {exc}", file=sys.stderr)
