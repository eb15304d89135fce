"""Every way an artifact can be tampered with or malformed is reported as such, with the reason.

Each case takes a private copy of the real cdk.out and its signed manifest, breaks one thing, and
asserts the exact check and subject that verification reports, and that nothing else is reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from functions.artifacts.manifest import MAX_MANIFEST_BYTES, Manifest, canonical_bytes, dumps
from functions.artifacts.signing import sign_manifest, sign_message
from functions.artifacts.tree import artifact_sha256, sha256_file
from functions.artifacts.verify import Expectations, verify_artifact

from ..artifact_support import COMMIT

LAMBDA = "asset.1397dc5d3b97b2519c6d2cee7bea8134b91592341e30d58e03b5916d2f7ddedf/index.py"

Case = Callable[[Path, Manifest, Any], bytes | None]


def _resign(manifest: Manifest, signer: Any, **changes: Any) -> bytes:
    return dumps(sign_manifest(replace(manifest, **changes), signer))


def _resign_with_unknown_field(manifest: Manifest, signer: Any, **extra: Any) -> bytes:
    """A document that is no Manifest cannot go through `sign_manifest`: signed by hand, as an attacker
    holding the key would."""
    document = {**manifest.to_document(), **extra, "signing_identity": signer.identity}
    return dumps({**document, "signature": sign_message(signer, canonical_bytes(document))})


def _replace_file_consistently(cdk_out: Path, manifest: Manifest, path: str, content: bytes) -> bytes:
    """The attack a hash list alone cannot stop: new file, matching hashes, old signature."""
    (cdk_out / path).write_bytes(content)
    file_hashes = {**manifest.file_hashes, path: sha256_file(cdk_out / path)}
    return dumps(replace(manifest, file_hashes=file_hashes, artifact_sha256=artifact_sha256(file_hashes)))


def _raw(manifest: Manifest, mutate: Callable[[str], str]) -> bytes:
    return mutate(json.dumps(manifest.to_document())).encode()


# name -> (tamper, expected check, text expected in the subject, text expected in the detail)
TREE_CASES: dict[str, tuple[Case, str, str, str]] = {
    "file content changed": (
        lambda d, m, s: (d / LAMBDA).write_text("print('owned')\n") and None,
        "files",
        LAMBDA,
        "does not match",
    ),
    "template changed": (
        lambda d, m, s: (d / "orders-prod-api.template.json").write_text("{}") and None,
        "files",
        "orders-prod-api.template.json",
        "does not match",
    ),
    "file deleted": (lambda d, m, s: (d / "tree.json").unlink(), "files", "tree.json", "missing"),
    "extra file": (
        lambda d, m, s: (d / "backdoor.template.json").write_text("{}") and None,
        "files",
        "backdoor.template.json",
        "extra file",
    ),
    "extra file in asset dir": (
        lambda d, m, s: (d / LAMBDA).with_name("evil.py").write_text("x") and None,
        "files",
        "evil.py",
        "extra file",
    ),
    "symlink to a file": (
        lambda d, m, s: os.symlink("/etc/hostname", d / "link.json"),
        "files",
        "link.json",
        "symbolic link",
    ),
    "symlink to a directory": (lambda d, m, s: os.symlink("/etc", d / "etc"), "files", "etc", "symbolic link"),
    "non-UTF-8 file name": (
        lambda d, m, s: (Path(os.fsdecode(os.fsencode(d) + b"/bad-\xff.json"))).write_text("{}") and None,
        "files",
        "bad-",
        "not valid UTF-8",
    ),
    "fifo": (lambda d, m, s: os.mkfifo(d / "pipe"), "files", "pipe", "not a regular file"),
}

MANIFEST_CASES: dict[str, tuple[Case, str, str, str]] = {
    "field changed after signing": (
        lambda d, m, s: dumps(replace(m, cdk_cli_version="2.999.0")),
        "signature",
        "signature",
        "does not verify",
    ),
    "file and its hashes replaced after signing": (
        lambda d, m, s: _replace_file_consistently(d, m, LAMBDA, b"print('owned')\n"),
        "signature",
        "signature",
        "does not verify",
    ),
    "unsigned": (
        lambda d, m, s: dumps(replace(m, signature=None, signing_identity=None)),
        "signature",
        "signature",
        "not signed",
    ),
    "signature not base64": (
        lambda d, m, s: dumps(replace(m, signature="!!!")),
        "signature",
        "signature",
        "does not verify",
    ),
    "signed by another key": ("other", "signature", "signature", "does not verify"),
    "path traversal": (
        lambda d, m, s: _resign(m, s, file_hashes={**m.file_hashes, "../outside.json": "a" * 64}),
        "structure",
        "../outside.json",
        "path traversal",
    ),
    "absolute path": (
        lambda d, m, s: _resign(m, s, file_hashes={**m.file_hashes, "/etc/passwd": "a" * 64}),
        "structure",
        "/etc/passwd",
        "absolute path",
    ),
    "unnormalized path": (
        lambda d, m, s: _resign(m, s, file_hashes={**m.file_hashes, "a//b.json": "a" * 64}),
        "structure",
        "a//b.json",
        "not normalized",
    ),
    "dot path": (
        lambda d, m, s: _resign(m, s, file_hashes={**m.file_hashes, "./tree.json": "a" * 64}),
        "structure",
        "./tree.json",
        "not normalized",
    ),
    "backslash path": (
        lambda d, m, s: _resign(m, s, file_hashes={**m.file_hashes, "a\\b.json": "a" * 64}),
        "structure",
        "a\\\\b.json",
        "backslash",
    ),
    "non-UTF-8 path": (
        lambda d, m, s: _raw(m, lambda t: t.replace('"tree.json"', '"tree\\udcff.json"')),
        "structure",
        "tree",
        "not valid UTF-8",
    ),
    "duplicate key": (
        lambda d, m, s: _raw(m, lambda t: t.replace('"commit": ', f'"commit": "{"f" * 40}", "commit": ', 1)),
        "structure",
        "artifact-manifest.json",
        "duplicate JSON key 'commit'",
    ),
    "truncated": (lambda d, m, s: dumps(m)[:-200], "structure", "artifact-manifest.json", "not valid JSON"),
    "oversized": (
        lambda d, m, s: b" " * (MAX_MANIFEST_BYTES + 1),
        "structure",
        "artifact-manifest.json",
        f"limit is {MAX_MANIFEST_BYTES}",
    ),
    "empty": (lambda d, m, s: b"", "structure", "artifact-manifest.json", "empty"),
    "not UTF-8": (lambda d, m, s: b'{"schema": "\xff"}', "structure", "artifact-manifest.json", "not UTF-8"),
    "not an object": (lambda d, m, s: b"[1, 2]", "structure", "artifact-manifest.json", "not a JSON object"),
    "NaN": (
        lambda d, m, s: _raw(
            m, lambda t: t.replace('"build_duration_seconds": ', '"build_duration_seconds": NaN, "x": ')
        ),
        "structure",
        "artifact-manifest.json",
        "not valid JSON",
    ),
    "deep nesting": (
        lambda d, m, s: _raw(m, lambda t: t.replace('"assets": {', '"assets": {"x": ' + "[" * 40 + "]" * 40 + ", ", 1)),
        "structure",
        "artifact-manifest.json",
        "nested deeper",
    ),
    "unknown field": (
        lambda d, m, s: _resign_with_unknown_field(m, s, approved=True),
        "structure",
        "approved",
        "unknown field",
    ),
    "missing field": (
        lambda d, m, s: dumps({k: v for k, v in m.to_document().items() if k != "cdk_context_hash"}),
        "structure",
        "cdk_context_hash",
        "missing field",
    ),
    "wrong type": (
        lambda d, m, s: _resign(m, s, git_signature_verified="true"),
        "structure",
        "git_signature_verified",
        "a boolean",
    ),
    "short commit": (lambda d, m, s: _resign(m, s, commit="abc123"), "structure", "commit", "40-character"),
    "bad file digest": (
        lambda d, m, s: _resign(m, s, file_hashes={**m.file_hashes, "tree.json": "XYZ"}),
        "structure",
        "tree.json",
        "sha256 hex digest",
    ),
    "commit not signed in CI": (
        lambda d, m, s: _resign(m, s, git_signature_verified=False),
        "commit",
        "git_signature_verified",
        "not verified",
    ),
    "artifact hash inconsistent with files": (
        lambda d, m, s: _resign(m, s, artifact_sha256="1" * 64),
        "artifact_sha256",
        "artifact_sha256",
        "its file_hashes give",
    ),
}


@pytest.mark.parametrize("name", list(TREE_CASES) + list(MANIFEST_CASES))
def test_tampering_is_reported_with_its_reason(name: str, artifact, signer, other_signer) -> None:
    cdk_out, manifest = artifact
    tamper, check, subject, detail = {**TREE_CASES, **MANIFEST_CASES}[name]
    if tamper == "other":
        data = dumps(sign_manifest(manifest, other_signer))
    else:
        data = tamper(cdk_out, manifest, signer)
        data = dumps(manifest) if data is None else data

    report = verify_artifact(cdk_out, data, signer.private_key.public_key(), jobs=2)

    assert not report.ok
    assert [(f.check, subject in f.subject, detail in f.detail) for f in report.findings] == [(check, True, True)], [
        f.line() for f in report.findings
    ]


EXPECTATION_CASES = {
    "other commit": (Expectations(commit="f" * 40), "commit", "is not the expected"),
    "other service": (Expectations(service="payments"), "service", "is not the expected 'payments'"),
    "metadata hash differs": (Expectations(artifact_sha256="e" * 64), "artifact_sha256", "(metadata)"),
    "cdk version not approved": (
        Expectations(approved_cdk_versions=["2.1000.0"]),
        "cdk_cli_version",
        "not an approved",
    ),
    "context hash differs": (Expectations(context_hash="c" * 64), "cdk_context_hash", "declared context"),
}


@pytest.mark.parametrize("name", EXPECTATION_CASES)
def test_expectations_are_enforced(name: str, artifact, signer) -> None:
    cdk_out, manifest = artifact
    expect, check, detail = EXPECTATION_CASES[name]
    report = verify_artifact(cdk_out, dumps(manifest), signer.private_key.public_key(), expect)
    assert [(f.check, detail in f.detail) for f in report.findings] == [(check, True)]


def test_all_failures_are_reported_together(artifact, signer) -> None:
    cdk_out, manifest = artifact
    (cdk_out / "tree.json").unlink()
    (cdk_out / "extra.json").write_text("{}")
    report = verify_artifact(cdk_out, dumps(manifest), signer.private_key.public_key(), Expectations(commit="f" * 40))
    assert sorted(f.check for f in report.findings) == ["commit", "files", "files"]


def test_untampered_artifact_passes(artifact, signer) -> None:
    cdk_out, manifest = artifact
    report = verify_artifact(
        cdk_out,
        dumps(manifest),
        signer.private_key.public_key(),
        Expectations(commit=COMMIT, service="orders"),
    )
    assert report.ok and report.findings == []
