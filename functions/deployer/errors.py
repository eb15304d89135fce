"""What stopped a deploy, named so that the pipeline and the on-call operator can act on it.

Every error carries what an operator needs (the stack, its status, the reason) and renders itself as
a dict for the result file. The entry point maps the classes to exit codes (see `EXIT_CODES`)."""

from __future__ import annotations

from typing import Any


class DeployerError(Exception):
    """Base class: an expected way for a deploy to stop. Never shown with a traceback."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # The partial result (stacks already deployed) when raised from `deploy_stacks`.
        self.result: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message}


class UsageError(DeployerError):
    """The request is invalid (an option, the stack policy, the mode); nothing was deployed."""

    kind = "usage_error"


class AssemblyError(DeployerError):
    """The cloud assembly cannot be deployed as asked (selection, dependencies, templates)."""

    kind = "invalid_assembly"


class AssumeRoleFailed(DeployerError):
    """The deploy role could not be assumed (trust, external id, permissions, network)."""

    kind = "assume_role_failed"

    def __init__(self, role_arn: str, reason: str) -> None:
        super().__init__(f"could not assume {role_arn}: {reason}")
        self.role_arn = role_arn
        self.reason = reason


class DeployFailed(DeployerError):
    """A stack did not reach CREATE_COMPLETE/UPDATE_COMPLETE, or an AWS call failed while deploying it."""

    kind = "deploy_failed"

    def __init__(self, stack: str, status: str | None, reason: str, events: list[dict[str, Any]] | None = None):
        self.stack = stack
        self.status = status
        self.reason = reason
        self.events = events or []
        lines = [f"{stack}: {reason}" + (f" (status {status})" if status else "")]
        lines += [
            f"  {e['logical_resource_id']} ({e['resource_type']}) {e['status']}: {e['reason']}" for e in self.events
        ]
        super().__init__("\n".join(lines))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "stack": self.stack,
            "status": self.status,
            "reason": self.reason,
            "events": self.events,
        }


class AssetMismatch(DeployerError):
    """An object CloudFormation would read (a template, a file asset, a container image) is not the
    signed bytes after the deployer published them: something else wrote it. Nothing was deployed."""

    kind = "asset_mismatch"

    def __init__(self, location: str, asset_id: str, expected: str, found: str | None) -> None:
        self.location = location
        self.asset_id = asset_id
        self.expected = expected
        self.found = found
        super().__init__(
            f"{location} (asset {asset_id}) is not the signed content: expected {expected}, found "
            f"{found or 'no checksum'}; nothing was deployed"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "location": self.location,
            "asset_id": self.asset_id,
            "expected": self.expected,
            "found": self.found,
        }


class DeployTimeout(DeployFailed):
    """The deadline passed while waiting; CloudFormation keeps going server-side."""

    kind = "deploy_timeout"


class DriftDetected(DeployerError):
    """A prod stack differs from its template (or drift could not be checked) and no override allows it."""

    kind = "drift_detected"

    def __init__(self, stack: str, drifts: list[dict[str, Any]], reason: str | None = None) -> None:
        self.stack = stack
        self.drifts = drifts
        self.reason = reason or f"{len(drifts)} drifted resource(s)"
        lines = [f"{stack}: drift detected: {self.reason}; deploy aborted (a signed override may allow it)"]
        lines += [f"  {d['logical_resource_id']} ({d['resource_type']}) {d['status']}" for d in drifts]
        super().__init__("\n".join(lines))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "stack": self.stack,
            "reason": self.reason,
            "drifts": self.drifts,
        }


class ManualInterventionRequired(DeployerError):
    """The stack is in a state the deployer may not (prod) or cannot repair by itself."""

    kind = "manual_intervention_required"

    def __init__(self, stack: str, status: str, reason: str) -> None:
        self.stack = stack
        self.status = status
        self.reason = reason
        super().__init__(f"{stack}: {status}: {reason}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "stack": self.stack,
            "status": self.status,
            "reason": self.reason,
        }


EXIT_SUCCESS = 0
EXIT_DEPLOY_FAILED = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3
EXIT_MANUAL = 4
EXIT_INVALID_ARTIFACT = 5
EXIT_ASSET_MISMATCH = 6
# A deploy build that stopped before its first change set for a reason that is not the artifact's (KMS,
# S3 or STS not answering, the deploy role not assumable, a stack that would not settle): nothing was
# deployed and the release is as good as it was. Only the CodeBuild entry point says so
# (`functions.deployer.codebuild`, from `not_started`); the command line keeps 1.
EXIT_NOT_STARTED = 7

# What each exit code means, as the deploy builds export it (`DEPLOYER_OUTCOME`, see
# `functions.deployer.codebuild.build_outcome`).
EXIT_KINDS = {
    EXIT_SUCCESS: "succeeded",
    EXIT_DEPLOY_FAILED: DeployFailed.kind,
    EXIT_USAGE: UsageError.kind,
    EXIT_DRIFT: DriftDetected.kind,
    EXIT_MANUAL: ManualInterventionRequired.kind,
    EXIT_INVALID_ARTIFACT: "invalid_artifact",
    EXIT_ASSET_MISMATCH: AssetMismatch.kind,
    EXIT_NOT_STARTED: "not_started",
}

# Most specific first: DeployTimeout is a DeployFailed.
EXIT_CODES: tuple[tuple[type[DeployerError], int], ...] = (
    (UsageError, EXIT_USAGE),
    (AssemblyError, EXIT_USAGE),
    (DriftDetected, EXIT_DRIFT),
    (AssetMismatch, EXIT_ASSET_MISMATCH),
    (ManualInterventionRequired, EXIT_MANUAL),
    (DeployFailed, EXIT_DEPLOY_FAILED),
    (AssumeRoleFailed, EXIT_DEPLOY_FAILED),
)


def not_started(code: int, *, change_sets: int) -> int:
    """The one rule for "nothing was started": a failed deploy (1) before any change set was created
    is `EXIT_NOT_STARTED`. Every other code stays: an invalid artifact, an asset that is not the signed
    content, a usage error or an assembly that cannot be deployed are the artifact's (or the request's)
    own, and once a change set exists the stacks may have changed."""
    return EXIT_NOT_STARTED if code == EXIT_DEPLOY_FAILED and change_sets == 0 else code


def exit_code(error: DeployerError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return EXIT_DEPLOY_FAILED


# The variable the deploy builds export (the deploy buildspec's only `exported-variables` entry), and
# what a drift check exports when it could tell (the state machine routes on it).
OUTCOME_VARIABLE = "DEPLOYER_OUTCOME"
DRIFT_CLEAN = "clean"
DRIFT_FOUND = EXIT_KINDS[EXIT_DRIFT]
ASSET_MISMATCH = EXIT_KINDS[EXIT_ASSET_MISMATCH]
NOT_STARTED = EXIT_KINDS[EXIT_NOT_STARTED]
