"""`artifactctl manifest build | sign | verify`: the artifact manifest from CI's side."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from .common import (
    EXIT_INVALID,
    EXIT_OK,
    UsageError,
    check_output_path,
    finite_number,
    lazy_public_key,
    print_findings,
    progress_for,
    read_file,
    read_manifest,
    signer_for,
    write_atomic,
)


def _detect_cdk_version() -> str:
    cdk = shutil.which("cdk")
    if cdk is None:
        raise UsageError("--cdk-cli-version is required (no `cdk` on PATH to ask)")
    try:
        output = subprocess.run([cdk, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--cdk-cli-version is required (`cdk --version` failed: {exc})") from None
    if not output:
        raise UsageError("--cdk-cli-version is required (`cdk --version` printed nothing)")
    return output.split()[0]


def _started_at(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return finite_number(float(value), "--build-started-at")
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        raise UsageError(f"--build-started-at {value!r}: expected epoch seconds or ISO 8601") from None


def cmd_manifest_build(args: argparse.Namespace) -> int:
    from functions.artifacts.manifest import build_manifest, dumps

    if args.context_file is not None and not args.context_file.is_file():
        raise UsageError(f"--context-file {args.context_file}: no such file")
    check_output_path(args.out, "--out")
    started_at = _started_at(args.build_started_at)
    digests = _image_digests(args.image_digests)
    progress = progress_for(args.cdk_out, args.progress)
    manifest = build_manifest(
        args.cdk_out,
        service=args.service,
        commit=args.commit,
        cdk_cli_version=args.cdk_cli_version or _detect_cdk_version(),
        context_file=args.context_file,
        previous_commit=args.previous_commit,
        git_signature_verified=args.git_signature_verified,
        build_started_at=started_at,
        jobs=args.jobs,
        on_file=progress,
        image_digests=digests,
    )
    progress.finish()
    write_atomic(args.out, dumps(manifest), "--out")
    summary = {
        "manifest": str(args.out),
        "files": len(manifest.file_hashes),
        "artifact_sha256": manifest.artifact_sha256,
    }
    print(
        json.dumps(summary)
        if args.json
        else f"wrote {args.out}: {summary['files']} files, artifact_sha256 {summary['artifact_sha256']}"
    )
    return EXIT_OK


MAX_IMAGE_DIGESTS_BYTES = 1024 * 1024


def _image_digests(path: Path | None) -> dict[str, str]:
    """`--image-digests FILE`: a JSON object of asset id to digest (checked by `build_manifest`)."""
    if path is None:
        return {}
    raw = read_file(path, "--image-digests", limit=MAX_IMAGE_DIGESTS_BYTES)
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"--image-digests {path}: not JSON ({exc})") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise UsageError(f"--image-digests {path}: expected a JSON object of asset id to digest string")
    return value


def cmd_manifest_sign(args: argparse.Namespace) -> int:
    from functions.artifacts import provenance
    from functions.artifacts.manifest import dumps, parse_manifest
    from functions.artifacts.signing import sign_manifest
    from functions.naming import PROVENANCE_NAME

    unsigned, problems = parse_manifest(read_manifest(args.manifest))
    if unsigned is None:
        print_findings(problems)
        return EXIT_INVALID
    provenance_out = args.provenance_out or args.manifest.with_name(PROVENANCE_NAME)
    check_output_path(provenance_out, "--provenance-out")
    check_output_path(args.manifest, "--manifest")
    signer = signer_for(args)
    manifest = sign_manifest(unsigned, signer)
    envelope = provenance.envelope(manifest, signer)
    write_atomic(provenance_out, (json.dumps(envelope, indent=2) + "\n").encode(), "--provenance-out")
    write_atomic(args.manifest, dumps(manifest), "--manifest")
    print(f"signed {args.manifest} as {signer.identity}; provenance envelope {provenance_out}")
    return EXIT_OK


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
            approved_cdk_versions=_approved_versions(args.approved_cdk_versions),
        )
        progress = progress_for(args.cdk_out, args.progress)
        report = verify_artifact(
            args.cdk_out, manifest_bytes, lazy_public_key(args), expect, jobs=args.jobs, on_file=progress
        )
        progress.finish()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif report.ok and report.manifest is not None:
        print(f"OK {report.files_checked} files, artifact_sha256 {report.manifest.artifact_sha256}")
    else:
        print_findings(report.findings)
    return EXIT_OK if report.ok else EXIT_INVALID


def _approved_versions(flag: str | None) -> list[str] | None:
    """Comma-separated; spaces around a version are ignored ("2.1.0, 2.2.0")."""
    if flag is None:
        return None
    versions = [v.strip() for v in flag.split(",") if v.strip()]
    if not versions:
        raise UsageError(f"--approved-cdk-versions {flag!r}: expected comma-separated versions, e.g. 2.126.0,2.127.0")
    return versions
