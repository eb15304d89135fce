"""Verify a `cdk.out` tree against its signed manifest: every check of the spec's Signature Validation
Logic, each reported separately so an operator sees everything that is wrong at once.

Checks, in the order they are reported:
  structure        the manifest parses strictly and has every field with the right type
  signature        signed, and the signature verifies with the trusted public key
  files            every listed file is present with that hash, no file is missing or extra,
                   no symlink, special file or non-UTF-8 name in the tree
  artifact_sha256  the tree hash recomputed from the files equals the manifest's (and the expected one)
  commit           the commit was verified as signed in CI (and equals the expected commit)
  service          the manifest is for the expected service
  cdk_cli_version  the CDK CLI version is approved
  cdk_context_hash the context hash equals the declared input (Validate: the service's blessed context,
                   or null for a service configured without lookups)
The same function backs `artifactctl manifest verify` and the pipeline's Validate step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Finding, HashMismatch
from .manifest import Manifest, canonical_bytes, parse_manifest
from .tree import HashJob, artifact_sha256, compare_tree, list_files


@dataclass(frozen=True)
class ExpectedContext:
    """The context the synth must have read: `sha256` of the blessed file, or None when the service
    makes no lookups (then the manifest's `cdk_context_hash` must be null). `source` names where the
    expectation comes from (the S3 key of the blessed context, or the config key), for the finding."""

    sha256: str | None
    source: str


@dataclass(frozen=True)
class Expectations:
    service: str | None = None
    commit: str | None = None
    artifact_sha256: str | None = None
    # A hash: the declared context (`--expect-context-hash`); an ExpectedContext: checked even when null.
    context_hash: str | ExpectedContext | None = None
    approved_cdk_versions: Sequence[str] | None = None


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    bytes_hashed: int = 0
    manifest: Manifest | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files_checked": self.files_checked,
            "bytes_hashed": self.bytes_hashed,
            "commit": self.manifest.commit if self.manifest else None,
            "artifact_sha256": self.manifest.artifact_sha256 if self.manifest else None,
            "failures": [f.to_dict() for f in self.findings],
        }


if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec


def verify_artifact(
    cdk_out: Path,
    manifest_bytes: bytes,
    public_key: ec.EllipticCurvePublicKey | Callable[[], ec.EllipticCurvePublicKey] | None,
    expect: Expectations = Expectations(),
    *,
    jobs: int = 1,
    on_file: Callable[[str, int], None] | None = None,
) -> Report:
    """Run every check. `public_key` may be a callable that loads the key: it is then called while
    the files hash in the background. `None` skips only the signature check (say so to the user)."""
    report = Report()
    manifest, problems = parse_manifest(manifest_bytes)
    if manifest is None:
        report.findings = problems
        return report
    report.manifest = manifest
    if not cdk_out.is_dir():
        report.findings.append(Finding("files", str(cdk_out), "cdk.out directory not found"))
        report.findings += _expectations(manifest, expect)
        return report

    expected = manifest.file_hashes
    hashing = HashJob(cdk_out, expected, jobs)  # workers start now; the checks below overlap with them
    if public_key is not None:
        report.findings += _signature(manifest, public_key() if callable(public_key) else public_key)
    present, tree_findings = list_files(cdk_out)

    def counted(path: str, size: int) -> None:
        report.bytes_hashed += size
        if on_file is not None:
            on_file(path, size)

    actual = hashing.results(counted)
    report.findings += tree_findings + compare_tree(expected, present, actual) + _tree_hash(manifest)
    report.files_checked = sum(1 for digest in actual.values() if digest is not None)
    report.findings += _expectations(manifest, expect)
    return report


def _signature(manifest: Manifest, public_key: ec.EllipticCurvePublicKey) -> list[Finding]:
    from .signing import signature_problem, verify_message

    if manifest.signature is None or manifest.signing_identity is None:
        return [Finding("signature", "signature", "manifest is not signed")]
    problem = signature_problem(manifest.signature)
    if problem is not None:
        return [Finding("signature", "signature", f"does not verify with the trusted key: the signature {problem}")]
    if not verify_message(public_key, canonical_bytes(manifest), manifest.signature):
        return [
            Finding(
                "signature",
                "signature",
                f"does not verify with the trusted key (manifest says signed by {manifest.signing_identity})",
            )
        ]
    return []


def _tree_hash(manifest: Manifest) -> list[Finding]:
    recomputed = artifact_sha256(manifest.file_hashes)
    if recomputed == manifest.artifact_sha256:
        return []
    detail = f"manifest says {manifest.artifact_sha256} but its file_hashes give {recomputed}"
    return [HashMismatch("artifact_sha256", "artifact_sha256", detail)]


def _expectations(manifest: Manifest, expect: Expectations) -> list[Finding]:
    findings = []
    if expect.artifact_sha256 is not None and manifest.artifact_sha256 != expect.artifact_sha256:
        findings.append(
            HashMismatch(
                "artifact_sha256",
                "artifact_sha256",
                f"{manifest.artifact_sha256} differs from the expected {expect.artifact_sha256} (metadata)",
            )
        )
    if manifest.git_signature_verified is not True:
        findings.append(Finding("commit", "git_signature_verified", "the commit was not verified as signed in CI"))
    if expect.commit is not None and manifest.commit != expect.commit:
        findings.append(Finding("commit", "commit", f"{manifest.commit} is not the expected {expect.commit}"))
    if expect.service is not None and manifest.service != expect.service:
        findings.append(Finding("service", "service", f"{manifest.service!r} is not the expected {expect.service!r}"))
    if expect.approved_cdk_versions is not None and manifest.cdk_cli_version not in expect.approved_cdk_versions:
        findings.append(
            Finding(
                "cdk_cli_version",
                "cdk_cli_version",
                f"{manifest.cdk_cli_version} is not an approved version ({', '.join(expect.approved_cdk_versions)})",
            )
        )
    return findings + _context(manifest, expect.context_hash)


def _context(manifest: Manifest, expected: str | ExpectedContext | None) -> list[Finding]:
    if expected is None:
        return []
    if isinstance(expected, str):
        expected = ExpectedContext(expected, "the declared context")
    actual = manifest.cdk_context_hash
    if actual == expected.sha256:
        return []
    if expected.sha256 is None:
        detail = f"is {actual}, but {expected.source}: the synth must read no context file (expected null)"
    elif actual is None:
        detail = f"is null (the synth read no context file), but it must be {expected.sha256} ({expected.source})"
    else:
        detail = f"{actual} differs from {expected.sha256} ({expected.source})"
    return [Finding("cdk_context_hash", "cdk_context_hash", detail)]
