"""The tools-account roles the service accounts trust: one deployer per environment, and the finalizer.

They exist from the first `pulumi up` of the tools stack, before any stage or prod stack, because IAM
refuses a trust policy whose principal role does not exist. Here they get only what crosses accounts
(assuming the services' deploy or read-only roles); the pipeline adds the rest of their permissions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.policies import tools_identity as policies
from components.scoped_role import ScopedRole, ScopedRoleArgs
from functions import naming
from stack_config import StackConfig

TYPE = "cdk-control-plane:tools:PipelineIdentity"


@dataclass(frozen=True)
class PipelineIdentityArgs:
    config: StackConfig


class PipelineIdentity(pulumi.ComponentResource):
    deployer_role_arns: dict[str, pulumi.Output[str]]
    finalizer_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        ctx = policies.ToolsContext(args.config)
        prefix = args.config.name_prefix
        child = pulumi.ResourceOptions(parent=self)

        self.deployer_role_arns = {}
        for env in ("stage", "prod"):
            deployer = ScopedRole(
                f"{name}-deployer-{env}",
                ScopedRoleArgs(
                    role_name=naming.deployer_role_name(prefix, env),
                    description=f"CodeBuild deployer for {env}: assumes the services' {env} deploy roles",
                    trust_policy=policies.deployer_trust(ctx, env),
                    inline_policies={f"assume-{env}-deploy-roles": policies.deployer_assume_policy(ctx, env)},
                ),
                opts=child,
            )
            self.deployer_role_arns[env] = deployer.arn
        finalizer = ScopedRole(
            f"{name}-finalizer",
            ScopedRoleArgs(
                role_name=naming.finalizer_role_name(prefix),
                description="finalizer Lambda: reads the services' stacks through their read-only roles",
                trust_policy=policies.finalizer_trust(ctx),
                inline_policies={"assume-read-only-roles": policies.finalizer_assume_policy(ctx)},
            ),
            opts=child,
        )
        self.finalizer_role_arn = finalizer.arn
        self.register_outputs(
            {"deployer_role_arns": self.deployer_role_arns, "finalizer_role_arn": self.finalizer_role_arn}
        )
