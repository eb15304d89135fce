"""The signed artifact manifest (`artifact-manifest.json`): the `Manifest` model, building it, parsing
it strictly (once, into the model), and the bytes written to disk and covered by the signature.

Fields are the spec's (Artifact Signing Policy, Build Process) under the spec's names, plus `schema`,
`service`, `previous_commit` and `cdk_library_versions`. The signature covers the RFC 8785 (JSON
Canonicalization Scheme) serialization of every field except `signature` itself, `signing_identity`
included; the signed message is that serialization and the KMS call signs its SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785

from functions.timestamps import utc_iso

from .assets import collect_assets, library_versions
from .errors import Finding, InvalidArtifact, printable
from .tree import (
    artifact_sha256,
    collision,
    hash_files,
    list_files,
    name_collisions,
    open_regular,
    path_problem,
    sha256_file,
)

SCHEMA = "cdk-control-plane/artifact-manifest/v1"
MAX_MANIFEST_BYTES = 32 * 1024 * 1024  # ~150k files; a bigger one is refused unread
MAX_NESTING = 32

SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
COMMIT = re.compile(r"^[0-9a-f]{40}\Z")
SERVICE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*\Z")
VERSION = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?\Z")
IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")
BUILD_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z\Z")

# field -> (required, description of the expected value)
FIELDS: dict[str, str] = {
    "schema": f"the string {SCHEMA!r}",
    "service": "a service name",
    "commit": "a full 40-character lowercase git commit SHA",
    "previous_commit": "null or a full git commit SHA",
    "git_signature_verified": "a boolean",
    "artifact_sha256": "64 lowercase hex characters",
    "cdk_cli_version": "a version like 2.126.0",
    "cdk_library_versions": "an object of package name to version",
    "cdk_context_hash": "null or 64 lowercase hex characters",
    "file_hashes": "a non-empty object of relative path to sha256",
    "assets": "an object of asset id to asset (a container image's may record its pushed `digest`)",
    "build_time": "an ISO 8601 UTC time like 2026-11-23T04:24:49Z",
    "build_duration_seconds": "a non-negative number",
    "signing_identity": "null (unsigned) or a string such as kms:alias/cdk-ci-artifact-signer-orders",
    "signature": "null (unsigned) or base64 of a DER ECDSA signature",
}


@dataclass(frozen=True)
class Manifest:
    """A manifest with every field of `FIELDS`, under the same names. Immutable: signing returns a new
    one (`signing.sign_manifest`). Only `parse_manifest` checks the values; a Manifest built by hand
    (a test forging one) is checked again when its bytes are parsed."""

    schema: str
    service: str
    commit: str
    previous_commit: str | None
    git_signature_verified: bool
    artifact_sha256: str
    cdk_cli_version: str
    cdk_library_versions: Mapping[str, str]
    cdk_context_hash: str | None
    file_hashes: Mapping[str, str]
    assets: Mapping[str, Mapping[str, Any]]
    build_time: str
    build_duration_seconds: float
    signing_identity: str | None = None
    signature: str | None = None
    # The order of the keys in the document it came from, so that rewriting a parsed manifest (signing
    # it) changes only the signature fields' values, whoever wrote it. Not part of its value.
    key_order: tuple[str, ...] = field(default=tuple(FIELDS), compare=False, repr=False)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Manifest:
        """The model of a JSON document with exactly the fields of `FIELDS` (values are not checked:
        `parse_manifest` does that for untrusted bytes)."""
        if set(document) != set(FIELDS):
            unexpected = sorted(set(document) ^ set(FIELDS))
            raise ValueError(f"a manifest has exactly the fields of FIELDS; these differ: {', '.join(unexpected)}")
        return cls(**{name: document[name] for name in FIELDS}, key_order=tuple(document))

    def to_document(self) -> dict[str, Any]:
        """The JSON document, keys in `key_order`: what `dumps` writes and `canonical_bytes` encodes."""
        return {name: getattr(self, name) for name in self.key_order}


def _document(manifest: Manifest | Mapping[str, Any]) -> Mapping[str, Any]:
    # A plain mapping is accepted for documents that are not manifests (tests forge those) and for
    # callers still holding the `build_manifest` dict.
    return manifest.to_document() if isinstance(manifest, Manifest) else manifest


def canonical_bytes(manifest: Manifest | Mapping[str, Any]) -> bytes:
    """The bytes the signature covers: RFC 8785 of the manifest without `signature`."""
    return rfc8785.dumps({k: v for k, v in _document(manifest).items() if k != "signature"})


def signing_digest(manifest: Manifest | Mapping[str, Any]) -> bytes:
    return hashlib.sha256(canonical_bytes(manifest)).digest()


def build_manifest(
    cdk_out: Path,
    *,
    service: str,
    commit: str,
    cdk_cli_version: str,
    context_file: Path | None = None,
    previous_commit: str | None = None,
    git_signature_verified: bool = False,
    build_started_at: float | None = None,
    jobs: int = 1,
    on_file: Any = None,
    image_digests: Mapping[str, str] | None = None,
) -> Manifest:
    """An unsigned manifest of every file under `cdk_out`. Raises InvalidArtifact if the tree or an
    argument cannot be trusted (symlinks, odd names, a bad commit). `image_digests` (asset id -> the
    `sha256:...` digest of the image CI pushed) are recorded on the container image assets: the
    deployer refuses an image asset without one, and an image whose digest differs."""
    problems: list[Finding] = []
    if not SERVICE.match(service):
        problems.append(Finding("structure", "service", f"expected {FIELDS['service']}, got {service!r}"))
    for name, value in (("commit", commit), ("previous_commit", previous_commit)):
        if value is not None and not COMMIT.match(value):
            problems.append(Finding("structure", name, f"expected {FIELDS['commit']}, got {value!r}"))
    if not VERSION.match(cdk_cli_version):
        problems.append(Finding("structure", "cdk_cli_version", f"expected {FIELDS['cdk_cli_version']}"))
    if not cdk_out.is_dir():
        problems.append(Finding("files", str(cdk_out), "is not a directory"))
    if problems:
        raise InvalidArtifact(problems)

    files, unsafe = list_files(cdk_out)
    if unsafe:
        raise InvalidArtifact(unsafe)
    if not files:
        raise InvalidArtifact([Finding("files", str(cdk_out), "contains no files")])
    file_hashes = hash_files(cdk_out, files, jobs=jobs, on_file=on_file)
    finished = time.time()
    started = build_started_at if build_started_at is not None else _earliest_mtime(cdk_out, files)
    return Manifest(
        schema=SCHEMA,
        service=service,
        commit=commit,
        previous_commit=previous_commit,
        git_signature_verified=git_signature_verified,
        artifact_sha256=artifact_sha256(file_hashes),
        cdk_cli_version=cdk_cli_version,
        cdk_library_versions=library_versions(cdk_out),
        cdk_context_hash=sha256_file(context_file) if context_file else None,
        file_hashes=dict(sorted(file_hashes.items(), key=lambda item: item[0].encode("utf-8"))),
        assets=with_image_digests(collect_assets(cdk_out, files), image_digests or {}),
        build_time=utc_iso(),
        build_duration_seconds=round(max(0.0, finished - started), 3),
    )


def with_image_digests(assets: dict[str, dict[str, Any]], digests: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`assets` with each image's digest recorded; a digest for no image asset, or not `sha256:` and 64
    lowercase hex digits, is an InvalidArtifact naming it."""
    problems = []
    for asset_id, digest in sorted(digests.items()):
        where = f"image digest of {printable(str(asset_id))}"
        if (assets.get(asset_id) or {}).get("type") != "docker":
            problems.append(Finding("assets", where, "no container image asset has this id"))
        elif not isinstance(digest, str) or not IMAGE_DIGEST.match(digest):
            problems.append(Finding("assets", where, "expected sha256: and 64 lowercase hex digits"))
        else:
            assets[asset_id]["digest"] = digest
    if problems:
        raise InvalidArtifact(problems)
    return assets


def _earliest_mtime(root: Path, files: list[str]) -> float:
    """Without an explicit start, the synth began no later than its oldest output file."""
    return min((root / f).stat().st_mtime for f in files)


# --- strict parsing ----------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def load_json_strict(data: bytes, subject: str) -> tuple[Any, list[Finding]]:
    """Parse JSON refusing what a lenient parser lets through: duplicate keys (two readers could
    disagree on the value), NaN/Infinity, non-UTF-8 bytes, absurd sizes and nesting."""
    if len(data) > MAX_MANIFEST_BYTES:
        return None, [Finding("structure", subject, f"is {len(data)} bytes; the limit is {MAX_MANIFEST_BYTES}")]
    if not data.strip():
        return None, [Finding("structure", subject, "is empty")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Finding("structure", subject, f"is not UTF-8 (byte {exc.start})")]
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _DuplicateKey as exc:
        return None, [Finding("structure", subject, f"duplicate JSON key {exc.args[0]!r}")]
    except RecursionError:
        return None, [Finding("structure", subject, "JSON nested too deeply")]
    except ValueError as exc:
        return None, [Finding("structure", subject, f"is not valid JSON (truncated?): {exc}")]
    if not _depth(value, MAX_NESTING):
        return None, [Finding("structure", subject, f"JSON nested deeper than {MAX_NESTING}")]
    return value, []


def parse_manifest(data: bytes) -> tuple[Manifest | None, list[Finding]]:
    """The manifest if it is structurally valid, else None and every structural problem found."""
    value, problems = load_json_strict(data, "artifact-manifest.json")
    if problems:
        return None, problems
    if not isinstance(value, dict):
        return None, [Finding("structure", "artifact-manifest.json", "top level is not a JSON object")]
    problems = [Finding("structure", printable(key), "unknown field") for key in value if key not in FIELDS]
    problems += [Finding("structure", key, "missing field") for key in FIELDS if key not in value]
    for key, check in _CHECKS.items():
        if key in value and not check(value[key]):
            problems.append(Finding("structure", key, f"expected {FIELDS[key]}"))
    if isinstance(value.get("file_hashes"), dict):
        problems += _file_hash_problems(value["file_hashes"])
    if isinstance(value.get("assets"), dict):
        problems += _asset_problems(value["assets"])
    problems = problems or _canonicalization_problems(value)
    return (None, problems) if problems else (Manifest.from_document(value), [])


def _canonicalization_problems(document: dict[str, Any]) -> list[Finding]:
    """What RFC 8785 cannot encode (a number that overflowed to infinity, an integer beyond 2^53, a
    lone surrogate): such a manifest has no canonical bytes, so it can be neither signed nor verified."""
    problems = []
    for key, value in document.items():
        try:
            rfc8785.dumps({key: value})
        except ValueError as exc:  # rfc8785.CanonicalizationError, or UnicodeEncodeError for a surrogate key
            detail = f"cannot be canonicalized (RFC 8785): {printable(str(exc))}"
            problems.append(Finding("structure", printable(key), detail))
    return problems


def _file_hash_problems(file_hashes: dict[str, Any]) -> list[Finding]:
    problems = []
    for path, digest in file_hashes.items():
        reason = path_problem(path)
        if reason:
            problems.append(Finding("structure", f"file_hashes[{path!r}]", f"invalid path: {reason}"))
        elif not isinstance(digest, str) or not SHA256.match(digest):
            problems.append(Finding("structure", f"file_hashes[{path!r}]", "expected a sha256 hex digest"))
    for path, earlier in name_collisions(p for p in file_hashes if not path_problem(p)).items():
        problems.append(Finding("structure", f"file_hashes[{path!r}]", f"invalid path: {collision(earlier)}"))
    for path in file_hashes:  # a file cannot also be a folder of another file
        parts = path.split("/")
        folder = next(("/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]) in file_hashes), None)
        if folder is not None:
            problems.append(Finding("structure", f"file_hashes[{path!r}]", f"invalid path: {folder!r} is also a file"))
    return problems


def _asset_problems(assets: dict[str, Any]) -> list[Finding]:
    problems = []
    for asset_id, asset in assets.items():
        where = f"assets[{asset_id!r}]"
        if not isinstance(asset, dict) or not isinstance(asset.get("hash"), str):
            problems.append(Finding("structure", where, "expected an object with a 'hash' string"))
        elif asset.get("type") not in ("file", "docker"):
            problems.append(Finding("structure", where, "expected type 'file' or 'docker'"))
        elif not isinstance(asset.get("destinations"), list):
            problems.append(Finding("structure", where, "expected a 'destinations' list"))
        elif "digest" in asset and (asset["type"] != "docker" or not _is_digest(asset["digest"])):
            problems.append(Finding("structure", f"{where}.digest", "expected an image's sha256:<64 hex> digest"))
    return problems


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and bool(IMAGE_DIGEST.match(value))


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_CHECKS = {
    "schema": lambda v: v == SCHEMA,
    "service": lambda v: _is_str(v) and bool(SERVICE.match(v)),
    "commit": lambda v: _is_str(v) and bool(COMMIT.match(v)),
    "previous_commit": lambda v: v is None or (_is_str(v) and bool(COMMIT.match(v))),
    "git_signature_verified": lambda v: isinstance(v, bool),
    "artifact_sha256": lambda v: _is_str(v) and bool(SHA256.match(v)),
    "cdk_cli_version": lambda v: _is_str(v) and bool(VERSION.match(v)),
    "cdk_library_versions": lambda v: isinstance(v, dict) and all(_is_str(x) for x in v.values()),
    "cdk_context_hash": lambda v: v is None or (_is_str(v) and bool(SHA256.match(v))),
    "file_hashes": lambda v: isinstance(v, dict) and len(v) > 0,
    "assets": lambda v: isinstance(v, dict),
    "build_time": lambda v: _is_str(v) and bool(BUILD_TIME.match(v)),
    "build_duration_seconds": lambda v: _is_number(v) and v >= 0,
    "signing_identity": lambda v: v is None or (_is_str(v) and 0 < len(v) <= 2048),
    "signature": lambda v: v is None or (_is_str(v) and 0 < len(v) <= 1024),
}


def read_manifest_file(path: Path) -> bytes:
    """The manifest's bytes, refusing to read more than the size limit or to wait on a FIFO."""
    with open_regular(path) as handle:
        return handle.read(MAX_MANIFEST_BYTES + 1)


def dumps(manifest: Manifest | Mapping[str, Any]) -> bytes:
    """How manifests are written to disk: indented for people; the signature never depends on it."""
    return (json.dumps(_document(manifest), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


__all__ = [
    "FIELDS",
    "SCHEMA",
    "InvalidArtifact",
    "Manifest",
    "build_manifest",
    "canonical_bytes",
    "dumps",
    "load_json_strict",
    "parse_manifest",
    "read_manifest_file",
    "signing_digest",
]
