"""The audit log's table as the tools stack declares it: the schema the chain's code writes
(`devtools/emulator/audit.create_audit_table`), encrypted, recoverable, never expiring, append-only."""

from __future__ import annotations

import json
from typing import Any

from devtools.emulator.audit import create_audit_table

from .graph import as_list, inline_policies, named, of_type, statements

TOOLS = "111111111111"
REGION = "us-east-1"
TABLE = "aws:dynamodb/table:Table"
ORCHESTRATORS = sorted(
    [
        f"arn:aws:iam::{TOOLS}:role/cdkcp-pipeline",
        f"arn:aws:iam::{TOOLS}:role/cdkcp-finalizer",
        f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-*",
    ]
)


class _Recorder:
    """Stands in for a DynamoDB client: keeps the `create_table` request the emulator would send."""

    def __init__(self) -> None:
        self.request: dict[str, Any] = {}

    def create_table(self, **request: Any) -> None:
        self.request = request


def _emulated_schema() -> dict[str, Any]:
    recorder = _Recorder()
    create_audit_table(recorder)
    return recorder.request


def _table(graphs: dict) -> dict[str, Any]:
    return named(graphs["tools"], "audit-log-table")["inputs"]


def test_the_table_has_the_schema_the_chains_code_expects(graphs: dict) -> None:
    table, emulated = _table(graphs), _emulated_schema()
    assert table["name"] == emulated["TableName"] == "cdk-artifact-audit-log"
    keys = {k["KeyType"]: k["AttributeName"] for k in emulated["KeySchema"]}
    assert (table["hashKey"], table["rangeKey"]) == (keys["HASH"], keys["RANGE"]) == ("chain", "seq")
    declared = sorted((a["name"], a["type"]) for a in table["attributes"])
    expected = sorted((a["AttributeName"], a["AttributeType"]) for a in emulated["AttributeDefinitions"])
    assert declared == expected == [("chain", "S"), ("seq", "N")]
    assert table["billingMode"] == emulated["BillingMode"] == "PAY_PER_REQUEST"
    assert not table.get("globalSecondaryIndexes")


def test_the_table_is_encrypted_recoverable_protected_and_never_expires(graphs: dict) -> None:
    table = _table(graphs)
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["deletionProtectionEnabled"] is True
    assert table["serverSideEncryption"]["enabled"] is True
    metadata = named(graphs["tools"], "metadata-store-table")["inputs"]
    key = table["serverSideEncryption"]["kmsKeyArn"]
    assert key.startswith(f"arn:aws:kms:{REGION}:{TOOLS}:key/")
    assert key == metadata["serverSideEncryption"]["kmsKeyArn"]  # the metadata table's key
    assert not table.get("ttl")  # audit entries never expire
    assert len(of_type(graphs["tools"], TABLE)) == 2  # metadata and audit


def test_only_the_orchestrator_appends_and_nobody_deletes_an_entry(graphs: dict) -> None:
    policy = json.loads(named(graphs["tools"], "audit-log-table-policy")["inputs"]["policy"])
    table_arn = f"arn:aws:dynamodb:{REGION}:{TOOLS}:table/cdk-artifact-audit-log"
    assert statements(policy) == [
        {
            "Sid": "OnlyOrchestratorAppends",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": [
                "dynamodb:BatchWriteItem",
                "dynamodb:DeleteItem",
                "dynamodb:PartiQLDelete",
                "dynamodb:PartiQLInsert",
                "dynamodb:PartiQLUpdate",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
            ],
            "Resource": [table_arn],
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": ORCHESTRATORS}},
        },
        {
            "Sid": "NobodyDeletesEntries",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PartiQLDelete"],
            "Resource": [table_arn],
        },
    ]


def test_every_role_that_changes_metadata_items_appends_their_audit_entries_and_no_other_does(graphs: dict) -> None:
    """Each change is audited in its own transaction (`functions/pipeline/store.py`), so a function that
    may change an item may append to the chain (the head's update, the entry's put), on the audit table
    only; the state machine's lease is audited by the run's first function, so its role may not."""
    graph = graphs["tools"]
    audit_arn = f"arn:aws:dynamodb:{REGION}:{TOOLS}:table/cdk-artifact-audit-log"
    writers, appenders = set(), set()
    for resource in of_type(graph, "aws:iam/role:Role"):
        name = resource["inputs"].get("name") or resource["name"]
        for policy in inline_policies(graph, resource).values():
            for s in statements(policy):
                actions, resources = set(as_list(s["Action"])), as_list(s["Resource"])
                if s["Sid"] == "MetadataItems" and actions & {"dynamodb:PutItem", "dynamodb:UpdateItem"}:
                    writers.add(name)
                if audit_arn in resources and s["Sid"] == "ReadAuditChain":  # the anchor function's reads
                    assert sorted(actions) == ["dynamodb:GetItem", "dynamodb:Query"] and name == "cdkcp-fn-anchor"
                elif audit_arn in resources:
                    assert s["Sid"] == "AuditAppends" and sorted(actions) == [
                        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"
                    ]  # fmt: skip
                    appenders.add(name)
    assert "cdkcp-pipeline" in writers and len(writers) >= 7
    assert appenders == writers - {"cdkcp-pipeline"}
