"""Interoperable provenance: an in-toto Statement v1 about the artifact, in a signed DSSE envelope.

One subject per file of `cdk.out` (name = relative path, digest = sha256), the manifest's fields as
the predicate, signed with the same key as the manifest, so standard in-toto / DSSE tooling can check
an artifact without knowing our manifest format. The DSSE signature covers the pre-authentication
encoding (PAE) of the payload, per the DSSE v1 protocol.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec

from functions.naming import PROVENANCE_NAME

from .errors import Finding
from .signing import Signer, sign_message, verify_message

if TYPE_CHECKING:
    from .manifest import Manifest

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://github.com/cdk-control-plane/artifact-manifest/v1"


def statement(manifest: Manifest) -> dict[str, Any]:
    predicate = {k: v for k, v in manifest.to_document().items() if k not in ("file_hashes", "signature")}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": path, "digest": {"sha256": digest}} for path, digest in manifest.file_hashes.items()],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature covers."""
    encoded_type = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(encoded_type), encoded_type, len(payload), payload)


def envelope(manifest: Manifest, signer: Signer) -> dict[str, Any]:
    payload = json.dumps(statement(manifest), sort_keys=True, separators=(",", ":")).encode("utf-8")
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": signer.identity, "sig": sign_message(signer, pae(PAYLOAD_TYPE, payload))}],
    }


def verify_envelope(document: dict[str, Any], public_key: ec.EllipticCurvePublicKey) -> dict[str, Any] | None:
    """The statement if one signature verifies, else None."""
    try:
        payload = base64.b64decode(document["payload"], validate=True)
        signatures = document["signatures"]
        if document["payloadType"] != PAYLOAD_TYPE:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(signatures, list):
        return None
    message = pae(PAYLOAD_TYPE, payload)
    if any(verify_message(public_key, message, s.get("sig", "")) for s in signatures if isinstance(s, dict)):
        try:
            return json.loads(payload)
        except ValueError:  # signed garbage is still garbage
            return None
    return None


def envelope_problems(data: bytes, manifest: Manifest, public_key: ec.EllipticCurvePublicKey) -> list[Finding]:
    """Why the envelope `data`, read back from disk, is not this manifest's provenance signed with
    `public_key` (the key the manifest verifies with); empty if it is."""
    from .manifest import load_json_strict

    document, problems = load_json_strict(data, PROVENANCE_NAME)
    if problems:
        return [Finding("provenance", p.subject, p.detail) for p in problems]
    if not isinstance(document, dict):
        return [Finding("provenance", PROVENANCE_NAME, "top level is not a JSON object")]
    signed = verify_envelope(document, public_key)
    if signed is None:
        detail = f"not a {PAYLOAD_TYPE} DSSE envelope with a signature that verifies with the manifest's key"
        return [Finding("provenance", PROVENANCE_NAME, detail)]
    if signed != statement(manifest):
        return [Finding("provenance", PROVENANCE_NAME, "its statement does not describe this manifest")]
    return []
