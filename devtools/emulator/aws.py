"""Small shared steps of every emulated AWS setup."""

from __future__ import annotations

from typing import Any

from functions import naming
from functions.audit import AUDIT_TABLE

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def use_fake_credentials(monkeypatch: Any) -> None:
    """Never reach a real account: fake credentials, one region."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def account_client(service: str, account: str, region: str = "us-east-1") -> Any:
    """A client acting in another account of the one moto (moto files a call under the account of the
    assumed role's credentials)."""
    import boto3

    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/emulator", RoleSessionName="emulator"
    )["Credentials"]
    return boto3.client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def create_metadata_table(dynamodb: Any, name: str = naming.METADATA_TABLE, *, with_audit: bool = True) -> None:
    """The metadata table's key schema and its sparse sweep index, as `components/metadata_store.py`
    declares them; with the audit table beside it (the tools stack declares both: every change of an
    item is audited in the same transaction), unless it exists."""
    from devtools.emulator.audit import create_audit_table
    from functions.artifacts.metadata import SWEEP_INDEX, SWEEP_PHASE, SWEEP_SINCE

    if with_audit and AUDIT_TABLE not in dynamodb.list_tables().get("TableNames", []):
        create_audit_table(dynamodb)

    keys = ("service", "commit_sha", SWEEP_PHASE, SWEEP_SINCE)
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "service", "KeyType": "HASH"},
            {"AttributeName": "commit_sha", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in keys],
        GlobalSecondaryIndexes=[
            {
                "IndexName": SWEEP_INDEX,
                "KeySchema": [
                    {"AttributeName": SWEEP_PHASE, "KeyType": "HASH"},
                    {"AttributeName": SWEEP_SINCE, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def authorize_dynamodb_by_table(monkeypatch: Any) -> None:
    """moto evaluates IAM policies for DynamoDB calls against the resource `*` (its DynamoDB responses name
    no resource), so a statement scoped to a table ARN never matches and every call is denied whatever the
    policy says. Name the table the call acts on, as IAM does (a harness bridge: with it, a policy that
    allows a write on the table really allows it in the emulator, so a denial means the policy denies)."""
    import re

    from moto.dynamodb.responses import DynamoHandler

    def resource(handler: Any) -> str:
        body = getattr(handler, "params", None) or {}
        tables = [body.get("TableName")] + list(body.get("RequestItems") or {})
        tables += [op.get("TableName") for item in body.get("TransactItems") or [] for op in item.values()]
        tables += re.findall(r'"([^"]+)"', body.get("Statement") or "")
        name = next((t for t in tables if t), None)
        return f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/{name}" if name else "*"

    monkeypatch.setattr(DynamoHandler, "_determine_resource", resource, raising=False)
