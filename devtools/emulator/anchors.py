"""The audit anchors' destinations in moto, as `components/audit_anchors.py` declares them: the anchors
bucket (versioned, Object Lock with a default retention), the `audit-anchor-publish` topic (an SQS queue
subscribed stands for the external inbox) and CloudTrail Lake, which moto lacks and `CloudTrailLake`
bridges.

What the bridge stands in for (moto 5.2.5 has no `cloudtrail-data` service, nor CloudTrail Lake channels
and event data stores: a call to `cloudtrail-data.<region>.amazonaws.com` gets moto's 404 "Not yet
implemented"): real `PutAuditEvents` (POST /PutAuditEvents?channelArn=...) refuses an unknown channel
(`ChannelNotFound`), accepts up to 100 events per call, and answers each event in `successful` (with the
`eventID` CloudTrail gives it) or in `failed` (its `errorCode`, `errorMessage`); an event whose
`eventDataChecksum` is not the base64 SHA-256 of its `eventData`, or whose `eventData` lacks a field the
Lake integration schema requires, fails. The bridge keeps the events it accepted per channel, so a test
can read what a query of the event data store would return. Never the product: the anchor function calls
the real API through boto3.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from functions.audit import ANCHOR_TOPIC, ANCHORS_BUCKET, AUDIT_TABLE

REQUIRED_EVENT_DATA = ("version", "eventSource", "eventName", "eventTime", "UID", "recipientAccountId")
REQUIRED_IDENTITY = ("type", "principalId")
MAX_EVENTS = 100


def _answer(status: int, body: dict[str, Any], error: str | None = None) -> tuple[int, dict[str, str], str]:
    headers = {"Content-Type": "application/json", **({"x-amzn-ErrorType": error} if error else {})}
    return status, headers, json.dumps(body)


def _schema_problem(event: dict[str, Any]) -> str | None:
    checksum = event.get("eventDataChecksum")
    if checksum and checksum != base64.b64encode(hashlib.sha256(event["eventData"].encode()).digest()).decode():
        return "eventDataChecksum is not the base64 SHA-256 of eventData"
    try:
        data = json.loads(event["eventData"])
    except (TypeError, json.JSONDecodeError):
        return "eventData is not JSON"
    missing = [f for f in REQUIRED_EVENT_DATA if not data.get(f)]
    missing += [f"userIdentity.{f}" for f in REQUIRED_IDENTITY if not (data.get("userIdentity") or {}).get(f)]
    return f"eventData lacks {', '.join(missing)}" if missing else None


@dataclass
class CloudTrailLake:
    """Channels (ARN -> the events accepted on it) and, for a test, a reason to refuse every call."""

    channels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refuse: str | None = None

    def add_channel(self, arn: str) -> str:
        self.channels.setdefault(arn, [])
        return arn

    def events(self, channel: str) -> list[dict[str, Any]]:
        """The `eventData` of every event accepted on `channel`, parsed."""
        return [json.loads(e["eventData"]) for e in self.channels.get(channel, [])]

    def respond(self, url: str, body: bytes | str | None) -> tuple[int, dict[str, str], str]:
        channel = (parse_qs(urlparse(url).query).get("channelArn") or [""])[0]
        if self.refuse:
            return _answer(500, {"message": self.refuse}, "InternalServerException")
        if channel not in self.channels:
            return _answer(400, {"message": f"channel {channel} not found"}, "ChannelNotFound")
        events = json.loads(body or "{}").get("auditEvents", [])
        if not 1 <= len(events) <= MAX_EVENTS:
            return _answer(400, {"message": f"{len(events)} events: 1 to {MAX_EVENTS}"}, "ValidationException")
        successful, failed = [], []
        for event in events:
            problem = _schema_problem(event)
            if problem:
                failed.append({"id": event.get("id"), "errorCode": "InvalidEventData", "errorMessage": problem})
            else:
                self.channels[channel].append(event)
                successful.append({"id": event["id"], "eventID": str(uuid.uuid4())})
        return _answer(200, {"successful": successful, "failed": failed})

    def install(self, monkeypatch: Any) -> CloudTrailLake:
        """Answer `cloudtrail-data` calls before moto's 404 does."""
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.process_request
        lake = self

        def process_request(stubber: Any, request: Any) -> Any:
            if urlparse(request.url).netloc.startswith("cloudtrail-data."):
                return lake.respond(request.url, request.body)
            return original(stubber, request)

        monkeypatch.setattr(BotocoreStubber, "process_request", process_request)
        self._install_on_server(monkeypatch)
        return self

    def _install_on_server(self, monkeypatch: Any) -> None:
        """The same answers through moto's server (`make demo`: every client's `AWS_ENDPOINT_URL` is the
        server, so the host names no service; the request's SigV4 credential scope does)."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        original = DomainDispatcherApplication.__call__
        lake = self

        def call(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
            if "/cloudtrail-data/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
                return original(app, environ, start_response)
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            url = f"http://{environ.get('HTTP_HOST')}{environ.get('PATH_INFO', '')}?{environ.get('QUERY_STRING', '')}"
            status, headers, text = lake.respond(url, body)
            start_response(f"{status} {'OK' if status == 200 else 'Error'}", list(headers.items()))
            return [text.encode()]

        monkeypatch.setattr(DomainDispatcherApplication, "__call__", call)


@dataclass(frozen=True)
class AnchorDestinations:
    bucket: str
    topic_arn: str
    channel_arn: str
    inbox_url: str  # the SQS queue subscribed to the topic: the external inbox
    lake: CloudTrailLake

    def inbox(self) -> list[str]:
        """The messages the inbox received (the anchors as mailed), oldest first; read once."""
        import boto3

        sqs = boto3.client("sqs", region_name="us-east-1")
        received = []
        while messages := sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                received.append(json.loads(message["Body"])["Message"])
                sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])
        return received


def create_anchor_destinations(
    monkeypatch: Any, account: str, region: str = "us-east-1", channel_arn: str | None = None, days: int = 365
) -> AnchorDestinations:
    """The bucket (Object Lock, GOVERNANCE `days`), the topic with an inbox queue, the audit table if it is
    not there yet, and the CloudTrail Lake bridge with one channel (`channel_arn`, or a new one)."""
    import boto3

    from devtools.emulator.audit import create_audit_table

    dynamodb = boto3.client("dynamodb", region_name=region)
    if AUDIT_TABLE not in dynamodb.list_tables()["TableNames"]:
        create_audit_table(dynamodb)
    bucket = f"{ANCHORS_BUCKET}-{account}-{region}"
    s3 = boto3.client("s3", region_name=region)
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": days}},
        },
    )
    sns, sqs = boto3.client("sns", region_name=region), boto3.client("sqs", region_name=region)
    topic_arn = sns.create_topic(Name=ANCHOR_TOPIC)["TopicArn"]
    inbox_url = sqs.create_queue(QueueName="audit-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=inbox_arn)
    lake = CloudTrailLake().install(monkeypatch)
    channel = lake.add_channel(channel_arn or f"arn:aws:cloudtrail:{region}:{account}:channel/{uuid.uuid4()}")
    return AnchorDestinations(bucket, topic_arn, channel, inbox_url, lake)


def anchors_in_moto(monkeypatch: Any, account: str = "123456789012") -> Iterator[AnchorDestinations]:
    """moto (fake credentials) with the audit table and the anchors' destinations. For a pytest fixture to
    `yield from`."""
    from moto import mock_aws

    from devtools.emulator.aws import use_fake_credentials

    use_fake_credentials(monkeypatch)
    with mock_aws():
        yield create_anchor_destinations(monkeypatch, account)
