"""The anchors' data access: the only code of the anchors that touches boto3 (low-level clients).

- `AnchorSources`: the chain (GetItem and Query on the audit table) and the previous anchor (the latest
  key under `audit-log-anchors/`, listed from a day back, then a month, then all: keys sort by time);
- the three destinations: the anchors bucket (PutObject under the prefix; Object Lock retains it), the
  `audit-anchor-publish` topic (Publish: the message is the document) and CloudTrail Lake
  (`cloudtrail-data` PutAuditEvents on the channel: one custom event whose `additionalEventData` is the
  document, in the Lake integration schema);
- `read_anchor_versions`: every version of every anchor object, for `artifactctl audit verify`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.artifacts.errors import AwsError, aws_error_code

from . import ANCHORS_PREFIX, AUDIT_TABLE, CHAIN
from .anchors import Destination, StoredAnchor, canonical, document_hash, object_key
from .entry import Entry, from_item
from .store import Head, _deserialise, read_head

LOOKBACKS = (timedelta(days=1), timedelta(days=32), None)  # where the previous anchor is looked for
EVENT_SOURCE = "cdk-control-plane.audit"
EVENT_NAME = "AuditChainAnchored"
SUBJECT_MAX = 100  # SNS: a subject has at most 100 characters


class AnchorBucketMissing(AwsError):
    pass


def _failure(exc: Exception, call: str, resource: str) -> AwsError:
    if aws_error_code(exc) == "NoSuchBucket":
        return AnchorBucketMissing(
            f"no S3 bucket {resource} (is the tools stack deployed, and the region right? "
            "--anchors-bucket names another)"
        )
    return AwsError(f"{call} on {resource} failed: {exc}")


def _errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


@dataclass(frozen=True)
class AnchorSources:
    """`anchors.AnchorReads` over the audit table and the anchors bucket."""

    dynamodb: Any
    s3: Any
    bucket: str
    table: str = AUDIT_TABLE
    chain: str = CHAIN
    now: Any = None  # datetime; None: the clock

    def head(self) -> Head | None:
        return read_head(self.dynamodb, self.table, self.chain)

    def entry(self, seq: int) -> Entry | None:
        key = {"chain": {"S": self.chain}, "seq": {"N": str(seq)}}
        try:
            item = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        except _errors() as exc:
            raise _failure(exc, "DynamoDB GetItem", self.table) from exc
        return from_item(_deserialise(item)) if item else None

    def entries_between(self, after: int, up_to: int, limit: int) -> list[Entry]:
        query = {
            "TableName": self.table,
            "KeyConditionExpression": "chain = :chain AND seq BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":chain": {"S": self.chain},
                ":low": {"N": str(after + 1)},
                ":high": {"N": str(up_to)},
            },
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        entries: list[Entry] = []
        try:
            for page in self.dynamodb.get_paginator("query").paginate(**query):
                entries += [from_item(_deserialise(item)) for item in page.get("Items", [])]
                if len(entries) >= limit:
                    break
        except _errors() as exc:
            raise _failure(exc, "DynamoDB Query", self.table) from exc
        return entries[:limit]

    def previous_anchor(self) -> StoredAnchor | None:
        now = self.now or datetime.now(UTC)
        for lookback in LOOKBACKS:
            start = "" if lookback is None else ANCHORS_PREFIX + (now - lookback).strftime("%Y%m%dT%H%M%SZ")
            latest = self._latest_key(start)
            if latest:
                return StoredAnchor(latest, json.loads(self._get(latest)))
        return None

    def _latest_key(self, start_after: str) -> str | None:
        listing: dict[str, Any] = {"Bucket": self.bucket, "Prefix": ANCHORS_PREFIX}
        if start_after:
            listing["StartAfter"] = start_after
        latest = None
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(**listing):
                keys = [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
                latest = max([*keys, *([latest] if latest else [])], default=None)
        except _errors() as exc:
            raise _failure(exc, "S3 ListObjectsV2", self.bucket) from exc
        return latest

    def _get(self, key: str, version: str | None = None) -> bytes:
        extra = {"VersionId": version} if version else {}
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key, **extra)["Body"].read()
        except _errors() as exc:
            raise _failure(exc, "S3 GetObject", f"s3://{self.bucket}/{key}") from exc


def bucket_destination(s3: Any, bucket: str) -> Destination:
    def send(document: Mapping[str, Any]) -> str:
        key = object_key(document)
        # Object Lock needs an integrity checksum on every put (S3 refuses one without).
        s3.put_object(
            Bucket=bucket, Key=key, Body=canonical(document), ContentType="application/json", ChecksumAlgorithm="SHA256"
        )
        return f"s3://{bucket}/{key}"

    return Destination("s3", send)


def subject(document: Mapping[str, Any]) -> str:
    return f"audit anchor: depth {document['depth']}, root {document['anchor_hash']}"[:SUBJECT_MAX]


def topic_destination(sns: Any, topic_arn: str) -> Destination:
    def send(document: Mapping[str, Any]) -> str:
        message = canonical(document).decode()
        return str(sns.publish(TopicArn=topic_arn, Subject=subject(document), Message=message)["MessageId"])

    return Destination("sns", send)


def audit_event(document: Mapping[str, Any], account: str, actor: str) -> dict[str, str]:
    """One `auditEvents` member: `eventData` in the CloudTrail Lake integration schema, its checksum
    (base64 of the SHA-256 of the `eventData` text), and the anchor's hash as the event id and UID."""
    event_data = json.dumps(
        {
            "version": "1.0",
            "userIdentity": {"type": "LambdaFunction", "principalId": actor},
            "eventSource": EVENT_SOURCE,
            "eventName": EVENT_NAME,
            "eventTime": document["anchored_at"],
            "UID": document_hash(document),
            "recipientAccountId": account,
            "additionalEventData": dict(document),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    checksum = base64.b64encode(hashlib.sha256(event_data.encode()).digest()).decode()
    return {"id": document_hash(document)[:32], "eventData": event_data, "eventDataChecksum": checksum}


def cloudtrail_destination(client: Any, channel_arn: str, account: str, actor: str) -> Destination:
    def send(document: Mapping[str, Any]) -> str:
        answer = client.put_audit_events(auditEvents=[audit_event(document, account, actor)], channelArn=channel_arn)
        if answer.get("failed"):
            failed = answer["failed"][0]
            raise AwsError(f"CloudTrail refused the event: {failed.get('errorCode')}: {failed.get('errorMessage')}")
        return str(answer["successful"][0]["eventID"])

    return Destination("cloudtrail", send)


def read_anchor_versions(s3: Any, bucket: str) -> Iterator[tuple[str, str | None, bytes]]:
    """(key, version id, bytes) of every version of every anchor object, oldest key first."""
    sources = AnchorSources(dynamodb=None, s3=s3, bucket=bucket)
    versions: list[tuple[str, str | None, Any]] = []
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=ANCHORS_PREFIX):
            versions += [(v["Key"], v.get("VersionId"), v["LastModified"]) for v in page.get("Versions", [])]
    except _errors() as exc:
        raise _failure(exc, "S3 ListObjectVersions", bucket) from exc
    for key, version, _ in sorted(versions, key=lambda v: (v[0], v[2])):
        yield key, (None if version in (None, "null") else version), sources._get(key, version)
