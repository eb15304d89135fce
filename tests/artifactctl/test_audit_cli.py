"""`artifactctl audit verify | log`: output lines and exit codes (0 ok, 1 tampered, 2 usage, 3 AWS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from devtools.emulator.anchors import anchors_in_moto
from functions.audit import AUDIT_TABLE, CHAIN, store
from tests.artifactctl.test_cli import run  # the CLI run once: exit code, stdout, stderr
from tests.functions.audit.conftest import fields


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The audit table and the (empty) anchors bucket of moto's default account."""
    import boto3

    with contextmanager(anchors_in_moto)(monkeypatch):
        yield boto3.client("dynamodb", region_name="us-east-1")


NO_ANCHORS = (
    "WARNING: no anchor in s3://cdk-audit-log-anchors-123456789012-us-east-1 yet: "
    "the chain was checked by its own hashes alone\n"
)


@pytest.fixture
def chain(dynamodb) -> list[Any]:
    times = ["2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z", "2026-11-22T10:00:00Z"]
    services = ["orders", "billing", "orders"]
    return [
        store.append(dynamodb, fields(n, service=s), clock=lambda t=t: t)
        for n, (s, t) in enumerate(zip(services, times, strict=True))
    ]


def test_verify_prints_depth_and_root_of_an_intact_chain(chain, capsys) -> None:
    code, out, err = run(capsys, "audit", "verify")
    assert (code, out, err) == (0, f"OK: depth 3, root {chain[-1].log_hash}\n{NO_ANCHORS}", "")


def test_verify_fails_at_the_edited_entry(dynamodb, chain, capsys) -> None:
    dynamodb.update_item(
        TableName=AUDIT_TABLE,
        Key={"chain": {"S": CHAIN}, "seq": {"N": "2"}},
        UpdateExpression="SET reason = :r",
        ExpressionAttributeValues={":r": {"S": "edited"}},
    )
    code, out, _ = run(capsys, "audit", "verify", "--table", AUDIT_TABLE, "--region", "us-east-1")
    assert code == 1
    assert out.splitlines() == [
        "FAIL audit chain seq 2 edited: its content does not hash to its log_hash",
        f"(the chain is intact up to depth 1, root {chain[0].log_hash})",
    ]


def test_an_empty_chain_verifies(dynamodb, capsys) -> None:
    assert run(capsys, "audit", "verify")[:2] == (0, f"OK: depth 0, root {'0' * 64}\n{NO_ANCHORS}")


def test_a_missing_table_is_a_clear_error(dynamodb, capsys) -> None:
    for command in ("verify", "log"):
        code, out, err = run(capsys, "audit", command, "--table", "nope")
        assert (code, out) == (3, "")
        assert err.startswith("artifactctl: no DynamoDB table nope (is the tools stack deployed")
        assert "Traceback" not in err


def test_no_credentials_is_a_clear_error(monkeypatch, capsys) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = run(capsys, "audit", "verify", "--region", "us-east-1")
    assert (code, out) == (3, "")
    assert "Unable to locate credentials" in err and "Traceback" not in err


def test_log_lists_entries_of_a_service_since_a_time(chain, capsys) -> None:
    code, out, _ = run(capsys, "audit", "log", "--service", "orders")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["1", "3"]
    assert "state_transition  orders@000000000000 stage candidate -> deploying  by arn:aws" in out
    code, out, _ = run(capsys, "audit", "log", "--since", "2026-11-21T10:00:00+00:00", "--json")
    assert code == 0 and [e["seq"] for e in json.loads(out)] == [2, 3]
    assert json.loads(out)[-1] == chain[-1].to_dict() | {"log_hash": chain[-1].log_hash}


def test_log_says_when_nothing_matches(chain, capsys) -> None:
    assert run(capsys, "audit", "log", "--service", "payments") == (0, "no audit entries of payments\n", "")


@pytest.mark.parametrize("since", ["yesterday", "2026-11-21T10:00:00"])
def test_log_refuses_a_time_it_cannot_read(chain, capsys, since) -> None:
    code, out, err = run(capsys, "audit", "log", "--since", since)
    assert (code, out) == (2, "")
    assert (
        err == f"artifactctl: --since {since!r}: expected an ISO 8601 time with its offset, like 2026-11-23T04:24:49Z\n"
    )
