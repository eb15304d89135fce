"""The tools account's asymmetric signing keys (spec: Artifact Signing Policy, context signing,
operator overrides): ECC_NIST_P256, used with ECDSA_SHA_256 on digests.

Each key policy names exactly who may `kms:Sign` and who may `kms:GetPublicKey`. Verification is
offline with the public half (pinned where verifiers read it), so reading a public key is rare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.kms import kms_key
from components.policies.tools_storage import signing_key_policy
from functions import naming

TYPE = "cdk-control-plane:tools:SigningKeys"


@dataclass(frozen=True)
class SigningKeysArgs:
    names: naming.ToolsNames
    protect: bool
    operator_principal_arns: Sequence[str]  # sign override requests, read the public keys


class SigningKeys(pulumi.ComponentResource):
    ci_signer_arn: pulumi.Output[str]
    context_signer_arn: pulumi.Output[str]
    override_signer_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SigningKeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names = args.names
        protect = args.protect
        operators = list(args.operator_principal_arns)
        ci_role, generator = names.ci_builder_role_arn, names.context_generator_role_arn

        ci = kms_key(
            f"{name}-ci",
            alias=naming.CI_SIGNER_KEY_ALIAS,
            description="signs CI's artifact manifests and provenance (cdk-ci-artifact-builder only)",
            # Validate and the deployers re-verify artifacts; without a pinned key they read it here.
            policy=signing_key_policy(
                names, [ci_role], [ci_role, names.function_role_arn("validate"), *names.deployer_role_arns, *operators]
            ),
            parent=self,
            protect=protect,
            signing=True,
        )
        context = kms_key(
            f"{name}-context",
            alias=naming.CONTEXT_SIGNER_KEY_ALIAS,
            description="signs blessed .cdk.context.json files (cdk-context-generator only)",
            policy=signing_key_policy(names, [generator], [ci_role, generator, names.function_role_arn("validate")]),
            parent=self,
            protect=protect,
            signing=True,
        )
        override = kms_key(
            f"{name}-override",
            alias=naming.OVERRIDE_SIGNER_KEY_ALIAS,
            description="signs operator override, rollback and break-glass requests",
            policy=signing_key_policy(names, operators, [names.function_role_arn("override"), *operators]),
            parent=self,
            protect=protect,
            signing=True,
        )
        self.ci_signer_arn = ci.arn
        self.context_signer_arn = context.arn
        self.override_signer_arn = override.arn
        self.register_outputs(
            {
                "ci_signer_arn": self.ci_signer_arn,
                "context_signer_arn": self.context_signer_arn,
                "override_signer_arn": self.override_signer_arn,
            }
        )
