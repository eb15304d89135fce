"""The tools account's asymmetric signing keys (spec: Artifact Signing Policy, context signing,
operator overrides): ECC_NIST_P256, used with ECDSA_SHA_256 on digests.

One key per service for its CI's manifests (`naming.ci_signer_alias(service)`): only that service's CI
role may sign with it, so a manifest of `payments` signed by the orders repository's CI does not verify
with the payments key (the verifiers resolve the key from the service). Each key policy names exactly who
may `kms:Sign` and who may `kms:GetPublicKey`, and has the same size however many services there are.
Verification is offline with the public half, read once per verifier cold start.
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
    services: Sequence[str]  # one CI signing key each


class SigningKeys(pulumi.ComponentResource):
    ci_signer_arns: dict[str, pulumi.Output[str]]  # service -> its CI signing key
    context_signer_arn: pulumi.Output[str]
    override_signer_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SigningKeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names = args.names
        protect = args.protect
        operators = list(args.operator_principal_arns)
        generator = names.context_generator_role_arn
        self.ci_signer_arns = {
            service: kms_key(
                f"{name}-ci-{service}",
                alias=naming.ci_signer_alias(service),
                description=f"signs {service}'s artifact manifests ({naming.ci_builder_role(service)} only)",
                policy=signing_key_policy(
                    names, [names.ci_builder_role_arn(service)], self._verifiers(names, operators)
                ),
                parent=self,
                protect=protect,
                signing=True,
            ).arn
            for service in args.services
        }
        context = kms_key(
            f"{name}-context",
            alias=naming.CONTEXT_SIGNER_KEY_ALIAS,
            description="signs blessed .cdk.context.json files (cdk-context-generator only)",
            # Every service's CI verifies the contexts it builds with (one pattern, any number of services).
            policy=signing_key_policy(
                names, [generator], [names.ci_builder_role_arn_pattern, generator, names.function_role_arn("validate")]
            ),
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
        self.context_signer_arn = context.arn
        self.override_signer_arn = override.arn
        self.register_outputs(
            {
                "ci_signer_arns": self.ci_signer_arns,
                "context_signer_arn": self.context_signer_arn,
                "override_signer_arn": self.override_signer_arn,
            }
        )

    @staticmethod
    def _verifiers(names: naming.ToolsNames, operators: list[str]) -> list[str]:
        """Who reads a service key's public half: intake and Validate (check 2), Promote (the provenance it
        copies), the deployers (which verify again before deploying) and the operators."""
        return [
            names.function_role_arn("intake"),
            names.function_role_arn("promote"),
            names.function_role_arn("validate"),
            *names.deployer_role_arns,
            *operators,
        ]
