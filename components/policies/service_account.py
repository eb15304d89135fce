"""Policies of one service's roles, bucket and key in its stage or prod account.

Everything here follows the spec's IAM Boundary Model: the deploy role can touch only the service's
own stacks (`{service}-{env}-*`) through change sets, hands CloudFormation only the service's
execution role, and reads only the service's assets. Allow statements never use a wildcard action;
Deny statements do, because a broader Deny is the fail-safe direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions import naming
from functions.pipeline.lifecycle import Environment

from .common import document, objects, role_trust, service_trust, statement, via

# Prod: change sets, describe, drift detection, stack policy, rollback recovery
# (`UPDATE_ROLLBACK_FAILED`). No DeleteStack: a stack policy does not protect against deletion.
PROD_STACK_ACTIONS = (
    "cloudformation:ContinueUpdateRollback",
    "cloudformation:DeleteChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:DescribeStackEvents",
    "cloudformation:DescribeStackResource",
    "cloudformation:DescribeStackResourceDrifts",
    "cloudformation:DescribeStackResources",
    "cloudformation:DescribeStacks",
    "cloudformation:DetectStackDrift",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:SetStackPolicy",
)

# Stage: everything prod may do, plus deleting a stack left in `ROLLBACK_COMPLETE` by a failed
# create, and the reads that make a failed deploy diagnosable.
STAGE_STACK_ACTIONS = PROD_STACK_ACTIONS + (
    "cloudformation:DeleteStack",
    "cloudformation:GetStackPolicy",
    "cloudformation:GetTemplate",
    "cloudformation:GetTemplateSummary",
    "cloudformation:ListChangeSets",
    "cloudformation:ListStackResources",
)

READ_ONLY_STACK_ACTIONS = (
    "cloudformation:DescribeStackEvents",
    "cloudformation:DescribeStackResource",
    "cloudformation:DescribeStackResourceDrifts",
    "cloudformation:DescribeStackResources",
    "cloudformation:DescribeStacks",
    "cloudformation:DetectStackDrift",
    "cloudformation:GetTemplate",
    "cloudformation:ListStackResources",
)

# Mutations denied outside the service's stack prefix, whatever else is attached to the role.
STACK_MUTATIONS = (
    "cloudformation:CancelUpdateStack",
    "cloudformation:ContinueUpdateRollback",
    "cloudformation:CreateChangeSet",
    "cloudformation:CreateStack",
    "cloudformation:DeleteChangeSet",
    "cloudformation:DeleteStack",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:RollbackStack",
    "cloudformation:SetStackPolicy",
    "cloudformation:SignalResource",
    "cloudformation:UpdateStack",
    "cloudformation:UpdateTerminationProtection",
)

IAM_WRITES = (
    "iam:Add*",
    "iam:Attach*",
    "iam:Change*",
    "iam:Create*",
    "iam:Deactivate*",
    "iam:Delete*",
    "iam:Detach*",
    "iam:Enable*",
    "iam:Put*",
    "iam:Remove*",
    "iam:Reset*",
    "iam:Resync*",
    "iam:Set*",
    "iam:Tag*",
    "iam:Untag*",
    "iam:Update*",
    "iam:Upload*",
)

SSM_WRITES = (
    "ssm:Add*",
    "ssm:Create*",
    "ssm:Delete*",
    "ssm:Deregister*",
    "ssm:Label*",
    "ssm:Put*",
    "ssm:Register*",
    "ssm:Remove*",
    "ssm:Send*",
    "ssm:Start*",
    "ssm:Update*",
)

CONTEXT_LOOKUP_ACTIONS = (
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeImages",
    "ec2:DescribeKeyPairs",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpnGateways",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTags",
    "kms:ListAliases",
    "route53:ListHostedZonesByName",
)

# What KMS lets the account's IAM policies manage; no cryptographic use through the root principal.
KEY_ADMINISTRATION_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)


@dataclass(frozen=True)
class ServiceAccountContext:
    """The plain facts every policy of one service in one account is built from."""

    prefix: str
    service: str
    env: Environment
    account_id: str
    region: str
    tools_account_id: str
    bootstrap: naming.CdkBootstrapNames
    asset_bucket: str
    container_repository: str

    @property
    def names(self) -> naming.ServiceNames:
        return naming.ServiceNames(self.prefix, self.service, self.env)

    @property
    def tools(self) -> naming.ToolsNames:
        """The tools account's roles that this account's roles trust."""
        return naming.ToolsNames(self.prefix, self.tools_account_id, self.region)

    @property
    def external_id(self) -> str:
        return naming.external_id(self.prefix, self.tools_account_id, self.service, self.env)

    @property
    def stacks(self) -> str:
        return self.names.stack_arn_pattern(self.region, self.account_id)

    @property
    def asset_bucket_arn(self) -> str:
        return naming.bucket_arn(self.asset_bucket)

    @property
    def repository_arn(self) -> str:
        return f"arn:aws:ecr:{self.region}:{self.account_id}:repository/{self.container_repository}"

    def role_arn(self, role_name: str) -> str:
        return naming.role_arn(self.account_id, role_name)

    @property
    def via_s3(self) -> dict[str, dict[str, str]]:
        return {"StringEquals": via("s3", self.region)}


# --- trust ------------------------------------------------------------------------------------------


def deploy_role_trust(ctx: ServiceAccountContext) -> dict[str, Any]:
    return role_trust(ctx.tools.deployer_role_arn(ctx.env), ctx.external_id, sid="ToolsDeployerOnly")


def read_only_role_trust(ctx: ServiceAccountContext) -> dict[str, Any]:
    return role_trust(ctx.tools.finalizer_role_arn, ctx.external_id, sid="ToolsFinalizerOnly")


def execution_role_trust(ctx: ServiceAccountContext) -> dict[str, Any]:
    return service_trust("cloudformation.amazonaws.com", ctx.account_id)


def image_publishing_role_trust(ctx: ServiceAccountContext) -> dict[str, Any]:
    """Only this service's own CI role pushes its container images (ECR tags are immutable)."""
    return role_trust(ctx.tools.ci_builder_role_arn(ctx.service), ctx.external_id, sid="OwnCiArtifactBuilderOnly")


def file_publishing_role_trust(ctx: ServiceAccountContext) -> dict[str, Any]:
    """The file-publishing role: only the deployer of this environment, which publishes the file assets
    and templates from the verified `cdk.out` before each change set. Not CI: what CI could write here
    after signing is what CloudFormation would read."""
    return role_trust(ctx.tools.deployer_role_arn(ctx.env), ctx.external_id, sid="ToolsDeployerOnly")


def lookup_role_trust(ctx: ServiceAccountContext) -> dict[str, Any]:
    return role_trust(ctx.tools.context_generator_role_arn, ctx.external_id, sid="ContextGeneratorOnly")


# --- permissions ------------------------------------------------------------------------------------


def _asset_read(ctx: ServiceAccountContext, asset_key_arn: Any) -> list[dict[str, Any]]:
    return [
        statement(
            "ReadServiceAssets",
            ["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"],
            [ctx.asset_bucket_arn, objects(ctx.asset_bucket_arn)],
        ),
        statement("DecryptServiceAssets", ["kms:Decrypt"], [asset_key_arn], conditions=ctx.via_s3),
    ]


def deploy_policy(ctx: ServiceAccountContext, asset_key_arn: Any) -> dict[str, Any]:
    prod = ctx.env is Environment.PROD
    execution_role = ctx.role_arn(ctx.names.execution_role)
    return document(
        statement(
            "CreateChangeSetsWithExecutionRoleOnly",
            ["cloudformation:CreateChangeSet"],
            [ctx.stacks],
            conditions={"ArnEquals": {"cloudformation:RoleArn": execution_role}},
        ),
        statement("DeployServiceStacks", PROD_STACK_ACTIONS if prod else STAGE_STACK_ACTIONS, [ctx.stacks]),
        statement("PollDriftDetection", ["cloudformation:DescribeStackDriftDetectionStatus"], "*"),
        statement(
            "PassExecutionRoleToCloudFormation",
            ["iam:PassRole"],
            [execution_role],
            conditions={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        ),
        *_asset_read(ctx, asset_key_arn),
        # The deployer checks each container image's digest against the signed manifest before deploying.
        statement("CheckImageDigests", ["ecr:DescribeImages"], [ctx.repository_arn]),
        statement(
            "ResolveBootstrapVersionParameter",
            ["ssm:GetParameters"],
            [f"arn:aws:ssm:{ctx.region}:{ctx.account_id}:parameter{ctx.bootstrap.version_parameter}"],
        ),
        statement("DenyStacksOutsideServicePrefix", STACK_MUTATIONS, effect="Deny", not_resources=[ctx.stacks]),
        # Whatever the drift-detection policies (config) may grant, the only role passed is the execution role.
        statement("PassNoOtherRole", ["iam:PassRole"], effect="Deny", not_resources=[execution_role]),
        statement("DenyIamWrites", IAM_WRITES, "*", effect="Deny"),
        statement("DenySsmWrites", SSM_WRITES, "*", effect="Deny"),
        statement("DenyOrganizations", ["organizations:*"], "*", effect="Deny"),
    )


def execution_role_asset_policy(ctx: ServiceAccountContext, asset_key_arn: Any) -> dict[str, Any]:
    """CloudFormation creates resources with the execution role's credentials; services such as Lambda
    then fetch code from the asset bucket and images from the repository on that role's behalf."""
    return document(
        *_asset_read(ctx, asset_key_arn),
        statement(
            "PullServiceImages",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [ctx.repository_arn],
        ),
    )


# IAM actions whose `iam:PermissionsBoundary` condition key names the boundary the role or user has (or
# gets): with a boundary configured, the stacks may create and change only identities under it.
BOUNDED_IDENTITY_ACTIONS = (
    "iam:AttachRolePolicy",
    "iam:AttachUserPolicy",
    "iam:CreateRole",
    "iam:CreateUser",
    "iam:DeleteRolePolicy",
    "iam:DeleteUserPolicy",
    "iam:DetachRolePolicy",
    "iam:DetachUserPolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:PutUserPermissionsBoundary",
    "iam:PutUserPolicy",
)


def execution_role_boundary_policy(ctx: ServiceAccountContext, boundary_arn: str) -> dict[str, Any]:
    """Roles and users the stacks create carry the execution role's own boundary, and keep it: otherwise
    a stack could create an unbounded role and act through it."""
    identities = [f"arn:aws:iam::{ctx.account_id}:role/*", f"arn:aws:iam::{ctx.account_id}:user/*"]
    return document(
        statement(
            "OnlyBoundedIdentities",
            BOUNDED_IDENTITY_ACTIONS,
            identities,
            effect="Deny",
            conditions={"StringNotEquals": {"iam:PermissionsBoundary": boundary_arn}},
        ),
        statement(
            "BoundariesStay",
            ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"],
            identities,
            effect="Deny",
        ),
        statement(
            "BoundaryUnchanged",
            ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"],
            [boundary_arn],
            effect="Deny",
        ),
    )


def read_only_policy(ctx: ServiceAccountContext) -> dict[str, Any]:
    return document(
        statement("ReadServiceStacks", READ_ONLY_STACK_ACTIONS, [ctx.stacks]),
        statement("PollDriftDetection", ["cloudformation:DescribeStackDriftDetectionStatus"], "*"),
        statement("PassNoRole", ["iam:PassRole"], "*", effect="Deny"),  # whatever its managed policies say
    )


def file_publishing_policy(ctx: ServiceAccountContext, asset_key_arn: Any) -> dict[str, Any]:
    return document(
        statement(
            "PublishFileAssets",
            [
                "s3:AbortMultipartUpload",
                "s3:GetBucketLocation",
                "s3:GetEncryptionConfiguration",
                "s3:GetObject",
                "s3:ListBucket",
                "s3:PutObject",
            ],
            [ctx.asset_bucket_arn, objects(ctx.asset_bucket_arn)],
        ),
        statement(
            "EncryptFileAssets",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [asset_key_arn],
            conditions=ctx.via_s3,
        ),
    )


def image_publishing_policy(ctx: ServiceAccountContext) -> dict[str, Any]:
    return document(
        statement(
            "PublishImageAssets",
            [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:DescribeImages",
                "ecr:DescribeRepositories",
                "ecr:GetDownloadUrlForLayer",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart",
            ],
            [ctx.repository_arn],
        ),
        statement("DockerLogin", ["ecr:GetAuthorizationToken"], "*"),
    )


def lookup_policy(ctx: ServiceAccountContext) -> dict[str, Any]:
    return document(
        statement("ContextLookups", CONTEXT_LOOKUP_ACTIONS, "*"),
        statement(
            "ParameterLookups",
            ["ssm:GetParameter"],
            [f"arn:aws:ssm:{ctx.region}:{ctx.account_id}:parameter/*"],
        ),
        # As `cdk bootstrap`'s lookup role: SecureString values never leave through a lookup.
        statement("DenySecretDecryption", ["kms:Decrypt"], "*", effect="Deny"),
    )


# --- resource policies ------------------------------------------------------------------------------


def asset_key_policy(ctx: ServiceAccountContext) -> dict[str, Any]:
    root = f"arn:aws:iam::{ctx.account_id}:root"
    readers = [ctx.role_arn(n) for n in (ctx.names.deploy_role, ctx.names.execution_role)]
    return document(
        statement("AccountAdministersKey", KEY_ADMINISTRATION_ACTIONS, "*", principal={"AWS": root}),
        statement(
            "ServiceRolesReadAssetsThroughS3",
            ["kms:Decrypt"],
            "*",
            principal={"AWS": root},
            conditions={
                **ctx.via_s3,
                "ArnEquals": {"aws:PrincipalArn": readers},
            },
        ),
        statement(
            "PublisherWritesAssetsThroughS3",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            "*",
            principal={"AWS": root},
            conditions={
                **ctx.via_s3,
                "ArnEquals": {"aws:PrincipalArn": ctx.role_arn(ctx.bootstrap.file_publishing_role)},
            },
        ),
    )


def repository_policy(ctx: ServiceAccountContext) -> dict[str, Any]:
    """Lambda pulls container images for functions of this account only (as `cdk bootstrap` does)."""
    return document(
        statement(
            "LambdaPullsForThisAccount",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            principal={"Service": "lambda.amazonaws.com"},
            conditions={"StringLike": {"aws:SourceArn": f"arn:aws:lambda:{ctx.region}:{ctx.account_id}:function:*"}},
        )
    )
