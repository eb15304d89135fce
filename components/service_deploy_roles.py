"""The roles the tools account deploys and observes one service through, in one account.

- deploy role: trusted only by the tools deployer role of this environment with the service's
  external id; change sets on `{service}-{env}-*` stacks only, CloudFormation gets the execution role
  and nothing else, explicit denies on other stacks and on IAM, SSM and Organizations writes;
- CloudFormation execution role: trusted by CloudFormation for this account only, with the policies
  the service's config names (never AdministratorAccess unless bounded) and an optional boundary;
- read-only role: what the finalizer needs (`DescribeStacks`, drift detection).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.policies import service_account as policies
from components.policies.pass_role import execution_role_pass_role_policy
from components.scoped_role import ScopedRole, ScopedRoleArgs
from functions.pipeline.lifecycle import Environment

TYPE = "cdk-control-plane:service:ServiceDeployRoles"


@dataclass(frozen=True)
class ServiceDeployRolesArgs:
    context: policies.ServiceAccountContext
    asset_key_arn: pulumi.Input[str]
    execution_policy_arns: Sequence[str]
    permissions_boundary_arn: str | None
    drift_detection_policy_arns: Sequence[str]


class ServiceDeployRoles(pulumi.ComponentResource):
    deploy_role_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    read_only_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceDeployRolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        ctx = args.context
        child = pulumi.ResourceOptions(parent=self)
        prod = ctx.env is Environment.PROD

        execution = ScopedRole(
            f"{name}-cfn-exec",
            ScopedRoleArgs(
                role_name=ctx.names.execution_role,
                description=f"CloudFormation creates {ctx.service} ({ctx.env}) resources with this role",
                trust_policy=policies.execution_role_trust(ctx),
                inline_policies={
                    "read-service-assets": policies.execution_role_asset_policy(ctx, args.asset_key_arn),
                    "pass-own-roles-only": execution_role_pass_role_policy(ctx),
                    **(
                        {
                            "bounded-identities": policies.execution_role_boundary_policy(
                                ctx, args.permissions_boundary_arn
                            )
                        }
                        if args.permissions_boundary_arn
                        else {}
                    ),
                },
                managed_policy_arns=list(args.execution_policy_arns),
                permissions_boundary_arn=args.permissions_boundary_arn,
            ),
            opts=child,
        )
        deploy = ScopedRole(
            f"{name}-deploy",
            ScopedRoleArgs(
                role_name=ctx.names.deploy_role,
                description=f"tools deployer deploys {ctx.service} stacks ({ctx.env}) through change sets",
                trust_policy=policies.deploy_role_trust(ctx),
                inline_policies={"deploy-service-stacks": policies.deploy_policy(ctx, args.asset_key_arn)},
                # Drift detection reads each resource with the caller's credentials; only prod detects.
                managed_policy_arns=list(args.drift_detection_policy_arns) if prod else [],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[execution]),
        )
        read_only = ScopedRole(
            f"{name}-readonly",
            ScopedRoleArgs(
                role_name=ctx.names.read_only_role,
                description=f"tools finalizer reads {ctx.service} stacks ({ctx.env}) and their drift",
                trust_policy=policies.read_only_role_trust(ctx),
                inline_policies={"read-service-stacks": policies.read_only_policy(ctx)},
                managed_policy_arns=list(args.drift_detection_policy_arns),
            ),
            opts=child,
        )

        self.deploy_role_arn = deploy.arn
        self.execution_role_arn = execution.arn
        self.read_only_role_arn = read_only.arn
        self.register_outputs(
            {
                "deploy_role_arn": self.deploy_role_arn,
                "execution_role_arn": self.execution_role_arn,
                "read_only_role_arn": self.read_only_role_arn,
            }
        )
