"""Fixtures for the artifact-integrity tests: the real CDK fixture, keys, and KMS that signs as AWS does."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devtools.emulator.aws import use_fake_credentials
from devtools.emulator.kms import make_kms_faithful
from functions.artifacts.manifest import build_manifest, canonical_bytes, dumps
from functions.artifacts.signing import LocalKeySigner, sign_message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CDK_OUT = FIXTURES / "cdk.out"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CLI_VERSION = "2.1148.1"


@pytest.fixture(scope="session")
def signer() -> LocalKeySigner:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return LocalKeySigner.from_pem(pem)


@pytest.fixture(scope="session")
def other_signer() -> LocalKeySigner:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return LocalKeySigner.from_pem(pem)


@pytest.fixture
def key_files(tmp_path: Path, signer: LocalKeySigner) -> tuple[Path, Path]:
    private = tmp_path / "signer.pem"
    private.write_bytes(
        signer.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = tmp_path / "signer.pub.pem"
    public.write_bytes(signer.public_key_pem())
    return private, public


def sign(manifest: dict[str, Any], signer: LocalKeySigner) -> dict[str, Any]:
    manifest = dict(manifest)
    manifest["signing_identity"] = signer.identity
    manifest["signature"] = sign_message(signer, canonical_bytes(manifest))
    return manifest


@pytest.fixture
def artifact(tmp_path: Path, signer: LocalKeySigner) -> tuple[Path, dict[str, Any]]:
    """A private copy of the real cdk.out and its signed manifest."""
    cdk_out = tmp_path / "cdk.out"
    shutil.copytree(CDK_OUT, cdk_out)
    manifest = build_manifest(
        cdk_out, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION, git_signature_verified=True
    )
    return cdk_out, sign(manifest, signer)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return dumps(manifest)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call in the test, with KMS DIGEST signing made faithful to AWS."""
    from moto import mock_aws

    use_fake_credentials(monkeypatch)
    make_kms_faithful(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def artifact_manifest() -> dict[str, Any]:
    """An unsigned manifest of the real fixture, built once per session."""
    return build_manifest(
        CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION, git_signature_verified=True
    )
