"""Which roles the CloudFormation execution role may hand to the services its stacks configure.

Its permissions come from the managed policies config names (often broad), so the rule is a pair of
explicit denies that hold whatever those policies allow.
"""

from __future__ import annotations

from typing import Any

from .common import document, statement
from .service_account import ServiceAccountContext


def execution_role_pass_role_policy(ctx: ServiceAccountContext) -> dict[str, Any]:
    """The stacks may hand services (Lambda, ECS, ...) only the roles they create themselves, named by
    CloudFormation `{stackName}-{logicalId}-{suffix}` under the service's stack prefix, and service-linked
    roles; never a control-plane or CDK bootstrap role, whatever the configured managed policies allow."""
    own_roles = f"arn:aws:iam::{ctx.account_id}:role/{ctx.names.stack_prefix}*"
    service_linked = f"arn:aws:iam::{ctx.account_id}:role/aws-service-role/*"
    control_plane = [
        f"arn:aws:iam::{ctx.account_id}:role/{ctx.prefix}-*",
        f"arn:aws:iam::{ctx.account_id}:role/cdk-*-role-{ctx.account_id}-{ctx.region}",
    ]
    return document(
        statement(
            "PassOnlyTheServicesOwnRoles", ["iam:PassRole"], effect="Deny", not_resources=[own_roles, service_linked]
        ),
        statement("NeverPassControlPlaneRoles", ["iam:PassRole"], control_plane, effect="Deny"),
        # The same line for changing a role: a stack may change the trust and the policies of its own
        # roles only, never make another role of the account (the control plane's, the bootstrap's, or
        # any unbounded one) assumable or more powerful.
        statement("ChangeOnlyTheServicesOwnRoles", OTHER_ROLE_CHANGES, effect="Deny", not_resources=[own_roles]),
        # and the customer-managed policies of others (the configured execution and drift policies, which
        # services in one account may share) keep the versions they have
        statement(
            "ChangeOnlyTheServicesOwnPolicies",
            POLICY_VERSION_CHANGES,
            effect="Deny",
            not_resources=[f"arn:aws:iam::{ctx.account_id}:policy/{ctx.names.stack_prefix}*"],
        ),
    )


# Actions that change an existing role's trust or permissions (creating a role is bounded elsewhere).
OTHER_ROLE_CHANGES = (
    "iam:AttachRolePolicy",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:AddRoleToInstanceProfile",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
)
POLICY_VERSION_CHANGES = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
)
