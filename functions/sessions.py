"""One way to act in a service account: assume its role with a short, self-renewing STS session.

The role is assumed with `DurationSeconds=900`, the minimum STS allows, so a leaked credential is worth
little; the credentials are botocore `RefreshableCredentials`, so a caller that runs longer (a deploy may
last 60 minutes) never holds expired ones: botocore calls our refresh, which assumes the role again.
botocore's default refresh windows (advisory 15 min, mandatory 10 min) are as long as the session itself
and would re-assume before every call, so they are shortened to fit.

Used by the deployer (the deploy role) and the finalizer Lambda (the read-only role). boto3 and botocore
are imported when a session is made, not when this module is: a Lambda cold start pays only for what it
uses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

SESSION_SECONDS = 900
ADVISORY_REFRESH_SECONDS = 5 * 60  # try to renew when less than this is left (non-blocking)
MANDATORY_REFRESH_SECONDS = 2 * 60  # every call blocks on renewal when less than this is left
DEFAULT_SESSION_NAME = "cdkcp-session"
_ASSUME_ROLE_METHOD = "sts-assume-role"


class AssumeRoleError(RuntimeError):
    """The role could not be assumed (trust, external id, permissions, network)."""

    def __init__(self, role_arn: str, reason: str) -> None:
        super().__init__(f"could not assume {role_arn}: {reason}")
        self.role_arn = role_arn
        self.reason = reason


def session_name(*parts: str, default: str = DEFAULT_SESSION_NAME) -> str:
    """A valid RoleSessionName (`[\\w+=,.@-]`, 2 to 64 characters) made of `parts`."""
    name = re.sub(r"[^\w+=,.@-]", "-", "-".join(p for p in parts if p))[:64]
    return name if len(name) >= 2 else default


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
    error: Callable[[str, str], Exception] = AssumeRoleError,
) -> boto3.Session:
    """Assume `role_arn` now (failing fast) and return a Session whose credentials renew themselves.

    `base_session` holds the caller's own credentials (in CodeBuild the project's role, in Lambda the
    function's). A refusal, now or at a renewal, raises `error(role_arn, reason)`: the caller chooses
    the exception its own error handling knows."""
    import boto3
    from botocore.credentials import CredentialResolver, RefreshableCredentials
    from botocore.exceptions import BotoCoreError, ClientError

    base = base_session or boto3.Session(botocore_session=_botocore_session(), region_name=region)
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
            raise error(role_arn, str(exc)) from exc
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
        method=_ASSUME_ROLE_METHOD,
        advisory_timeout=advisory_refresh_seconds,
        mandatory_timeout=mandatory_refresh_seconds,
    )
    core = _botocore_session()
    core.register_component("credential_provider", CredentialResolver([_fixed_provider(credentials)]))
    return boto3.Session(botocore_session=core, region_name=region)


def _botocore_session() -> Any:
    """A new botocore session that reads the service models through the process's one loader: a new
    session would otherwise parse the endpoint and model files again (tenths of a second each time)."""
    import botocore.session

    core = botocore.session.Session()
    core.register_component("data_loader", _shared_loader())
    return core


@functools.cache
def _shared_loader() -> Any:
    import botocore.session

    return botocore.session.Session().get_component("data_loader")  # as configured (AWS_DATA_PATH)


def _fixed_provider(credentials: Any) -> Any:
    """A credential provider that always answers `credentials` (defined here to import botocore lazily)."""
    from botocore.credentials import CredentialProvider

    class FixedCredentials(CredentialProvider):
        METHOD = _ASSUME_ROLE_METHOD
        CANONICAL_NAME = "cdkcp-assumed-role"

        def load(self) -> Any:
            return credentials

    return FixedCredentials()
