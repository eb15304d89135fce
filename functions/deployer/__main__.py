"""The command line: `python -m functions.deployer --cdk-out DIR --service S --environment stage|prod ...`

It builds a `DeployRequest` from its options and runs it (`functions.deployer.runner`, whose docstring
lists the exit codes); CodeBuild runs `functions.deployer.codebuild`, which builds the same request from
the build's environment. With `--result FILE` the outcome is written as JSON whatever it is, once the
options parse.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from functions.pipeline.lifecycle import Environment

from .errors import UsageError
from .request import DEFAULT_POLL_SECONDS, DEFAULT_TIMEOUT_SECONDS, DEPLOYER_MODES, DeployRequest, Mode, StackPolicy
from .runner import fail, run

MODE_HELP = (
    "deploy: deploy the stacks (prod: abort first when one has drifted); drift-check: the prod drift gate, "
    "check every stack's drift and deploy nothing; rollback: deploy without the drift gate (default: deploy)"
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m functions.deployer",
        description="Deploy one service's stacks of one environment from a pre-synthesized cdk.out.",
    )
    p.add_argument("--cdk-out", required=True, type=Path, help="the cloud assembly directory")
    p.add_argument("--service", required=True)
    p.add_argument("--environment", required=True, type=Environment, choices=list(Environment))
    p.add_argument("--account", required=True, help="the target account (12 digits)")
    p.add_argument("--region", required=True)
    p.add_argument("--role-arn", required=True, help="the service's deploy role in the target account")
    p.add_argument("--external-id", required=True)
    p.add_argument("--execution-role-arn", required=True, help="the role CloudFormation deploys with")
    p.add_argument("--mode", type=Mode, choices=DEPLOYER_MODES, default=Mode.DEPLOY, help=MODE_HELP)
    p.add_argument("--stack-policy", type=Path, help="JSON stack policy applied to every stack")
    p.add_argument("--allow-drift", action="store_true", help="deploy despite drift (signed override)")
    p.add_argument(
        "--image-digests",
        type=Path,
        help="JSON object of container image asset id to its sha256:... digest (the signed manifest's); "
        "each image is checked against it, and an image asset without one is refused",
    )
    p.add_argument("--result", type=Path, help="write the result JSON here")
    p.add_argument(
        "--deployment-id",
        help="names the change sets; default: the CodeBuild build id ($CODEBUILD_BUILD_ID), else random",
    )
    p.add_argument(
        "--timeout-seconds", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="deadline for the whole deploy"
    )
    p.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS)
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
    request = request_from_arguments(args)
    if args.image_digests is not None:
        try:
            request = replace(request, image_digests=_image_digests(args.image_digests))
        except UsageError as error:
            return fail(request, error).exit_code
    if args.stack_policy is not None:
        try:
            request.check()  # the options first, as `run` would, then the file they name
            request = replace(request, stack_policy=StackPolicy.from_file(args.stack_policy))
        except UsageError as error:
            return fail(request, error).exit_code
    return run(request, base_session=base_session, clock=clock, sleep=sleep).exit_code


def request_from_arguments(args: argparse.Namespace) -> DeployRequest:
    """The request the options describe, without the stack policy (a file, read by `main`)."""
    return DeployRequest(
        cdk_out=args.cdk_out,
        service=args.service,
        environment=args.environment,
        account=args.account,
        region=args.region,
        role_arn=args.role_arn,
        external_id=args.external_id,
        execution_role_arn=args.execution_role_arn,
        deployment_id=args.deployment_id or _default_deployment_id(),
        mode=args.mode,
        allow_drift=args.allow_drift,
        timeout_seconds=args.timeout_seconds,
        poll_seconds=args.poll_seconds,
        result_path=args.result,
    )


def _image_digests(path: Path) -> dict[str, str]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--image-digests {path}: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise UsageError(f"--image-digests {path}: expected a JSON object of asset id to digest")
    return value


def _default_deployment_id() -> str:
    build_id = os.environ.get("CODEBUILD_BUILD_ID", "")
    return build_id.rsplit(":", 1)[-1] if build_id else uuid.uuid4().hex


if __name__ == "__main__":
    sys.exit(main())
