"""The metadata table, the durable state of the control plane (spec: Metadata Tracking, DynamoDB
Resilience & Immutability; DESIGN.md: one table, guarded transitions).

- `cdk-artifact-metadata`, key `{service, commit_sha}`, on-demand, KMS (own key), point-in-time
  recovery, TTL on `expire_at`, deletion protection;
- a sparse GSI (`sweep-by-age`: `sweep_phase`, `sweep_since`) the sweeper queries instead of scanning;
- a resource policy: only the orchestrator's roles change items; CI may only put new candidates;
- a scheduled export every 6 hours to a versioned, KMS-encrypted bucket kept at least 180 days.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.kms import kms_key
from components.policies import tools_storage as policies
from components.policies.common import service_trust
from components.scoped_role import ScopedRole, ScopedRoleArgs
from components.secure_bucket import SecureBucket, SecureBucketArgs
from functions import naming
from functions.artifacts.metadata import SWEEP_INDEX, SWEEP_PHASE, SWEEP_SINCE

TYPE = "cdk-control-plane:tools:MetadataStore"
EXPORT_SCHEDULE = "rate(6 hours)"


@dataclass(frozen=True)
class MetadataStoreArgs:
    names: naming.ToolsNames
    protect: bool  # the key, the table and the exports bucket are protected from deletion
    security_automation_role_arn: str | None  # the only principal that may delete exports
    export_retention_days: int


class MetadataStore(pulumi.ComponentResource):
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    exports_bucket: pulumi.Output[str]

    def __init__(self, name: str, args: MetadataStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names = args.names

        key = kms_key(
            f"{name}-metadata",
            alias=naming.METADATA_KEY_ALIAS,
            description="artifact metadata table and its exports",
            policy=policies.metadata_key_policy(names),
            parent=self,
            protect=args.protect,
        )
        table = self._table(name, args, key)
        aws.dynamodb.ResourcePolicy(
            f"{name}-table-policy",
            resource_arn=table.arn,
            policy=pulumi.Output.json_dumps(policies.table_resource_policy(names, table.arn)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        exports = self._exports_bucket(name, args, key)
        self._scheduled_export(name, args, key, table, exports)

        self.table_name = table.name
        self.table_arn = table.arn
        self.key_arn = key.arn
        self.exports_bucket = exports.name
        self.register_outputs(
            {
                "table_name": self.table_name,
                "table_arn": self.table_arn,
                "key_arn": self.key_arn,
                "exports_bucket": self.exports_bucket,
            }
        )

    def _table(self, name: str, args: MetadataStoreArgs, key: aws.kms.Key) -> aws.dynamodb.Table:
        return aws.dynamodb.Table(
            f"{name}-table",
            name=args.names.metadata_table,
            billing_mode="PAY_PER_REQUEST",
            hash_key="service",
            range_key="commit_sha",
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=attribute, type="S")
                for attribute in ("service", "commit_sha", SWEEP_PHASE, SWEEP_SINCE)
            ],
            global_secondary_indexes=[
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=SWEEP_INDEX,
                    key_schemas=[
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=SWEEP_PHASE, key_type="HASH"
                        ),
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=SWEEP_SINCE, key_type="RANGE"
                        ),
                    ],
                    projection_type="KEYS_ONLY",
                )
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            ttl=aws.dynamodb.TableTtlArgs(attribute_name="expire_at", enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=key.arn),
            deletion_protection_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )

    def _exports_bucket(self, name: str, args: MetadataStoreArgs, key: aws.kms.Key) -> SecureBucket:
        names, retention = args.names, args.export_retention_days
        return SecureBucket(
            f"{name}-exports",
            SecureBucketArgs(
                bucket_name=names.exports_bucket,
                kms_key_arn=key.arn,
                extra_policy_statements=policies.exports_bucket_statements(
                    names, names.bucket_arn(naming.EXPORTS_BUCKET), args.security_automation_role_arn
                ),
                lifecycle_rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="exports-retention",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=naming.EXPORTS_PREFIX),
                        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=retention
                        ),
                    )
                ],
                protect=args.protect,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _scheduled_export(
        self, name: str, args: MetadataStoreArgs, key: aws.kms.Key, table: aws.dynamodb.Table, exports: SecureBucket
    ) -> None:
        names = args.names
        child = pulumi.ResourceOptions(parent=self)
        exporter = ScopedRole(
            f"{name}-exporter",
            ScopedRoleArgs(
                role_name=names.exporter_role,
                description="EventBridge Scheduler exports the metadata table to S3 every 6 hours",
                trust_policy=service_trust("scheduler.amazonaws.com", names.account),
                inline_policies={
                    "export-metadata": policies.exporter_policy(names, table.arn, exports.arn, key.arn),
                },
            ),
            opts=child,
        )
        aws.scheduler.Schedule(
            f"{name}-export-schedule",
            description="point-in-time export of cdk-artifact-metadata (spec: every 6 hours)",
            schedule_expression=EXPORT_SCHEDULE,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=aws.scheduler.ScheduleTargetArgs(
                arn="arn:aws:scheduler:::aws-sdk:dynamodb:exportTableToPointInTime",
                role_arn=exporter.arn,
                input=pulumi.Output.json_dumps(
                    {
                        "TableArn": table.arn,
                        "S3Bucket": exports.name,
                        "S3Prefix": naming.EXPORTS_PREFIX.rstrip("/"),
                        "S3SseAlgorithm": "KMS",
                        "S3SseKmsKeyId": key.arn,
                        "ExportFormat": "DYNAMODB_JSON",
                    }
                ),
            ),
            opts=child,
        )
