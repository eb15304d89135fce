"""The sweeper in the emulator, invoked as its schedule would invoke it, with the sweep's clock moved
forward (`minutes` after the real now) so that the 5-minute and 65-minute thresholds pass without
waiting; and a deploy build that blocks until released (a stuck run)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from devtools.emulator.program import REGION
from functions.naming import ToolsNames
from functions.pipeline.notify import Notifier
from functions.pipeline.settings import FunctionSettings
from functions.pipeline.store import MetadataTable
from functions.pipeline.sweeper import SweeperClients, execution_arn, finalize_through, sweep


@dataclass
class Sweeper:
    """The sweeper function's core with the harness's clients (its events reach the harness's bus, its
    alerts the alert topic); the metrics it emits are kept in `metrics`."""

    metrics: list[tuple[str, float]] = field(default_factory=list)

    def clients(self) -> SweeperClients:
        settings = FunctionSettings.from_environ()
        return SweeperClients(
            settings=settings,
            table=MetadataTable.named(settings.table_name, boto3.session.Session(region_name=REGION)),
            sfn=boto3.client("stepfunctions", region_name=REGION),
            s3=boto3.client("s3", region_name=REGION),
            notify=Notifier(
                boto3.client("events", region_name=REGION),
                boto3.client("sns", region_name=REGION),
                settings.event_bus_name,
                settings.alert_topic_arn,
            ),
            metric=lambda name, value: self.metrics.append((name, value)),
            # as the handler wires it: the finalizer function (the harness's in-process handler)
            reconcile=finalize_through(
                boto3.client("lambda", region_name=REGION),
                ToolsNames(settings.name_prefix, settings.tools_account_id, settings.region).function_arn("finalizer"),
                settings.state_machine_arn,
            ),
        )

    def __call__(self, minutes: float) -> dict[str, Any]:
        """One sweep at the real now + `minutes`."""
        return sweep(self.clients(), now=datetime.now(UTC) + timedelta(minutes=minutes))

    def started(self, report: dict[str, Any]) -> list[str]:
        """The ARNs of the executions a sweep started."""
        settings = FunctionSettings.from_environ()
        return [execution_arn(settings, c["execution"]) for c in report["corrections"] if "attempt" in c]


class BlockedDeploy:
    """A deployer that blocks the builds of the runs `blocks(variables)` selects until `release()`: an
    execution that makes no progress (its history stays quiet), as a hung build or service would."""

    def __init__(self, deployer: Callable[[str, dict[str, str]], int], blocks: Callable[[dict[str, str]], bool]):
        self.deployer = deployer
        self.blocks = blocks
        self.entered = threading.Event()
        self._released = threading.Event()

    def __call__(self, project: str, variables: dict[str, str]) -> int:
        if self.blocks(variables):
            self.entered.set()
            if not self._released.wait(timeout=120):
                raise TimeoutError("the blocked deploy was never released")
            if self.stopped:
                raise RuntimeError("the build was stopped with its execution")
        return self.deployer(project, variables)

    stopped = False

    def release(self, *, stopped: bool = False) -> None:
        """Let the blocked builds go on; `stopped`: their execution was stopped meanwhile, and Step
        Functions stops a `startBuild.sync` build with it: the build ends deploying nothing."""
        self.stopped = stopped
        self._released.set()
