"""Property-based fuzzing of manifest parsing: whatever the bytes, the parser answers with a manifest
or with findings, never with an exception, and only well-formed manifests are accepted."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.artifacts.manifest import FIELDS, Manifest, canonical_bytes, dumps, parse_manifest
from functions.artifacts.tree import path_problem
from functions.artifacts.verify import verify_artifact

from ..artifact_support import CDK_OUT

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    manifest, findings = parse_manifest(data)
    assert (manifest is None) == bool(findings)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(FIELDS) + ["extra"]), json_values, max_size=len(FIELDS) + 1))
def test_arbitrary_field_values_never_raise(document: dict[str, Any]) -> None:
    manifest, findings = parse_manifest(json.dumps(document).encode())
    assert manifest is None and findings  # random values never make a valid manifest


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(FIELDS)), value=json_values)
def test_one_corrupted_field_of_a_real_manifest(artifact_manifest: Manifest, field: str, value: Any) -> None:
    corrupted = {**artifact_manifest.to_document(), field: value}
    manifest, findings = parse_manifest(json.dumps(corrupted).encode())
    if manifest is not None:
        # Accepted only if the value is still of the field's form; the signature then still decides.
        canonical_bytes(manifest)
        report = verify_artifact(CDK_OUT, dumps(manifest), None)
        assert isinstance(report.findings, list)
    else:
        assert any(f.subject == field or field in f.subject or f.subject.startswith(field) for f in findings)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=64))
def test_any_accepted_path_stays_inside_the_tree(path: str) -> None:
    if path_problem(path) is None:
        parts = path.split("/")
        assert ".." not in parts and not path.startswith("/") and "" not in parts and "\\" not in path


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.text(min_size=64, max_size=64, alphabet="0123456789abcdef"),
        min_size=1,
        max_size=5,
    )
)
def test_file_hash_keys_are_validated(file_hashes: dict[str, str]) -> None:
    manifest, findings = parse_manifest(json.dumps({"file_hashes": file_hashes}).encode())
    bad_paths = [p for p in file_hashes if path_problem(p)]
    for path in bad_paths:
        assert any(repr(path) in f.subject for f in findings)
