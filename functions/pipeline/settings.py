"""The environment contract between the program and the code it deploys, written once.

`components/` builds a `FunctionSettings` (every Lambda function) or a `BuildSettings` (every CodeBuild
project) and writes `to_environ()`; the code reads the same model back with `from_environ()` at cold
start. A misconfigured function or build fails at once, naming the variable, not on the first event.
Optional values are absent (None), never an empty string.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

from functions.audit import AUDIT_TABLE

from .lifecycle import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_ROLLBACK_ATTEMPTS,
    DEFAULT_NEVER_PROMOTED_DAYS,
    METRICS_NAMESPACE,
    ROLLBACK_BASE_DELAY_SECONDS,
    Environment,
)

_ACCOUNT = re.compile(r"^\d{12}\Z")
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")  # set by Lambda and CodeBuild, never by us
ANCHOR_CLOUDTRAIL_OFF = "off"  # ANCHOR_CLOUDTRAIL's one value: the stack leaves CloudTrail Lake out


class SettingsError(RuntimeError):
    pass


def _variable(name: str, kind: str = "str", *, required: bool = True, minimum: int | None = None) -> Any:
    """A field read from (and written to) the environment variable `name`. Kinds: str, int, json, csv."""
    metadata = {"variable": name, "kind": kind, "required": required, "minimum": minimum}
    if kind == "csv":
        return field(default=(), metadata=metadata)
    if kind == "json" and not required:
        return field(default_factory=dict, metadata=metadata)
    return field(metadata=metadata) if required else field(default=None, metadata=metadata)


def _parse(name: str, kind: str, raw: str, minimum: int | None) -> Any:
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"environment variable {name}={raw!r}: expected an integer") from None
        if minimum is not None and value < minimum:
            raise SettingsError(f"environment variable {name}={value}: expected at least {minimum}")
        return value
    if kind == "json":
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"environment variable {name}: not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise SettingsError(f"environment variable {name}: expected a JSON object")
        return value
    if kind == "csv":
        parts = tuple(part.strip() for part in raw.split(",") if part.strip())
        if not parts:
            raise SettingsError(f"environment variable {name}={raw!r}: expected comma-separated values")
        return parts
    return raw


def _render(kind: str, value: Any) -> str:
    if kind == "json":
        return json.dumps(value, sort_keys=True)
    if kind == "csv":
        return ",".join(value)
    return str(value)


@dataclass(frozen=True, kw_only=True)
class _EnvironModel:
    region: str = "us-east-1"

    def to_environ(self) -> dict[str, str]:
        """The variables, after the same checks the reading side makes; absent values stay absent."""
        self.check()
        environ = dict(self.constants)
        for spec in fields(self):
            if "variable" not in spec.metadata:
                continue
            value = getattr(self, spec.name)
            collection = spec.metadata["kind"] in ("json", "csv")
            if value is None or (collection and not value and not spec.metadata["required"]):
                continue
            environ[spec.metadata["variable"]] = _render(spec.metadata["kind"], value)
        return environ

    constants: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if "variable" not in spec.metadata:
                continue
            name, kind = spec.metadata["variable"], spec.metadata["kind"]
            raw = (env.get(name) or "").strip()
            if not raw:
                if spec.metadata["required"]:
                    raise SettingsError(f"environment variable {name} is required")
                continue
            values[spec.name] = _parse(name, kind, raw, spec.metadata["minimum"])
        region = next((env[n] for n in REGION_VARIABLES if env.get(n)), None)
        settings = cls(**values, **({"region": region} if region else {}))
        settings.check()
        return settings

    def check(self) -> None:
        """Every rule, run on both sides (the program before writing, the code after reading)."""
        for spec in fields(self):
            if "variable" not in spec.metadata:
                continue
            name, value, minimum = spec.metadata["variable"], getattr(self, spec.name), spec.metadata["minimum"]
            if spec.metadata["required"] and spec.metadata["kind"] == "str" and not (value or "").strip():
                raise SettingsError(f"environment variable {name} is required")
            if spec.metadata["required"] and spec.metadata["kind"] == "csv" and not [v for v in value if v.strip()]:
                raise SettingsError(f"environment variable {name} is required")
            if minimum is not None and value is not None and value < minimum:
                raise SettingsError(f"environment variable {name}={value}: expected at least {minimum}")
        if not _ACCOUNT.match(self.tools_account_id):
            raise SettingsError(f"environment variable TOOLS_ACCOUNT_ID={self.tools_account_id!r}: expected 12 digits")


@dataclass(frozen=True, kw_only=True)
class _Common(_EnvironModel):
    table_name: str = _variable("TABLE_NAME")
    name_prefix: str = _variable("NAME_PREFIX")
    tools_account_id: str = _variable("TOOLS_ACCOUNT_ID")
    # No signer key here: a service's artifacts verify with that service's own key, which the verifiers
    # resolve by its alias (`functions.pipeline.signers.ServiceKeys`).


@dataclass(frozen=True, kw_only=True)
class FunctionSettings(_Common):
    """Every Lambda function of the pipeline."""

    event_bus_name: str = _variable("EVENT_BUS_NAME")
    alert_topic_arn: str = _variable("ALERT_TOPIC_ARN")
    candidate_bucket: str = _variable("CANDIDATE_BUCKET")
    release_bucket: str = _variable("RELEASE_BUCKET")
    state_machine_arn: str = _variable("STATE_MACHINE_ARN")
    # Validate fails closed: an artifact built by any other CDK CLI is invalid.
    approved_cdk_versions: tuple[str, ...] = _variable("APPROVED_CDK_VERSIONS", "csv")
    # The services' accounts and context lookups live in the service catalog, an object in the tooling
    # bucket (Lambda's 4 KB of variables hold about 58 services): only its location and the SHA-256 the
    # program pinned are here (`functions.pipeline.catalog`).
    service_catalog_uri: str = _variable("SERVICE_CATALOG_URI")
    service_catalog_sha256: str = _variable("SERVICE_CATALOG_SHA256")
    # Validate's check 6: the blessed contexts (Validate only; `blessed_context.expected_context` requires
    # them for a service the catalog says makes lookups).
    contexts_bucket: str | None = _variable("CONTEXTS_BUCKET", required=False)
    context_signer_key_id: str | None = _variable("CONTEXT_SIGNER_KEY_ID", required=False)
    max_rollback_attempts: int = field(
        default=DEFAULT_MAX_ROLLBACK_ATTEMPTS,
        metadata={"variable": "MAX_ROLLBACK_ATTEMPTS", "kind": "int", "required": False, "minimum": 1},
    )
    rollback_base_delay_seconds: int = field(
        default=ROLLBACK_BASE_DELAY_SECONDS,
        metadata={"variable": "ROLLBACK_BASE_DELAY_SECONDS", "kind": "int", "required": False, "minimum": 0},
    )

    # The sweeper only (the program writes them into its environment alone: Lambda's 4 KB): attempts
    # per environment before an artifact is parked for a human, and the age of a parked candidate that
    # `ArtifactNeverPromoted` counts. Absent: the defaults (`max_attempts`, `never_promoted`).
    max_attempts_stage: int | None = _variable("MAX_ATTEMPTS_STAGE", "int", required=False, minimum=1)
    max_attempts_prod: int | None = _variable("MAX_ATTEMPTS_PROD", "int", required=False, minimum=1)
    never_promoted_days: int | None = _variable("NEVER_PROMOTED_DAYS", "int", required=False, minimum=1)
    # The audit chain's table (`functions/audit/`): every committed transition appends its entry there in
    # the same transaction. Absent: the tools stack's fixed name.
    audit_table_name: str = field(
        default=AUDIT_TABLE,
        metadata={"variable": "AUDIT_TABLE_NAME", "kind": "str", "required": False, "minimum": None},
    )

    # The anchor function (`functions/audit/anchors.py`): where each anchor goes; the override function
    # reads ANCHOR_TOPIC_ARN alone, to mail each break-glass use to the audit inbox.
    anchor_bucket: str | None = _variable("ANCHOR_BUCKET", required=False)
    anchor_topic_arn: str | None = _variable("ANCHOR_TOPIC_ARN", required=False)
    anchor_channel_arn: str | None = _variable("ANCHOR_CHANNEL_ARN", required=False)
    # `off` where the stack leaves CloudTrail Lake out (`auditAnchorCloudTrailLake: false`): a choice the
    # program writes down, so that a missing ANCHOR_CHANNEL_ARN without it stays a misconfiguration.
    anchor_cloudtrail: str | None = _variable("ANCHOR_CLOUDTRAIL", required=False)

    constants: ClassVar[Mapping[str, str]] = {
        "POWERTOOLS_SERVICE_NAME": "cdk-control-plane",
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    }

    def check(self) -> None:
        super().check()
        from .catalog import check_pin  # here, not at the top: the catalog raises this module's SettingsError

        check_pin(self.service_catalog_uri, self.service_catalog_sha256)
        if self.anchor_cloudtrail not in (None, ANCHOR_CLOUDTRAIL_OFF):
            raise SettingsError(
                f"environment variable ANCHOR_CLOUDTRAIL={self.anchor_cloudtrail!r}: expected "
                f"{ANCHOR_CLOUDTRAIL_OFF!r} (CloudTrail Lake left out), or no variable (the anchors go there too)"
            )

    def max_attempts(self, environment: Environment | str) -> int:
        configured = (
            self.max_attempts_stage if Environment(environment) is Environment.STAGE else self.max_attempts_prod
        )
        return configured or DEFAULT_MAX_ATTEMPTS

    @property
    def never_promoted(self) -> int:
        return self.never_promoted_days or DEFAULT_NEVER_PROMOTED_DAYS

    def bucket_of(self, environment: Environment | str) -> str:
        """The bucket an environment deploys from: stage the candidates, prod the releases."""
        return self.candidate_bucket if Environment(environment) is Environment.STAGE else self.release_bucket


@dataclass(frozen=True, kw_only=True)
class BuildSettings(_Common):
    """Every CodeBuild project of the pipeline (deployers, stage tests, prod smoke tests)."""

    artifact_bucket: str = _variable("ARTIFACT_BUCKET")
    # CodeBuild has no 4 KB limit: the builds keep the services' accounts in their environment.
    service_accounts: dict[str, dict[str, str]] = _variable("SERVICE_ACCOUNTS", "json")
    # service -> environment -> stack policy document (deployers) / test command (test runners)
    stack_policies: dict[str, dict[str, Any]] = _variable("STACK_POLICIES", "json", required=False)
    test_commands: dict[str, dict[str, str]] = _variable("TEST_COMMANDS", "json", required=False)
    service_repositories: dict[str, str] = _variable("SERVICE_REPOSITORIES", "json", required=False)

    def check(self) -> None:
        super().check()
        from .catalog import check_accounts

        for service, accounts in self.service_accounts.items():
            check_accounts(service, accounts, "environment variable SERVICE_ACCOUNTS")

    def service_account(self, service: str, environment: Environment | str) -> str:
        try:
            return self.service_accounts[service][Environment(environment)]
        except (KeyError, ValueError):
            raise SettingsError(f"SERVICE_ACCOUNTS has no {environment} account for {service!r}") from None
