"""Tools stack storage: artifact and context buckets, signing keys, the metadata table and its exports;
and the storage invariants over every stack (buckets locked down, keys rotating or explaining why not)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import STACKS

from .graph import BUCKET, KMS_KEY, by_sid, named, of_type, statements

TOOLS = "111111111111"
REGION = "us-east-1"
CI = f"arn:aws:iam::{TOOLS}:role/cdk-ci-artifact-builder-*"  # every service's CI role, one pattern


def ci_role(service: str) -> str:
    return f"arn:aws:iam::{TOOLS}:role/cdk-ci-artifact-builder-{service}"


GENERATOR = f"arn:aws:iam::{TOOLS}:role/cdk-context-generator"
SECURITY = f"arn:aws:iam::{TOOLS}:role/security-automation"
OPERATOR = f"arn:aws:iam::{TOOLS}:role/oncall-operator"


def bucket_parts(graph: dict, component: str) -> dict[str, Any]:
    return {
        "bucket": named(graph, f"{component}-bucket")["inputs"],
        "policy": json.loads(named(graph, f"{component}-policy")["inputs"]["policy"]),
        "lifecycle": named(graph, f"{component}-lifecycle")["inputs"]["rules"],
        "sse": named(graph, f"{component}-encryption")["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"],
        "events": [r for r in graph["resources"] if r["name"] == f"{component}-events"],
    }


def key_policy(graph: dict, alias: str) -> tuple[dict, dict]:
    alias_resource = next(r for r in of_type(graph, "aws:kms/alias:Alias") if r["inputs"]["name"] == alias)
    key = named(graph, alias_resource["name"].removesuffix("-alias") + "-key")
    return key["inputs"], json.loads(key["inputs"]["policy"])


def deny_exceptions(statement: dict) -> list[str]:
    return statement.get("Condition", {}).get("ArnNotLike", {}).get("aws:PrincipalArn", [])


# --- buckets ------------------------------------------------------------------------------------------


def test_candidate_bucket(graphs: dict) -> None:
    parts = bucket_parts(graphs["tools"], "artifact-store-candidate")
    assert parts["bucket"]["bucket"] == f"cdk-artifacts-candidate-{TOOLS}-{REGION}"
    expiry = next(r for r in parts["lifecycle"] if r["id"] == "candidates-expire")
    assert expiry["expiration"]["days"] == 30
    assert parts["events"] and parts["events"][0]["inputs"]["eventbridge"] is True
    writes = by_sid(parts["policy"], "OnlyCiUploadsCandidates")
    assert writes["Effect"] == "Deny" and deny_exceptions(writes) == [CI]
    assert deny_exceptions(by_sid(parts["policy"], "NoDeletesButSecurityAutomation")) == [SECURITY]


def test_release_bucket_keeps_releases(graphs: dict) -> None:
    parts = bucket_parts(graphs["tools"], "artifact-store-release")
    assert parts["bucket"]["bucket"] == f"cdk-artifacts-release-{TOOLS}-{REGION}"
    assert all("expiration" not in rule or rule["expiration"] is None for rule in parts["lifecycle"])
    assert parts["events"]
    assert deny_exceptions(by_sid(parts["policy"], "OnlyPromotionWritesReleases")) == [
        f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-promote"
    ]


def test_contexts_bucket(graphs: dict) -> None:
    graph = graphs["tools"]
    parts = bucket_parts(graph, "artifact-store-contexts")
    assert parts["bucket"]["bucket"] == f"cdk-contexts-{TOOLS}-{REGION}"
    assert parts["bucket"]["objectLockEnabled"] is True
    lock = named(graph, "artifact-store-contexts-object-lock")["inputs"]["rule"]["defaultRetention"]
    assert lock == {"mode": "GOVERNANCE", "days": 365}
    assert not parts["events"]
    assert deny_exceptions(by_sid(parts["policy"], "OnlyContextGeneratorWrites")) == [GENERATOR]
    readers = deny_exceptions(by_sid(parts["policy"], "OnlyCiAndGeneratorRead"))
    validate = f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-validate"  # check 6 reads the blessed contexts
    assert CI in readers and GENERATOR in readers and validate in readers
    deletes = by_sid(parts["policy"], "NoDeletesButSecurityAutomation")
    assert deletes["Action"] == ["s3:DeleteObject*"] and deny_exceptions(deletes) == [SECURITY]
    _, policy = key_policy(graph, "alias/cdk-contexts-bucket-key")
    assert parts["sse"]["kmsMasterKeyId"].startswith(f"arn:aws:kms:{REGION}:{TOOLS}:key/")
    assert parts["sse"]["kmsMasterKeyId"] != bucket_parts(graph, "artifact-store-candidate")["sse"]["kmsMasterKeyId"]
    assert by_sid(policy, "WritersEncryptThroughS3")["Condition"]["ArnLike"]["aws:PrincipalArn"] == [GENERATOR]
    assert validate in by_sid(policy, "ReadersDecryptThroughS3")["Condition"]["ArnLike"]["aws:PrincipalArn"]


def test_artifacts_key_encrypts_for_every_services_ci_by_one_pattern(graphs: dict) -> None:
    _, policy = key_policy(graphs["tools"], "alias/cdk-artifacts-bucket-key")
    writers = by_sid(policy, "WritersEncryptThroughS3")["Condition"]["ArnLike"]["aws:PrincipalArn"]
    assert writers == sorted([CI, f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-promote"])


def test_exports_bucket_retains_at_least_180_days(graphs: dict) -> None:
    parts = bucket_parts(graphs["tools"], "metadata-store-exports")
    assert parts["bucket"]["bucket"] == f"cdk-artifact-metadata-exports-{TOOLS}-{REGION}"
    rule = next(r for r in parts["lifecycle"] if r["id"] == "exports-retention")
    assert rule["expiration"]["days"] >= 180 and rule["filter"]["prefix"] == "cdk-artifact-metadata-exports/"


def test_every_bucket_in_every_stack_is_locked_down(graphs: dict) -> None:
    for stack in STACKS:
        graph = graphs[stack]
        for bucket in of_type(graph, BUCKET):
            component = bucket["name"].removesuffix("-bucket")
            block = named(graph, f"{component}-public-access")["inputs"]
            assert all(
                block[k] is True
                for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            )
            assert named(graph, f"{component}-versioning")["inputs"]["versioningConfiguration"]["status"] == "Enabled"
            sse = named(graph, f"{component}-encryption")["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
            assert sse["sseAlgorithm"] == "aws:kms"
            policy = json.loads(named(graph, f"{component}-policy")["inputs"]["policy"])
            assert by_sid(policy, "DenyInsecureTransport")["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --- keys ---------------------------------------------------------------------------------------------


def test_every_key_rotates_or_is_asymmetric(graphs: dict) -> None:
    keys = [k for stack in STACKS for k in of_type(graphs[stack], KMS_KEY)]
    # 12 tools (a signing key per service x2, context and override signing, artifacts, contexts, tooling,
    # metadata, logs, critical alerts, the audit anchors' bucket and topic) + 2 stage + 2 prod
    assert len(keys) == 16
    for key in keys:
        if key["inputs"]["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT":
            assert key["inputs"]["enableKeyRotation"] is True, key["name"]
        else:  # KMS cannot rotate asymmetric keys; components/kms.py says how to rotate them by hand
            assert key["inputs"]["enableKeyRotation"] is False and key["inputs"]["keyUsage"] == "SIGN_VERIFY"


@pytest.mark.parametrize(
    ("alias", "signers", "readers"),
    [
        *(
            (
                f"alias/cdk-ci-artifact-signer-{service}",
                [ci_role(service)],
                [
                    OPERATOR,
                    f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-intake",
                    f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-promote",  # the provenance it copies
                    f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-validate",
                    f"arn:aws:iam::{TOOLS}:role/cdkcp-deployer-stage",
                    f"arn:aws:iam::{TOOLS}:role/cdkcp-deployer-prod",
                ],
            )
            for service in ("orders", "payments")
        ),
        ("alias/cdk-context-signer", [GENERATOR], [CI, GENERATOR, f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-validate"]),
        ("alias/cdk-override-signer", [OPERATOR], [OPERATOR, f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-override"]),
    ],
)
def test_signing_keys_name_exactly_who_signs_and_who_reads(
    graphs: dict, alias: str, signers: list, readers: list
) -> None:
    inputs, policy = key_policy(graphs["tools"], alias)
    assert inputs["customerMasterKeySpec"] == "ECC_NIST_P256" and inputs["keyUsage"] == "SIGN_VERIFY"
    sign = by_sid(policy, "NamedSignersOnly")
    assert sign["Condition"]["ArnLike"]["aws:PrincipalArn"] == sorted(signers)
    assert sign["Condition"]["StringEquals"] == {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "DIGEST"}
    read = by_sid(policy, "NamedPublicKeyReaders")
    assert read["Condition"]["ArnLike"]["aws:PrincipalArn"] == sorted(readers)
    signing_statements = [s for s in statements(policy) if "kms:Sign" in s["Action"]]
    assert signing_statements == [sign]


# --- table --------------------------------------------------------------------------------------------


def test_metadata_table(graphs: dict) -> None:
    table = named(graphs["tools"], "metadata-store-table")["inputs"]
    assert table["name"] == "cdk-artifact-metadata"
    assert (table["hashKey"], table["rangeKey"]) == ("service", "commit_sha")
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["ttl"] == {"attributeName": "expire_at", "enabled": True}
    assert table["serverSideEncryption"]["enabled"] is True
    assert table["serverSideEncryption"]["kmsKeyArn"].startswith(f"arn:aws:kms:{REGION}:{TOOLS}:key/")
    assert table["deletionProtectionEnabled"] is True
    (index,) = table["globalSecondaryIndexes"]
    assert index["name"] == "sweep-by-age"
    assert [k["attributeName"] for k in index["keySchemas"]] == ["sweep_phase", "sweep_since"]


def test_only_the_orchestrator_writes_items_ci_not_even_puts(graphs: dict) -> None:
    policy = json.loads(named(graphs["tools"], "metadata-store-table-policy")["inputs"]["policy"])
    (changes,) = statements(policy)
    assert changes["Sid"] == "OnlyOrchestratorChangesItems" and changes["Effect"] == "Deny"
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= set(changes["Action"])
    orchestrators = deny_exceptions(changes)
    assert f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-*" in orchestrators
    assert not [arn for arn in orchestrators if "ci-artifact-builder" in arn]


def test_table_is_exported_every_6_hours(graphs: dict) -> None:
    schedule = named(graphs["tools"], "metadata-store-export-schedule")["inputs"]
    assert schedule["scheduleExpression"] == "rate(6 hours)"
    assert schedule["target"]["arn"] == "arn:aws:scheduler:::aws-sdk:dynamodb:exportTableToPointInTime"
    request = json.loads(schedule["target"]["input"])
    assert request["TableArn"].endswith(":table/cdk-artifact-metadata")
    assert request["S3Bucket"] == f"cdk-artifact-metadata-exports-{TOOLS}-{REGION}"
    assert request["S3SseAlgorithm"] == "KMS"
