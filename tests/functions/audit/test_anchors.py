"""The anchor function against moto: each run lands one anchor, with the spec's fields, in the Object Lock
bucket, the `audit-anchor-publish` topic's inbox and CloudTrail Lake (the emulator's bridge); anchors
link to each other; a destination that refuses fails the run after the other two were written."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import boto3
import pytest

from devtools.emulator.anchors import AnchorDestinations, create_anchor_destinations
from functions.audit import ANCHORS_PREFIX, AUDIT_TABLE, GENESIS_HASH, store
from functions.audit.anchors import AnchorNotPublished, canonical
from functions.handlers import clients
from functions.pipeline.settings import FunctionSettings, SettingsError
from tests.functions.audit.conftest import fields
from tests.functions.handlers.test_handlers import _invoke, environment  # noqa: F401 - fixture
from tests.functions.pipeline.conftest import aws, settings, table  # noqa: F401 - fixtures

SCHEDULED = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}


@pytest.fixture
def anchors(environment: FunctionSettings, monkeypatch: pytest.MonkeyPatch) -> AnchorDestinations:  # noqa: F811
    """The destinations, and the variables the program writes for the anchor function alone."""
    destinations = create_anchor_destinations(monkeypatch, environment.tools_account_id)
    monkeypatch.setenv("ANCHOR_BUCKET", destinations.bucket)
    monkeypatch.setenv("ANCHOR_TOPIC_ARN", destinations.topic_arn)
    monkeypatch.setenv("ANCHOR_CHANNEL_ARN", destinations.channel_arn)
    clients.forget()
    return destinations


def append(*actions: str) -> list[Any]:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    return [store.append(dynamodb, fields(n, action=action)) for n, action in enumerate(actions, start=1)]


def bucket_documents(destinations: AnchorDestinations) -> list[tuple[str, dict[str, Any]]]:
    s3 = boto3.client("s3", region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=destinations.bucket, Prefix=ANCHORS_PREFIX).get("Contents", [])
    return [
        (o["Key"], json.loads(s3.get_object(Bucket=destinations.bucket, Key=o["Key"])["Body"].read()))
        for o in sorted(listed, key=lambda o: o["Key"])
    ]


def test_an_anchor_lands_in_all_three_places_with_the_specs_fields(anchors: AnchorDestinations) -> None:
    chain = append("state_transition", "override_applied", "rollback_planned", "state_transition")
    result = _invoke("anchor", SCHEDULED)

    ((key, document),) = bucket_documents(anchors)
    (message,) = anchors.inbox()
    (event,) = anchors.lake.events(anchors.channel_arn)
    assert json.loads(message) == document == event["additionalEventData"]
    assert message.encode() == canonical(document)  # the mailed text is the object's RFC 8785 bytes
    last = chain[-1]
    assert document["last_entry_timestamp"] == last.timestamp
    assert document["anchor_hash"] == last.log_hash == store.read_head(boto3.client("dynamodb")).hash
    assert document["depth"] == 4 and document["last_log_hash"] == last.log_hash
    summary = document["high_privilege_actions"]
    assert summary["by_action"] == {"override_applied": 1, "rollback_planned": 1} and summary["total"] == 2
    assert [(r["seq"], r["action"]) for r in summary["recent"]] == [(3, "rollback_planned"), (2, "override_applied")]
    assert (summary["since_depth"], summary["complete"]) == (0, True)
    assert (document["previous_anchor_hash"], document["previous_anchor_depth"]) == (GENESIS_HASH, 0)
    own_hash = hashlib.sha256(canonical(document)).hexdigest()
    assert re.fullmatch(rf"audit-log-anchors/\d{{8}}T\d{{6}}Z-000000000004-{own_hash[:16]}\.json", key), key
    assert result["delivered"]["s3"] == f"s3://{anchors.bucket}/{key}"
    # CloudTrail Lake: the integration schema, the anchor's hash as the event's UID
    assert (event["eventSource"], event["eventName"]) == ("cdk-control-plane.audit", "AuditChainAnchored")
    assert event["UID"] == own_hash
    assert event["recipientAccountId"] == "123456789012" and event["eventTime"] == document["anchored_at"]
    # the bucket's default retention holds the anchor: its version cannot be deleted
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.head_object(Bucket=anchors.bucket, Key=key)["ObjectLockMode"] == "GOVERNANCE"
    version = s3.list_object_versions(Bucket=anchors.bucket)["Versions"][0]["VersionId"]
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=anchors.bucket, Key=key, VersionId=version)


def test_the_next_anchor_links_to_the_last_and_summarises_only_what_came_after(anchors: AnchorDestinations) -> None:
    append("override_applied")
    _invoke("anchor", SCHEDULED)
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    store.append(dynamodb, fields(9, action="break_glass_used"))
    _invoke("anchor", SCHEDULED)

    (_, first), (_, second) = bucket_documents(anchors)
    assert second["previous_anchor_hash"] == hashlib.sha256(canonical(first)).hexdigest()
    assert (second["previous_anchor_depth"], second["depth"]) == (1, 2)
    assert second["high_privilege_actions"]["by_action"] == {"break_glass_used": 1}
    assert second["high_privilege_actions"]["since_depth"] == 1


def test_an_unchanged_chain_is_anchored_all_the_same(anchors: AnchorDestinations) -> None:
    append("state_transition")
    for _ in range(2):
        _invoke("anchor", SCHEDULED)
    assert len(anchors.inbox()) == 2 and len(anchors.lake.events(anchors.channel_arn)) == 2
    (_, first), (_, second) = bucket_documents(anchors)
    assert (first["depth"], second["depth"]) == (1, 1) and second["high_privilege_actions"]["total"] == 0


def test_an_empty_chain_is_anchored_as_the_genesis(anchors: AnchorDestinations) -> None:
    _invoke("anchor", SCHEDULED)
    ((_, document),) = bucket_documents(anchors)
    assert (document["depth"], document["anchor_hash"], document["last_entry_timestamp"]) == (0, GENESIS_HASH, None)


def _refuse(destination: str, anchors: AnchorDestinations, monkeypatch: pytest.MonkeyPatch) -> None:
    if destination == "sns":
        boto3.client("sns", region_name="us-east-1").delete_topic(TopicArn=anchors.topic_arn)
    elif destination == "cloudtrail":
        anchors.lake.refuse = "CloudTrail Lake is unavailable"
    else:
        from botocore.exceptions import ClientError

        def denied(**_: Any) -> None:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "PutObject")

        monkeypatch.setattr(clients.client("s3"), "put_object", denied)


@pytest.mark.parametrize("refusing", ["s3", "sns", "cloudtrail"])
def test_a_refusing_destination_fails_the_run_after_the_other_two_hold_the_anchor(
    anchors: AnchorDestinations, monkeypatch: pytest.MonkeyPatch, refusing: str
) -> None:
    append("state_transition")
    _refuse(refusing, anchors, monkeypatch)
    with pytest.raises(AnchorNotPublished) as raised:
        _invoke("anchor", SCHEDULED)
    assert set(raised.value.failures) == {refusing}
    assert str(raised.value).startswith(f"audit anchor not published to {refusing} (")
    held = {
        "s3": len(bucket_documents(anchors)),
        "sns": 0 if refusing == "sns" else len(anchors.inbox()),
        "cloudtrail": len(anchors.lake.events(anchors.channel_arn)),
    }
    assert held == {name: 0 if name == refusing else 1 for name in held}
    assert set(raised.value.delivered) == set(held) - {refusing}


def test_a_head_that_disagrees_with_its_last_entry_is_anchored_as_read_then_fails(
    anchors: AnchorDestinations,
) -> None:
    append("state_transition", "state_transition")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.delete_item(TableName=AUDIT_TABLE, Key={"chain": {"S": "control-plane"}, "seq": {"N": "2"}})
    with pytest.raises(store.AuditChainBroken, match="head says depth 2.*but seq 2 has no entry"):
        _invoke("anchor", SCHEDULED)
    ((_, document),) = bucket_documents(anchors)
    assert document["depth"] == 2 and document["last_log_hash"] is None


def test_the_summary_stays_bounded(anchors: AnchorDestinations, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.audit import anchors as anchor_module

    monkeypatch.setattr(anchor_module, "SUMMARY_SCAN_LIMIT", 15)
    append(*["manual_rollback"] * 20)
    _invoke("anchor", SCHEDULED)
    ((_, document),) = bucket_documents(anchors)
    summary = document["high_privilege_actions"]
    assert (summary["entries_read"], summary["complete"], summary["total"]) == (15, False, 15)
    assert [r["seq"] for r in summary["recent"]] == list(range(20, 10, -1))


def test_the_function_refuses_to_start_without_its_destinations(
    anchors: AnchorDestinations, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.handlers.anchor import anchor_settings

    monkeypatch.delenv("ANCHOR_CHANNEL_ARN")
    clients.forget()
    with pytest.raises(SettingsError, match="environment variable ANCHOR_CHANNEL_ARN is required"):
        anchor_settings()


@pytest.fixture
def lake_off(anchors: AnchorDestinations, monkeypatch: pytest.MonkeyPatch) -> AnchorDestinations:
    """The variables the program writes with `auditAnchorCloudTrailLake: false`: no channel, the off marker."""
    monkeypatch.delenv("ANCHOR_CHANNEL_ARN")
    monkeypatch.setenv("ANCHOR_CLOUDTRAIL", "off")
    clients.forget()
    return anchors


def cold_start(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import the handler afresh, as a new Lambda environment does (the module checks its settings)."""
    import importlib
    import sys

    monkeypatch.delitem(sys.modules, "functions.handlers.anchor", raising=False)
    clients.forget()
    return importlib.import_module("functions.handlers.anchor")


def test_with_the_lake_left_out_an_anchor_goes_to_the_bucket_and_the_inbox_only(
    lake_off: AnchorDestinations, monkeypatch: pytest.MonkeyPatch
) -> None:
    append("override_applied")
    cold_start(monkeypatch)  # starts: the missing channel is the program's choice
    result = _invoke("anchor", SCHEDULED)

    ((key, document),) = bucket_documents(lake_off)
    (message,) = lake_off.inbox()
    assert json.loads(message) == document and document["depth"] == 1
    assert lake_off.lake.channels == {lake_off.channel_arn: []}  # nothing reached CloudTrail Lake
    assert (result["destinations"], result["left_out"]) == (["s3", "sns"], ["cloudtrail"])
    assert set(result["delivered"]) == {"s3", "sns"} and result["delivered"]["s3"] == f"s3://{lake_off.bucket}/{key}"


def test_with_the_lake_on_the_result_names_all_three_destinations(anchors: AnchorDestinations) -> None:
    result = _invoke("anchor", SCHEDULED)
    assert (result["destinations"], result["left_out"]) == (["s3", "sns", "cloudtrail"], [])
    assert set(result["delivered"]) == {"s3", "sns", "cloudtrail"}


@pytest.mark.parametrize("refusing", ["s3", "sns"])
def test_with_the_lake_left_out_a_refusing_destination_still_fails_the_run(
    lake_off: AnchorDestinations, monkeypatch: pytest.MonkeyPatch, refusing: str
) -> None:
    append("state_transition")
    _refuse(refusing, lake_off, monkeypatch)
    with pytest.raises(AnchorNotPublished) as raised:
        _invoke("anchor", SCHEDULED)
    assert set(raised.value.failures) == {refusing}
    assert set(raised.value.delivered) == {"s3", "sns"} - {refusing}


def test_a_missing_channel_without_the_off_marker_fails_at_cold_start(
    anchors: AnchorDestinations, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANCHOR_CHANNEL_ARN")
    with pytest.raises(SettingsError, match="environment variable ANCHOR_CHANNEL_ARN is required") as raised:
        cold_start(monkeypatch)
    assert "ANCHOR_CLOUDTRAIL=off" in str(raised.value)  # says how the Lake is left out on purpose


@pytest.mark.parametrize("variable", ["ANCHOR_BUCKET", "ANCHOR_TOPIC_ARN"])
def test_with_the_lake_left_out_the_bucket_and_topic_are_still_required_at_cold_start(
    lake_off: AnchorDestinations, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv(variable)
    with pytest.raises(SettingsError, match=f"environment variable {variable} is required"):
        cold_start(monkeypatch)


@pytest.mark.parametrize(
    ("marker", "channel", "message"),
    [
        ("off", True, "ANCHOR_CLOUDTRAIL=off and ANCHOR_CHANNEL_ARN contradict each other"),
        ("no", False, "ANCHOR_CLOUDTRAIL='no': expected 'off'"),
    ],
)
def test_an_off_marker_that_is_not_the_programs_fails_at_cold_start(
    anchors: AnchorDestinations, monkeypatch: pytest.MonkeyPatch, marker: str, channel: bool, message: str
) -> None:
    monkeypatch.setenv("ANCHOR_CLOUDTRAIL", marker)
    if not channel:
        monkeypatch.delenv("ANCHOR_CHANNEL_ARN")
    with pytest.raises(SettingsError, match=message):
        cold_start(monkeypatch)
