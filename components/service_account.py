"""Everything one service needs in one of its accounts (stage or prod): bootstrap + deploy roles."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.cdk_bootstrap import CdkBootstrap, CdkBootstrapArgs
from components.policies.service_account import ServiceAccountContext
from components.service_deploy_roles import ServiceDeployRoles, ServiceDeployRolesArgs
from functions import naming
from stack_config import Service, StackConfig

TYPE = "cdk-control-plane:service:ServiceAccount"


@dataclass(frozen=True)
class ServiceAccountArgs:
    config: StackConfig
    service: Service


def service_account_context(config: StackConfig, service: Service) -> ServiceAccountContext:
    env = service.environment(config.environment)
    bootstrap = naming.CdkBootstrapNames(service.cdk_qualifier, env.account_id, config.region)
    return ServiceAccountContext(
        prefix=config.name_prefix,
        service=service.name,
        env=config.environment,
        account_id=env.account_id,
        region=config.region,
        tools_account_id=config.tools_account_id,
        bootstrap=bootstrap,
        asset_bucket=env.asset_bucket_name or bootstrap.asset_bucket,
        container_repository=env.container_repository_name or bootstrap.container_repository,
    )


class ServiceAccount(pulumi.ComponentResource):
    deploy_role_arn: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    read_only_role_arn: pulumi.Output[str]
    asset_bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceAccountArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        ctx = service_account_context(args.config, args.service)
        env = args.service.environment(args.config.environment)
        child = pulumi.ResourceOptions(parent=self)

        bootstrap = CdkBootstrap(
            f"{name}-bootstrap",
            CdkBootstrapArgs(context=ctx, protect=args.config.protect_stateful_resources),
            opts=child,
        )
        roles = ServiceDeployRoles(
            f"{name}-roles",
            ServiceDeployRolesArgs(
                context=ctx,
                asset_key_arn=bootstrap.asset_key_arn,
                execution_policy_arns=env.execution_policy_arns,
                permissions_boundary_arn=env.permissions_boundary_arn,
                drift_detection_policy_arns=env.drift_detection_policy_arns,
            ),
            opts=child,
        )

        self.deploy_role_arn = roles.deploy_role_arn
        self.execution_role_arn = roles.execution_role_arn
        self.read_only_role_arn = roles.read_only_role_arn
        self.asset_bucket_arn = bootstrap.asset_bucket_arn
        self.register_outputs(
            {
                "deploy_role_arn": self.deploy_role_arn,
                "execution_role_arn": self.execution_role_arn,
                "read_only_role_arn": self.read_only_role_arn,
                "asset_bucket_arn": self.asset_bucket_arn,
            }
        )
