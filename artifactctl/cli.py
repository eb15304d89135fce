"""`artifactctl`: build, sign, verify and publish CDK artifacts and blessed contexts.

A thin adapter over `functions.artifacts`: parse flags, call the domain core, print, exit. Command
names and flags are a contract that CI workflows and operators script against.

Exit codes:
  0  success
  1  the artifact or context is invalid (every failed check is printed, one per line)
  2  usage error: a bad flag or an input file that cannot be read
  3  AWS or key error: KMS, S3 or DynamoDB refused or could not be reached, or a key is unusable
  4  conflict: the commit is already published with a different artifact (nothing was changed)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_AWS, EXIT_CONFLICT = 0, 1, 2, 3, 4


class UsageError(Exception):
    pass


# --- helpers ------------------------------------------------------------------------------------------


def _read(path: Path, what: str, limit: int | None = None) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit) if limit else handle.read()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class _Progress:
    """Hashing progress on stderr, only when someone is watching and the work is long."""

    def __init__(self, total_bytes: int, enabled: bool) -> None:
        self.total = total_bytes
        self.done = 0
        self.enabled = enabled and total_bytes > 0
        self.last = 0.0

    def __call__(self, _path: str, size: int) -> None:
        self.done += size
        now = time.monotonic()
        if self.enabled and now - self.last > 0.5:
            self.last = now
            percent = 100 * self.done / self.total
            print(f"\rhashing {percent:5.1f}% ({self.done >> 20} / {self.total >> 20} MiB)", end="", file=sys.stderr)

    def finish(self) -> None:
        if self.enabled and self.last:
            print(file=sys.stderr)


def _progress_for(tree: Path, flag: bool | None) -> _Progress:
    enabled = sys.stderr.isatty() if flag is None else flag
    total = 0
    if enabled and tree.is_dir():
        total = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file() and not p.is_symlink())
        enabled = total > 64 * 1024 * 1024 or flag is True
    return _Progress(total, enabled)


def _signer(args: argparse.Namespace) -> Any:
    from functions.artifacts.signing import KmsSigner, LocalKeySigner

    if args.private_key:
        return LocalKeySigner.from_pem(_read(args.private_key, "--private-key"), str(args.private_key))
    return KmsSigner(args.kms_key_id)


def _public_key(args: argparse.Namespace) -> Any:
    from functions.artifacts.signing import kms_public_key_pem, load_public_key

    if args.public_key:
        return load_public_key(_read(args.public_key, "--public-key"), str(args.public_key))
    return load_public_key(kms_public_key_pem(args.kms_key_id), args.kms_key_id)


def _lazy_public_key(args: argparse.Namespace) -> Callable[[], Any]:
    """Loaded by `verify_artifact` while files hash (the key file is checked for readability now)."""
    if args.public_key:
        _read(args.public_key, "--public-key", limit=1)
    return lambda: _public_key(args)


def _print_findings(findings: Sequence[Any]) -> None:
    for finding in findings:
        print(finding.line())


def _aws_client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region) if region else boto3.client(service)


# --- manifest -----------------------------------------------------------------------------------------


def _detect_cdk_version() -> str:
    cdk = shutil.which("cdk")
    if cdk is None:
        raise UsageError("--cdk-cli-version is required (no `cdk` on PATH to ask)")
    output = subprocess.run([cdk, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    if not output:
        raise UsageError("--cdk-cli-version is required (`cdk --version` printed nothing)")
    return output.split()[0]


def _started_at(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise UsageError(f"--build-started-at {value!r}: expected epoch seconds or ISO 8601") from None


def cmd_manifest_build(args: argparse.Namespace) -> int:
    from functions.artifacts.manifest import build_manifest, dumps

    if args.context_file is not None and not args.context_file.is_file():
        raise UsageError(f"--context-file {args.context_file}: no such file")
    progress = _progress_for(args.cdk_out, args.progress)
    manifest = build_manifest(
        args.cdk_out,
        service=args.service,
        commit=args.commit,
        cdk_cli_version=args.cdk_cli_version or _detect_cdk_version(),
        context_file=args.context_file,
        previous_commit=args.previous_commit,
        git_signature_verified=args.git_signature_verified,
        build_started_at=_started_at(args.build_started_at),
        jobs=args.jobs,
        on_file=progress,
    )
    progress.finish()
    _write_atomic(args.out, dumps(manifest))
    summary = {
        "manifest": str(args.out),
        "files": len(manifest["file_hashes"]),
        "artifact_sha256": manifest["artifact_sha256"],
    }
    print(
        json.dumps(summary)
        if args.json
        else f"wrote {args.out}: {summary['files']} files, artifact_sha256 {summary['artifact_sha256']}"
    )
    return EXIT_OK


def cmd_manifest_sign(args: argparse.Namespace) -> int:
    from functions.artifacts import provenance
    from functions.artifacts.manifest import canonical_bytes, dumps, parse_manifest, read_manifest_file
    from functions.artifacts.signing import sign_message

    manifest, problems = parse_manifest(_read_manifest(args.manifest, read_manifest_file))
    if manifest is None:
        _print_findings(problems)
        return EXIT_INVALID
    signer = _signer(args)
    manifest["signing_identity"] = signer.identity
    manifest["signature"] = sign_message(signer, canonical_bytes(manifest))
    envelope = provenance.envelope(manifest, signer)
    provenance_out = args.provenance_out or args.manifest.with_name("artifact-provenance.dsse.json")
    _write_atomic(provenance_out, (json.dumps(envelope, indent=2) + "\n").encode())
    _write_atomic(args.manifest, dumps(manifest))
    print(f"signed {args.manifest} as {signer.identity}; provenance envelope {provenance_out}")
    return EXIT_OK


def _read_manifest(path: Path, reader: Callable[[Path], bytes]) -> bytes:
    try:
        return reader(path)
    except OSError as exc:
        raise UsageError(f"--manifest {path}: {exc.strerror}") from None


def cmd_manifest_verify(args: argparse.Namespace) -> int:
    from functions.artifacts.errors import Finding
    from functions.artifacts.manifest import read_manifest_file
    from functions.artifacts.verify import Expectations, Report, verify_artifact

    try:
        manifest_bytes = read_manifest_file(args.manifest)
    except OSError as exc:
        report = Report(findings=[Finding("structure", str(args.manifest), f"manifest not readable: {exc.strerror}")])
    else:
        expect = Expectations(
            service=args.expect_service,
            commit=args.expect_commit,
            artifact_sha256=args.expect_artifact_sha256,
            context_hash=args.expect_context_hash,
            approved_cdk_versions=[v for v in args.approved_cdk_versions.split(",") if v]
            if args.approved_cdk_versions
            else None,
        )
        progress = _progress_for(args.cdk_out, args.progress)
        report = verify_artifact(
            args.cdk_out, manifest_bytes, _lazy_public_key(args), expect, jobs=args.jobs, on_file=progress
        )
        progress.finish()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        print(f"OK {report.files_checked} files, artifact_sha256 {report.manifest['artifact_sha256']}")  # type: ignore[index]
    else:
        _print_findings(report.findings)
    return EXIT_OK if report.ok else EXIT_INVALID


# --- publish ------------------------------------------------------------------------------------------


def cmd_publish(args: argparse.Namespace) -> int:
    from functions.artifacts.manifest import read_manifest_file
    from functions.artifacts.publish import publish

    manifest_bytes = _read_manifest(args.manifest, read_manifest_file)
    provenance_path = args.provenance or args.manifest.with_name("artifact-provenance.dsse.json")
    provenance_bytes = _read(provenance_path, "--provenance") if provenance_path.is_file() else None
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    result = publish(
        args.cdk_out,
        manifest_bytes,
        bucket=args.bucket,
        table=args.table,
        region=region,
        s3=_aws_client("s3", region),
        dynamodb=_aws_client("dynamodb", region),
        provenance_bytes=provenance_bytes,
        jobs=args.jobs,
        log=lambda line: print(line, file=sys.stderr),
    )
    document = {"prefix": f"s3://{args.bucket}/{result.prefix}", "files": result.uploaded, "resumed": result.resumed}
    print(json.dumps(document) if args.json else f"published {document['files']} files to {document['prefix']}")
    return EXIT_OK


# --- context ------------------------------------------------------------------------------------------


def cmd_context_publish(args: argparse.Namespace) -> int:
    from functions.artifacts.contexts import check_determinism, publish_context

    if args.generator_cmd:
        digest = check_determinism(args.generator_cmd, args.file, args.runs)
        print(f"deterministic: {args.runs} runs, sha256 {digest}", file=sys.stderr)
    elif not args.file.is_file():
        raise UsageError(f"--file {args.file}: no such file")
    published = publish_context(
        args.env, args.file, bucket=args.bucket, signer=_signer(args), s3=_aws_client("s3", args.region)
    )
    print(
        json.dumps({"env": published.env, "sha256": published.sha256, "keys": list(published.keys)})
        if args.json
        else f"published {args.env} context {published.sha256}"
    )
    return EXIT_OK


def cmd_context_fetch(args: argparse.Namespace) -> int:
    from functions.artifacts.contexts import fetch_context

    digest = fetch_context(
        args.env,
        args.out,
        bucket=args.bucket,
        public_key=_public_key(args),
        s3=_aws_client("s3", args.region),
        expect_sha256=args.expect_hash,
    )
    print(f"wrote {args.out} (sha256 {digest}, signature verified)")
    return EXIT_OK


def cmd_context_guard(args: argparse.Namespace) -> int:
    from functions.artifacts.contexts import guard

    findings = guard(args.repo, args.base)
    _print_findings(findings)
    if not findings:
        print("OK no .cdk.context.json is committed, staged or added")
    return EXIT_INVALID if findings else EXIT_OK


# --- status -------------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    import boto3

    from functions.pipeline import status
    from functions.pipeline.store import MetadataTable

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    table = boto3.resource("dynamodb", region_name=region).Table(args.table)
    if args.commit:
        metadata = MetadataTable(table)
        item = metadata.get(args.service, args.commit)
        if item is None:
            raise UsageError(f"no artifact {args.service}@{args.commit} in {args.table}")
        if args.json:
            print(json.dumps(item, indent=2, sort_keys=True, default=str))
        else:
            print(status.describe(item, metadata.service_record(args.service)))
        return EXIT_OK
    items = status.service_items(table, args.service)
    if args.json:
        print(json.dumps(items, indent=2, sort_keys=True, default=str))
    elif not items:
        print(f"no artifacts of {args.service} in {args.table}")
    else:
        print("\n".join(status.summary_line(i) for i in items))
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------------------


def _key_source(parser: argparse.ArgumentParser, private: bool, default_kms_key: str | None = None) -> None:
    group = parser.add_mutually_exclusive_group(required=default_kms_key is None)
    group.add_argument(
        "--kms-key-id",
        default=default_kms_key,
        help="KMS key id, ARN or alias" + (f" (default: {default_kms_key})" if default_kms_key else ""),
    )
    if private:
        group.add_argument("--private-key", type=Path, help="PEM file of an ECC P-256 private key")
    else:
        group.add_argument("--public-key", type=Path, help="PEM file of the trusted ECC P-256 public key")


CONTEXT_SIGNER_ALIAS = "alias/cdk-context-signer"
CONTEXTS_BUCKET_ENV = "ARTIFACTCTL_CONTEXTS_BUCKET"


def _contexts_bucket(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get(CONTEXTS_BUCKET_ENV)
    parser.add_argument(
        "--bucket",
        default=default,
        required=default is None,
        help=f"the contexts bucket (default: ${CONTEXTS_BUCKET_ENV})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artifactctl",
        description="Build, sign, verify and publish CDK artifacts and blessed contexts.",
        epilog="exit codes: 0 ok, 1 invalid artifact or context, 2 usage, 3 AWS or key error, 4 conflict",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    manifest = commands.add_parser("manifest", help="artifact manifests").add_subparsers(dest="action", required=True)
    build = manifest.add_parser("build", help="write the unsigned manifest of a cdk.out tree")
    build.add_argument("--cdk-out", type=Path, required=True)
    build.add_argument("--service", required=True)
    build.add_argument("--commit", required=True, help="full 40-character commit SHA")
    build.add_argument("--context-file", type=Path, help="the .cdk.context.json the synth used")
    build.add_argument("--previous-commit")
    build.add_argument("--git-signature-verified", action="store_true", help="CI verified the commit's signature")
    build.add_argument("--cdk-cli-version", help="default: ask `cdk --version`")
    build.add_argument(
        "--build-started-at", help="synth start (epoch seconds or ISO 8601); default: oldest output file"
    )
    build.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1)
    build.add_argument("--out", type=Path, required=True)
    build.set_defaults(handler=cmd_manifest_build)

    sign = manifest.add_parser("sign", help="sign a manifest in place and write its DSSE provenance")
    sign.add_argument("--manifest", type=Path, required=True)
    _key_source(sign, private=True)
    sign.add_argument("--provenance-out", type=Path, help="default: artifact-provenance.dsse.json beside the manifest")
    sign.set_defaults(handler=cmd_manifest_sign)

    verify = manifest.add_parser("verify", help="check a cdk.out tree against its signed manifest")
    verify.add_argument("--cdk-out", type=Path, required=True)
    verify.add_argument("--manifest", type=Path, required=True)
    _key_source(verify, private=False)
    verify.add_argument("--expect-service")
    verify.add_argument("--expect-commit")
    verify.add_argument("--expect-artifact-sha256")
    verify.add_argument("--expect-context-hash")
    verify.add_argument("--approved-cdk-versions", help="comma-separated, e.g. 2.126.0,2.127.0")
    verify.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1)
    verify.set_defaults(handler=cmd_manifest_verify)

    publish = commands.add_parser("publish", help="record the candidate and upload the artifact, manifest last")
    publish.add_argument("--cdk-out", type=Path, required=True)
    publish.add_argument("--manifest", type=Path, required=True)
    publish.add_argument("--bucket", required=True, help="the candidate bucket")
    publish.add_argument("--table", required=True, help="the metadata table")
    publish.add_argument("--provenance", type=Path, help="default: artifact-provenance.dsse.json beside the manifest")
    publish.add_argument("--region")
    publish.add_argument("--jobs", type=_positive, default=8)
    publish.set_defaults(handler=cmd_publish)

    context = commands.add_parser("context", help="blessed .cdk.context.json files").add_subparsers(
        dest="action", required=True
    )
    context_publish = context.add_parser(
        "publish", help="sign and upload a context (optionally regenerating it N times)"
    )
    context_publish.add_argument("--env", required=True)
    context_publish.add_argument("--file", type=Path, required=True)
    context_publish.add_argument(
        "--generator-cmd", help="command that writes --file; run --runs times, outputs must match"
    )
    context_publish.add_argument("--runs", type=int, default=3)
    _contexts_bucket(context_publish)
    context_publish.add_argument("--region")
    _key_source(context_publish, private=True, default_kms_key=CONTEXT_SIGNER_ALIAS)
    context_publish.set_defaults(handler=cmd_context_publish)

    fetch = context.add_parser("fetch", help="download, verify and write the blessed context")
    fetch.add_argument("--env", required=True)
    fetch.add_argument("--out", type=Path, default=Path(".cdk.context.json"))
    _contexts_bucket(fetch)
    fetch.add_argument("--region")
    fetch.add_argument("--expect-hash")
    _key_source(fetch, private=False, default_kms_key=CONTEXT_SIGNER_ALIAS)
    fetch.set_defaults(handler=cmd_context_fetch)

    context_guard = context.add_parser("guard", help="fail if the change commits a .cdk.context.json")
    context_guard.add_argument("--repo", type=Path, default=Path("."))
    context_guard.add_argument("--base", help="also check the commits since this revision, e.g. origin/main")
    context_guard.set_defaults(handler=cmd_context_guard)

    status = commands.add_parser("status", help="an artifact's lifecycle and per-environment state")
    status.add_argument("--service", required=True)
    status.add_argument("--commit", help="one artifact in detail; default: every artifact of the service")
    status.add_argument("--table", default="cdk-artifact-metadata")
    status.add_argument("--region")
    status.set_defaults(handler=cmd_status)

    for sub in (build, verify, publish, context_publish, status):
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
    for sub in (build, verify):
        sub.add_argument(
            "--progress", action=argparse.BooleanOptionalAction, default=None, help="default: when stderr is a terminal"
        )
    return parser


def _fail(code: int, message: str) -> NoReturn:
    print(f"artifactctl: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from functions.artifacts.errors import AwsError, ContextError, InvalidArtifact, PublishConflict, SigningError

    try:
        return args.handler(args)
    except InvalidArtifact as exc:
        _print_findings(exc.findings)
        return EXIT_INVALID
    except ContextError as exc:
        _fail(EXIT_INVALID, str(exc))
    except UsageError as exc:
        _fail(EXIT_USAGE, str(exc))
    except (SigningError, AwsError) as exc:
        _fail(EXIT_AWS, str(exc))
    except PublishConflict as exc:
        _fail(EXIT_CONFLICT, str(exc))
    except Exception as exc:
        # botocore's errors (no credentials, access denied, endpoint unreachable) without importing
        # botocore on paths that never call AWS.
        if type(exc).__module__.split(".")[0] in ("botocore", "boto3", "s3transfer"):
            _fail(EXIT_AWS, f"AWS call failed: {exc}")
        raise


if __name__ == "__main__":
    sys.exit(main())
