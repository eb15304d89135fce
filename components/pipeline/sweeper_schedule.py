"""The sweeper's schedule: EventBridge Scheduler invokes the sweeper function every 2 minutes
(`lifecycle.SWEEP_SCHEDULE`) through a role of its own, which may invoke that function and nothing else.
The state machine cannot invoke the sweeper (its policy leaves it out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.pipeline.common import adopted
from components.policies.common import document, service_trust, statement
from components.scoped_role import ScopedRole, ScopedRoleArgs
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import SWEEP_SCHEDULE

TYPE = "cdk-control-plane:pipeline:SweeperSchedule"
SCHEDULE_GROUP = "default"


def schedule_group_arn(names: ToolsNames) -> str:
    return f"arn:aws:scheduler:{names.region}:{names.account}:schedule-group/{SCHEDULE_GROUP}"


def schedule_role_name(names: ToolsNames) -> str:
    return f"{names.prefix}-sweeper-schedule"


def schedule_trust(names: ToolsNames) -> dict[str, Any]:
    """Scheduler, for a schedule of this account's group only (confused-deputy guard)."""
    return service_trust("scheduler.amazonaws.com", names.account, source_arn=schedule_group_arn(names))


def schedule_policy(names: ToolsNames) -> dict[str, Any]:
    return document(statement("InvokeSweeper", ["lambda:InvokeFunction"], [names.function_arn("sweeper")]))


@dataclass(frozen=True)
class SweeperScheduleArgs:
    names: ToolsNames
    sweeper_arn: pulumi.Input[str]


class SweeperSchedule(pulumi.ComponentResource):
    def __init__(self, name: str, args: SweeperScheduleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names = args.names
        child = adopted(self, opts)  # as every part's children (new here: the alias is harmless)
        role = ScopedRole(
            f"{name}-sweeper-schedule",
            ScopedRoleArgs(
                role_name=schedule_role_name(names),
                description="EventBridge Scheduler invokes the sweeper every 2 minutes",
                trust_policy=schedule_trust(names),
                inline_policies={"invoke-sweeper": schedule_policy(names)},
            ),
            opts=child,
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-sweeper",
            name=f"{names.prefix}-sweeper",
            group_name=SCHEDULE_GROUP,
            description="the Global Artifact Sweeper and its Execution Watchdog (spec: every 2 minutes)",
            schedule_expression=SWEEP_SCHEDULE,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=aws.scheduler.ScheduleTargetArgs(
                arn=args.sweeper_arn,
                role_arn=role.arn,
                input="{}",
                # a missed sweep is replaced by the next one two minutes later: no retries pile up
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=0, maximum_event_age_in_seconds=60
                ),
            ),
            opts=child,
        )
        self.register_outputs({"schedule_arn": self.schedule.arn})
