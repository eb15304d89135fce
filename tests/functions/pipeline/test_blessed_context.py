"""Validate's check 6 fails closed: the manifest's context hash is compared with the service's blessed,
signed context (or must be null for a service configured without lookups), never with what CI wrote."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from cryptography.hazmat.primitives import serialization

from functions.artifacts.contexts import ContextUnavailable, publish_context
from functions.artifacts.errors import InvalidArtifact
from functions.artifacts.manifest import Manifest
from functions.artifacts.signing import LocalKeySigner
from functions.artifacts.verify import ExpectedContext, _context
from functions.pipeline.blessed_context import expected_context
from functions.pipeline.catalog import ServiceCatalog
from functions.pipeline.settings import FunctionSettings, SettingsError

CONTEXTS = "contexts"
BLESSED = b'{"availability-zones:account=222222222222:region=us-east-1": ["us-east-1a"]}\n'
BLESSED_SHA = hashlib.sha256(BLESSED).hexdigest()


def pem(signer: LocalKeySigner) -> str:
    public = signer.private_key.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def checked(settings: FunctionSettings) -> FunctionSettings:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=CONTEXTS)
    return replace(settings, contexts_bucket=CONTEXTS)


ACCOUNTS = {"stage": "222222222222", "prod": "333333333333"}
CATALOG = ServiceCatalog.of({"orders": ACCOUNTS, "payments": ACCOUNTS}, without_context_lookups=["payments"])


def bless(tmp_path: Path, signer: LocalKeySigner, data: bytes = BLESSED, service: str = "orders") -> None:
    path = tmp_path / "generated.json"
    path.write_bytes(data)
    publish_context(service, path, bucket=CONTEXTS, signer=signer, s3=boto3.client("s3", region_name="us-east-1"))


def expect(settings: FunctionSettings, signer: LocalKeySigner, service: str = "orders") -> ExpectedContext:
    s3 = boto3.client("s3", region_name="us-east-1")
    return expected_context(
        service, settings=settings, catalog=CATALOG, s3=s3, context_public_key_pem=lambda: pem(signer)
    )


def test_a_service_with_lookups_must_match_its_signed_blessed_context(checked, tmp_path, signer) -> None:
    bless(tmp_path, signer)
    expected = expect(checked, signer)
    assert expected == ExpectedContext(BLESSED_SHA, f"the blessed context s3://{CONTEXTS}/orders/latest.context.json")


def test_a_service_without_lookups_expects_null_and_reads_nothing(checked) -> None:
    def no_key() -> str:
        raise AssertionError("no context key is read for a service without lookups")

    expected = expected_context(
        "payments", settings=checked, catalog=CATALOG, s3=object(), context_public_key_pem=no_key
    )
    assert expected == ExpectedContext(None, "services[].contextLookups is false for payments")


def test_a_missing_blessed_context_is_an_invalid_artifact_naming_the_s3_key(checked, signer) -> None:
    with pytest.raises(InvalidArtifact) as raised:
        expect(checked, signer)
    (finding,) = raised.value.findings
    assert finding.check == "cdk_context_hash" and finding.subject == "orders/latest.context.json"
    assert f"no blessed context for orders at s3://{CONTEXTS}/orders/latest.context.json" in finding.detail
    assert "contextLookups: false" in finding.detail


def test_a_blessed_context_signed_by_another_key_is_not_trusted(checked, tmp_path, signer, other_signer) -> None:
    bless(tmp_path, other_signer)
    with pytest.raises(InvalidArtifact) as raised:
        expect(checked, signer)
    assert "signature does not verify with the trusted context key" in str(raised.value)
    assert "orders/latest.context.json" in str(raised.value)


def test_a_blessed_context_whose_hash_file_disagrees_is_not_trusted(checked, tmp_path, signer) -> None:
    bless(tmp_path, signer)
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=CONTEXTS, Key="orders/latest.context.sha256", Body=b"0" * 64 + b"  latest.context.json\n"
    )
    with pytest.raises(InvalidArtifact, match="its .sha256 file says"):
        expect(checked, signer)


def test_another_services_blessed_context_does_not_count(checked, tmp_path, signer) -> None:
    bless(tmp_path, signer, service="billing")
    with pytest.raises(InvalidArtifact, match="no blessed context for orders"):
        expect(checked, signer)


def test_s3_failing_is_not_the_artifacts_fault(checked, signer) -> None:
    with pytest.raises(ContextUnavailable, match="cannot read the blessed context s3://elsewhere/orders/latest"):
        expect(replace(checked, contexts_bucket="elsewhere"), signer)


def test_without_a_contexts_bucket_a_service_with_lookups_fails_naming_the_variable(settings, signer) -> None:
    with pytest.raises(SettingsError, match="CONTEXTS_BUCKET is required: orders makes context lookups"):
        expect(settings, signer)


def manifest_with(context_hash: str | None, artifact_manifest: Manifest) -> Manifest:
    return replace(artifact_manifest, cdk_context_hash=context_hash)


def test_a_mismatch_names_both_hashes(artifact_manifest) -> None:
    expected = ExpectedContext(BLESSED_SHA, "the blessed context s3://contexts/orders/latest.context.json")
    (finding,) = _context(manifest_with("a" * 64, artifact_manifest), expected)
    assert finding.subject == "cdk_context_hash"
    assert (
        finding.detail
        == f"{'a' * 64} differs from {BLESSED_SHA} (the blessed context s3://contexts/orders/latest.context.json)"
    )


def test_a_null_context_hash_is_refused_for_a_service_with_lookups(artifact_manifest) -> None:
    (finding,) = _context(manifest_with(None, artifact_manifest), ExpectedContext(BLESSED_SHA, "the blessed context"))
    assert "is null (the synth read no context file), but it must be " + BLESSED_SHA in finding.detail


def test_a_service_without_lookups_accepts_only_a_null_context_hash(artifact_manifest) -> None:
    no_lookups = ExpectedContext(None, "services[].contextLookups is false for payments")
    assert _context(manifest_with(None, artifact_manifest), no_lookups) == []
    (finding,) = _context(manifest_with(BLESSED_SHA, artifact_manifest), no_lookups)
    assert "contextLookups is false for payments: the synth must read no context file (expected null)" in finding.detail


def test_the_matching_blessed_hash_passes(artifact_manifest) -> None:
    assert _context(manifest_with(BLESSED_SHA, artifact_manifest), ExpectedContext(BLESSED_SHA, "blessed")) == []


def test_who_makes_no_lookups_survives_the_catalog(checked) -> None:
    environ = checked.to_environ()
    assert environ["CONTEXTS_BUCKET"] == CONTEXTS and FunctionSettings.from_environ(environ) == checked
    read = ServiceCatalog.from_bytes(CATALOG.to_bytes())
    assert read.context_lookups("orders") and not read.context_lookups("payments")
    assert read.context_lookups("unknown")  # not listed: it must match its blessed context


def test_the_context_key_is_required_to_read_it(checked, monkeypatch) -> None:
    from functions.handlers import clients

    monkeypatch.setattr(clients, "settings", lambda: checked)
    clients.context_public_key_pem.cache_clear()
    with pytest.raises(SettingsError, match="CONTEXT_SIGNER_KEY_ID is required: blessed contexts are verified"):
        clients.context_public_key_pem()
    clients.context_public_key_pem.cache_clear()
