"""`artifactctl override request | submit`: write a signed operator request, hand it to the
orchestrator's `override` function (synchronously) and print what it did.

The request is signed exactly as manifests are (`functions.overrides.request`), with the override key
(`alias/cdk-override-signer`, or a PEM key for an air-gapped signer whose public half is the key's); the
orchestrator verifies it offline and acts only through the lifecycle table and the state machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import EXIT_AWS, EXIT_OK, UsageError, aws_client, read_file, region_of, signer_for, write_atomic

EXIT_REFUSED = 5  # the orchestrator refused the request (the reason is printed)
DEFAULT_FUNCTION = "cdkcp-override"  # `{namePrefix}-override`


def _requester(args: argparse.Namespace) -> str:
    if args.requester:
        return str(args.requester)
    identity = aws_client("sts", region_of(args)).get_caller_identity()
    return str(identity["Arn"])


PLACEHOLDER_REQUESTER = "arn:aws:iam::000000000000:role/checking-the-flags"


def _unsigned(args: argparse.Namespace, requester: str) -> Any:
    from functions.overrides.request import RequestError, new_request, parse_duration

    try:
        return new_request(
            args.action,
            service=args.service,
            commit_sha=args.commit,
            environment=args.environment,
            target_commit=args.target_commit,
            reason=args.reason,
            requester=requester,
            expires_in=parse_duration(args.expires_in),
        )
    except RequestError as exc:
        raise UsageError(str(exc)) from None


def cmd_override_request(args: argparse.Namespace) -> int:
    from functions.overrides.request import dumps, sign_request

    if args.out is not None:
        from .common import check_output_path

        check_output_path(args.out, "--out")
    _unsigned(args, args.requester or PLACEHOLDER_REQUESTER)  # every flag checked before any AWS call
    signer = signer_for(args)
    signed = sign_request(_unsigned(args, _requester(args)), signer)
    text = dumps(signed)
    if args.out is None:
        sys.stdout.write(text)
        return EXIT_OK
    write_atomic(args.out, text.encode(), "--out")
    target = signed.target
    print(
        f"wrote {args.out}: {signed.action} of {target.service}@{target.commit_sha[:12]} ({target.environment}), "
        f"id {signed.override_id}, expires {signed.expires_at}"
    )
    return EXIT_OK


def _invoke(args: argparse.Namespace, text: str) -> dict[str, Any]:
    from functions.artifacts.errors import AwsError

    response = aws_client("lambda", region_of(args)).invoke(
        FunctionName=args.function,
        InvocationType="RequestResponse",
        Payload=json.dumps({"request": text}).encode(),
    )
    payload = response["Payload"].read()
    try:
        result = json.loads(payload or b"{}")
    except ValueError:
        raise AwsError(f"{args.function} answered something that is not JSON: {payload[:200]!r}") from None
    if response.get("FunctionError") or not isinstance(result, dict) or "applied" not in result:
        message = result.get("errorMessage") if isinstance(result, dict) else None
        raise AwsError(f"{args.function} failed ({response.get('FunctionError', 'no outcome')}): {message or result}")
    return result


def cmd_override_submit(args: argparse.Namespace) -> int:
    from functions.overrides.request import MAX_REQUEST_BYTES

    raw = read_file(args.file, "request", limit=MAX_REQUEST_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"request {args.file}: not UTF-8 text") from None
    result = _invoke(args, text)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        verdict = "APPLIED" if result["applied"] else "REFUSED"
        subject = (
            f"{result.get('action', 'request')} {result.get('service', '')}@{str(result.get('commit_sha', ''))[:12]}"
        )
        print(f"{verdict}: {subject}: {result.get('reason')}")
        if result.get("execution_arn"):
            print(f"execution: {result['execution_arn']}")
    return EXIT_OK if result["applied"] else EXIT_REFUSED


__all__ = ["EXIT_AWS", "EXIT_REFUSED", "cmd_override_request", "cmd_override_submit"]
