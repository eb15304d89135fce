"""The signed request: built, signed and parsed strictly; its signature verifies only with the override
key over the exact bytes signed; its window is enforced (expiry, at most an hour, clock skew)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import rfc8785

from functions.artifacts.signing import LocalKeySigner
from functions.overrides.request import (
    BREAK_GLASS,
    CLOCK_SKEW_SECONDS,
    OverrideAction,
    RequestError,
    dumps,
    new_request,
    parse_duration,
    parse_request,
    sign_request,
    timing_problem,
    verify_signature,
)

COMMIT, GOOD = "c" * 40, "a" * 40
OPERATOR = "arn:aws:sts::123456789012:assumed-role/oncall/alice"
NOW = datetime(2026, 11, 23, 4, 0, 0, tzinfo=UTC)


def request_of(action: str = "requeue", environment: str | None = "stage", **extra: object):
    fields = {"service": "orders", "commit_sha": COMMIT, "environment": environment, "reason": "INC-42: retry"}
    fields.update(extra)
    return new_request(action, requester=OPERATOR, expires_in=900, now=NOW, **fields)  # type: ignore[arg-type]


def signed_text(signer: LocalKeySigner, **extra: object) -> str:
    return dumps(sign_request(request_of(**extra), signer))


def test_a_signed_request_round_trips_and_verifies(signer: LocalKeySigner) -> None:
    text = signed_text(signer)
    request = parse_request(text)
    assert request.action is OverrideAction.REQUEUE and request.target.environment == "stage"
    assert len(request.nonce) == 32 and int(request.nonce, 16) >= 0
    assert (request.issued_at, request.expires_at) == ("2026-11-23T04:00:00Z", "2026-11-23T04:15:00Z")
    assert verify_signature(request, signer.private_key.public_key()) is None
    # the signature covers the RFC 8785 bytes of everything but the signature
    document = json.loads(text)
    del document["signature"]
    assert request.canonical_bytes() == rfc8785.dumps(document)


def test_every_request_has_its_own_nonce() -> None:
    assert len({request_of().nonce for _ in range(50)}) == 50


def test_a_request_signed_by_another_key_does_not_verify(signer: LocalKeySigner, other_signer: LocalKeySigner) -> None:
    request = parse_request(signed_text(other_signer))
    problem = verify_signature(request, signer.private_key.public_key())
    assert problem and "does not verify with the override key" in problem


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "something else"},
        {"target": {"service": "orders", "commit_sha": GOOD, "environment": "stage"}},
        {"expires_at": "2026-11-23T05:00:00Z"},
        {"requester": "arn:aws:iam::123456789012:role/someone-else"},
    ],
    ids=["reason", "target", "expiry", "requester"],
)
def test_a_changed_request_no_longer_verifies(signer: LocalKeySigner, change: dict) -> None:
    document = {**json.loads(signed_text(signer)), **change}
    request = parse_request(json.dumps(document))
    assert verify_signature(request, signer.private_key.public_key())


def test_a_malformed_signature_is_named(signer: LocalKeySigner) -> None:
    document = {**json.loads(signed_text(signer)), "signature": "not base64!"}
    assert "is not base64" in str(
        verify_signature(parse_request(json.dumps(document)), signer.private_key.public_key())
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"nonce": "1234"}, "nonce"),
        ({"action": "deploy_anything"}, "action"),
        ({"extra": 1}, "unknown \\['extra'\\]"),
        ({"version": 2}, "version"),
        ({"requester": "alice"}, "requester"),
        ({"issued_at": "yesterday"}, "issued_at"),
        ({"expires_at": "2026-11-23T05:00:01Z"}, "at most 1h"),
        ({"expires_at": "2026-11-23T03:59:59Z"}, "after issued_at"),
        ({"reason": "   "}, "justification"),
        ({"target": {"service": "orders", "commit_sha": "abc", "environment": "stage"}}, "commit_sha"),
        ({"target": {"service": "orders", "commit_sha": COMMIT, "environment": "dev"}}, "target.environment"),
        ({"target": {"service": "orders", "commit_sha": COMMIT}}, "expected exactly the fields"),
    ],
)
def test_a_malformed_request_is_refused_naming_the_field(signer: LocalKeySigner, change: dict, named: str) -> None:
    document = {**json.loads(signed_text(signer)), **change}
    with pytest.raises(RequestError, match=named):
        parse_request(json.dumps(document))


@pytest.mark.parametrize("text", ["", "[]", "{", "NaN", "x" * 20000])
def test_what_is_not_a_request_object_is_refused(text: str) -> None:
    with pytest.raises(RequestError):
        parse_request(text)


def test_an_unsigned_request_is_refused(signer: LocalKeySigner) -> None:
    document = json.loads(signed_text(signer))
    del document["signature"]
    with pytest.raises(RequestError, match="missing \\['signature'\\]"):
        parse_request(json.dumps(document))


def test_the_window_expired_and_issued_in_the_future() -> None:
    request = request_of()
    assert timing_problem(request, NOW + timedelta(minutes=10)) is None
    assert "expired" in str(timing_problem(request, NOW + timedelta(minutes=15)))
    assert timing_problem(request, NOW - timedelta(seconds=CLOCK_SKEW_SECONDS)) is None  # within the skew
    assert "in the future" in str(timing_problem(request, NOW - timedelta(seconds=CLOCK_SKEW_SECONDS + 1)))


def test_each_action_applies_to_its_environments_and_prod_is_the_default() -> None:
    assert request_of("manual_promotion", None).target.environment == "prod"
    with pytest.raises(RequestError, match="requeue applies to stage or prod"):
        request_of("requeue", None)
    with pytest.raises(RequestError, match="allow_drift applies to prod"):
        request_of("allow_drift", "stage")
    rollback = request_of("manual_rollback", None, target_commit=GOOD)
    assert rollback.target.target_commit == GOOD and rollback.target.to_dict()["target_commit"] == GOOD
    with pytest.raises(RequestError, match="target_commit"):
        request_of("manual_rollback", None)
    with pytest.raises(RequestError, match="another release"):
        request_of("manual_rollback", None, target_commit=COMMIT)
    with pytest.raises(RequestError, match="expected exactly the fields"):
        request_of("requeue", "stage", target_commit=GOOD)


def test_the_break_glass_actions_are_those_the_spec_names() -> None:
    assert {OverrideAction.ALLOW_DRIFT, OverrideAction.ALLOW_OLDER_BUILD, OverrideAction.LIFT_REVOCATION} == BREAK_GLASS
    assert request_of("allow_drift", "prod").break_glass and not request_of().break_glass


@pytest.mark.parametrize(("text", "seconds"), [("15m", 900), ("1h", 3600), ("90s", 90), ("60m", 3600)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["61m", "2h", "0m", "15", "m", "-5m", "1d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(RequestError, match="--expires-in"):
        parse_duration(text)


def test_the_signature_is_low_s_and_stable_in_shape(signer: LocalKeySigner) -> None:
    request = sign_request(request_of(), signer)
    resigned = sign_request(replace(request, signature="x"), signer)
    assert verify_signature(resigned, signer.private_key.public_key()) is None
