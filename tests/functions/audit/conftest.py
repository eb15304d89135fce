"""The audit chain against a moto table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.emulator.audit import audit_table_in_moto
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
    yield from audit_table_in_moto(monkeypatch)


def fill(client: Any, count: int) -> list[Any]:
    return [store.append(client, fields(n), table=AUDIT_TABLE) for n in range(1, count + 1)]
