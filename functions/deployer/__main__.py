"""CodeBuild entry point: `python -m functions.deployer --cdk-out DIR --service S --environment stage|prod ...`

Exit codes: 0 deployed, 1 deploy failed (including the deploy role not assumable), 2 usage error
(arguments, stack policy file, a cloud assembly that cannot be deployed as asked), 3 drift detected,
4 manual intervention required. Expected errors print one readable message, never a traceback. With
`--result FILE` the outcome is written as JSON whatever it is, once the arguments are valid.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .assembly import select_stacks
from .deploy import check_drift, deploy_stacks
from .errors import EXIT_SUCCESS, EXIT_USAGE, DeployerError, exit_code
from .session import assume_role_session, role_account, session_name

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class UsageError(Exception):
    pass


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m functions.deployer",
        description="Deploy one service's stacks of one environment from a pre-synthesized cdk.out.",
    )
    p.add_argument("--cdk-out", required=True, type=Path, help="the cloud assembly directory")
    p.add_argument("--service", required=True)
    p.add_argument("--environment", required=True, choices=("stage", "prod"))
    p.add_argument("--account", required=True, help="the target account (12 digits)")
    p.add_argument("--region", required=True)
    p.add_argument("--role-arn", required=True, help="the service's deploy role in the target account")
    p.add_argument("--external-id", required=True)
    p.add_argument("--execution-role-arn", required=True, help="the role CloudFormation deploys with")
    p.add_argument("--stack-policy", type=Path, help="JSON stack policy applied to every stack")
    p.add_argument("--detect-drift", action="store_true", help="prod: abort when a stack has drifted")
    p.add_argument("--allow-drift", action="store_true", help="deploy despite drift (signed override)")
    p.add_argument("--drift-only", action="store_true", help="prod drift gate: check drift, deploy nothing")
    p.add_argument("--result", type=Path, help="write the result JSON here")
    p.add_argument(
        "--deployment-id",
        help="names the change sets; default: the CodeBuild build id ($CODEBUILD_BUILD_ID), else random",
    )
    p.add_argument("--timeout-seconds", type=float, default=3600.0, help="deadline for the whole deploy")
    p.add_argument("--poll-seconds", type=float, default=5.0)
    return p


def main(
    argv: Sequence[str] | None = None,
    *,
    base_session: Any = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage; --help exits 0
        return int(exc.code or 0)

    def log(message: str) -> None:
        print(f"[deployer] {message}", flush=True)

    deployment_id = args.deployment_id or _default_deployment_id()
    report: dict[str, Any] = {
        "service": args.service,
        "environment": args.environment,
        "account": args.account,
        "region": args.region,
        "deployment_id": deployment_id,
        "outcome": None,
        "stacks": [],
        "totals": None,
        "error": None,
    }
    try:
        _check_arguments(args)
        stack_policy = _read_stack_policy(args.stack_policy)
        stacks = select_stacks(
            args.cdk_out, service=args.service, environment=args.environment, account=args.account, region=args.region
        )
        log(f"{args.service} {args.environment} in {args.account}/{args.region}: deployment {deployment_id}")
        log("stacks in order: " + ", ".join(s.name for s in stacks))
        log(f"assuming {args.role_arn}")
        session = assume_role_session(
            args.role_arn,
            external_id=args.external_id,
            region=args.region,
            role_session_name=session_name("cdkcp-deploy", args.service, args.environment),
            base_session=base_session,
        )
        if args.drift_only:
            states = check_drift(
                session,
                stacks,
                allow_drift=args.allow_drift,
                poll_seconds=args.poll_seconds,
                timeout_seconds=args.timeout_seconds,
                clock=clock,
                sleep=sleep,
                log=log,
            )
            report.update(outcome="succeeded", drift=states)
            _write_result(args.result, report)
            return EXIT_SUCCESS
        result = deploy_stacks(
            session,
            stacks,
            execution_role_arn=args.execution_role_arn,
            stack_policy=stack_policy,
            environment=args.environment,
            detect_drift=args.detect_drift,
            allow_drift=args.allow_drift,
            deployment_id=deployment_id,
            poll_seconds=args.poll_seconds,
            timeout_seconds=args.timeout_seconds,
            clock=clock,
            sleep=sleep,
            log=log,
        )
    except UsageError as exc:
        print(f"deployer: usage error: {exc}", file=sys.stderr)
        report.update(outcome="usage_error", error={"kind": "usage_error", "message": str(exc)})
        _write_result(args.result, report)
        return EXIT_USAGE
    except DeployerError as exc:
        print(f"deployer: {exc.kind.replace('_', ' ')}: {exc}", file=sys.stderr)
        if exc.result is not None:
            report.update(exc.result.to_dict())
        report.update(outcome=exc.kind, error=exc.to_dict())
        _write_result(args.result, report)
        return exit_code(exc)

    totals = result.totals
    log(
        f"done in {totals['seconds']:.0f}s: {totals['created']} created, {totals['updated']} updated, "
        f"{totals['unchanged']} unchanged"
    )
    report.update(result.to_dict())
    report["outcome"] = "succeeded"
    _write_result(args.result, report)
    return EXIT_SUCCESS


def _default_deployment_id() -> str:
    build_id = os.environ.get("CODEBUILD_BUILD_ID", "")
    return build_id.rsplit(":", 1)[-1] if build_id else uuid.uuid4().hex


def _check_arguments(args: argparse.Namespace) -> None:
    if not _ACCOUNT.match(args.account):
        raise UsageError(f"--account {args.account!r} is not a 12-digit account id")
    if not _REGION.match(args.region):
        raise UsageError(f"--region {args.region!r} is not a region name")
    for option, arn in (("--role-arn", args.role_arn), ("--execution-role-arn", args.execution_role_arn)):
        account = role_account(arn)
        if account is None:
            raise UsageError(f"{option} {arn!r} is not an IAM role ARN")
        if account != args.account:
            raise UsageError(f"{option} {arn} is in account {account}, not the target account {args.account}")
    if not args.cdk_out.is_dir():
        raise UsageError(f"--cdk-out {args.cdk_out} is not a directory")
    if args.timeout_seconds <= 0 or args.poll_seconds <= 0:
        raise UsageError("--timeout-seconds and --poll-seconds must be positive")


def _read_stack_policy(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        policy = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--stack-policy {path}: {exc}") from None
    if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list) or not policy["Statement"]:
        raise UsageError(f"--stack-policy {path}: not a stack policy (an object with a non-empty Statement list)")
    return policy


def _write_result(path: Path | None, report: dict[str, Any]) -> None:
    if path is None:
        return
    try:
        path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"deployer: could not write the result to {path}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
