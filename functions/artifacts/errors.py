"""What went wrong, named so an operator can act on it: check findings and the errors of the core.

Kept free of heavy imports: the CLI maps these to exit codes without loading the modules that raise them."""

from __future__ import annotations

from dataclasses import asdict, dataclass


def printable(text: str) -> str:
    """`text`, or its escaped form if printing it could fail or mislead (a lone surrogate, a control
    or bidi character that would reorder the line it is printed in)."""
    return text if text.isprintable() else ascii(text)


@dataclass(frozen=True)
class Finding:
    check: str  # structure | signature | files | artifact_sha256 | commit | service | cdk_cli_version | ...
    subject: str  # the file path or manifest field concerned
    detail: str

    def line(self) -> str:
        return f"FAIL {self.check}: {self.subject}: {self.detail}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class HashMismatch(Finding):
    """A finding that is a hash mismatch: a file whose SHA-256 is not the one the manifest signs, a tree
    hash that is not its files', an `artifact_sha256` that is not the metadata's, a copy that is not the
    verified bytes. The spec's `AssetHashMismatch` counts these and nothing else an artifact can fail."""


def has_hash_mismatch(findings: list[Finding]) -> bool:
    return any(isinstance(f, HashMismatch) for f in findings)


class InvalidArtifact(Exception):
    """The artifact cannot be trusted; `findings` says why, one entry per failed check."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__("\n".join(f.line() for f in findings))


class SigningError(Exception):
    """A key could not be loaded or used (wrong type, unreachable KMS, denied)."""


class ContextError(Exception):
    """A context could not be generated, published or trusted; the message says which and why."""


class AwsError(Exception):
    """An AWS call failed for a reason other than the artifact (credentials, permissions, network)."""


class TransientAwsError(AwsError):
    """An AWS call got no answer about the thing asked for: throttled, a 5xx, the network, or denied (our
    own misconfiguration). Never blamed on the artifact: raised, so that Lambda's retries, the dead-letter
    queue and the alarms take it, and a retry (or a fix) succeeds."""


# Answers about the object or key asked for, the same on every retry: it is not there, or (KMS) it exists
# but cannot be used. A disabled key or one pending deletion is an operator's act that withdraws the
# service's signing (re-enabling it is a decision, not something a retry waits for).
# Every other code, and every error without one (BotoCoreError: endpoint, timeout, credentials), is
# transient. AccessDenied on our own bucket or key is a misconfiguration to alarm on, not a refusal.
PERMANENT_AWS_ERROR_CODES = frozenset(
    {
        "NoSuchKey",  # S3 GetObject
        "NoSuchVersion",
        "404",  # S3 HeadObject
        "NotFound",
        "NotFoundException",  # KMS: no key behind the alias
        "DisabledException",  # KMS: the key is disabled
        "KMSInvalidStateException",  # KMS: pending deletion, or pending import
        "InvalidKeyUsageException",  # KMS: not a signing key
    }
)


def aws_error_code(exc: BaseException) -> str | None:
    """The `Error.Code` of a botocore `ClientError` (duck-typed: this module imports no botocore)."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code) if code else None


def is_permanent_aws_error(exc: BaseException) -> bool:
    """True only for an AWS answer that a retry would repeat (`PERMANENT_AWS_ERROR_CODES`)."""
    return aws_error_code(exc) in PERMANENT_AWS_ERROR_CODES


def raise_if_transient(exc: BaseException, message: str) -> None:
    """`TransientAwsError(message)` unless `exc` is a permanent answer, which the caller then reports
    as its own verdict (a refusal, an invalid key, a settings error)."""
    if not is_permanent_aws_error(exc):
        raise TransientAwsError(message) from exc
