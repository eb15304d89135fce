"""The audit table as the tools stack will declare it (its component is not built yet): `chain` (S) and
`seq` (N), on demand."""

from __future__ import annotations

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
