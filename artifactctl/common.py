"""What every `artifactctl` command shares: exit codes, usage errors, reading and writing files,
progress on stderr, keys and AWS clients. Imports nothing heavy: each command loads what it uses."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_AWS, EXIT_CONFLICT = 0, 1, 2, 3, 4


class UsageError(Exception):
    pass


def read_file(path: Path, what: str, limit: int | None = None) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit) if limit else handle.read()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from None


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def read_manifest(path: Path) -> bytes:
    from functions.artifacts.manifest import read_manifest_file

    try:
        return read_manifest_file(path)
    except OSError as exc:
        raise UsageError(f"--manifest {path}: {exc.strerror}") from None


class Progress:
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


def progress_for(tree: Path, flag: bool | None) -> Progress:
    enabled = sys.stderr.isatty() if flag is None else flag
    total = 0
    if enabled and tree.is_dir():
        total = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file() and not p.is_symlink())
        enabled = total > 64 * 1024 * 1024 or flag is True
    return Progress(total, enabled)


def signer_for(args: argparse.Namespace) -> Any:
    from functions.artifacts.signing import KmsSigner, LocalKeySigner

    if args.private_key:
        return LocalKeySigner.from_pem(read_file(args.private_key, "--private-key"), str(args.private_key))
    return KmsSigner(args.kms_key_id)


def public_key_for(args: argparse.Namespace) -> Any:
    from functions.artifacts.signing import kms_public_key_pem, load_public_key

    if args.public_key:
        return load_public_key(read_file(args.public_key, "--public-key"), str(args.public_key))
    return load_public_key(kms_public_key_pem(args.kms_key_id), args.kms_key_id)


def lazy_public_key(args: argparse.Namespace) -> Callable[[], Any]:
    """Loaded by `verify_artifact` while files hash (the key file is checked for readability now)."""
    if args.public_key:
        read_file(args.public_key, "--public-key", limit=1)
    return lambda: public_key_for(args)


def print_findings(findings: Sequence[Any]) -> None:
    for finding in findings:
        print(finding.line())


def region_of(args: argparse.Namespace) -> str:
    return args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def aws_client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region) if region else boto3.client(service)
