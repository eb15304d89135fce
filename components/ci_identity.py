"""Who may build and feed the control plane from outside: GitHub Actions and the context generator.

- the GitHub OIDC provider (or the account's existing one, from config);
- one `cdk-ci-artifact-builder-{service}` role per service: web identity from GitHub with
  `aud = sts.amazonaws.com` and `sub` bound to exactly that service's repository, protected branch and
  workflow (or the central release workflow). It reads blessed contexts, uploads candidates under its own
  `{service}/` prefix, signs with its own service's key only and assumes only its own accounts'
  image-publishing roles; it writes no metadata and is denied CloudFormation, DynamoDB, SSM, IAM and EC2
  outright. Every such role's policies have the same size however many services there are;
- `cdk-context-generator`: the tools CodeBuild job that generates, signs and uploads contexts, doing
  its lookups only through each target account's lookup role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    signer_key_arns: Mapping[str, pulumi.Input[str]]  # service -> its own signing key (`SigningKeys`)
    github_branch: str  # the protected branch CI publishes from
    release_workflow: str | None  # a central reusable workflow (job_workflow_ref) instead of each service's own
    existing_oidc_provider_arn: str | None  # the account's GitHub OIDC provider, if it already has one


class CiIdentity(pulumi.ComponentResource):
    oidc_provider_arn: pulumi.Output[str]
    ci_role_arns: dict[str, pulumi.Output[str]]  # service -> its CI role
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

        self.ci_role_arns = {
            service.name: self._ci_role(name, args, service, provider_arn).arn for service in args.services
        }
        generator = ScopedRole(
            f"{name}-context-generator",
            ScopedRoleArgs(
                role_name=naming.CONTEXT_GENERATOR_ROLE,
                description="tools CodeBuild: generate, sign and upload blessed .cdk.context.json files",
                trust_policy=policies.context_generator_trust(names),
                inline_policies={"generate-blessed-contexts": policies.context_generator_policy(names, args.keys)},
            ),
            opts=child,
        )

        self.oidc_provider_arn = pulumi.Output.from_input(provider_arn)
        self.context_generator_role_arn = generator.arn
        self.register_outputs(
            {
                "oidc_provider_arn": self.oidc_provider_arn,
                "ci_role_arns": self.ci_role_arns,
                "context_generator_role_arn": self.context_generator_role_arn,
            }
        )

    def _ci_role(
        self, name: str, args: CiIdentityArgs, service: Service, provider_arn: pulumi.Input[str]
    ) -> ScopedRole:
        return ScopedRole(
            f"{name}-ci-builder-{service.name}",
            ScopedRoleArgs(
                role_name=naming.ci_builder_role(service.name),
                description=f"GitHub Actions of {service.github_repository} on the protected branch: "
                f"publish and sign {service.name} artifacts only",
                trust_policy=policies.ci_trust(
                    policies.github_subject(args.github_branch, service, args.release_workflow), provider_arn
                ),
                inline_policies={
                    "publish-signed-artifacts": policies.ci_policy(
                        args.names, args.keys, service, args.signer_key_arns[service.name]
                    )
                },
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
