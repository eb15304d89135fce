"""The anchor function's schedule: EventBridge Scheduler invokes it every 10 minutes
(`functions.audit.ANCHOR_SCHEDULE`, the spec's interval) through a role of its own, which may invoke that
function and nothing else. Nothing else invokes it: the state machine's policy leaves it out."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.pipeline.sweeper_schedule import Scheduled, invoke_on_schedule
from functions.audit import ANCHOR_SCHEDULE
from functions.naming import ToolsNames

TYPE = "cdk-control-plane:pipeline:AnchorSchedule"
FUNCTION = "anchor"


ANCHOR = Scheduled(
    function=FUNCTION,
    schedule="audit-anchor",
    expression=ANCHOR_SCHEDULE,
    role_description="EventBridge Scheduler invokes the audit anchor function every 10 minutes",
    description="anchors the audit chain: bucket, audit-anchor-publish topic, CloudTrail Lake (spec)",
    max_event_age=300,  # a missed anchor is replaced by the next one ten minutes later
)


@dataclass(frozen=True)
class AnchorScheduleArgs:
    names: ToolsNames
    anchor_arn: pulumi.Input[str]


class AnchorSchedule(pulumi.ComponentResource):
    def __init__(self, name: str, args: AnchorScheduleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.schedule = invoke_on_schedule(name, args.names, ANCHOR, args.anchor_arn, child)
        self.register_outputs({"schedule_arn": self.schedule.arn})
