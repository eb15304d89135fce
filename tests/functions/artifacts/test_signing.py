"""Signatures: local keys and KMS (moto made faithful to real KMS's DIGEST semantics)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import boto3
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from functions.artifacts.manifest import canonical_bytes, dumps, signing_digest
from functions.artifacts.signing import (
    KmsSigner,
    LocalKeySigner,
    SigningError,
    kms_public_key_pem,
    load_public_key,
    sign_manifest,
    sign_message,
    verify_message,
)
from functions.artifacts.verify import verify_artifact


def _kms_key(alias: str = "alias/cdk-ci-artifact-signer") -> str:
    kms = boto3.client("kms")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return alias


def test_local_signature_is_standard_ecdsa_sha256_over_the_message(signer: LocalKeySigner) -> None:
    message = b"canonical manifest bytes"
    signature = sign_message(signer, message)
    assert verify_message(signer.private_key.public_key(), message, signature)
    assert not verify_message(signer.private_key.public_key(), message + b" ", signature)
    assert signer.identity.startswith("key:sha256:")


def test_canonical_bytes_exclude_only_the_signature(artifact) -> None:
    _, manifest = artifact
    assert canonical_bytes(manifest) == canonical_bytes(replace(manifest, signature="anything"))
    assert canonical_bytes(manifest) != canonical_bytes(replace(manifest, signing_identity="kms:alias/other"))
    reordered = replace(manifest, key_order=tuple(reversed(manifest.key_order)))
    assert dumps(reordered) != dumps(manifest)
    assert canonical_bytes(reordered) == canonical_bytes(manifest)  # RFC 8785: key order is irrelevant
    assert signing_digest(manifest) == hashlib.sha256(canonical_bytes(manifest)).digest()


def test_kms_signed_manifest_verifies_offline_with_the_public_key(aws, artifact) -> None:
    cdk_out, manifest = artifact
    signer = KmsSigner(_kms_key())
    manifest = sign_manifest(manifest, signer)
    public_key = load_public_key(kms_public_key_pem("alias/cdk-ci-artifact-signer"))

    report = verify_artifact(cdk_out, dumps(manifest), public_key)

    assert report.ok, report.findings
    assert manifest.signing_identity == "kms:alias/cdk-ci-artifact-signer"


def test_kms_digest_signature_is_prehashed_like_real_kms(aws) -> None:
    """The harness contract: with MessageType=DIGEST the digest itself is signed (real KMS)."""
    alias = _kms_key()
    digest = hashlib.sha256(b"message").digest()
    signature = boto3.client("kms").sign(
        KeyId=alias, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    public_key = load_public_key(kms_public_key_pem(alias))
    public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_unfaithful_moto_digest_signing_would_not_verify(monkeypatch, signer) -> None:
    """Why the harness patches moto: signing SHA-256(digest) (moto's behaviour) breaks verification."""

    class MotoLike:
        def __init__(self, key):
            self.key = key
            self.identity = "kms:moto"

        def sign_digest(self, digest: bytes) -> bytes:
            return self.key.sign(digest, ec.ECDSA(hashes.SHA256()))  # hashes the digest again

    signature = sign_message(MotoLike(signer.private_key), b"message")
    assert not verify_message(signer.private_key.public_key(), b"message", signature)


def test_kms_errors_name_the_key(aws) -> None:
    with pytest.raises(SigningError, match="alias/missing"):
        KmsSigner("alias/missing").sign_digest(b"\0" * 32)
    with pytest.raises(SigningError, match="alias/missing"):
        kms_public_key_pem("alias/missing")


def test_non_p256_keys_are_refused(tmp_path) -> None:
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(SigningError, match="not an ECC_NIST_P256"):
        LocalKeySigner.from_pem(rsa_pem, "rsa.pem")
    p384 = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(SigningError, match="p384.pem is not an ECC_NIST_P256"):
        load_public_key(p384, "p384.pem")
    with pytest.raises(SigningError, match="garbage.pem: cannot load"):
        load_public_key(b"garbage", "garbage.pem")
