"""The typed manifest: parsed once into a frozen `Manifest`, written back byte for byte, and signed in
one way (`sign_manifest`).

The files in `golden/` were written by the dict-based implementation this model replaced (the
commit before it): `fixture.*` is the real fixture's manifest, signed with the key whose public half is
`signer.pub.pem`; `unicode-reordered.*` has non-ASCII paths, an integer duration, every optional field
set and its keys in reverse order. Their `.canonical.json` are the bytes that implementation signed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from functions.artifacts.manifest import (
    FIELDS,
    Manifest,
    build_manifest,
    canonical_bytes,
    dumps,
    parse_manifest,
)
from functions.artifacts.signing import load_public_key, low_s, sign_manifest, verify_message
from functions.artifacts.verify import verify_artifact

from ..artifact_support import CDK_OUT, CLI_VERSION, COMMIT

GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_NAMES = ("fixture", "unicode-reordered")


def _golden(name: str) -> tuple[bytes, bytes]:
    return (GOLDEN / f"{name}.manifest.json").read_bytes(), (GOLDEN / f"{name}.canonical.json").read_bytes()


def _parsed(data: bytes) -> Manifest:
    manifest, problems = parse_manifest(data)
    assert manifest is not None, problems
    return manifest


def test_parsing_gives_a_manifest_whose_attributes_are_the_documents_fields() -> None:
    data, _ = _golden("fixture")
    document = json.loads(data)
    manifest = _parsed(data)
    assert isinstance(manifest, Manifest)
    assert {name: getattr(manifest, name) for name in FIELDS} == document
    assert manifest.commit == COMMIT and manifest.service == "orders" and manifest.cdk_cli_version == CLI_VERSION
    assert manifest.file_hashes["manifest.json"] == document["file_hashes"]["manifest.json"]
    assert manifest.to_document() == document and list(manifest.to_document()) == list(document)


def test_a_manifest_cannot_be_changed_in_place() -> None:
    manifest = _parsed(_golden("fixture")[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.signature = None  # type: ignore[misc]


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_writing_a_parsed_manifest_gives_back_the_same_bytes(name: str) -> None:
    data, canonical = _golden(name)
    manifest = _parsed(data)
    assert dumps(manifest) == data
    assert canonical_bytes(manifest) == canonical
    assert canonical_bytes(manifest) == canonical_bytes(json.loads(data))  # the model adds and drops nothing


def test_a_signature_made_before_the_model_still_verifies() -> None:
    """The golden signature happens to be high-S, which verification now refuses (issue 9): its
    low-S form, the same signature, verifies over the canonical bytes the model computes."""
    manifest = _parsed(_golden("fixture")[0])
    public_key = load_public_key((GOLDEN / "signer.pub.pem").read_bytes())
    assert manifest.signature is not None
    assert not verify_message(public_key, canonical_bytes(manifest), manifest.signature)
    low = base64.b64encode(low_s(base64.b64decode(manifest.signature))).decode()
    assert verify_message(public_key, canonical_bytes(manifest), low)
    assert verify_artifact(CDK_OUT, dumps(replace(manifest, signature=low)), public_key).ok


def test_building_writes_the_same_bytes_as_before() -> None:
    """Everything but the time fields and the signature comes from the tree: same tree, same bytes."""
    data, _ = _golden("fixture")
    recorded = json.loads(data)
    built = build_manifest(
        CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION, git_signature_verified=True
    )
    same_times = replace(
        built,
        build_time=recorded["build_time"],
        build_duration_seconds=recorded["build_duration_seconds"],
        signing_identity=recorded["signing_identity"],
        signature=recorded["signature"],
    )
    assert dumps(same_times) == data
    built_document = build_manifest(CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION)
    assert built_document.to_document().keys() == set(FIELDS)


@pytest.mark.parametrize(
    "forged",
    [
        {"approved": True},
        {"signature_v2": "AAAA"},
        {"Commit": "f" * 40},
    ],
    ids=["extra field", "extra signature field", "field name differing in case"],
)
def test_a_document_with_an_extra_field_is_still_refused(forged: dict[str, Any]) -> None:
    document = {**json.loads(_golden("fixture")[0]), **forged}
    manifest, problems = parse_manifest(json.dumps(document).encode())
    assert manifest is None
    assert [(p.check, p.subject, p.detail) for p in problems] == [("structure", next(iter(forged)), "unknown field")]
    with pytest.raises(ValueError, match=next(iter(forged))):
        Manifest.from_document(document)


def test_a_document_missing_a_field_is_refused() -> None:
    document = json.loads(_golden("fixture")[0])
    del document["signing_identity"]
    manifest, problems = parse_manifest(json.dumps(document).encode())
    assert manifest is None and [p.detail for p in problems] == ["missing field"]
    with pytest.raises(ValueError, match="signing_identity"):
        Manifest.from_document(document)


def test_sign_manifest_sets_the_identity_and_a_signature_that_verifies(artifact_manifest, signer) -> None:
    signed = sign_manifest(artifact_manifest, signer)
    assert artifact_manifest.signature is None and artifact_manifest.signing_identity is None  # not changed
    assert signed.signing_identity == signer.identity
    assert signed.signature is not None
    assert verify_message(signer.private_key.public_key(), canonical_bytes(signed), signed.signature)
    assert replace(signed, signing_identity=None, signature=None) == artifact_manifest


def test_signing_again_replaces_the_identity_and_the_signature(artifact_manifest, signer, other_signer) -> None:
    resigned = sign_manifest(sign_manifest(artifact_manifest, signer), other_signer)
    assert resigned.signing_identity == other_signer.identity
    assert resigned.signature is not None
    assert verify_message(other_signer.private_key.public_key(), canonical_bytes(resigned), resigned.signature)
    assert not verify_message(signer.private_key.public_key(), canonical_bytes(resigned), resigned.signature)


def _another_value(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1] != "0" else "1")
    if value is None:
        return "f" * 64
    key = next(iter(value))
    changed = value[key]
    return {**value, key: _another_value(changed) if not isinstance(changed, dict) else {**changed, "hash": "x"}}


@pytest.mark.parametrize("name", [name for name in FIELDS if name != "signature"])
def test_changing_any_field_after_signing_breaks_the_signature(name: str, artifact_manifest, signer) -> None:
    manifest = replace(artifact_manifest, cdk_library_versions={"aws-cdk-lib": "2.170.0"})
    signed = sign_manifest(manifest, signer)
    changed = replace(signed, **{name: _another_value(getattr(signed, name))})
    assert getattr(changed, name) != getattr(signed, name)
    assert signed.signature is not None
    assert not verify_message(signer.private_key.public_key(), canonical_bytes(changed), signed.signature)
