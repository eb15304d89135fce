"""Resource policies of the tools account's storage: buckets, keys, the metadata and audit tables.

Who may do what is named by role ARN (`aws:PrincipalArn`), computed from `naming`, so storage can be
declared before (and independently of) the roles it names, and a role recreated under the same
name keeps its access.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.naming import ToolsNames

from .common import document, objects, statement, via
from .service_account import KEY_ADMINISTRATION_ACTIONS

OBJECT_WRITES = ("s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectRetention", "s3:PutObjectLegalHold")
OBJECT_DELETES = ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteObjectTagging")
ITEM_WRITES = (
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:PartiQLDelete",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:UpdateItem",
)


def _deleters(security_automation: str | None) -> list[str]:
    """Nobody deletes objects but the configured security automation (nobody at all without one)."""
    return [security_automation] if security_automation else []


def _unless(principals: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {"ArnNotLike": {"aws:PrincipalArn": sorted(principals)}} if principals else {}


def _deny_unless(sid: str, actions: Sequence[str], resources: list[Any], principals: Sequence[str]) -> dict[str, Any]:
    """Deny `actions` to every principal but `principals` (to everyone if there are none)."""
    return statement(
        sid, actions, resources, effect="Deny", principal={"AWS": "*"}, conditions=_unless(principals) or None
    )


# --- buckets ------------------------------------------------------------------------------------------


def candidate_bucket_statements(
    names: ToolsNames, bucket_arn: Any, security_automation: str | None
) -> list[dict[str, Any]]:
    deleters = _deleters(security_automation)
    return [
        # Every service's CI role, by one pattern: the bucket policy stays one size however many services
        # there are; each role's own policy confines it to its `{service}/` prefix.
        _deny_unless(
            "OnlyCiUploadsCandidates", OBJECT_WRITES, [objects(bucket_arn)], [names.ci_builder_role_arn_pattern]
        ),
        _deny_unless("NoDeletesButSecurityAutomation", OBJECT_DELETES, [objects(bucket_arn)], deleters),
    ]


def release_bucket_statements(
    names: ToolsNames, bucket_arn: Any, security_automation: str | None
) -> list[dict[str, Any]]:
    deleters = _deleters(security_automation)
    return [
        _deny_unless(
            "OnlyPromotionWritesReleases", OBJECT_WRITES, [objects(bucket_arn)], [names.function_role_arn("promote")]
        ),
        _deny_unless("NoDeletesButSecurityAutomation", OBJECT_DELETES, [objects(bucket_arn)], deleters),
    ]


def contexts_bucket_statements(
    names: ToolsNames, bucket_arn: Any, security_automation: str | None
) -> list[dict[str, Any]]:
    deleters = _deleters(security_automation)
    readers = [
        names.ci_builder_role_arn_pattern,
        names.context_generator_role_arn,
        *names.deployer_role_arns,
        names.function_role_arn("validate"),  # check 6 compares manifests with the blessed contexts
    ]
    return [
        _deny_unless(
            "OnlyContextGeneratorWrites", OBJECT_WRITES, [objects(bucket_arn)], [names.context_generator_role_arn]
        ),
        _deny_unless("OnlyCiAndGeneratorRead", ["s3:GetObject", "s3:GetObjectVersion"], [objects(bucket_arn)], readers),
        _deny_unless("NoDeletesButSecurityAutomation", ["s3:DeleteObject*"], [objects(bucket_arn)], deleters),
    ]


def exports_bucket_statements(
    names: ToolsNames, bucket_arn: Any, security_automation: str | None
) -> list[dict[str, Any]]:
    deleters = _deleters(security_automation)
    return [
        _deny_unless("OnlyScheduledExportWrites", OBJECT_WRITES, [objects(bucket_arn)], [names.exporter_role_arn]),
        _deny_unless("NoDeletesButSecurityAutomation", OBJECT_DELETES, [objects(bucket_arn)], deleters),
    ]


# --- keys ---------------------------------------------------------------------------------------------


def _administration(names: ToolsNames) -> dict[str, Any]:
    return statement("AccountAdministersKey", KEY_ADMINISTRATION_ACTIONS, "*", principal={"AWS": names.root_arn})


def _for_principals(sid: str, actions: Sequence[str], principals: Sequence[str], **conditions: Any) -> dict[str, Any]:
    """Allow exactly the named roles: their accounts as principals, their ARNs as the condition."""
    accounts = sorted({f"arn:aws:iam::{arn.split(':')[4]}:root" for arn in principals})
    merged: dict[str, dict[str, Any]] = {"ArnLike": {"aws:PrincipalArn": sorted(principals)}}
    for operator, values in conditions.items():
        merged.setdefault(operator, {}).update(values)
    return statement(
        sid, actions, "*", principal={"AWS": accounts[0] if len(accounts) == 1 else accounts}, conditions=merged
    )


def bucket_key_policy(names: ToolsNames, writers: Sequence[str], readers: Sequence[str]) -> dict[str, Any]:
    """A bucket's KMS key: used only through S3, by the named writers and readers."""
    statements = [_administration(names)]
    if writers:
        statements.append(
            _for_principals(
                "WritersEncryptThroughS3",
                ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                writers,
                StringEquals=via("s3", names.region),
            )
        )
    if readers:
        statements.append(
            _for_principals("ReadersDecryptThroughS3", ["kms:Decrypt"], readers, StringEquals=via("s3", names.region))
        )
    return document(*statements)


def tooling_key_policy(names: ToolsNames) -> dict[str, Any]:
    """The CodeBuild bundle's key: used only through S3, by principals of this account whose own IAM
    policies allow it (the operator running `pulumi up` writes, the build roles read)."""
    return document(
        _administration(names),
        statement(
            "AccountUsesKeyThroughS3",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            "*",
            principal={"AWS": names.root_arn},
            conditions={"StringEquals": {**via("s3", names.region), "kms:CallerAccount": names.account}},
        ),
    )


def metadata_key_policy(names: ToolsNames) -> dict[str, Any]:
    """The table's key: DynamoDB uses it for any caller of this account; exports write through S3."""
    return document(
        _administration(names),
        statement(
            "TableEncryptionThroughDynamoDb",
            [
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
            ],
            "*",
            principal={"AWS": names.root_arn},
            conditions={"StringEquals": {**via("dynamodb", names.region), "kms:CallerAccount": names.account}},
        ),
        _for_principals(
            "ExportsThroughS3",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [names.exporter_role_arn],
            StringEquals=via("s3", names.region),
        ),
    )


def signing_key_policy(names: ToolsNames, signers: Sequence[str], public_key_readers: Sequence[str]) -> dict[str, Any]:
    """An asymmetric signing key: exactly who may sign (one algorithm, digests only) and who may read
    the public key."""
    statements = [_administration(names)]
    if signers:
        statements.append(
            _for_principals(
                "NamedSignersOnly",
                ["kms:Sign"],
                signers,
                StringEquals={"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "DIGEST"},
            )
        )
    statements.append(
        _for_principals("NamedPublicKeyReaders", ["kms:DescribeKey", "kms:GetPublicKey"], public_key_readers)
    )
    return document(*statements)


# --- table --------------------------------------------------------------------------------------------


def table_resource_policy(names: ToolsNames, table_arn: Any) -> dict[str, Any]:
    """Only the orchestrator writes items (DESIGN: CI writes nothing; the intake step, one of the
    orchestrator's functions, records candidates)."""
    return document(
        _deny_unless(
            "OnlyOrchestratorChangesItems",
            [*ITEM_WRITES, "dynamodb:PutItem"],
            [table_arn],
            names.orchestrator_role_arn_patterns,
        ),
    )


def audit_table_resource_policy(names: ToolsNames, table_arn: Any) -> dict[str, Any]:
    """Only the orchestrator appends audit entries, and nobody deletes one.

    `TransactWriteItems` (how `functions/audit/store.append` writes) is authorized per item, as the
    `PutItem` / `UpdateItem` / `DeleteItem` of each of its items, so the actions below cover it.
    """
    return document(
        _deny_unless(
            "OnlyOrchestratorAppends",
            [*ITEM_WRITES, "dynamodb:PutItem"],
            [table_arn],
            names.orchestrator_role_arn_patterns,
        ),
        # An audit entry is never deleted, by anyone, the orchestrator included: a deleted entry is a
        # finding of `artifactctl audit verify`, never a maintenance step. `BatchWriteItem` carries
        # delete requests without a `DeleteItem` authorization, and the chain is never written in
        # batches (every append is one transaction on the head), so it is refused to everyone too.
        _deny_unless(
            "NobodyDeletesEntries",
            ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PartiQLDelete"],
            [table_arn],
            [],
        ),
    )


# --- scheduled export ---------------------------------------------------------------------------------


def exporter_policy(names: ToolsNames, table_arn: Any, bucket_arn: Any, key_arn: Any) -> dict[str, Any]:
    return document(
        statement("ExportTable", ["dynamodb:ExportTableToPointInTime"], [table_arn]),
        statement(
            "WriteExports",
            # DynamoDB's export to S3 also sets the object ACL (bucket-owner-full-control).
            ["s3:AbortMultipartUpload", "s3:PutObject", "s3:PutObjectAcl"],
            [objects(bucket_arn)],
        ),
        statement(
            "EncryptExports",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [key_arn],
            conditions={"StringEquals": via("s3", names.region)},
        ),
    )
