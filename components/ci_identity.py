"""Who may build and feed the control plane from outside: GitHub Actions and the context generator.

- the GitHub OIDC provider (or the account's existing one, from config);
- `cdk-ci-artifact-builder`: web identity from GitHub with `aud = sts.amazonaws.com` and `sub` bound to
  each configured repository's protected branch (and workflow, where configured). It reads blessed
  contexts, uploads candidates, signs manifests, records the candidate item and assumes the services'
  publishing roles; it is denied CloudFormation, SSM, IAM and EC2 outright;
- `cdk-context-generator`: the tools CodeBuild job that generates, signs and uploads contexts, doing
  its lookups only through each target account's lookup role.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policies import tools_identity as policies
from components.scoped_role import ScopedRole, ScopedRoleArgs
from functions import naming
from stack_config import Service

TYPE = "cdk-control-plane:tools:CiIdentity"


@dataclass(frozen=True)
class CiIdentityArgs:
    names: naming.ToolsNames
    keys: policies.ToolsKeys
    services: Sequence[Service]  # their repositories CI builds from, their accounts' bootstrap roles
    github_branch: str  # the protected branch CI publishes from
    existing_oidc_provider_arn: str | None  # the account's GitHub OIDC provider, if it already has one


class CiIdentity(pulumi.ComponentResource):
    oidc_provider_arn: pulumi.Output[str]
    ci_role_arn: pulumi.Output[str]
    context_generator_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CiIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names = args.names
        child = pulumi.ResourceOptions(parent=self)

        if args.existing_oidc_provider_arn:
            provider_arn: pulumi.Input[str] = args.existing_oidc_provider_arn
        else:
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github-oidc",
                url=f"https://{naming.GITHUB_OIDC_HOST}",
                client_id_lists=[naming.GITHUB_OIDC_AUDIENCE],
                opts=child,
            )
            provider_arn = provider.arn

        ci = ScopedRole(
            f"{name}-ci-builder",
            ScopedRoleArgs(
                role_name=naming.CI_BUILDER_ROLE,
                description="GitHub Actions on the protected branch: publish and sign CDK artifacts",
                trust_policy=policies.ci_trust(
                    policies.github_subjects(args.github_branch, args.services), provider_arn
                ),
                inline_policies={"publish-signed-artifacts": policies.ci_policy(names, args.keys, args.services)},
            ),
            opts=child,
        )
        generator = ScopedRole(
            f"{name}-context-generator",
            ScopedRoleArgs(
                role_name=naming.CONTEXT_GENERATOR_ROLE,
                description="tools CodeBuild: generate, sign and upload blessed .cdk.context.json files",
                trust_policy=policies.context_generator_trust(names),
                inline_policies={
                    "generate-blessed-contexts": policies.context_generator_policy(names, args.keys, args.services)
                },
            ),
            opts=child,
        )

        self.oidc_provider_arn = pulumi.Output.from_input(provider_arn)
        self.ci_role_arn = ci.arn
        self.context_generator_role_arn = generator.arn
        self.register_outputs(
            {
                "oidc_provider_arn": self.oidc_provider_arn,
                "ci_role_arn": self.ci_role_arn,
                "context_generator_role_arn": self.context_generator_role_arn,
            }
        )
