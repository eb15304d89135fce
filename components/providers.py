"""One explicit AWS provider per target account of a stage or prod stack.

The stage and prod stacks disable the default AWS provider (`pulumi:disable-default-providers`), so a
resource that is not handed one of these providers fails to register instead of landing in whatever
account the operator's credentials point at. `allowed_account_ids` makes the provider refuse to act
if the assumed role turns out to live in another account.
"""

from __future__ import annotations

import pulumi_aws as aws

from stack_config import StackConfig


def account_providers(config: StackConfig) -> dict[str, aws.Provider]:
    """Providers keyed by account id, for every account this stack's environment deploys into."""
    providers: dict[str, aws.Provider] = {}
    for service in config.services:
        env = service.environment(config.environment)
        if env.account_id in providers:
            continue
        providers[env.account_id] = aws.Provider(
            f"{config.environment}-{env.account_id}",
            region=config.region,
            allowed_account_ids=[env.account_id],
            assume_roles=[
                aws.ProviderAssumeRoleArgs(
                    role_arn=config.admin_role_arn(env),
                    session_name=f"pulumi-{config.name_prefix}-{config.environment}",
                )
            ],
            default_tags=aws.ProviderDefaultTagsArgs(
                tags={
                    "managed-by": "pulumi",
                    "control-plane": config.name_prefix,
                    "environment": config.environment,
                }
            ),
        )
    return providers
