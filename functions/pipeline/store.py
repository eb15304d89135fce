"""Data access for the metadata table: consistent reads, and the conditional updates the lifecycle
table renders (`expressions.render`).

The only module of the pipeline core that talks to DynamoDB. A failed condition is a lost race (or a
stale execution), returned as `False`, never retried blindly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from functions.timestamps import parse_iso

from .lifecycle import REVOKED_COMMIT, REVOKED_REASON, SERVICE_RECORD, revoked_content_key


def seconds_between(start: str | None, end: datetime) -> Decimal | None:
    """Seconds (to the millisecond) from an ISO 8601 time (Step Functions' or ours) to `end`, None if the
    start is unknown."""
    if not start:
        return None
    return Decimal(str(round((end - parse_iso(start)).total_seconds(), 3)))


def plain(value: Any) -> Any:
    """DynamoDB's Decimals as JSON-friendly numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: plain(x) for k, x in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(x) for x in value]
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

    def update(self, service: str, commit_sha: str, expression: dict[str, Any]) -> bool:
        """Apply a rendered conditional update; False if the condition failed (someone else owns the state)."""
        from botocore.exceptions import ClientError

        try:
            self.table.update_item(Key={"service": service, "commit_sha": commit_sha}, **expression)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def create(self, item: Mapping[str, Any]) -> dict[str, Any] | None:
        """Put a new item only if its key is free (`attribute_not_exists`); None if it was created, else
        the item already there (returned by the failed condition, so no read is needed)."""
        from botocore.exceptions import ClientError

        from .expressions import to_dynamo

        try:
            self.table.put_item(
                Item=to_dynamo(dict(item)),
                ConditionExpression="attribute_not_exists(service) AND attribute_not_exists(commit_sha)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            found = exc.response.get("Item")
            if found is None:  # an older SDK without the item: read it
                return self.get(str(item["service"]), str(item["commit_sha"])) or {}
            from boto3.dynamodb.types import TypeDeserializer

            deserializer = TypeDeserializer()
            return plain({k: deserializer.deserialize(v) for k, v in found.items()})
        return None

    def service_record(self, service: str) -> dict[str, Any]:
        return self.get(service, SERVICE_RECORD) or {}

    def revocation(self, service: str, artifact_sha256: str | None) -> dict[str, Any] | None:
        """The record of `service`'s revoked content with this hash, whatever commit carried it (None
        for an item that records no content)."""
        record = self.get(service, revoked_content_key(artifact_sha256)) if artifact_sha256 else None
        # a revocation lifted by a signed override keeps its record (when, by which request), not its commit
        return record if record and record.get(REVOKED_COMMIT) else None


def revoked_because(record: Mapping[str, Any]) -> str:
    """Why content was revoked, as a revocation record says it: `revoked under commit C: reason`."""
    return f"revoked under commit {record.get(REVOKED_COMMIT, '?')}: {record.get(REVOKED_REASON, 'revoked')}"
