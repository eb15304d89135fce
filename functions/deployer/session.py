"""A boto3 Session in the target account, through the service's deploy role, that renews itself.

The deploy role is assumed with a short session (`DurationSeconds=900`, the minimum STS allows) so a
leaked credential is worth little, but a deploy may last 60 minutes. The session's credentials are
`RefreshableCredentials`: botocore calls our refresh function, which assumes the role again, before
they expire. botocore's default refresh windows (advisory 15 min, mandatory 10 min) are as long as the
session itself and would re-assume before every call, so the windows are shortened to fit.
"""

from __future__ import annotations

import re
from typing import Any

import boto3
import botocore.session
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from .errors import AssumeRoleFailed

SESSION_SECONDS = 900
ADVISORY_REFRESH_SECONDS = 5 * 60  # try to renew when less than this is left (non-blocking)
MANDATORY_REFRESH_SECONDS = 2 * 60  # every call blocks on renewal when less than this is left
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/.+$")


def role_account(role_arn: str) -> str | None:
    match = _ROLE_ARN.match(role_arn)
    return match["account"] if match else None


def session_name(*parts: str) -> str:
    """A valid RoleSessionName (`[\\w+=,.@-]`, 2 to 64 characters) made of `parts`."""
    name = re.sub(r"[^\w+=,.@-]", "-", "-".join(p for p in parts if p))[:64]
    return name if len(name) >= 2 else "cdkcp-deployer"


class _FixedCredentials(CredentialProvider):
    METHOD = "sts-assume-role"
    CANONICAL_NAME = "cdkcp-deploy-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials


def assume_role_session(
    role_arn: str,
    *,
    external_id: str,
    region: str,
    role_session_name: str,
    base_session: boto3.Session | None = None,
    duration_seconds: int = SESSION_SECONDS,
    advisory_refresh_seconds: int = ADVISORY_REFRESH_SECONDS,
    mandatory_refresh_seconds: int = MANDATORY_REFRESH_SECONDS,
) -> boto3.Session:
    """Assume `role_arn` now (failing fast with `AssumeRoleFailed`) and return a self-renewing Session.

    `base_session` holds the caller's own credentials (in CodeBuild: the project's service role)."""
    base = base_session or boto3.Session(region_name=region)
    sts = base.client("sts", region_name=region)

    def fetch() -> dict[str, Any]:
        try:
            response = sts.assume_role(
                RoleArn=role_arn,
                ExternalId=external_id,
                RoleSessionName=role_session_name,
                DurationSeconds=duration_seconds,
            )
        except (ClientError, BotoCoreError) as exc:
            raise AssumeRoleFailed(role_arn, str(exc)) from exc
        credentials = response["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(),
        refresh_using=fetch,
        method=_FixedCredentials.METHOD,
        advisory_timeout=advisory_refresh_seconds,
        mandatory_timeout=mandatory_refresh_seconds,
    )
    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver([_FixedCredentials(credentials)]))
    return boto3.Session(botocore_session=core, region_name=region)
