"""The audit log's table, where the tamper-evident hash chain lives (spec: Audit Logging & Cryptographic
Anchoring; DESIGN.md: "metadata + audit tables"; the chain's code is `functions/audit/`).

- `cdk-artifact-audit-log`, key `{chain (S), seq (N)}` (`functions/audit/store.py`), on-demand, KMS
  (the metadata table's key: the same orchestrator roles use both tables), point-in-time recovery,
  deletion protection; no TTL: an audit entry never expires;
- a resource policy: only the orchestrator's roles append, nobody deletes an entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.policies import tools_storage as policies
from functions import naming
from functions.audit import AUDIT_TABLE

TYPE = "cdk-control-plane:tools:AuditLog"


@dataclass(frozen=True)
class AuditLogArgs:
    names: naming.ToolsNames
    key_arn: pulumi.Input[str]  # the metadata table's key (`MetadataStore.key_arn`)
    protect: bool  # the table is protected from deletion


class AuditLog(pulumi.ComponentResource):
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditLogArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        table = aws.dynamodb.Table(
            f"{name}-table",
            name=AUDIT_TABLE,
            billing_mode="PAY_PER_REQUEST",
            hash_key="chain",
            range_key="seq",
            attributes=[
                aws.dynamodb.TableAttributeArgs(name="chain", type="S"),
                aws.dynamodb.TableAttributeArgs(name="seq", type="N"),
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            # No `ttl`: audit entries never expire.
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=args.key_arn),
            deletion_protection_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        aws.dynamodb.ResourcePolicy(
            f"{name}-table-policy",
            resource_arn=table.arn,
            policy=pulumi.Output.json_dumps(policies.audit_table_resource_policy(args.names, table.arn)),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.table_name = table.name
        self.table_arn = table.arn
        self.register_outputs({"table_name": self.table_name, "table_arn": self.table_arn})
