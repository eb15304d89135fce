"""Only the orchestrator writes metadata: a CI principal, holding exactly the policies the program gives
its roles, cannot change any item, whether a pipeline-owned record (the service's `_service` known good,
a revoked-content record) or an artifact's item, nor create one.

moto evaluates IAM identity policies for assumed-role credentials once its "no auth" allowance is used
up (`INITIAL_NO_AUTH_ACTION_COUNT`), so each CI role of the program's graph is created in the emulator's
tools account with its inline policies, assumed, and made to try every write DynamoDB has. The harness
makes moto match DynamoDB calls against the table's ARN (`authorize_dynamodb_by_table`), so a statement
that allows a write on the table is honoured: a denial here is the policy's. moto does not evaluate
DynamoDB resource policies: the table policy's own denial is checked on the graph."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools.emulator.aws import authorize_dynamodb_by_table
from devtools.emulator.harness import Harness
from devtools.emulator.program import REGION, TOOLS
from functions import naming
from functions.pipeline import lifecycle as lc

GOOD = "a" * 40
FORGED = "f" * 40


def _ci_roles(pipeline: Harness) -> dict[str, list[dict[str, Any]]]:
    roles = {n: p for n, p in pipeline.program.role_policies.items() if n.startswith(naming.CI_BUILDER_ROLE)}
    assert roles, "the program declares no CI role"
    return roles


def _dynamodb_grants(policies: list[dict[str, Any]]) -> list[str]:
    return sorted(
        action
        for policy in policies
        for s in (policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]])
        if s["Effect"] == "Allow"
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        if action.startswith("dynamodb:")
    )


def _assume(role_name: str, policies: list[dict[str, Any]]) -> boto3.Session:
    iam = boto3.client("iam", region_name=REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": TOOLS}, "Action": "sts:AssumeRole"}],
    }  # noqa: E501
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    for i, policy in enumerate(policies):
        iam.put_role_policy(RoleName=role_name, PolicyName=f"program-{i}", PolicyDocument=json.dumps(policy))
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=naming.role_arn(TOOLS, role_name), RoleSessionName="github-actions"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def _writes(table: str, service: str) -> dict[str, dict[str, Any]]:
    """Every DynamoDB write, aimed at pipeline-owned records and at an artifact's item."""

    def key(commit: str) -> dict[str, Any]:
        return {"service": {"S": service}, "commit_sha": {"S": commit}}

    forged_known_good = {**key(lc.SERVICE_RECORD), lc.LAST_KNOWN_GOOD: {"S": FORGED}}
    promote = {
        "UpdateExpression": "SET #s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "promoted"}},
    }
    return {
        "PutItem _service": {"op": "put_item", "TableName": table, "Item": forged_known_good},
        "UpdateItem _service": {"op": "update_item", "TableName": table, "Key": key(lc.SERVICE_RECORD), **promote},
        "PutItem candidate": {
            "op": "put_item",
            "TableName": table,
            "Item": {**key(FORGED), "status": {"S": "candidate"}},
        },
        "UpdateItem artifact": {"op": "update_item", "TableName": table, "Key": key(GOOD), **promote},
        "DeleteItem revocation": {
            "op": "delete_item",
            "TableName": table,
            "Key": key(lc.revoked_content_key("0" * 64)),
        },
        "BatchWriteItem": {
            "op": "batch_write_item",
            "RequestItems": {table: [{"PutRequest": {"Item": forged_known_good}}]},
        },
        "TransactWriteItems": {
            "op": "transact_write_items",
            "TransactItems": [{"Update": {"TableName": table, "Key": key(GOOD), **promote}}],
        },
        "PartiQL UPDATE": {
            "op": "execute_statement",
            "Statement": f"UPDATE \"{table}\" SET status='promoted' WHERE service='{service}' AND commit_sha='{GOOD}'",
        },
    }


def _attempt(dynamodb: Any, call: dict[str, Any]) -> str:
    arguments = {k: v for k, v in call.items() if k != "op"}
    try:
        getattr(dynamodb, call["op"])(**arguments)
    except ClientError as exc:
        # moto answers an IAM denial with a 403 whose XML body says AccessDenied (botocore's JSON protocol
        # then reports the status as the code)
        return "AccessDenied" if "AccessDenied" in str(exc) else str(exc)
    return "allowed"


def test_no_ci_principal_can_change_or_create_any_item(pipeline: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import settings
    from moto.core.responses import ActionAuthenticatorMixin

    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"
    table_name = pipeline.program.environment["TABLE_NAME"]
    before = {c: pipeline.item(c) for c in (lc.SERVICE_RECORD, GOOD, FORGED)}
    assert before[lc.SERVICE_RECORD][lc.LAST_KNOWN_GOOD] == GOOD

    outcomes: dict[str, dict[str, str]] = {}
    for role_name, policies in _ci_roles(pipeline).items():
        session = _assume(role_name, policies)
        service = role_name.removeprefix(naming.CI_BUILDER_ROLE).removeprefix("-") or "orders"
        with monkeypatch.context() as enforce:  # from here on, every call is checked against IAM
            enforce.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
            enforce.setattr(ActionAuthenticatorMixin, "request_count", 0)
            authorize_dynamodb_by_table(enforce)
            dynamodb = session.client("dynamodb")
            outcomes[role_name] = {
                name: _attempt(dynamodb, call) for name, call in _writes(table_name, service).items()
            }
            # The control: the same credentials may do what CI is for (upload under its own prefix).
            session.client("s3").put_object(
                Bucket=pipeline.candidate_bucket, Key=f"{service}/{FORGED}/cdk.out/probe.json", Body=b"{}"
            )

    granted = {role: _dynamodb_grants(policies) for role, policies in _ci_roles(pipeline).items()}
    assert granted and not any(granted.values()), f"a CI role is granted DynamoDB actions: {granted}"
    assert outcomes and all(set(o.values()) == {"AccessDenied"} for o in outcomes.values()), outcomes
    assert {c: pipeline.item(c) for c in before} == before
