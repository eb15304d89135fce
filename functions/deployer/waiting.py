"""Waiting for CloudFormation, bounded by one deadline for the whole deploy.

Every wait polls with the injected clock and sleep (tests pass a fake clock); none may outlive the
deadline. A timeout is `DeployTimeout`: CloudFormation keeps going server-side, so the operator must
inspect the stack before deploying again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import DeployTimeout

Probe = Callable[[], dict[str, Any] | None]


@dataclass(frozen=True)
class Waiter:
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    poll_seconds: float
    deadline: float

    def wait(self, name: str, what: str, probe: Probe, last: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first non-None value of `probe`, polled every `poll_seconds` until the deadline.

        `last["status"]`, when the probe records it, is the stack status the timeout reports."""
        while True:
            value = probe()
            if value is not None:
                return value
            if self.clock() + self.poll_seconds > self.deadline:
                status = (last or {}).get("status")
                raise DeployTimeout(
                    name,
                    status,
                    f"deadline reached while waiting for {what}; CloudFormation continues server-side, "
                    "so inspect the stack before deploying again",
                )
            self.sleep(self.poll_seconds)
