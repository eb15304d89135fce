"""`artifactctl audit verify` against the anchors: what the chain alone cannot show (a chain rewritten from
an entry to its end with the head redone, a tail cut off with the head redone) is caught through an anchor
taken before; a pasted inbox message is checked the same way; bad input is a clear error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.emulator.anchors import AnchorDestinations, anchors_in_moto
from functions.audit import ANCHORS_PREFIX, store
from functions.audit.anchor_io import AnchorSources, bucket_destination, cloudtrail_destination, topic_destination
from functions.audit.anchors import canonical, publish_anchor
from functions.audit.verify import verify
from tests.artifactctl.test_cli import run
from tests.functions.audit.conftest import fields
from tests.functions.audit.test_verify import delete, items, put, rehashed, set_head

ACCOUNT = "123456789012"


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnchorDestinations]:
    with contextmanager(anchors_in_moto)(monkeypatch) as destinations:
        yield destinations


@pytest.fixture
def dynamodb(moto: AnchorDestinations) -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def anchor(destinations: AnchorDestinations, minute: int) -> dict[str, Any]:
    """One run of the anchor function (its domain code, at a chosen minute); the anchor document."""
    s3 = boto3.client("s3", region_name="us-east-1")
    published = publish_anchor(
        AnchorSources(boto3.client("dynamodb", region_name="us-east-1"), s3, destinations.bucket),
        [
            bucket_destination(s3, destinations.bucket),
            topic_destination(boto3.client("sns", region_name="us-east-1"), destinations.topic_arn),
            cloudtrail_destination(boto3.client("cloudtrail-data"), destinations.channel_arn, ACCOUNT, "cdkcp-anchor"),
        ],
        clock=lambda: f"2026-12-08T00:{minute:02d}:00Z",
    )
    return dict(published.document)


def append(dynamodb: Any, first: int, last: int) -> None:
    for n in range(first, last + 1):
        store.append(dynamodb, fields(n))


@pytest.fixture
def anchored(moto: AnchorDestinations, dynamodb: Any) -> list[dict[str, Any]]:
    """Ten entries, anchored at depths 4, 7 and 10 (three runs, ten minutes apart)."""
    documents = []
    for minute, (first, last) in zip((10, 20, 30), ((1, 4), (5, 7), (8, 10)), strict=True):
        append(dynamodb, first, last)
        documents.append(anchor(moto, minute))
    return documents


def rewrite_from(dynamodb: Any, seq: int) -> None:
    """A careful forger: entries from `seq` to the end rewritten, every hash and link redone, the head too."""
    chain = items(dynamodb)
    previous = chain[seq - 1]["log_hash"]
    last = max(s for s in chain if s)
    for n in range(seq, last + 1):
        forged = rehashed(chain[n], reason="nothing happened here", previous_log_hash=previous)
        put(dynamodb, forged)
        previous = forged["log_hash"]
    set_head(dynamodb, last, previous)


def test_a_clean_chain_agrees_with_every_anchor(anchored, capsys) -> None:
    code, out, err = run(capsys, "audit", "verify")
    lines = out.splitlines()
    assert (code, err) == (0, "") and lines[0] == f"OK: depth 10, root {anchored[-1]['anchor_hash']}"
    assert lines[1] == (
        "OK: 3 anchor(s) in s3://cdk-audit-log-anchors-123456789012-us-east-1 agree with the chain and link to "
        "each other (the latest: depth 10, anchored 2026-12-08T00:30:00Z)"
    )


def test_a_chain_rewritten_to_its_end_with_the_head_redone_is_caught_through_an_anchor(
    anchored, dynamodb, capsys
) -> None:
    rewrite_from(dynamodb, 6)
    assert verify(*store.read_chain(dynamodb)).ok  # the chain alone cannot tell
    code, out, _ = run(capsys, "audit", "verify")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith("FAIL audit chain seq 5 rewritten: seq 7 does not carry the hash of the anchor of ")
    assert "an entry from seq 5 to 7 was rewritten" in lines[0] and "agrees with the anchor at depth 4" in lines[0]
    assert lines[1] == f"(the chain is intact up to depth 4, root {anchored[0]['anchor_hash']})"


def test_a_truncation_below_an_anchors_depth_is_caught(anchored, dynamodb, capsys) -> None:
    chain = items(dynamodb)
    for seq in (9, 10):
        delete(dynamodb, seq)
    set_head(dynamodb, 8, chain[8]["log_hash"])
    assert verify(*store.read_chain(dynamodb)).ok  # the head redone: the chain alone looks whole
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 1
    assert out.splitlines()[0].startswith("FAIL audit chain seq 9 truncated: the anchor of 2026-12-08T00:30:00Z")
    assert "the chain ends at seq 8" in out


def test_a_pasted_anchor_message_is_checked_against_the_chain(anchored, moto, tmp_path, capsys) -> None:
    (message, *_) = moto.inbox()
    pasted = tmp_path / "anchor.eml"
    footer = "\n--\nIf you wish to stop receiving notifications from this topic, please click below\n"
    pasted.write_text(f"Subject: audit anchor\n\n{message}{footer}")
    code, out, _ = run(capsys, "audit", "verify", "--anchor-message", str(pasted))
    assert code == 0
    assert out.splitlines()[-1].startswith(
        "OK: the pasted anchor (depth 4, anchored 2026-12-08T00:10:00Z) agrees; the bucket holds it (s3://"
    )


@pytest.mark.parametrize("altered", [("anchor_hash",), ("anchor_hash", "last_log_hash")])
def test_a_tampered_anchor_message_fails(anchored, moto, tmp_path, capsys, altered) -> None:
    document = json.loads(moto.inbox()[1])
    document.update(dict.fromkeys(altered, "f" * 64))
    pasted = tmp_path / "anchor.json"
    pasted.write_bytes(canonical(document))
    code, out, _ = run(capsys, "audit", "verify", "--anchor-message", str(pasted))
    first = out.splitlines()[0]
    assert code == 1 and f"--anchor-message {pasted}" in first
    if len(altered) == 1:  # the message no longer agrees with itself
        assert first.startswith("FAIL audit chain seq 7 head: the anchor of 2026-12-08T00:20:00Z (depth 7, ")
        assert "disagrees with itself: its anchor_hash ffffffffffffffff... is not its last_log_hash" in first
    else:  # consistently altered: the chain does not carry it
        assert first.startswith("FAIL audit chain seq 5 rewritten: seq 7 does not carry the hash of the anchor of ")


def test_a_pasted_message_from_a_rewritten_past_catches_the_rewrite_without_the_bucket(
    moto, dynamodb, tmp_path, capsys
) -> None:
    append(dynamodb, 1, 3)
    anchor(moto, 10)
    pasted = tmp_path / "anchor.json"
    pasted.write_text(moto.inbox()[0])
    rewrite_from(dynamodb, 2)
    code, out, _ = run(capsys, "audit", "verify", "--anchor-message", str(pasted))
    assert code == 1 and out.startswith("FAIL audit chain seq 1 rewritten: seq 3 does not carry the hash")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("hello", "no JSON object in it"),
        ('{"anchor_version": 1, "depth": 1', "no JSON object in it"),
        ('{"anchor_version": 1, "depth": "one"}', "depth must be a whole number, got 'one'"),
        ("[1, 2]", "not an audit anchor (expected a JSON object with anchor_version 1)"),
    ],
)
def test_a_malformed_pasted_message_is_a_clear_usage_error(anchored, tmp_path, capsys, content, reason) -> None:
    pasted = tmp_path / "anchor.txt"
    pasted.write_text(content)
    code, out, err = run(capsys, "audit", "verify", "--anchor-message", str(pasted))
    assert (code, out) == (2, "")
    assert err == f"artifactctl: --anchor-message {pasted}: not an audit anchor message: {reason}\n"


def test_an_unreadable_pasted_file_is_a_clear_usage_error(anchored, tmp_path, capsys) -> None:
    code, out, err = run(capsys, "audit", "verify", "--anchor-message", str(tmp_path / "missing.eml"))
    assert (code, out) == (2, "") and "--anchor-message" in err and "Traceback" not in err


def test_a_missing_anchors_bucket_is_a_clear_error(anchored, capsys) -> None:
    code, out, err = run(capsys, "audit", "verify", "--anchors-bucket", "no-such-anchors")
    assert (code, out) == (3, "")
    assert err.startswith("artifactctl: no S3 bucket no-such-anchors (is the tools stack deployed")


def test_an_unreadable_anchor_in_the_bucket_is_named(anchored, moto, capsys) -> None:
    key = f"{ANCHORS_PREFIX}20261208T004000Z-000000000010-0000000000000000.json"
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=moto.bucket, Key=key, Body=b"not json")
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 1
    assert f"FAIL audit chain seq 0 anchors: s3://{moto.bucket}/{key}?versionId=" in out
    assert "is not a readable anchor: no JSON object in it" in out


def test_an_anchor_slipped_into_the_bucket_breaks_the_anchors_own_chain(anchored, moto, capsys) -> None:
    forged = {**anchored[1], "anchored_at": "2026-12-08T00:25:00Z", "previous_anchor_hash": "0" * 64}
    key = f"{ANCHORS_PREFIX}20261208T002500Z-000000000007-forgedforgedforg.json"
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=moto.bucket, Key=key, Body=canonical(forged))
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 1
    assert "FAIL audit chain seq 7 anchors: the anchor of 2026-12-08T00:25:00Z (depth 7" in out
    assert "does not link to the anchor before it" in out


def test_the_default_bucket_is_the_callers_accounts(anchored, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(capsys, "audit", "verify", "--region", "us-east-1")
    assert code == 0 and "s3://cdk-audit-log-anchors-123456789012-us-east-1 " in out


def test_every_anchor_is_in_the_bucket_the_inbox_and_cloudtrail(anchored, moto) -> None:
    assert [json.loads(m) for m in moto.inbox()] == anchored
    assert [e["additionalEventData"] for e in moto.lake.events(moto.channel_arn)] == anchored
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=moto.bucket)["Contents"]
    assert len(listed) == 3 and Path(listed[0]["Key"]).suffix == ".json"
