"""The DSSE / in-toto provenance interoperates: an independent implementation verifies it."""

from __future__ import annotations

import base64
import json

from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from functions.artifacts import provenance
from functions.artifacts.signing import KmsSigner, kms_public_key_pem, load_public_key


def _independently_verified(document: dict, public_key, keyid: str) -> dict:
    key = SSlibKey.from_crypto(public_key, keyid=keyid, scheme="ecdsa-sha2-nistp256")
    envelope = Envelope.from_dict(json.loads(json.dumps(document)))
    accepted = envelope.verify([key], threshold=1)
    assert list(accepted) == [keyid]
    return json.loads(envelope.payload)


def test_envelope_verifies_with_securesystemslib(artifact, signer) -> None:
    _, manifest = artifact
    document = provenance.envelope(manifest, signer)
    statement = _independently_verified(document, signer.private_key.public_key(), signer.identity)

    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert document["payloadType"] == "application/vnd.in-toto+json"
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == manifest.file_hashes
    assert statement["predicate"]["commit"] == manifest.commit
    assert statement["predicate"]["artifact_sha256"] == manifest.artifact_sha256


def test_kms_signed_envelope_verifies_with_securesystemslib(aws, artifact) -> None:
    import boto3

    kms = boto3.client("kms")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signer = KmsSigner(key_id)
    document = provenance.envelope(artifact[1], signer)
    _independently_verified(document, load_public_key(kms_public_key_pem(key_id)), signer.identity)


def test_tampered_payload_fails_both_verifiers(artifact, signer) -> None:
    _, manifest = artifact
    document = provenance.envelope(manifest, signer)
    statement = json.loads(base64.b64decode(document["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    document["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()

    assert provenance.verify_envelope(document, signer.private_key.public_key()) is None
    key = SSlibKey.from_crypto(signer.private_key.public_key(), keyid=signer.identity, scheme="ecdsa-sha2-nistp256")
    try:
        Envelope.from_dict(document).verify([key], threshold=1)
    except Exception as exc:  # securesystemslib's VerificationError
        assert "threshold" in str(exc).lower() or "verif" in str(exc).lower()
    else:
        raise AssertionError("securesystemslib accepted a tampered payload")
