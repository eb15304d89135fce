"""Issue 9: bad input gets a clear finding, never an exception. Manifests RFC 8785 cannot encode, hard
links and confusable names in the tree, high-S signatures, provenance that does not match."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import replace
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from functions.artifacts import provenance
from functions.artifacts.errors import InvalidArtifact
from functions.artifacts.manifest import build_manifest, canonical_bytes, dumps, parse_manifest
from functions.artifacts.signing import P256_ORDER, KmsSigner, low_s, sign_manifest, sign_message, verify_message
from functions.artifacts.verify import verify_artifact

from ..artifact_support import CLI_VERSION, COMMIT


def _with(manifest: Any, field: str, raw_value: str) -> bytes:
    """The manifest's JSON with one field's value replaced by raw JSON text (what an attacker writes)."""
    document = json.loads(dumps(manifest))
    document[field] = "__RAW__"
    return json.dumps(document).replace('"__RAW__"', raw_value).encode()


UNENCODABLE = {
    "a number that overflows to infinity": ("build_duration_seconds", "1e400"),
    "an integer beyond 2^53": ("build_duration_seconds", str(2**53 + 1)),
    "an integer beyond 2^53 deep in assets": (
        "assets",
        '{"a": {"hash": "h", "type": "file", "destinations": [], "n": 9007199254740993}}',
    ),
    "a lone surrogate in a value": ("cdk_library_versions", '{"aws-cdk-lib": "2.1\\ud800"}'),
    "a lone surrogate in a key": ("cdk_library_versions", '{"\\udc00": "2.1.0"}'),
}


@pytest.mark.parametrize("case", sorted(UNENCODABLE))
def test_manifest_rfc8785_cannot_encode_is_a_structure_finding(artifact, signer, case: str) -> None:
    cdk_out, manifest = artifact
    field, raw = UNENCODABLE[case]
    data = _with(manifest, field, raw)

    parsed, findings = parse_manifest(data)
    assert parsed is None
    assert [(f.check, f.subject) for f in findings] == [("structure", field)]
    assert "RFC 8785" in findings[0].detail
    findings[0].line().encode("utf-8")  # printable: no lone surrogate reaches stdout

    report = verify_artifact(cdk_out, data, signer.private_key.public_key())
    assert not report.ok and [f.check for f in report.findings] == ["structure"]


def test_unknown_field_with_a_lone_surrogate_is_named_printably(artifact) -> None:
    _, manifest = artifact
    document = json.dumps({**json.loads(dumps(manifest)), "__X__": 1}).replace("__X__", "\\ud800")
    parsed, findings = parse_manifest(document.encode())
    assert parsed is None and findings
    for finding in findings:
        finding.line().encode("utf-8")
    assert any(f.detail == "unknown field" and "ud800" in f.subject for f in findings)


# --- the tree: hard links, colliding names, invisible characters --------------------------------------

INVISIBLE_NAMES = {
    "right-to-left override": "invoice\u202ejs.json",
    "right-to-left isolate": "a\u2067b.json",
    "zero-width space": "tree\u200b.json",
    "zero-width joiner": "tree\u200d.json",
    "byte order mark": "\ufefftree.json",
    "line separator": "a\u2028b.json",
    "paragraph separator": "a\u2029b.json",
    "C1 control": "a\u0085b.json",
}


def _build(cdk_out: Any) -> Any:
    return build_manifest(cdk_out, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION)


def _refused(cdk_out: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(InvalidArtifact) as refused:
        _build(cdk_out)
    return [(f.check, f.subject, f.detail) for f in refused.value.findings]


@pytest.mark.parametrize("case", sorted(INVISIBLE_NAMES))
def test_names_with_invisible_or_bidi_characters_are_refused_by_build_verify_and_parse(
    artifact, signer, case: str
) -> None:
    cdk_out, manifest = artifact
    name = INVISIBLE_NAMES[case]
    (cdk_out / name).write_text("{}")

    [(check, subject, detail)] = _refused(cdk_out)
    assert (check, subject) == ("files", ascii(name)) and ("control" in detail or "invisible" in detail)
    report = verify_artifact(cdk_out, dumps(manifest), signer.private_key.public_key())
    assert [(f.check, f.subject) for f in report.findings] == [("files", ascii(name))]

    listed = json.loads(dumps(manifest))
    listed["file_hashes"][name] = "0" * 64
    parsed, findings = parse_manifest(json.dumps(listed).encode())
    assert parsed is None and [f.subject for f in findings] == [f"file_hashes[{name!r}]"]


def test_a_hard_link_is_refused_by_build_and_verify(artifact, signer, tmp_path) -> None:
    cdk_out, manifest = artifact
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the artifact")
    (cdk_out / "tree.json").unlink()
    os.link(outside, cdk_out / "tree.json")  # same name as a listed file: only its content differs

    assert _refused(cdk_out) == [("files", "tree.json", "is a hard link (2 links)")]
    report = verify_artifact(cdk_out, dumps(manifest), signer.private_key.public_key())
    reported = [(f.check, f.subject, f.detail) for f in report.findings]
    assert ("files", "tree.json", "is a hard link (2 links)") in reported


def test_hard_links_inside_the_tree_are_refused_even_with_matching_hashes(artifact, signer) -> None:
    cdk_out, manifest = artifact
    (cdk_out / "tree.json").unlink()
    os.link(cdk_out / "manifest.json", cdk_out / "tree.json")
    findings = _refused(cdk_out)
    assert ("files", "tree.json", "is a hard link (2 links)") in findings
    assert ("files", "manifest.json", "is a hard link (2 links)") in findings


COLLIDING = {
    "case": ("Tree.json", "tree.json"),
    "NFC": ("caf\u00e9.json", "cafe\u0301.json"),
    "NFC and case": ("CAF\u00c9.json", "cafe\u0301.json"),
    "case folding beyond lower()": ("stra\u00dfe.json", "STRASSE.json"),
}


@pytest.mark.parametrize("case", sorted(COLLIDING))
def test_names_colliding_after_nfc_and_case_folding_are_refused(artifact, signer, case: str) -> None:
    cdk_out, manifest = artifact
    first, second = COLLIDING[case]
    for name in (first, second):
        if not (cdk_out / name).exists():
            (cdk_out / name).write_text("{}")
    later = max(first, second, key=lambda p: p.encode())
    earlier = min(first, second, key=lambda p: p.encode())

    assert _refused(cdk_out) == [
        ("files", later, f"name collides with {earlier!r} (same after Unicode NFC and case folding)")
    ]
    report = verify_artifact(cdk_out, dumps(manifest), signer.private_key.public_key())
    assert ("files", later) in [(f.check, f.subject) for f in report.findings]

    listed = json.loads(dumps(manifest))
    listed["file_hashes"].update({first: "0" * 64, second: "0" * 64})
    parsed, findings = parse_manifest(json.dumps(listed).encode())
    assert parsed is None and [f.subject for f in findings] == [f"file_hashes[{later!r}]"]
    assert "collides with" in findings[0].detail


# --- signatures: only low-S --------------------------------------------------------------------------


def _high_s(signature_b64: str) -> str:
    """The malleated twin of a low-S signature: (r, n - s) verifies with plain ECDSA too."""
    r, s = decode_dss_signature(base64.b64decode(signature_b64))
    return base64.b64encode(encode_dss_signature(r, P256_ORDER - s)).decode()


class HighSSigner:
    """A signer (like KMS, about half the time) that returns the high-S form."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.identity = inner.identity

    def sign_digest(self, digest: bytes) -> bytes:
        der = low_s(self.inner.sign_digest(digest))
        high = base64.b64decode(_high_s(base64.b64encode(der).decode()))
        assert decode_dss_signature(high)[1] > P256_ORDER // 2
        return high


def test_a_high_s_signature_of_a_valid_message_is_refused(artifact, signer) -> None:
    cdk_out, manifest = artifact
    public_key = signer.private_key.public_key()
    high = _high_s(manifest.signature)
    public_key.verify(base64.b64decode(high), canonical_bytes(manifest), ec.ECDSA(hashes.SHA256()))  # plain ECDSA
    assert not verify_message(public_key, canonical_bytes(manifest), high)

    report = verify_artifact(cdk_out, dumps(replace(manifest, signature=high)), public_key)
    assert [(f.check, f.subject) for f in report.findings] == [("signature", "signature")]
    assert "not in low-S form (s > n/2)" in report.findings[0].detail


def test_signing_always_produces_low_s_even_when_the_signer_returns_high_s(artifact, signer) -> None:
    cdk_out, manifest = artifact
    high_signer = HighSSigner(signer)
    for _ in range(8):
        signature = sign_message(high_signer, b"message")
        assert decode_dss_signature(base64.b64decode(signature))[1] <= P256_ORDER // 2
        assert verify_message(signer.private_key.public_key(), b"message", signature)
    signed = sign_manifest(manifest, high_signer)
    assert verify_artifact(cdk_out, dumps(signed), signer.private_key.public_key()).ok
    envelope = provenance.envelope(signed, high_signer)
    assert provenance.verify_envelope(envelope, signer.private_key.public_key()) is not None


def test_kms_signatures_are_low_s(aws) -> None:
    key_id = boto3.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signer = KmsSigner(key_id)
    for index in range(16):  # a random signer returns high-S about half the time
        s = decode_dss_signature(base64.b64decode(sign_message(signer, b"%d" % index)))[1]
        assert s <= P256_ORDER // 2


def test_a_manifest_naming_a_file_and_a_folder_alike_is_invalid() -> None:
    from functions.artifacts.manifest import _file_hash_problems

    problems = _file_hash_problems({"asset": "a" * 64, "asset/index.js": "b" * 64})
    assert [p.line() for p in problems] == [
        "FAIL structure: file_hashes['asset/index.js']: invalid path: 'asset' is also a file"
    ]


def test_identifiers_with_a_trailing_newline_are_refused() -> None:
    from functions.artifacts.manifest import COMMIT, SERVICE

    assert not COMMIT.match("a" * 40 + "\n") and not SERVICE.match("orders\n")
