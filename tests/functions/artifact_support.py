"""Fixtures and constants of the artifact-integrity tests, shared by `tests/functions/` and
`tests/artifactctl/` (each conftest imports the fixtures it needs): the real CDK fixture, keys, a signed
artifact, and KMS that signs as AWS does."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devtools.emulator.aws import use_fake_credentials
from devtools.emulator.kms import make_kms_faithful
from functions.artifacts.manifest import Manifest, build_manifest
from functions.artifacts.signing import LocalKeySigner, sign_manifest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CDK_OUT = FIXTURES / "cdk.out"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CLI_VERSION = "2.1148.1"
BUCKET = "cdk-artifacts-candidate-111111111111-us-east-1"
TABLE = "cdk-artifact-metadata"


def new_signer() -> LocalKeySigner:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return LocalKeySigner.from_pem(pem)


@pytest.fixture(scope="session")
def signer() -> LocalKeySigner:
    return new_signer()


@pytest.fixture(scope="session")
def other_signer() -> LocalKeySigner:
    return new_signer()


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


@pytest.fixture
def artifact(tmp_path: Path, signer: LocalKeySigner) -> tuple[Path, Manifest]:
    """A private copy of the real cdk.out and its signed manifest."""
    cdk_out = tmp_path / "cdk.out"
    shutil.copytree(CDK_OUT, cdk_out)
    manifest = build_manifest(
        cdk_out, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION, git_signature_verified=True
    )
    return cdk_out, sign_manifest(manifest, signer)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS call in the test, with KMS DIGEST signing made faithful to AWS."""
    from moto import mock_aws

    use_fake_credentials(monkeypatch)
    make_kms_faithful(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def artifact_manifest() -> Manifest:
    """An unsigned manifest of the real fixture, built once per session."""
    return build_manifest(
        CDK_OUT, service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION, git_signature_verified=True
    )
