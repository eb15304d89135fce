"""Where artifacts and blessed contexts live in the tools account (spec: Build Process, Hardened CDK
Context Handling).

- candidate bucket: CI's uploads, `{service}/{commit}/`; objects expire after 30 days; only CI writes;
- release bucket: promoted artifacts, kept until retired; only the promotion function writes;
- contexts bucket: blessed `.cdk.context.json` files under `alias/cdk-contexts-bucket-key`; only the
  context generator writes, CI (and the deployers) read, Object Lock by config;
- nobody but the configured security automation deletes objects in any of them.
Candidate and release send their object events to EventBridge: they trigger the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.kms import kms_key
from components.policies import tools_storage as policies
from components.secure_bucket import SecureBucket, SecureBucketArgs
from functions import naming

TYPE = "cdk-control-plane:tools:ArtifactStore"
CANDIDATE_RETENTION_DAYS = 30
SUPERSEDED_VERSION_DAYS = 30


def _expire(rule_id: str, days: int | None, noncurrent_days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule_id,
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days) if days else None,
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=noncurrent_days
        ),
    )


@dataclass(frozen=True)
class ArtifactStoreArgs:
    names: naming.ToolsNames
    protect: bool  # stateful resources (keys, buckets) are protected from deletion
    security_automation_role_arn: str | None  # the only principal that may delete objects
    contexts_object_lock: tuple[str, int] | None  # (GOVERNANCE|COMPLIANCE, days) of the contexts bucket


class ArtifactStore(pulumi.ComponentResource):
    artifacts_key_arn: pulumi.Output[str]
    tooling_key_arn: pulumi.Output[str]
    tooling_bucket: pulumi.Output[str]
    contexts_key_arn: pulumi.Output[str]
    candidate_bucket: pulumi.Output[str]
    release_bucket: pulumi.Output[str]
    contexts_bucket: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names, deleter = args.names, args.security_automation_role_arn
        artifacts_key, contexts_key = self._bucket_keys(name, args)

        candidate = self._bucket(
            f"{name}-candidate",
            args,
            names.candidate_bucket,
            artifacts_key.arn,
            policies.candidate_bucket_statements(names, names.bucket_arn(naming.CANDIDATE_BUCKET), deleter),
            lifecycle_rules=[_expire("candidates-expire", CANDIDATE_RETENTION_DAYS, SUPERSEDED_VERSION_DAYS)],
            eventbridge=True,
        )
        release = self._bucket(
            f"{name}-release",
            args,
            names.release_bucket,
            artifacts_key.arn,
            policies.release_bucket_statements(names, names.bucket_arn(naming.RELEASE_BUCKET), deleter),
            lifecycle_rules=[_expire("superseded-versions-expire", None, 365)],
            eventbridge=True,
        )
        contexts = self._bucket(
            f"{name}-contexts",
            args,
            names.contexts_bucket,
            contexts_key.arn,
            policies.contexts_bucket_statements(names, names.bucket_arn(naming.CONTEXTS_BUCKET), deleter),
            object_lock=args.contexts_object_lock,
        )
        tooling_key, tooling = self._tooling(name, args)

        self.tooling_key_arn = tooling_key.arn
        self.tooling_bucket = tooling.name
        self.artifacts_key_arn = artifacts_key.arn
        self.contexts_key_arn = contexts_key.arn
        self.candidate_bucket = candidate.name
        self.release_bucket = release.name
        self.contexts_bucket = contexts.name
        self.register_outputs(
            {
                "artifacts_key_arn": self.artifacts_key_arn,
                "contexts_key_arn": self.contexts_key_arn,
                "candidate_bucket": self.candidate_bucket,
                "release_bucket": self.release_bucket,
                "contexts_bucket": self.contexts_bucket,
                "tooling_bucket": self.tooling_bucket,
            }
        )

    def _bucket_keys(self, name: str, args: ArtifactStoreArgs) -> tuple[aws.kms.Key, aws.kms.Key]:
        names = args.names
        ci, promote = names.ci_builder_role_arn_pattern, names.function_role_arn("promote")
        # Everything that reads artifacts: intake (candidate manifests), Validate, Promote, the rollback
        # planner (release manifests), the finalizer (stack names from the cloud assembly), the deployers.
        artifact_readers = [
            names.function_role_arn("intake"),
            names.function_role_arn("validate"),
            promote,
            names.function_role_arn("rollback-plan"),
            names.finalizer_role_arn,
            *names.deployer_role_arns,
        ]
        artifacts_key = kms_key(
            f"{name}-artifacts",
            alias=naming.ARTIFACTS_BUCKET_KEY_ALIAS,
            description="candidate and release artifact buckets",
            policy=policies.bucket_key_policy(names, writers=[ci, promote], readers=artifact_readers),
            parent=self,
            protect=args.protect,
        )
        contexts_key = kms_key(
            f"{name}-contexts",
            alias=naming.CONTEXTS_BUCKET_KEY_ALIAS,
            description="blessed CDK context files",
            policy=policies.bucket_key_policy(
                names,
                writers=[names.context_generator_role_arn],
                readers=[ci, *names.deployer_role_arns, names.function_role_arn("validate")],
            ),
            parent=self,
            protect=args.protect,
        )
        return artifacts_key, contexts_key

    def _bucket(
        self,
        resource_name: str,
        args: ArtifactStoreArgs,
        bucket_name: str,
        key_arn: pulumi.Input[str],
        statements: list[dict[str, Any]],
        **options: Any,
    ) -> SecureBucket:
        return SecureBucket(
            resource_name,
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=key_arn,
                extra_policy_statements=statements,
                protect=args.protect,
                **options,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _tooling(self, name: str, args: ArtifactStoreArgs) -> tuple[aws.kms.Key, SecureBucket]:
        """The code the CodeBuild projects run (written by `pulumi up`, read by the builds)."""
        key = kms_key(
            f"{name}-tooling",
            alias=args.names.tooling_key_alias,
            description="the CodeBuild projects' source bundle",
            policy=policies.tooling_key_policy(args.names),
            parent=self,
            protect=args.protect,
        )
        bucket = SecureBucket(
            f"{name}-tooling",
            SecureBucketArgs(
                bucket_name=args.names.tooling_bucket,
                kms_key_arn=key.arn,
                lifecycle_rules=[_expire("superseded-bundles-expire", None, 30)],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return key, bucket
