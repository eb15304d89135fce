"""The audit chain against a moto table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.emulator.audit import create_audit_table
from devtools.emulator.aws import use_fake_credentials
from functions.audit import AUDIT_TABLE, store


def fields(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "actor": "arn:aws:iam::111111111111:role/cdkcp-orchestrator",
        "action": "state_transition",
        "service": "orders",
        "commit": f"{n:040x}",
        "environment": "stage",
        "before_status": "candidate",
        "after_status": "deploying",
        "reason": f"entry {n}",
        **overrides,
    }


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    use_fake_credentials(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_audit_table(client)
        yield client


def fill(client: Any, count: int) -> list[Any]:
    return [store.append(client, fields(n), table=AUDIT_TABLE) for n in range(1, count + 1)]
