"""ECDSA P-256 / SHA-256 signatures made by a KMS asymmetric key or a local PEM key, verified offline.

Messages (manifests, context files, DSSE envelopes) can exceed the 4 KB KMS accepts as `RAW`, so
the signer always signs the SHA-256 digest with `MessageType=DIGEST`, which real KMS treats as
pre-hashed. A signature is therefore an ordinary ECDSA-SHA256 signature over the message, checkable
with the public key alone (`verify_message`), by any standard tool.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature

from .errors import SigningError, raise_if_transient
from .manifest import Manifest, canonical_bytes

SIGNING_ALGORITHM = "ECDSA_SHA_256"
# The order of P-256's base point. (r, s) and (r, n - s) both verify, so only the low-S form
# (s <= n/2) is accepted: one message then has one signature, as in Bitcoin's and Go's rules.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
MAX_SIGNATURE_BYTES = 80  # DER of two 256-bit integers is at most 72 bytes


class Signer(Protocol):
    identity: str

    def sign_digest(self, digest: bytes) -> bytes:
        """DER-encoded ECDSA signature of a SHA-256 digest."""
        ...


def _require_p256(key: Any, what: str) -> None:
    if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise SigningError(f"{what} is not an ECC_NIST_P256 (secp256r1) key")


def public_key_fingerprint(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@dataclass
class LocalKeySigner:
    """A PEM private key on disk: for tests, air-gapped signing and the demo."""

    private_key: ec.EllipticCurvePrivateKey
    identity: str = ""

    @classmethod
    def from_pem(cls, pem: bytes, source: str = "private key") -> LocalKeySigner:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningError(f"{source}: cannot load a PEM private key ({exc})") from None
        _require_p256(key, source)
        return cls(key, f"key:sha256:{public_key_fingerprint(key.public_key())}")  # type: ignore[arg-type]

    def sign_digest(self, digest: bytes) -> bytes:
        return self.private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))

    def public_key_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass
class KmsSigner:
    """A KMS asymmetric key, named as the operator names it (alias, id or ARN)."""

    key_id: str
    client: Any = field(default=None, repr=False)
    identity: str = ""

    def __post_init__(self) -> None:
        self.identity = self.identity or f"kms:{self.key_id}"
        if self.client is None:
            import boto3  # only signing with KMS pays for boto3's import

            self.client = boto3.client("kms")

    def sign_digest(self, digest: bytes) -> bytes:
        try:
            response = self.client.sign(
                KeyId=self.key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=SIGNING_ALGORITHM
            )
        except Exception as exc:  # botocore errors: the message names the key and the reason
            raise SigningError(f"KMS Sign with {self.key_id} failed: {exc}") from None
        return response["Signature"]

    def public_key_pem(self) -> bytes:
        return kms_public_key_pem(self.key_id, self.client)


def kms_public_key_pem(key_id: str, client: Any = None) -> bytes:
    """The public half of a KMS key (one `GetPublicKey` call), checked to be a P-256 signing key.

    `SigningError` only for KMS's permanent answers (no such key, disabled, pending deletion: see
    `is_permanent_aws_error`) and a key of the wrong kind; `TransientAwsError` for everything else
    (throttling, KMS's 5xx, the network, a denied call), which a retry or a fix of ours resolves."""
    if client is None:
        import boto3

        client = boto3.client("kms")
    try:
        response = client.get_public_key(KeyId=key_id)
    except Exception as exc:
        raise_if_transient(exc, f"KMS GetPublicKey for {key_id} got no answer: {exc}")
        raise SigningError(f"KMS GetPublicKey for {key_id} failed: {exc}") from None
    # KMS returns the spec as KeySpec and (deprecated, still sent) CustomerMasterKeySpec.
    spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
    if spec != "ECC_NIST_P256" or response.get("KeyUsage") != "SIGN_VERIFY":
        raise SigningError(f"{key_id} is {spec}/{response.get('KeyUsage')}, not an ECC_NIST_P256 signing key")
    key = serialization.load_der_public_key(response["PublicKey"])
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes, source: str = "public key") -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{source}: cannot load a PEM public key ({exc})") from None
    _require_p256(key, source)
    return key  # type: ignore[return-value]


def low_s(der_signature: bytes) -> bytes:
    """The same signature in low-S form (KMS, like most signers, returns either form)."""
    try:
        r, s = decode_dss_signature(der_signature)
    except ValueError:
        raise SigningError("the signer returned a signature that is not DER-encoded ECDSA") from None
    return der_signature if s <= P256_ORDER // 2 else encode_dss_signature(r, P256_ORDER - s)


def signature_problem(signature_b64: str) -> str | None:
    """Why `signature_b64` is not an acceptable encoding (base64 of a low-S DER ECDSA signature)."""
    try:
        der = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError):
        return "is not base64"
    if len(der) > MAX_SIGNATURE_BYTES:
        return f"is {len(der)} bytes; a DER P-256 signature is at most 72"
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        return "is not a DER-encoded ECDSA signature"
    if not (0 < r < P256_ORDER and 0 < s < P256_ORDER):
        return "has r or s outside the P-256 group order"
    if s > P256_ORDER // 2:
        return "is not in low-S form (s > n/2): a malleated copy of a signature; re-sign to get the low-S form"
    return None


def sign_message(signer: Signer, message: bytes) -> str:
    """Base64 of the low-S DER signature over `message` (its SHA-256 digest is what is sent to KMS)."""
    return base64.b64encode(low_s(signer.sign_digest(hashlib.sha256(message).digest()))).decode("ascii")


def sign_manifest(manifest: Manifest, signer: Signer) -> Manifest:
    """The manifest signed by `signer`. The signer's identity is set first: the signature covers it."""
    claimed = replace(manifest, signing_identity=signer.identity, signature=None)
    return replace(claimed, signature=sign_message(signer, canonical_bytes(claimed)))


def verify_message(public_key: ec.EllipticCurvePublicKey, message: bytes, signature_b64: str) -> bool:
    """True only for a low-S signature (`signature_problem`) that verifies over `message`."""
    if not isinstance(signature_b64, str) or signature_problem(signature_b64) is not None:
        return False
    try:
        public_key.verify(base64.b64decode(signature_b64), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
