"""What the deployer is asked to do: one `DeployRequest`, whichever entry builds it.

The command line (`python -m functions.deployer`) builds it from its options, the CodeBuild entry
(`python -m functions.deployer.codebuild`) from the project's `BuildSettings` and the run's
`RunVariables`; `functions.deployer.runner.run` executes it.

`Mode` is the one spelling of what a pipeline build does: the state machine sets it in MODE, the
deployer and the test runner read it. Pure (no boto3): the Pulumi program's ASL builder imports it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from functions.pipeline.lifecycle import Environment
from functions.pipeline.settings import SettingsError

from .errors import UsageError

DEFAULT_TIMEOUT_SECONDS = 3600.0
DEFAULT_POLL_SECONDS = 5.0
_ACCOUNT = re.compile(r"^\d{12}\Z")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d\Z")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/.+\Z")
_COMMIT = re.compile(r"^[0-9a-f]{40}\Z")


class Mode(StrEnum):
    """What a pipeline build does. The values are what the state machine writes into MODE."""

    DEPLOY = "deploy"  # deploy the artifact; in prod, abort first when a stack has drifted
    DRIFT_CHECK = "drift-check"  # the prod drift gate: check every stack's drift, deploy nothing
    ROLLBACK = "rollback"  # deploy the known-good artifact again, without the drift gate
    TEST = "test"  # run the service's tests (stage) or smoke tests (prod): the test runner's, not ours


DEPLOYER_MODES = (Mode.DEPLOY, Mode.DRIFT_CHECK, Mode.ROLLBACK)


def role_account(role_arn: str) -> str | None:
    match = _ROLE_ARN.match(role_arn)
    return match["account"] if match else None


@dataclass(frozen=True)
class StackPolicy:
    """A stack policy document and where it came from (named in errors)."""

    document: Mapping[str, Any]
    origin: str

    @classmethod
    def from_file(cls, path: Path) -> StackPolicy:
        origin = f"--stack-policy {path}"
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")), origin)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"{origin}: {exc}") from None

    def check(self) -> None:
        statements = self.document.get("Statement") if isinstance(self.document, Mapping) else None
        if not isinstance(statements, list) or not statements:
            raise UsageError(f"{self.origin}: not a stack policy (an object with a non-empty Statement list)")


@dataclass(frozen=True, kw_only=True)
class DeployRequest:
    """Deploy (or only drift-check) one service's stacks of one environment from a `cdk.out`."""

    cdk_out: Path
    service: str
    environment: Environment
    account: str
    region: str
    role_arn: str  # the service's deploy role in the target account
    external_id: str
    execution_role_arn: str  # the role CloudFormation deploys with
    deployment_id: str  # names the change sets: a retry of one deployment finds its own
    mode: Mode = Mode.DEPLOY
    stack_policy: StackPolicy | None = None
    allow_drift: bool = False  # deploy despite drift (a signed override)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS  # the deadline of the whole deploy
    poll_seconds: float = DEFAULT_POLL_SECONDS
    result_path: Path | None = None  # where the result JSON is written, whatever the outcome
    # The pipeline ran its drift gate just before (a drift-check build): a second check during the deploy
    # could only fail the deploy, which prod answers with a rollback over the drifted stacks.
    drift_gated: bool = False
    # asset id -> image digest (`sha256:...`), from the verified manifest: what each container image
    # asset must be in the repository. A docker asset without one is refused.
    image_digests: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A caller may pass the wire strings ("prod", "drift-check"): hold the enums.
        for field_name, kind in (("environment", Environment), ("mode", Mode)):
            value = getattr(self, field_name)
            try:
                object.__setattr__(self, field_name, kind(value))
            except ValueError:
                raise UsageError(f"{field_name} {value!r} is not one of {[k.value for k in kind]}") from None

    @property
    def detect_drift(self) -> bool:
        """The prod deploy's drift gate; a rollback restores the known good without it."""
        return self.mode is Mode.DEPLOY and self.environment is Environment.PROD and not self.drift_gated

    @property
    def policy_document(self) -> dict[str, Any] | None:
        return dict(self.stack_policy.document) if self.stack_policy is not None else None

    def check(self) -> None:
        """Raise `UsageError` naming the first option that is wrong."""
        if self.mode not in DEPLOYER_MODES:
            allowed = ", ".join(DEPLOYER_MODES)
            raise UsageError(f"--mode {self.mode}: the deployer runs {allowed}; test builds run the test runner")
        if not _ACCOUNT.match(self.account):
            raise UsageError(f"--account {self.account!r} is not a 12-digit account id")
        if not _REGION.match(self.region):
            raise UsageError(f"--region {self.region!r} is not a region name")
        for option, arn in (("--role-arn", self.role_arn), ("--execution-role-arn", self.execution_role_arn)):
            account = role_account(arn)
            if account is None:
                raise UsageError(f"{option} {arn!r} is not an IAM role ARN")
            if account != self.account:
                raise UsageError(f"{option} {arn} is in account {account}, not the target account {self.account}")
        if not self.cdk_out.is_dir():
            raise UsageError(f"--cdk-out {self.cdk_out} is not a directory")
        if self.timeout_seconds <= 0 or self.poll_seconds <= 0:
            raise UsageError("--timeout-seconds and --poll-seconds must be positive")
        if self.stack_policy is not None:
            self.stack_policy.check()


@dataclass(frozen=True, kw_only=True)
class RunVariables:
    """What the state machine sets on each build it starts (`EnvironmentVariablesOverride`); the
    project's own variables are `functions.pipeline.settings.BuildSettings`."""

    service: str
    commit_sha: str
    environment: Environment
    mode: Mode
    deployment_id: str  # the execution's name

    VARIABLES: ClassVar[Mapping[str, str]] = {
        "service": "SERVICE",
        "commit_sha": "COMMIT_SHA",
        "environment": "ENVIRONMENT",
        "mode": "MODE",
        "deployment_id": "DEPLOYMENT_ID",
    }

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RunVariables:
        """Every variable is required; raises `SettingsError` naming the one missing or wrong."""
        env = os.environ if environ is None else environ
        raw: dict[str, str] = {}
        for name, variable in cls.VARIABLES.items():
            raw[name] = (env.get(variable) or "").strip()
            if not raw[name]:
                raise SettingsError(f"environment variable {variable} is required")
        if not _COMMIT.match(raw["commit_sha"]):
            raise SettingsError(f"environment variable COMMIT_SHA={raw['commit_sha']!r}: expected a 40-hex commit")
        return cls(
            service=raw["service"],
            commit_sha=raw["commit_sha"],
            environment=_choice("ENVIRONMENT", raw["environment"], Environment),
            mode=_choice("MODE", raw["mode"], Mode),
            deployment_id=raw["deployment_id"],
        )

    def to_environ(self) -> dict[str, str]:
        return {variable: str(getattr(self, name)) for name, variable in self.VARIABLES.items()}


def _choice(variable: str, value: str, enum: type[StrEnum]) -> Any:
    try:
        return enum(value)
    except ValueError:
        expected = ", ".join(member.value for member in enum)
        raise SettingsError(f"environment variable {variable}={value!r}: expected one of {expected}") from None
