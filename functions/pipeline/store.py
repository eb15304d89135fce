"""Data access for the metadata table: reads, and conditional updates that name the state they leave.

The only module of the pipeline core that talks to DynamoDB. A failed condition is a lost race (or a
stale execution), returned as `False`, never retried blindly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import vocabulary as v


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_between(start: str | None, end: str) -> Decimal | None:
    """Whole seconds between two ISO 8601 times (Step Functions' or ours), None if start is unknown."""
    if not start:
        return None
    parsed = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end)]
    return Decimal(str(round((parsed[1] - parsed[0]).total_seconds(), 3)))


def plain(value: Any) -> Any:
    """DynamoDB's Decimals as JSON-friendly numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: plain(x) for k, x in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(x) for x in value]
    return value


@dataclass
class Update:
    """An update expression built from attribute paths; `sets` may use nested paths (`a.b.c`)."""

    sets: dict[str, Any] = field(default_factory=dict)
    adds: dict[str, Any] = field(default_factory=dict)
    removes: list[str] = field(default_factory=list)
    conditions: list[tuple[str, str, Any]] = field(default_factory=list)  # (path, operator, value)

    def render(self) -> dict[str, Any]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}

        def path(dotted: str) -> str:
            parts = []
            for part in dotted.split("."):
                alias = (
                    f"#n{len(names)}" if part not in names.values() else next(k for k, x in names.items() if x == part)
                )
                names[alias] = part
                parts.append(alias)
            return ".".join(parts)

        def value(raw: Any) -> str:
            alias = f":v{len(values)}"
            values[alias] = _to_dynamo(raw)
            return alias

        clauses = []
        if self.sets:
            clauses.append("SET " + ", ".join(f"{path(p)} = {value(x)}" for p, x in self.sets.items()))
        if self.adds:
            clauses.append("ADD " + ", ".join(f"{path(p)} {value(x)}" for p, x in self.adds.items()))
        if self.removes:
            clauses.append("REMOVE " + ", ".join(path(p) for p in self.removes))
        conditions = []
        for attribute, operator, expected in self.conditions:
            if operator == "exists":
                conditions.append(f"attribute_exists({path(attribute)})")
            elif operator == "in":
                conditions.append(f"{path(attribute)} IN ({', '.join(value(x) for x in expected)})")
            else:
                conditions.append(f"{path(attribute)} {operator} {value(expected)}")
        rendered: dict[str, Any] = {"UpdateExpression": " ".join(clauses), "ExpressionAttributeNames": names}
        if values:
            rendered["ExpressionAttributeValues"] = values
        if conditions:
            rendered["ConditionExpression"] = " AND ".join(conditions)
        return rendered


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(x) for k, x in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(x) for x in value]
    return value


class MetadataTable:
    def __init__(self, table: Any) -> None:
        self.table = table  # a boto3 DynamoDB Table resource

    @classmethod
    def named(cls, name: str, session: Any = None) -> MetadataTable:
        import boto3

        return cls((session or boto3).resource("dynamodb").Table(name))

    def get(self, service: str, commit_sha: str) -> dict[str, Any] | None:
        found = self.table.get_item(Key={"service": service, "commit_sha": commit_sha}, ConsistentRead=True)
        return plain(found["Item"]) if "Item" in found else None

    def update(self, service: str, commit_sha: str, update: Update) -> bool:
        """Apply a conditional update; False if the condition failed (someone else owns the state)."""
        from botocore.exceptions import ClientError

        try:
            self.table.update_item(Key={"service": service, "commit_sha": commit_sha}, **update.render())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def service_record(self, service: str) -> dict[str, Any]:
        return self.get(service, v.SERVICE_RECORD) or {}

    def set_last_known_good(self, service: str, commit_sha: str, build_time: str, at: str) -> bool:
        """The service's prod last known good commit: only ever moves to a newer build (a late run of an
        older release cannot move it back). False if a newer one is already recorded."""
        from botocore.exceptions import ClientError

        try:
            self.table.update_item(
                Key={"service": service, "commit_sha": v.SERVICE_RECORD},
                UpdateExpression="SET last_known_good_commit = :c, last_known_good_build_time = :b, "
                "last_known_good_at = :a, record_type = :t",
                ConditionExpression=(
                    "attribute_not_exists(last_known_good_build_time) OR last_known_good_build_time <= :b"
                ),
                ExpressionAttributeValues={":c": commit_sha, ":b": build_time, ":a": at, ":t": "service"},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
