"""The `override` function's role (signed operator requests), and who may invoke it.

Least privilege: it reads and conditionally updates metadata items (its lifecycle rows), reads the
override key's public half (requested by alias, `kms:RequestAlias`), reads the break-glass flag and may
never change it (an explicit deny: an SSM parameter has no resource policy, so who may change it is
decided by identity policies; no role of the control plane is granted a write on it, and the operators'
own policies, outside this program, grant it to them), starts and describes this state machine's
executions (the next attempt; a lock's holder), appends to the audit chain, emits events and alerts.
It may not invoke, deploy or assume anything.
"""

from __future__ import annotations

from typing import Any

from functions import naming
from functions.audit import AUDIT_TABLE
from functions.naming import ToolsNames
from functions.overrides import break_glass_parameter

from .audit_anchors import publish_to_audit_inbox
from .common import AUDIT_APPEND, statement, via

SSM_WRITES = [
    "ssm:AddTagsToResource",
    "ssm:DeleteParameter",
    "ssm:DeleteParameters",
    "ssm:LabelParameterVersion",
    "ssm:PutParameter",
    "ssm:RemoveTagsFromResource",
    "ssm:UnlabelParameterVersion",
]


def break_glass_parameter_arn(names: ToolsNames) -> str:
    # An SSM parameter ARN has no slash after `parameter` for names that start with one.
    return f"arn:aws:ssm:{names.region}:{names.account}:parameter{break_glass_parameter(names.prefix)}"


def override_policy(names: ToolsNames, keys: Any) -> list[dict[str, Any]]:
    executions = names.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":*"
    flag = break_glass_parameter_arn(names)
    return [
        statement("MetadataItems", ["dynamodb:GetItem", "dynamodb:UpdateItem"], [names.metadata_table_arn]),
        # The audit chain: one TransactWriteItems (the head's update, the entry's put), reads of the head.
        statement("AuditAppends", AUDIT_APPEND, [names.table_arn(AUDIT_TABLE)]),
        statement(
            "TableEncryption",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [keys.metadata],
            conditions={"StringEquals": via("dynamodb", names.region)},
        ),
        statement(
            "ReadOverrideSignerPublicKey",
            ["kms:GetPublicKey"],
            [names.ci_signer_key_arn_pattern],
            conditions={"StringEquals": {"kms:RequestAlias": naming.OVERRIDE_SIGNER_KEY_ALIAS}},
        ),
        statement("ReadBreakGlassFlag", ["ssm:GetParameter"], [flag]),
        statement("NeverChangesBreakGlassFlag", SSM_WRITES, [flag], effect="Deny"),
        # a manual rollback checks its target's release manifest, as the rollback planner does
        statement("ReadReleaseManifests", ["s3:GetObject"], [f"{names.bucket_arn(naming.RELEASE_BUCKET)}/*"]),
        statement("ListReleases", ["s3:ListBucket"], [names.bucket_arn(naming.RELEASE_BUCKET)]),
        statement(
            "DecryptReleases",
            ["kms:Decrypt"],
            [keys.artifacts],
            conditions={"StringEquals": via("s3", names.region)},
        ),
        statement("StartOverrideRuns", ["states:StartExecution"], [names.state_machine_arn]),
        statement("DescribeRuns", ["states:DescribeExecution"], [executions]),
        statement("PublishEvents", ["events:PutEvents"], [names.event_bus_arn]),
        *publish_to_audit_inbox(names, keys),
    ]
