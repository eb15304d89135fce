"""The `cdk bootstrap` equivalent for one service in one account, least privilege by construction.

It creates what templates from CDK's default synthesizer expect, under the names it writes into
`cdk.out` (or the names config gives): the file-asset bucket (object writes only through the
file-publishing role), the container-asset repository, the file-publishing role the deployer assumes
to publish the verified file assets, the image-publishing role the service's own CI assumes to push
images, the lookup role the context generator assumes, and the `/cdk-bootstrap/{qualifier}/version`
parameter that every template's `CheckBootstrapVersion` rule reads. Unlike `cdk bootstrap` it creates
no deploy role with AdministratorAccess: deploying is `service_deploy_roles`' job.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.kms import kms_key
from components.policies import service_account as policies
from components.policies.asset_bucket import asset_bucket_statements
from components.scoped_role import ScopedRole, ScopedRoleArgs
from components.secure_bucket import SecureBucket, SecureBucketArgs

TYPE = "cdk-control-plane:service:CdkBootstrap"

# Templates synthesized by aws-cdk-lib v2 check `BootstrapVersion >= 6`, asset manifests require 6 and
# lookups require 8. We publish the version of the bootstrap contract we reproduce (roles, bucket,
# repository, parameter) so both the CLI's checks and every template rule pass.
CDK_BOOTSTRAP_VERSION = "21"

# Superseded versions of assets are kept this long so a rollback to an older artifact finds them.
NONCURRENT_ASSET_RETENTION_DAYS = 365


@dataclass(frozen=True)
class CdkBootstrapArgs:
    context: policies.ServiceAccountContext
    protect: bool


class CdkBootstrap(pulumi.ComponentResource):
    asset_key_arn: pulumi.Output[str]
    asset_bucket_arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]

    def __init__(self, name: str, args: CdkBootstrapArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        ctx = args.context
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)

        key = kms_key(
            f"{name}-asset",
            alias=f"alias/cdk-{ctx.bootstrap.qualifier}-assets-key",
            description=f"CDK file assets of {ctx.service} ({ctx.env}), qualifier {ctx.bootstrap.qualifier}",
            policy=policies.asset_key_policy(ctx),
            parent=self,
            protect=args.protect,
        )
        bucket = SecureBucket(
            f"{name}-assets",
            SecureBucketArgs(
                bucket_name=ctx.asset_bucket,
                kms_key_arn=key.arn,
                extra_policy_statements=asset_bucket_statements(ctx, ctx.asset_bucket_arn),
                protect=args.protect,
                lifecycle_rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="expire-superseded-asset-versions",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=NONCURRENT_ASSET_RETENTION_DAYS
                        ),
                    )
                ],
            ),
            opts=child,
        )
        repository = aws.ecr.Repository(
            f"{name}-container-assets",
            name=ctx.container_repository,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")],
            opts=stateful,
        )
        aws.ecr.RepositoryPolicy(
            f"{name}-container-assets-policy",
            repository=repository.name,
            policy=pulumi.Output.json_dumps(policies.repository_policy(ctx)),
            opts=child,
        )

        self._roles(name, ctx, key.arn)
        aws.ssm.Parameter(
            f"{name}-version",
            name=ctx.bootstrap.version_parameter,
            type="String",
            insecure_value=CDK_BOOTSTRAP_VERSION,  # not sensitive: keep it readable in diffs
            description="CDK bootstrap contract version (read by every template's CheckBootstrapVersion rule)",
            opts=child,
        )

        self.asset_key_arn = key.arn
        self.asset_bucket_arn = bucket.arn
        self.repository_url = repository.repository_url
        self.register_outputs(
            {
                "asset_key_arn": self.asset_key_arn,
                "asset_bucket_arn": self.asset_bucket_arn,
                "repository_url": self.repository_url,
            }
        )

    def _roles(self, name: str, ctx: policies.ServiceAccountContext, asset_key_arn: pulumi.Output[str]) -> None:
        """The roles that publish assets (the deployer: files; the service's CI: images) and the one the
        context generator's lookups assume."""
        child = pulumi.ResourceOptions(parent=self)
        ScopedRole(
            f"{name}-file-publishing",
            ScopedRoleArgs(
                role_name=ctx.bootstrap.file_publishing_role,
                description=f"the deployer publishes {ctx.service} file assets from the verified cdk.out ({ctx.env})",
                trust_policy=policies.file_publishing_role_trust(ctx),
                inline_policies={"publish-file-assets": policies.file_publishing_policy(ctx, asset_key_arn)},
            ),
            opts=child,
        )
        ScopedRole(
            f"{name}-image-publishing",
            ScopedRoleArgs(
                role_name=ctx.bootstrap.image_publishing_role,
                description=f"cdk-assets pushes {ctx.service} container images from its own CI ({ctx.env})",
                trust_policy=policies.image_publishing_role_trust(ctx),
                inline_policies={"publish-image-assets": policies.image_publishing_policy(ctx)},
            ),
            opts=child,
        )
        ScopedRole(
            f"{name}-lookup",
            ScopedRoleArgs(
                role_name=ctx.bootstrap.lookup_role,
                description=f"context generator lookups for {ctx.service} ({ctx.env}); no decryption",
                trust_policy=policies.lookup_role_trust(ctx),
                inline_policies={"context-lookups": policies.lookup_policy(ctx)},
            ),
            opts=child,
        )
