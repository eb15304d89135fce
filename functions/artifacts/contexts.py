"""Blessed `.cdk.context.json` files: generate deterministically, sign, publish; fetch and verify in CI;
and the guard that fails a change that commits one (spec: Hardened CDK Context Handling).

Layout in the contexts bucket, per scope (the dated copy first, the `latest` pointer copies last, so
`latest` never names a context whose signature is not there yet):

    {scope}/{stamp}.context.json      {scope}/latest.context.json
    {scope}/{stamp}.context.sha256    {scope}/latest.context.sha256    "<sha256>  <file name>" (sha256sum -c)
    {scope}/{stamp}.context.json.sig  {scope}/latest.context.json.sig  base64 DER ECDSA-SHA256 signature

The scope (the spec's `{env}`; `--service`, formerly `--env`) is the service: a service's app
synthesizes its stage and prod stacks in one `cdk synth`, which reads one `.cdk.context.json` holding
the lookups of both accounts, and the pipeline's Validate step compares every artifact's
`cdk_context_hash` with its service's `latest` (`blessed_context`). The spec names the signature `.asc`
(GPG armour); ours is a KMS ECDSA signature, hence `.sig`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from .errors import ContextError, Finding, InvalidArtifact
from .manifest import load_json_strict
from .signing import Signer, sign_message, verify_message

CONTEXT_FILE = ".cdk.context.json"
ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{0,31}\Z")
MAX_CONTEXT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class PublishedContext:
    env: str
    sha256: str
    keys: tuple[str, ...]


class MissingContext(ContextError):
    """No blessed context under the key (S3 NoSuchKey): the generator never published this scope."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


class ContextUnavailable(ContextError):
    """S3 refused or failed to return the blessed context (permissions, throttling): retry, not reject."""


def _check_env(env: str) -> None:
    if not ENVIRONMENT.match(env):
        raise ContextError(f"--service {env!r}: expected a lowercase service name such as orders")


def blessed_key(scope: str, suffix: str = ".context.json") -> str:
    """The object key of the scope's `latest` blessed context (or of its `.sha256` / `.sig` beside it)."""
    return f"{scope}/latest{suffix}"


def check_determinism(generator_cmd: str, output: Path, runs: int, cwd: Path | None = None) -> str:
    """Run the generator `runs` times; every run must write byte-identical output. Returns its sha256."""
    if runs < 2:
        raise ContextError(f"--runs {runs}: determinism needs at least 2 runs")
    digests = []
    for run in range(1, runs + 1):
        output.unlink(missing_ok=True)
        completed = subprocess.run(shlex.split(generator_cmd), cwd=cwd, capture_output=True, text=True)
        if completed.returncode != 0:
            raise ContextError(
                f"generator run {run}/{runs} ({generator_cmd!r}) exited {completed.returncode}: "
                f"{completed.stderr.strip()[-500:]}"
            )
        if not output.is_file():
            raise ContextError(f"generator run {run}/{runs} did not write {output}")
        digests.append(hashlib.sha256(output.read_bytes()).hexdigest())
    if len(set(digests)) != 1:
        raise ContextError(
            f"context generation is not deterministic: {runs} runs gave {len(set(digests))} different files "
            f"({', '.join(d[:12] for d in digests)})"
        )
    return digests[0]


def _validated(data: bytes, source: str) -> None:
    if len(data) > MAX_CONTEXT_BYTES:
        raise ContextError(f"{source} is {len(data)} bytes; the limit is {MAX_CONTEXT_BYTES}")
    value, problems = load_json_strict(data, source)
    if problems:
        raise ContextError("; ".join(f"{p.subject}: {p.detail}" for p in problems))
    if not isinstance(value, dict):
        raise ContextError(f"{source}: a CDK context file is a JSON object")


def publish_context(
    env: str, context_file: Path, *, bucket: str, signer: Signer, s3: Any, now: datetime | None = None
) -> PublishedContext:
    _check_env(env)
    data = context_file.read_bytes()
    _validated(data, str(context_file))
    digest = hashlib.sha256(data).hexdigest()
    signature = sign_message(signer, data)
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H%M%SZ")
    keys = []
    for name in (stamp, "latest"):
        objects = {
            f"{env}/{name}.context.json": (data, "application/json"),
            f"{env}/{name}.context.sha256": (f"{digest}  {name}.context.json\n".encode(), "text/plain"),
            f"{env}/{name}.context.json.sig": (f"{signature}\n".encode(), "text/plain"),
        }
        for key, (body, content_type) in objects.items():
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata={"signing-identity": signer.identity},
            )
            keys.append(key)
    return PublishedContext(env=env, sha256=digest, keys=tuple(keys))


def is_tracked_by_git(path: Path) -> bool:
    """True if `path` is in git's index (committed or staged)."""
    completed = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "--", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
    )
    return completed.returncode == 0


def blessed_context(scope: str, *, bucket: str, public_key: ec.EllipticCurvePublicKey, s3: Any) -> tuple[bytes, str]:
    """The scope's `latest` context and its sha256, after its `.sha256` file and its signature by the
    context signer check out. `MissingContext` when it was never published; `ContextError` naming the
    object for anything else that is wrong with it."""
    _check_env(scope)

    def get(key: str) -> bytes:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise MissingContext(key, f"no blessed context at s3://{bucket}/{key}") from None
            raise ContextUnavailable(f"cannot read the blessed context s3://{bucket}/{key}: {exc}") from None

    key = blessed_key(scope)
    data = get(key)
    hash_line = get(blessed_key(scope, ".context.sha256")).decode("utf-8", "replace").split()
    signature = get(blessed_key(scope, ".context.json.sig")).decode("ascii", "replace").strip()
    digest = hashlib.sha256(data).hexdigest()
    if not hash_line or hash_line[0] != digest:
        raise ContextError(f"{key} has sha256 {digest}, its .sha256 file says {hash_line[:1]}")
    if not verify_message(public_key, data, signature):
        raise ContextError(f"{key}: signature does not verify with the trusted context key")
    _validated(data, key)
    return data, digest


def fetch_context(
    env: str,
    out: Path,
    *,
    bucket: str,
    public_key: ec.EllipticCurvePublicKey,
    s3: Any,
    expect_sha256: str | None = None,
) -> str:
    """Download `latest`, check its hash file and signature, write it to `out` atomically."""
    _check_env(env)
    if is_tracked_by_git(out):
        raise ContextError(
            f"{out} is tracked by git: contexts are never committed (git rm --cached {out.name}, then retry)"
        )
    data, digest = blessed_context(env, bucket=bucket, public_key=public_key, s3=s3)
    if expect_sha256 is not None and digest != expect_sha256:
        raise ContextError(f"{blessed_key(env)} is {digest}, expected {expect_sha256}")
    _atomic_write(out, data)
    return digest


def _atomic_write(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def guard(repo: Path, base: str | None = None, run: Callable[..., Any] = subprocess.run) -> list[Finding]:
    """What makes the change commit a context file: one tracked or staged anywhere in the repository,
    or (with `base`) added or modified by the commits since `base`."""

    def git(*args: str) -> list[str]:
        completed = run(["git", *args], cwd=repo, capture_output=True, text=True)
        if completed.returncode != 0:
            raise ContextError(f"git {' '.join(args)} failed: {completed.stderr.strip()}")
        return [line for line in completed.stdout.splitlines() if line]

    pattern = f":(glob)**/{CONTEXT_FILE}"
    findings = [
        Finding("context", p, "is committed; contexts come from the blessed S3 copy")
        for p in git("ls-files", "--", pattern)
    ]
    staged = git("diff", "--cached", "--name-only", "--diff-filter=AM", "--", pattern)
    findings += [
        Finding("context", p, "is staged for commit") for p in staged if p not in {f.subject for f in findings}
    ]
    if base:
        changed = git("diff", "--name-only", "--diff-filter=AM", f"{base}...HEAD", "--", pattern)
        findings += [
            Finding("context", p, f"is added or modified by the commits since {base}")
            for p in changed
            if p not in {f.subject for f in findings}
        ]
    return findings


__all__ = [
    "CONTEXT_FILE",
    "ContextError",
    "ContextUnavailable",
    "InvalidArtifact",
    "MissingContext",
    "blessed_context",
    "blessed_key",
    "check_determinism",
    "fetch_context",
    "guard",
    "publish_context",
]
