"""Who may touch the audit chain's anchors: the anchor function's own permissions, the anchors bucket's
policy, the bucket's and the topic's keys, and the topic's policy.

The anchor function reads the chain (GetItem, Query on the audit table, decrypting through DynamoDB),
lists and reads the anchors (the previous one, to link to it) and writes new ones under
`audit-log-anchors/`, publishes to `audit-anchor-publish` (its key through SNS) and puts audit events
on its CloudTrail Lake channel (if the stack has one: `auditAnchorCloudTrailLake`), and nothing else.
Nobody deletes an anchor or a version of one, nobody shortens or bypasses a retention, and only the
anchor function writes (the bucket policy). Every ARN is computed from deterministic names but the
channel's and the keys', which are handed in.
"""

from __future__ import annotations

from typing import Any

from functions.audit import ANCHOR_TOPIC, ANCHORS_BUCKET, ANCHORS_PREFIX, AUDIT_TABLE
from functions.naming import ToolsNames

from .common import document, objects, statement, via
from .service_account import KEY_ADMINISTRATION_ACTIONS

ANCHOR_FUNCTION = "anchor"
OBJECT_WRITES = ("s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging")
OBJECT_DELETES = (
    "s3:DeleteObject",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectVersionTagging",
)
RETENTION_CHANGES = ("s3:BypassGovernanceRetention", "s3:PutObjectLegalHold", "s3:PutObjectRetention")
TOPIC_CONTEXT = "kms:EncryptionContext:aws:sns:topicArn"


def anchors_bucket(names: ToolsNames) -> str:
    return names.bucket(ANCHORS_BUCKET)


def anchor_topic_arn(names: ToolsNames) -> str:
    return f"arn:aws:sns:{names.region}:{names.account}:{ANCHOR_TOPIC}"


def anchor_key_alias(kind: str) -> str:
    """`alias/cdk-audit-log-anchors-bucket`, `alias/cdk-audit-log-anchors-topic`."""
    return f"alias/{ANCHORS_BUCKET}-{kind}"


def audit_table_arn(names: ToolsNames) -> str:
    return names.table_arn(AUDIT_TABLE)


def anchor_function_statements(names: ToolsNames, keys: Any) -> list[dict[str, Any]]:
    """The anchor function's own statements (`keys`: `PipelineKeys`, with the anchors' keys and channel).
    No channel (CloudTrail Lake left out): no PutAuditEvents, rather than one on a resource that is not there."""
    bucket = f"arn:aws:s3:::{anchors_bucket(names)}"
    anchors = f"{bucket}/{ANCHORS_PREFIX}*"
    granted = [
        statement("ReadAuditChain", ["dynamodb:GetItem", "dynamodb:Query"], [audit_table_arn(names)]),
        statement(
            "AuditChainDecryption",
            ["kms:Decrypt"],
            [keys.metadata],
            conditions={"StringEquals": via("dynamodb", names.region)},
        ),
        statement(
            "ListAnchors",
            ["s3:ListBucket"],
            [bucket],
            conditions={"StringLike": {"s3:prefix": [f"{ANCHORS_PREFIX}*"]}},
        ),
        statement("ReadAnchors", ["s3:GetObject"], [anchors]),
        statement("WriteAnchors", ["s3:PutObject"], [anchors]),
        statement(
            "AnchorsEncryption",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [keys.anchor_bucket],
            conditions={"StringEquals": via("s3", names.region)},
        ),
        statement("PublishAnchors", ["sns:Publish"], [anchor_topic_arn(names)]),
        statement(
            "AnchorTopicEncryption",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [keys.anchor_topic],
            conditions={"StringEquals": via("sns", names.region)},
        ),
    ]
    if keys.anchor_channel is not None:
        granted.append(statement("AnchorsToCloudTrail", ["cloudtrail-data:PutAuditEvents"], [keys.anchor_channel]))
    return granted


def _everyone_but(sid: str, actions: tuple[str, ...], resources: list[Any], principal_arn: str) -> dict[str, Any]:
    return statement(
        sid,
        actions,
        resources,
        effect="Deny",
        principal={"AWS": "*"},
        conditions={"ArnNotEquals": {"aws:PrincipalArn": principal_arn}},
    )


def anchors_bucket_statements(names: ToolsNames, bucket_arn: Any) -> list[dict[str, Any]]:
    """Beyond SecureBucket's TLS-only statement: only the anchor function writes; nobody deletes an object
    or a version, nobody shortens, lifts or bypasses a retention (GOVERNANCE included)."""
    anchor_role = names.function_role_arn(ANCHOR_FUNCTION)
    everything = [objects(bucket_arn)]
    return [
        _everyone_but("OnlyTheAnchorFunctionWrites", OBJECT_WRITES, everything, anchor_role),
        statement("NobodyDeletesAnchors", OBJECT_DELETES, everything, effect="Deny", principal={"AWS": "*"}),
        statement("NobodyChangesRetention", RETENTION_CHANGES, everything, effect="Deny", principal={"AWS": "*"}),
    ]


def _administration(names: ToolsNames) -> dict[str, Any]:
    return statement("AccountAdministersKey", KEY_ADMINISTRATION_ACTIONS, "*", principal={"AWS": names.root_arn})


def anchors_bucket_key_policy(names: ToolsNames) -> dict[str, Any]:
    """The bucket's key, through S3 only: the anchor function encrypts and decrypts; any principal of the
    account whose own IAM policy allows it decrypts (an operator running `artifactctl audit verify`)."""
    return document(
        _administration(names),
        statement(
            "AnchorFunctionThroughS3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            "*",
            principal={"AWS": names.root_arn},
            conditions={
                "StringEquals": via("s3", names.region),
                "ArnEquals": {"aws:PrincipalArn": names.function_role_arn(ANCHOR_FUNCTION)},
            },
        ),
        statement(
            "AccountReadsAnchorsThroughS3",
            ["kms:Decrypt"],
            "*",
            principal={"AWS": names.root_arn},
            conditions={"StringEquals": {**via("s3", names.region), "kms:CallerAccount": names.account}},
        ),
    )


def anchor_topic_key_policy(names: ToolsNames) -> dict[str, Any]:
    """The topic's key, through SNS for this topic only (the anchor function's IAM policy grants it)."""
    return document(
        _administration(names),
        statement(
            "AccountPublishesAnchorsThroughSns",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            "*",
            principal={"AWS": names.root_arn},
            conditions={
                "StringEquals": {
                    **via("sns", names.region),
                    "kms:CallerAccount": names.account,
                    TOPIC_CONTEXT: anchor_topic_arn(names),
                }
            },
        ),
    )


# Who may publish to the inbox: the anchor function its anchors, the override function each break-glass
# use (the spec: "log + email alert"), so the external inbox holds those too.
TOPIC_PUBLISHERS = (ANCHOR_FUNCTION, "override")


def anchor_topic_policy(names: ToolsNames, topic_arn: Any) -> dict[str, Any]:
    """Only the anchor and override functions publish: a forged anchor in the inbox would be one more to doubt."""
    publishers = [names.function_role_arn(f) for f in TOPIC_PUBLISHERS]
    return document(
        statement(
            "OnlyTheAnchorFunctionPublishes",
            ["sns:Publish"],
            [topic_arn],
            effect="Deny",
            principal={"AWS": "*"},
            conditions={"ArnNotEquals": {"aws:PrincipalArn": publishers}},
        ),
    )


def publish_to_audit_inbox(names: ToolsNames, keys: Any) -> list[dict[str, Any]]:
    """The override function's break-glass notices to the audit inbox (the topic and its key, via SNS)."""
    return [
        statement("BreakGlassToAuditInbox", ["sns:Publish"], [anchor_topic_arn(names)]),
        statement(
            "AuditInboxEncryption",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [keys.anchor_topic],
            conditions={"StringEquals": via("sns", names.region)},
        ),
    ]
