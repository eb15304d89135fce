"""`artifactctl`: build, sign, verify and publish CDK artifacts and blessed contexts.

A thin adapter over `functions.artifacts`: parse flags (`parser`), call the domain core (the
`*_commands` modules), print, exit. Command names and flags are a contract that CI workflows and
operators script against.

Exit codes:
  0  success
  1  the artifact or context is invalid (every failed check is printed, one per line), or the audit
     chain was tampered with (`audit verify` prints the first finding)
  2  usage error: a bad flag or an input file that cannot be read
  3  AWS or key error: KMS, S3 or DynamoDB refused or could not be reached, or a key is unusable
  4  reserved (was: a conflicting re-publish; intake in the tools account now refuses those)
  5  the orchestrator refused an override request (`override submit` prints the reason)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

from .common import EXIT_AWS, EXIT_INVALID, EXIT_USAGE, UsageError, print_findings
from .parser import build_parser

__all__ = ["build_parser", "main"]


def _fail(code: int, message: str) -> NoReturn:
    print(f"artifactctl: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from functions.artifacts.errors import AwsError, ContextError, InvalidArtifact, SigningError

    try:
        return args.handler(args)
    except InvalidArtifact as exc:
        print_findings(exc.findings)
        return EXIT_INVALID
    except ContextError as exc:
        _fail(EXIT_INVALID, str(exc))
    except UsageError as exc:
        _fail(EXIT_USAGE, str(exc))
    except (SigningError, AwsError) as exc:
        _fail(EXIT_AWS, str(exc))
    except Exception as exc:
        # botocore's errors (no credentials, access denied, endpoint unreachable) without importing
        # botocore on paths that never call AWS.
        if type(exc).__module__.split(".")[0] in ("botocore", "boto3", "s3transfer"):
            _fail(EXIT_AWS, f"AWS call failed: {exc}")
        raise


if __name__ == "__main__":
    sys.exit(main())
