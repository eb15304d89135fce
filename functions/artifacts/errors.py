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
