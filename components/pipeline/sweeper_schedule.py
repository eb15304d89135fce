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


def schedule_trust(names: ToolsNames) -> dict[str, Any]:
    """Scheduler, for a schedule of this account's group only (confused-deputy guard)."""
    return service_trust("scheduler.amazonaws.com", names.account, source_arn=schedule_group_arn(names))


@dataclass(frozen=True)
class Scheduled:
    """One function invoked on a schedule through a role of its own that may invoke that function only."""

    function: str  # the function's short name (`sweeper`, `anchor`): its role is `{prefix}-{function}-schedule`
    schedule: str  # the schedule's name, `{prefix}-{schedule}`
    expression: str  # `rate(...)`
    role_description: str
    description: str
    max_event_age: int  # seconds; no retries: a missed run is replaced by the next scheduled one


def invoke_on_schedule(
    name: str, names: ToolsNames, scheduled: Scheduled, function_arn: pulumi.Input[str], child: pulumi.ResourceOptions
) -> aws.scheduler.Schedule:
    function = scheduled.function
    invoke = statement(f"Invoke{function.title()}", ["lambda:InvokeFunction"], [names.function_arn(function)])
    role = ScopedRole(
        f"{name}-{function}-schedule",
        ScopedRoleArgs(
            role_name=f"{names.prefix}-{function}-schedule",
            description=scheduled.role_description,
            trust_policy=schedule_trust(names),
            inline_policies={f"invoke-{function}": document(invoke)},
        ),
        opts=child,
    )
    return aws.scheduler.Schedule(
        f"{name}-{scheduled.schedule}",
        name=f"{names.prefix}-{scheduled.schedule}",
        group_name=SCHEDULE_GROUP,
        description=scheduled.description,
        schedule_expression=scheduled.expression,
        flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
        target=aws.scheduler.ScheduleTargetArgs(
            arn=function_arn,
            role_arn=role.arn,
            input="{}",
            retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                maximum_retry_attempts=0, maximum_event_age_in_seconds=scheduled.max_event_age
            ),
        ),
        opts=child,
    )


SWEEPER = Scheduled(
    function="sweeper",
    schedule="sweeper",
    expression=SWEEP_SCHEDULE,
    role_description="EventBridge Scheduler invokes the sweeper every 2 minutes",
    description="the Global Artifact Sweeper and its Execution Watchdog (spec: every 2 minutes)",
    max_event_age=60,  # a missed sweep is replaced by the next one two minutes later
)


@dataclass(frozen=True)
class SweeperScheduleArgs:
    names: ToolsNames
    sweeper_arn: pulumi.Input[str]


class SweeperSchedule(pulumi.ComponentResource):
    def __init__(self, name: str, args: SweeperScheduleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = adopted(self, opts)  # as every part's children (new here: the alias is harmless)
        self.schedule = invoke_on_schedule(name, args.names, SWEEPER, args.sweeper_arn, child)
        self.register_outputs({"schedule_arn": self.schedule.arn})
