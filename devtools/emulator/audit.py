"""The audit table as the tools stack declares it (`components/audit_log.py`; tests/program/test_audit_log.py
holds the two to the same schema): `chain` (S) and `seq` (N), on demand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from functions.audit import AUDIT_TABLE


def create_audit_table(dynamodb: Any, name: str = AUDIT_TABLE) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "chain", "KeyType": "HASH"}, {"AttributeName": "seq", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "chain", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def audit_table_in_moto(monkeypatch: Any, region: str = "us-east-1") -> Iterator[Any]:
    """moto (fake credentials) with the audit table created; yields its low-level DynamoDB client. For a
    pytest fixture to `yield from`."""
    import boto3
    from moto import mock_aws

    from devtools.emulator.aws import use_fake_credentials

    use_fake_credentials(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=region)
        create_audit_table(client)
        yield client
