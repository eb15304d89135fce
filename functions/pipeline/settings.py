"""The functions' configuration: environment variables, validated once at cold start.

A misconfigured function fails at once with the variable's name, not on the first event.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any


class SettingsError(RuntimeError):
    pass


def _require(name: str, environ: dict[str, str]) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is required")
    return value


def _integer(name: str, environ: dict[str, str], default: int, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name}={raw!r}: expected an integer") from None
    if value < minimum:
        raise SettingsError(f"environment variable {name}={value}: expected at least {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    table_name: str
    event_bus_name: str
    alert_topic_arn: str
    candidate_bucket: str
    release_bucket: str
    name_prefix: str
    tools_account_id: str
    service_accounts: dict[str, dict[str, str]]  # service -> {"stage": account, "prod": account}
    ci_public_key_pem: str
    ci_signer_key_id: str
    approved_cdk_versions: tuple[str, ...]
    max_rollback_attempts: int
    rollback_base_delay_seconds: int
    state_machine_arn: str
    region: str

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        try:
            accounts: Any = json.loads(env.get("SERVICE_ACCOUNTS", "{}"))
        except json.JSONDecodeError as exc:
            raise SettingsError(f"environment variable SERVICE_ACCOUNTS: not JSON ({exc})") from None
        if not isinstance(accounts, dict):
            raise SettingsError("environment variable SERVICE_ACCOUNTS: expected {service: {stage, prod}}")
        return cls(
            table_name=_require("TABLE_NAME", env),
            event_bus_name=_require("EVENT_BUS_NAME", env),
            alert_topic_arn=env.get("ALERT_TOPIC_ARN", ""),
            candidate_bucket=env.get("CANDIDATE_BUCKET", ""),
            release_bucket=env.get("RELEASE_BUCKET", ""),
            name_prefix=env.get("NAME_PREFIX", "cdkcp"),
            tools_account_id=env.get("TOOLS_ACCOUNT_ID", ""),
            service_accounts=accounts,
            ci_public_key_pem=env.get("CI_PUBLIC_KEY_PEM", ""),
            ci_signer_key_id=env.get("CI_SIGNER_KEY_ID", ""),
            approved_cdk_versions=tuple(v for v in env.get("APPROVED_CDK_VERSIONS", "").split(",") if v),
            max_rollback_attempts=_integer("MAX_ROLLBACK_ATTEMPTS", env, 2, minimum=1),
            rollback_base_delay_seconds=_integer("ROLLBACK_BASE_DELAY_SECONDS", env, 60),
            state_machine_arn=env.get("STATE_MACHINE_ARN", ""),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        )
