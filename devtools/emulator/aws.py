"""Small shared steps of every emulated AWS setup."""

from __future__ import annotations

from typing import Any

from functions import naming

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


def create_metadata_table(dynamodb: Any, name: str = naming.METADATA_TABLE) -> None:
    """The metadata table's key schema, as `components/metadata_store.py` declares it."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "service", "KeyType": "HASH"},
            {"AttributeName": "commit_sha", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("service", "commit_sha")],
        BillingMode="PAY_PER_REQUEST",
    )
