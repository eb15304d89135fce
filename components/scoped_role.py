"""An IAM role whose every permission is declared here and nowhere else.

Inline policies and managed-policy attachments are made exclusive, so a policy added out of band
(console, another stack) is removed again by the next `pulumi up` instead of silently widening the
role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

TYPE = "cdk-control-plane:iam:ScopedRole"

# IAM cannot go below one hour; callers request shorter sessions themselves (see README, sessions).
MAX_SESSION_SECONDS = 3600


@dataclass(frozen=True)
class ScopedRoleArgs:
    role_name: str
    description: str
    trust_policy: Mapping[str, Any]
    inline_policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    managed_policy_arns: Sequence[str] = ()
    permissions_boundary_arn: str | None = None


class ScopedRole(pulumi.ComponentResource):
    role: aws.iam.Role
    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, name: str, args: ScopedRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            description=args.description,
            assume_role_policy=pulumi.Output.json_dumps(args.trust_policy),
            max_session_duration=MAX_SESSION_SECONDS,
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        policies = [
            aws.iam.RolePolicy(
                f"{name}-{policy_name}",
                role=self.role.name,
                name=policy_name,
                policy=pulumi.Output.json_dumps(document),
                opts=child,
            )
            for policy_name, document in args.inline_policies.items()
        ]
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-attach-{i}", role=self.role.name, policy_arn=arn, opts=child)
            for i, arn in enumerate(args.managed_policy_arns)
        ]
        aws.iam.RolePoliciesExclusive(
            f"{name}-inline-exclusive",
            role_name=self.role.name,
            policy_names=[p.name for p in policies],
            opts=pulumi.ResourceOptions(parent=self, depends_on=policies),
        )
        aws.iam.RolePolicyAttachmentsExclusive(
            f"{name}-attachments-exclusive",
            role_name=self.role.name,
            policy_arns=list(args.managed_policy_arns),
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )

        self.arn = self.role.arn
        self.name = self.role.name
        self.register_outputs({"arn": self.arn, "name": self.name})
