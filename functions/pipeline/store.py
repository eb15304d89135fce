"""Data access for the metadata table: consistent reads, and the conditional updates the lifecycle
table renders (`expressions.render`), each with its audit entry.

The only module of the pipeline core that talks to DynamoDB. A failed condition is a lost race (or a
stale execution), returned as `False`, never retried blindly.

With an `AuditTrail` (every function of the pipeline has one), a change and the audit entry that records
it are ONE `TransactWriteItems` (`functions.audit.store.append`): the item's conditional update, the
chain head's move and the entry's put. Either all three happen or none does, so the chain holds exactly
the changes that were made; an artifact item also lists its entries in `audit_event_ids` (the entries'
`seq`), in the same write. Records beside the artifacts (the lock, the known good, revoked content) are
audited too but keep no list: they live for years and a list would grow without bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from functions.audit import AUDIT_TABLE
from functions.timestamps import parse_iso

from .lifecycle import REVOKED_COMMIT, REVOKED_REASON, SERVICE_RECORD, revoked_content_key

AUDIT_EVENT_IDS = "audit_event_ids"  # the spec's attribute: the seq of each audit entry of the item
RECORD_MARK = "_"  # keys of records beside the artifacts start with it (`_service`, `_lock#stage`, ...)


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


@dataclass(frozen=True)
class AuditTrail:
    """Where a writer's changes are audited, and as whom."""

    client: Any  # a low-level DynamoDB client (`boto3.client("dynamodb")`)
    actor: str  # the writing principal: `function:<name>` of a Lambda function
    table: str = AUDIT_TABLE

    def append(self, fields: Mapping[str, Any], change: Any = None) -> Any:
        from functions.audit import store as audit

        return audit.append(self.client, {"actor": self.actor, **fields}, table=self.table, change=change)


def _serialised(values: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in values.items()}


def _with_event_id(expression: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """The rendered update, also appending `seq` to the item's `audit_event_ids`."""
    names = {**expression.get("ExpressionAttributeNames", {}), "#audit_ids": AUDIT_EVENT_IDS}
    values = {**expression.get("ExpressionAttributeValues", {}), ":audit_id": [seq], ":audit_none": []}
    assignment = "#audit_ids = list_append(if_not_exists(#audit_ids, :audit_none), :audit_id)"
    update = str(expression.get("UpdateExpression", ""))
    update = f"SET {assignment}, {update[4:]}" if update.startswith("SET ") else f"SET {assignment} {update}"
    return {
        **expression,
        "UpdateExpression": update.strip(),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


class MetadataTable:
    def __init__(self, table: Any, audit: AuditTrail | None = None) -> None:
        self.table = table  # a boto3 DynamoDB Table resource
        self.audit = audit  # None: changes are not audited (tests of the lifecycle alone)

    @classmethod
    def named(cls, name: str, session: Any = None) -> MetadataTable:
        import boto3

        return cls((session or boto3).resource("dynamodb").Table(name))

    def get(self, service: str, commit_sha: str) -> dict[str, Any] | None:
        found = self.table.get_item(Key={"service": service, "commit_sha": commit_sha}, ConsistentRead=True)
        return plain(found["Item"]) if "Item" in found else None

    def update(
        self, service: str, commit_sha: str, expression: dict[str, Any], audit: Mapping[str, Any] | None = None
    ) -> bool:
        """Apply a rendered conditional update; False if the condition failed (someone else owns the state).
        With an audit trail and `audit` (the entry's fields), the update and its entry are one transaction."""
        from botocore.exceptions import ClientError

        if self.audit is not None and audit is not None:
            return self._audited_update(service, commit_sha, expression, audit)

        try:
            self.table.update_item(Key={"service": service, "commit_sha": commit_sha}, **expression)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _audited_update(
        self, service: str, commit_sha: str, expression: Mapping[str, Any], fields: Mapping[str, Any]
    ) -> bool:
        key = {"service": service, "commit_sha": commit_sha}
        listed = not commit_sha.startswith(RECORD_MARK)

        def change(entry: Any) -> list[dict[str, Any]]:
            update = _with_event_id(expression, entry.seq) if listed else dict(expression)
            values = update.pop("ExpressionAttributeValues", None)
            low_level = {"TableName": self.table.name, "Key": _serialised(key), **update}
            if values:
                low_level["ExpressionAttributeValues"] = _serialised(values)
            return [{"Update": low_level}]

        assert self.audit is not None
        return self.audit.append(fields, change) is not None

    def record(self, fields: Mapping[str, Any]) -> None:
        """An audit entry for an action that changes no item (the sweeper's correction that starts a run, a
        lease the state machine took): appended on its own. Nothing without an audit trail."""
        if self.audit is not None:
            self.audit.append(fields)

    def create(self, item: Mapping[str, Any], audit: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Put a new item only if its key is free (`attribute_not_exists`); None if it was created, else
        the item already there (returned by the failed condition, so no read is needed). With an audit
        trail and `audit`, the put and its entry are one transaction."""
        from botocore.exceptions import ClientError

        from .expressions import to_dynamo

        if self.audit is not None and audit is not None:
            new = to_dynamo(dict(item))

            def change(entry: Any) -> list[dict[str, Any]]:
                put = {"TableName": self.table.name, "Item": _serialised({**new, AUDIT_EVENT_IDS: [entry.seq]})}
                put["ConditionExpression"] = "attribute_not_exists(service) AND attribute_not_exists(commit_sha)"
                return [{"Put": put}]

            if self.audit.append(audit, change) is not None:
                return None
            return self.get(str(item["service"]), str(item["commit_sha"])) or {}

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
