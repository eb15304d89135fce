"""Issue 9: bad input gets a clear finding, never an exception. Manifests RFC 8785 cannot encode, hard
links and confusable names in the tree, high-S signatures, provenance that does not match."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.artifacts.manifest import dumps, parse_manifest
from functions.artifacts.verify import verify_artifact


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
