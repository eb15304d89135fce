"""`ServiceKeys`: the verifiers' one rule for whose key verifies whose artifact (moto KMS)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.emulator.kms import make_kms_faithful
from functions.artifacts.errors import SigningError, TransientAwsError
from functions.artifacts.signing import KmsSigner, sign_message, verify_message
from functions.naming import ci_signer_alias
from functions.pipeline.signers import ServiceKeys


class CountingKms:
    """A KMS client that counts `GetPublicKey` calls per key id."""

    def __init__(self) -> None:
        self.client = boto3.client("kms", region_name="us-east-1")
        self.calls: list[str] = []

    def get_public_key(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs["KeyId"])
        return self.client.get_public_key(**kwargs)


@pytest.fixture
def keys(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, KmsSigner]:
    """A signing key per service under its alias, as `SigningKeys` declares them."""
    make_kms_faithful(monkeypatch)
    kms = boto3.client("kms", region_name="us-east-1")
    signers = {}
    for service in ("orders", "payments"):
        key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=ci_signer_alias(service), TargetKeyId=key)
        signers[service] = KmsSigner(ci_signer_alias(service), kms)
    return signers


def test_a_services_signature_verifies_only_with_that_services_key(keys: dict[str, KmsSigner]) -> None:
    resolved = ServiceKeys(boto3.client("kms", region_name="us-east-1"))
    signed_by_orders = sign_message(keys["orders"], b"manifest of payments")

    assert verify_message(resolved.public_key("orders"), b"manifest of payments", signed_by_orders)
    assert not verify_message(resolved.public_key("payments"), b"manifest of payments", signed_by_orders)


def test_each_services_key_is_read_from_kms_once_by_its_alias(keys: dict[str, KmsSigner]) -> None:
    kms = CountingKms()
    resolved = ServiceKeys(kms)

    first = resolved.public_key("orders")
    assert resolved.public_key("orders") is first
    resolved.public_key("payments")

    assert kms.calls == ["alias/cdk-ci-artifact-signer-orders", "alias/cdk-ci-artifact-signer-payments"]


def test_a_missing_key_names_its_alias_and_is_not_remembered(keys: dict[str, KmsSigner]) -> None:
    resolved = ServiceKeys(boto3.client("kms", region_name="us-east-1"))
    with pytest.raises(SigningError, match="alias/cdk-ci-artifact-signer-billing"):
        resolved.public_key("billing")

    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=ci_signer_alias("billing"), TargetKeyId=key)
    assert resolved.public_key("billing") is not None  # a retry after the alias exists succeeds


def test_an_alias_on_a_key_that_is_not_a_p256_signing_key_is_refused(aws: None) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=ci_signer_alias("orders"), TargetKeyId=key)

    with pytest.raises(SigningError, match="not an ECC_NIST_P256 signing key"):
        ServiceKeys(kms).public_key("orders")


def test_the_signing_identity_names_the_services_alias() -> None:
    assert ServiceKeys.signing_identity("orders") == "kms:alias/cdk-ci-artifact-signer-orders"


def _kms_failing_once(code: str) -> tuple[Any, Any]:
    """A KMS client whose first `GetPublicKey` answers `code` (botocore's Stubber), then a real one."""
    from botocore.stub import Stubber

    kms = boto3.client("kms", region_name="us-east-1")
    stubber = Stubber(kms)
    stubber.add_client_error("get_public_key", service_error_code=code, service_message=f"{code} (stubbed)")
    stubber.activate()
    return kms, stubber


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "KMSInternalException", "InternalFailure", "AccessDeniedException"]
)
def test_kms_not_answering_about_the_key_is_transient_and_not_remembered(aws: None, code: str) -> None:
    kms, stubber = _kms_failing_once(code)
    resolved = ServiceKeys(kms)
    with pytest.raises(TransientAwsError, match=f"alias/cdk-ci-artifact-signer-orders.*{code}"):
        resolved.public_key("orders")

    stubber.deactivate()
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=ci_signer_alias("orders"), TargetKeyId=key)
    assert resolved.public_key("orders") is not None  # the retry asks KMS again


@pytest.mark.parametrize("code", ["NotFoundException", "DisabledException", "KMSInvalidStateException"])
def test_kms_answering_that_there_is_no_usable_key_is_a_signing_error(aws: None, code: str) -> None:
    kms, _ = _kms_failing_once(code)
    with pytest.raises(SigningError, match=code):
        ServiceKeys(kms).public_key("orders")


def test_an_unreachable_kms_is_transient(aws: None) -> None:
    from botocore.exceptions import EndpointConnectionError

    class Unreachable:
        def get_public_key(self, **kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://kms.us-east-1.amazonaws.com")

    with pytest.raises(TransientAwsError, match="Could not connect"):
        ServiceKeys(Unreachable()).public_key("orders")
