"""The signed operator request: one JSON document, signed like the manifests (ECDSA P-256 / SHA-256 over
the SHA-256 digest of its RFC 8785 bytes without `signature`, `functions/artifacts/signing.py`), so that a
KMS key or a PEM key signs it and anyone verifies it offline with the public half.

    {"version": 1, "nonce": "<128-bit hex>", "issued_at": "...Z", "expires_at": "...Z",
     "requester": "<principal ARN>", "action": "requeue",
     "target": {"service": "orders", "commit_sha": "<40 hex>", "environment": "stage"},
     "reason": "<the justification>", "signature": "<base64 DER>"}

Parsing is strict (every field, nothing else, each named when wrong): the orchestrator acts on what it
verified, never on what it guessed. Pure but for `cryptography` and `rfc8785` (the functions' layer).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import rfc8785

from functions.artifacts.manifest import COMMIT, SERVICE
from functions.pipeline.lifecycle import Environment
from functions.timestamps import parse_iso, utc_iso

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from functions.artifacts.signing import Signer

VERSION = 1
MAX_LIFETIME_SECONDS = 3600  # expires_at at most an hour after issued_at
CLOCK_SKEW_SECONDS = 300  # a request issued this far in the orchestrator's future is still accepted
MAX_REQUEST_BYTES = 16 * 1024
MAX_REASON_CHARS = 1000
NONCE = re.compile(r"^[0-9a-f]{32}\Z")
ISO_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/:-]{1,512}\Z")
DURATION = re.compile(r"^(?P<count>[1-9][0-9]*)(?P<unit>[smh])\Z")
FIELDS = ("version", "nonce", "issued_at", "expires_at", "requester", "action", "target", "reason", "signature")


class OverrideAction(StrEnum):
    MANUAL_PROMOTION = "manual_promotion"
    REQUEUE = "requeue"
    MANUAL_ROLLBACK = "manual_rollback"
    ALLOW_DRIFT = "allow_drift"
    LIFT_REVOCATION = "lift_revocation"
    RELEASE_LOCK = "release_lock"
    ALLOW_OLDER_BUILD = "allow_older_build"


@dataclass(frozen=True)
class ActionRule:
    environments: tuple[Environment, ...]  # where the action applies (one: the default)
    break_glass: bool = False  # needs the break-glass flag on as well as a valid signature
    target_commit: bool = False  # names the release to roll back to (`target.target_commit`)


PROD_ONLY = (Environment.PROD,)
RULES: Mapping[OverrideAction, ActionRule] = {
    OverrideAction.MANUAL_PROMOTION: ActionRule(PROD_ONLY),
    OverrideAction.REQUEUE: ActionRule(tuple(Environment)),
    OverrideAction.MANUAL_ROLLBACK: ActionRule(PROD_ONLY, target_commit=True),
    OverrideAction.ALLOW_DRIFT: ActionRule(PROD_ONLY, break_glass=True),
    OverrideAction.LIFT_REVOCATION: ActionRule(PROD_ONLY, break_glass=True),
    OverrideAction.RELEASE_LOCK: ActionRule(tuple(Environment)),
    OverrideAction.ALLOW_OLDER_BUILD: ActionRule(PROD_ONLY, break_glass=True),
}
BREAK_GLASS = frozenset(action for action, rule in RULES.items() if rule.break_glass)


class RequestError(ValueError):
    """A request (or a flag building one) that is not well formed; the message names what is wrong."""


@dataclass(frozen=True)
class Target:
    service: str
    commit_sha: str
    environment: Environment
    target_commit: str | None = None  # manual_rollback: the known-good release to roll back to

    def to_dict(self) -> dict[str, str]:
        found = {"service": self.service, "commit_sha": self.commit_sha, "environment": self.environment.value}
        return {**found, **({"target_commit": self.target_commit} if self.target_commit else {})}


@dataclass(frozen=True)
class OverrideRequest:
    nonce: str
    issued_at: str
    expires_at: str
    requester: str
    action: OverrideAction
    target: Target
    reason: str
    signature: str | None = None
    version: int = VERSION

    @property
    def override_id(self) -> str:
        return self.nonce

    @property
    def break_glass(self) -> bool:
        return self.action in BREAK_GLASS

    def document(self) -> dict[str, Any]:
        document = {
            "version": self.version,
            "nonce": self.nonce,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "requester": self.requester,
            "action": self.action.value,
            "target": self.target.to_dict(),
            "reason": self.reason,
        }
        return {**document, **({"signature": self.signature} if self.signature is not None else {})}

    def canonical_bytes(self) -> bytes:
        """What the signature covers: RFC 8785 of the document without `signature`."""
        return rfc8785.dumps({k: v for k, v in self.document().items() if k != "signature"})


def parse_duration(text: str) -> int:
    """`15m`, `900s`, `1h` as seconds: more than 0, at most MAX_LIFETIME_SECONDS."""
    match = DURATION.match(text.strip())
    if not match:
        raise RequestError(f"--expires-in {text!r}: expected a number and s, m or h (e.g. 15m)")
    seconds = int(match["count"]) * {"s": 1, "m": 60, "h": 3600}[match["unit"]]
    if seconds > MAX_LIFETIME_SECONDS:
        raise RequestError(f"--expires-in {text!r}: a request lives at most 1h")
    return seconds


def new_request(
    action: str,
    *,
    service: str,
    commit_sha: str,
    environment: str | None,
    reason: str,
    requester: str,
    expires_in: int,
    target_commit: str | None = None,
    now: datetime | None = None,
) -> OverrideRequest:
    """An unsigned request with a fresh nonce, checked as the orchestrator will parse it."""
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    document = {
        "version": VERSION,
        "nonce": secrets.token_hex(16),
        "issued_at": utc_iso(issued),
        "expires_at": utc_iso(issued + timedelta(seconds=expires_in)),
        "requester": requester,
        "action": action,
        "target": {
            "service": service,
            "commit_sha": commit_sha,
            "environment": environment or _default_environment(action),
            **({"target_commit": target_commit} if target_commit else {}),
        },
        "reason": reason,
    }
    return from_document(document, signed=False)


def _default_environment(action: str) -> str:
    rule = RULES.get(action)  # type: ignore[call-overload]
    if rule is None or len(rule.environments) != 1:
        return ""  # named as missing by the target's check
    return rule.environments[0].value


def sign_request(request: OverrideRequest, signer: Signer) -> OverrideRequest:
    from functions.artifacts.signing import sign_message

    unsigned = replace(request, signature=None)
    return replace(unsigned, signature=sign_message(signer, unsigned.canonical_bytes()))


def dumps(request: OverrideRequest) -> str:
    return json.dumps(request.document(), indent=2, sort_keys=True) + "\n"


def parse_request(text: str | bytes) -> OverrideRequest:
    """The request in `text`, strictly: RequestError names the first thing wrong."""
    if len(text) > MAX_REQUEST_BYTES:
        raise RequestError(f"the request is {len(text)} bytes; at most {MAX_REQUEST_BYTES}")
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"the request is not JSON: {exc}") from None
    return from_document(document, signed=True)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _string(document: Mapping[str, Any], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{name}: expected a non-empty string, got {value!r}")
    if pattern is not None and not pattern.match(value):
        raise RequestError(f"{name}: {value!r} is not {_EXPECTED.get(name, 'well formed')}")
    return value


_EXPECTED = {
    "nonce": "32 lowercase hex digits (128 random bits)",
    "issued_at": "an ISO 8601 UTC time to the second (2026-01-31T04:00:00Z)",
    "expires_at": "an ISO 8601 UTC time to the second (2026-01-31T04:00:00Z)",
    "requester": "an IAM or STS principal ARN",
    "service": "a service name (lowercase letters, digits, single hyphens)",
    "commit_sha": "a 40-digit lowercase hex commit",
    "target_commit": "a 40-digit lowercase hex commit",
}


def from_document(document: Any, *, signed: bool) -> OverrideRequest:
    if not isinstance(document, dict):
        raise RequestError("the request must be a JSON object")
    expected = set(FIELDS) if signed else set(FIELDS) - {"signature"}
    if set(document) != expected:
        missing, unknown = sorted(expected - set(document)), sorted(set(document) - expected)
        raise RequestError(f"the request's fields: missing {missing or 'none'}, unknown {unknown or 'none'}")
    if document["version"] != VERSION or isinstance(document["version"], bool):
        raise RequestError(f"version: expected {VERSION}, got {document['version']!r}")
    try:
        action = OverrideAction(document["action"])
    except ValueError:
        raise RequestError(
            f"action: {document['action']!r} is not one of {', '.join(a.value for a in OverrideAction)}"
        ) from None
    issued_at, expires_at = _string(document, "issued_at", ISO_SECOND), _string(document, "expires_at", ISO_SECOND)
    lifetime = (parse_iso(expires_at) - parse_iso(issued_at)).total_seconds()
    if not 0 < lifetime <= MAX_LIFETIME_SECONDS:
        raise RequestError(f"expires_at must be after issued_at and at most 1h later; it is {lifetime:.0f}s")
    reason = _string(document, "reason")  # as signed: the signature covers these exact characters
    if not reason.strip() or len(reason) > MAX_REASON_CHARS:
        raise RequestError(f"reason: the justification must be 1 to {MAX_REASON_CHARS} characters")
    signature = _string(document, "signature") if signed else None
    return OverrideRequest(
        nonce=_string(document, "nonce", NONCE),
        issued_at=issued_at,
        expires_at=expires_at,
        requester=_string(document, "requester", PRINCIPAL),
        action=action,
        target=_target(document["target"], action),
        reason=reason,
        signature=signature,
    )


def _target(target: Any, action: OverrideAction) -> Target:
    if not isinstance(target, dict):
        raise RequestError("target: expected an object with service, commit_sha and environment")
    rule = RULES[action]
    allowed = {"service", "commit_sha", "environment"} | ({"target_commit"} if rule.target_commit else set())
    if set(target) - allowed or not {"service", "commit_sha", "environment"} <= set(target):
        raise RequestError(f"target of {action}: expected exactly the fields {sorted(allowed)}, got {sorted(target)}")
    environment = target.get("environment")
    if environment not in {e.value for e in rule.environments}:
        names = " or ".join(e.value for e in rule.environments)
        raise RequestError(f"target.environment: {action} applies to {names}, got {environment or 'none'!r}")
    target_commit = _string(target, "target_commit", COMMIT) if rule.target_commit else None
    commit_sha = _string(target, "commit_sha", COMMIT)
    if target_commit == commit_sha:
        raise RequestError("target.target_commit: roll back to another release than the one that failed")
    return Target(_string(target, "service", SERVICE), commit_sha, Environment(environment), target_commit)


def verify_signature(request: OverrideRequest, public_key: ec.EllipticCurvePublicKey) -> str | None:
    """Why the signature does not hold with the override key (None: it does)."""
    from functions.artifacts.signing import signature_problem, verify_message

    problem = signature_problem(request.signature or "")
    if problem:
        return f"the signature {problem}"
    try:
        signed = request.canonical_bytes()
    except ValueError as exc:  # RFC 8785 cannot encode it (a lone surrogate): nothing could have signed it
        return f"the request has no canonical form ({exc})"[:300]
    if not verify_message(public_key, signed, request.signature or ""):
        return "the signature does not verify with the override key (another key, or the request was changed)"
    return None


def timing_problem(request: OverrideRequest, now: datetime) -> str | None:
    """Expired, or issued further in the future than the clock skew allows (None: in its window)."""
    if parse_iso(request.issued_at) > now + timedelta(seconds=CLOCK_SKEW_SECONDS):
        return f"issued_at {request.issued_at} is in the future (more than {CLOCK_SKEW_SECONDS}s of clock skew)"
    if parse_iso(request.expires_at) <= now:
        return f"expired at {request.expires_at}"
    return None
