"""Make moto's KMS sign with MessageType=DIGEST the way real KMS does.

moto 5.2.5 hashes the digest again, so its signatures verify only as signatures over the digest
bytes; real KMS signs the digest as pre-hashed. Product code follows real AWS; tests that sign with
KMS call `make_kms_faithful` (a harness bridge, see DESIGN.md).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed


def _sign_digest_like_aws(response: Any) -> str:
    message = response._get_param("Message")
    digest = base64.b64decode(message) if isinstance(message, str) else message
    key = response.kms_backend.describe_key(response._get_param("KeyId"))
    signature = key.private_key.private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    return json.dumps(
        {"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(), "SigningAlgorithm": "ECDSA_SHA_256"}
    )


def make_kms_faithful(monkeypatch: Any) -> None:
    from moto.kms.responses import KmsResponse

    original = KmsResponse.sign

    def sign(self: Any) -> str:
        if self._get_param("MessageType") == "DIGEST":
            return _sign_digest_like_aws(self)
        return original(self)

    monkeypatch.setattr(KmsResponse, "sign", sign)
