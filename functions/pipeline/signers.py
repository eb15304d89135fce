"""Whose key verifies whose artifact: each service's manifests are signed by that service's own KMS key
(`naming.ci_signer_alias(service)`), and every verifier in the control plane (intake, Validate, the
deployers) resolves the key from the service the artifact claims to be, never from the manifest.

A manifest of `payments` signed with the `orders` key therefore fails the signature check (check 2):
one repository can sign only its own service's artifacts.
"""

from __future__ import annotations

from threading import Lock
from typing import TYPE_CHECKING, Any

from functions import naming

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec


class ServiceKeys:
    """The public halves of the services' signing keys, read from KMS once each (per cold start)."""

    def __init__(self, kms: Any) -> None:
        self._kms = kms
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._lock = Lock()

    def public_key(self, service: str) -> ec.EllipticCurvePublicKey:
        """`SigningError` names the alias when KMS answers that there is no usable key (none, disabled,
        pending deletion) or it is not a P-256 signing key: the same on every retry. `TransientAwsError`
        when KMS gave no answer about the key (throttled, 5xx, network, denied): nothing is cached, so
        the next call (a Lambda retry) asks again."""
        from functions.artifacts.signing import kms_public_key_pem, load_public_key

        with self._lock:
            if service not in self._keys:
                alias = naming.ci_signer_alias(service)
                self._keys[service] = load_public_key(kms_public_key_pem(alias, self._kms), alias)
            return self._keys[service]

    @staticmethod
    def signing_identity(service: str) -> str:
        """What a manifest of `service` names as its signer (`artifactctl manifest sign --kms-key-id`)."""
        return f"kms:{naming.ci_signer_alias(service)}"
