"""KMS keys with an alias, declared the one way the control plane declares them."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

SIGNING_KEY_SPEC = "ECC_NIST_P256"


def kms_key(
    name: str,
    *,
    alias: str,
    description: str,
    policy: dict[str, Any],
    parent: pulumi.Resource,
    protect: bool,
    signing: bool = False,
) -> aws.kms.Key:
    """A symmetric key that rotates yearly, or (`signing=True`) an ECC_NIST_P256 signing key.

    Asymmetric keys cannot rotate automatically (KMS supports rotation for symmetric keys only): a
    signing key is rotated by creating a new key and moving its alias (the verifiers resolve the key by
    alias), then retiring the old key. Artifacts signed with the old key no longer verify after the move,
    so their releases can no longer deploy or serve as rollback targets.
    """
    key = aws.kms.Key(
        f"{name}-key",
        description=description,
        customer_master_key_spec=SIGNING_KEY_SPEC if signing else "SYMMETRIC_DEFAULT",
        key_usage="SIGN_VERIFY" if signing else "ENCRYPT_DECRYPT",
        enable_key_rotation=not signing,
        deletion_window_in_days=30,
        policy=pulumi.Output.json_dumps(policy),
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    aws.kms.Alias(f"{name}-alias", name=alias, target_key_id=key.key_id, opts=pulumi.ResourceOptions(parent=parent))
    return key
