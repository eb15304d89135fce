"""The anchor function's schedule: EventBridge Scheduler invokes it every 10 minutes
(`functions.audit.ANCHOR_SCHEDULE`, the spec's interval) through a role of its own, which may invoke that
function and nothing else. Nothing else invokes it: the state machine's policy leaves it out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.pipeline.sweeper_schedule import SCHEDULE_GROUP, schedule_trust
from components.policies.common import document, statement
from components.scoped_role import ScopedRole, ScopedRoleArgs
from functions.audit import ANCHOR_SCHEDULE
from functions.naming import ToolsNames

TYPE = "cdk-control-plane:pipeline:AnchorSchedule"
FUNCTION = "anchor"


def schedule_role_name(names: ToolsNames) -> str:
    return f"{names.prefix}-anchor-schedule"


def schedule_policy(names: ToolsNames) -> dict[str, Any]:
    return document(statement("InvokeAnchor", ["lambda:InvokeFunction"], [names.function_arn(FUNCTION)]))


@dataclass(frozen=True)
class AnchorScheduleArgs:
    names: ToolsNames
    anchor_arn: pulumi.Input[str]


class AnchorSchedule(pulumi.ComponentResource):
    def __init__(self, name: str, args: AnchorScheduleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names = args.names
        child = pulumi.ResourceOptions(parent=self)
        role = ScopedRole(
            f"{name}-anchor-schedule",
            ScopedRoleArgs(
                role_name=schedule_role_name(names),
                description="EventBridge Scheduler invokes the audit anchor function every 10 minutes",
                trust_policy=schedule_trust(names),
                inline_policies={"invoke-anchor": schedule_policy(names)},
            ),
            opts=child,
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-audit-anchor",
            name=f"{names.prefix}-audit-anchor",
            group_name=SCHEDULE_GROUP,
            description="anchors the audit chain: bucket, audit-anchor-publish topic, CloudTrail Lake (spec)",
            schedule_expression=ANCHOR_SCHEDULE,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=aws.scheduler.ScheduleTargetArgs(
                arn=args.anchor_arn,
                role_arn=role.arn,
                input="{}",
                # a missed anchor is replaced by the next one ten minutes later: no retries pile up
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=0, maximum_event_age_in_seconds=300
                ),
            ),
            opts=child,
        )
        self.register_outputs({"schedule_arn": self.schedule.arn})
