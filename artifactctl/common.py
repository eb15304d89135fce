"""What every `artifactctl` command shares: exit codes, usage errors, reading and writing files,
progress on stderr, keys and AWS clients. Imports nothing heavy: each command loads what it uses."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_AWS = 0, 1, 2, 3
MAX_KEY_FILE_BYTES = 64 * 1024  # a PEM P-256 key is a few hundred bytes


class UsageError(Exception):
    pass


def read_file(path: Path, what: str, limit: int | None = None) -> bytes:
    """A regular file's bytes; a usage error naming `what` and the file if it is unreadable, not a
    regular file (a FIFO would block, a directory cannot be read) or longer than `limit`."""
    from functions.artifacts.tree import open_regular

    try:
        with open_regular(path) as handle:
            data = handle.read(limit + 1) if limit else handle.read()
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror}") from None
    if limit and len(data) > limit:
        raise UsageError(f"{what} {path}: larger than {limit} bytes")
    return data


def read_key_file(path: Path, what: str) -> bytes:
    return read_file(path, what, limit=MAX_KEY_FILE_BYTES)


def check_output_path(path: Path, what: str) -> None:
    """Refuse, before any work is done, an output path that cannot be written as a file."""
    if path.is_dir():
        raise UsageError(f"{what} {path}: is a directory; expected a file path")
    if not path.parent.is_dir():
        raise UsageError(f"{what} {path}: directory {path.parent} does not exist")


def write_atomic(path: Path, data: bytes, what: str) -> None:
    check_output_path(path, what)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"{what} {path}: cannot write ({exc.strerror})") from None


def finite_number(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise UsageError(f"{what} {value!r}: expected a finite number")
    return value


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
        return LocalKeySigner.from_pem(read_key_file(args.private_key, "--private-key"), str(args.private_key))
    return KmsSigner(args.kms_key_id)


def public_key_for(args: argparse.Namespace) -> Any:
    from functions.artifacts.signing import kms_public_key_pem, load_public_key

    if args.public_key:
        return load_public_key(read_key_file(args.public_key, "--public-key"), str(args.public_key))
    return load_public_key(kms_public_key_pem(args.kms_key_id), args.kms_key_id)


def lazy_public_key(args: argparse.Namespace) -> Callable[[], Any]:
    """Loaded by `verify_artifact` while files hash (the key file is read and checked now, so a bad
    file is a usage error before any work)."""
    if args.public_key:
        read_key_file(args.public_key, "--public-key")
    return lambda: public_key_for(args)


def print_findings(findings: Sequence[Any]) -> None:
    for finding in findings:
        print(finding.line())


def region_of(args: argparse.Namespace) -> str:
    return args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def aws_client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region) if region else boto3.client(service)
