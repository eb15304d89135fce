"""`artifactctl context publish | fetch | guard`: blessed `.cdk.context.json` files."""

from __future__ import annotations

import argparse
import json
import sys

from .common import (
    EXIT_INVALID,
    EXIT_OK,
    UsageError,
    aws_client,
    check_output_path,
    print_findings,
    public_key_for,
    signer_for,
)


def cmd_context_publish(args: argparse.Namespace) -> int:
    from functions.artifacts.contexts import check_determinism, publish_context

    if args.generator_cmd:
        digest = check_determinism(args.generator_cmd, args.file, args.runs)
        print(f"deterministic: {args.runs} runs, sha256 {digest}", file=sys.stderr)
    elif not args.file.is_file():
        raise UsageError(f"--file {args.file}: no such file")
    published = publish_context(
        args.env, args.file, bucket=args.bucket, signer=signer_for(args), s3=aws_client("s3", args.region)
    )
    print(
        json.dumps({"env": published.env, "sha256": published.sha256, "keys": list(published.keys)})
        if args.json
        else f"published {args.env} context {published.sha256}"
    )
    return EXIT_OK


def cmd_context_fetch(args: argparse.Namespace) -> int:
    from functions.artifacts.contexts import fetch_context

    check_output_path(args.out, "--out")
    digest = fetch_context(
        args.env,
        args.out,
        bucket=args.bucket,
        public_key=public_key_for(args),
        s3=aws_client("s3", args.region),
        expect_sha256=args.expect_hash,
    )
    print(f"wrote {args.out} (sha256 {digest}, signature verified)")
    return EXIT_OK


def cmd_context_guard(args: argparse.Namespace) -> int:
    from functions.artifacts.contexts import guard

    findings = guard(args.repo, args.base)
    print_findings(findings)
    if not findings:
        print("OK no .cdk.context.json is committed, staged or added")
    return EXIT_INVALID if findings else EXIT_OK
