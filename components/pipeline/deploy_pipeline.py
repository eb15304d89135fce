"""`DeployPipeline`: the pipeline's log key, and its parts wired together (events, functions, builds,
state machine, triggers). Every part is named as the pipeline, so the resources it declares keep the
names (and, through aliases, the identities) they had when this component declared them itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components.kms import kms_key
from components.pipeline.anchor_schedule import AnchorSchedule, AnchorScheduleArgs
from components.pipeline.builds import PipelineBuilds, PipelineBuildsArgs
from components.pipeline.common import LogSettings, PipelineContract
from components.pipeline.events import PipelineEvents, PipelineEventsArgs, PipelineTriggers, PipelineTriggersArgs
from components.pipeline.functions import PipelineFunctions, PipelineFunctionsArgs
from components.pipeline.monitoring import PipelineMonitoring, PipelineMonitoringArgs
from components.pipeline.operator_access import OperatorAccess, OperatorAccessArgs
from components.pipeline.state_machine import PipelineStateMachine, PipelineStateMachineArgs
from components.pipeline.sweeper_schedule import SweeperSchedule, SweeperScheduleArgs
from components.policies import pipeline as policies
from components.policies.common import statement
from components.policies.service_account import KEY_ADMINISTRATION_ACTIONS
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import Environment
from stack_config.alarms import AlarmThresholds

TYPE = "cdk-control-plane:tools:DeployPipeline"


@dataclass(frozen=True)
class PipelineRoles:
    """The roles the pipeline runs as (PipelineIdentity's outputs)."""

    functions: Mapping[str, pulumi.Input[str]]
    deployers: Mapping[Environment, pulumi.Input[str]]
    test_runners: Mapping[Environment, pulumi.Input[str]]
    state_machine: pulumi.Input[str]


@dataclass(frozen=True)
class DeployPipelineArgs:
    names: ToolsNames
    contract: PipelineContract
    roles: PipelineRoles
    artifacts_key_arn: pulumi.Input[str]
    tooling_bucket: pulumi.Input[str]
    alert_email_addresses: Sequence[str]
    alert_key_arn: pulumi.Input[str]  # the alert topic's key (monitoring.AlertKey)
    alarms: AlarmThresholds
    log_retention_days: int
    protect: bool  # the log key is protected from deletion
    anchor_channel_arn: pulumi.Input[str] | None  # the anchors' CloudTrail Lake channel; None: the Lake left out
    operator_principal_arns: Sequence[str] = ()  # may invoke the override function


class DeployPipeline(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]
    event_bus_name: pulumi.Output[str]
    alert_topic_arn: pulumi.Output[str]
    break_glass_parameter: pulumi.Output[str]

    def __init__(self, name: str, args: DeployPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names, roles = args.names, args.roles
        child = pulumi.ResourceOptions(parent=self)

        logs_key = kms_key(
            f"{name}-logs",
            alias=names.logs_key_alias,
            description="log groups of the pipeline's functions, builds and state machine",
            policy=policies.logs_key_policy(
                names,
                statement("AccountAdministersKey", KEY_ADMINISTRATION_ACTIONS, "*", principal={"AWS": names.root_arn}),
            ),
            parent=self,
            protect=args.protect,
        )
        logs = LogSettings(retention_days=args.log_retention_days, kms_key_arn=logs_key.arn)
        events = self._events(name, args, logs)
        functions = PipelineFunctions(
            name,
            PipelineFunctionsArgs(
                names=names,
                contract=args.contract,
                role_arns=roles.functions,
                tooling_bucket=args.tooling_bucket,
                dead_letter_queue_arn=events.dead_letter_queue_arn,
                logs=logs,
                anchor_channel_arn=args.anchor_channel_arn,
            ),
            opts=child,
        )
        builds = PipelineBuilds(
            name,
            PipelineBuildsArgs(
                names=names,
                contract=args.contract,
                deployer_role_arns=roles.deployers,
                test_role_arns=roles.test_runners,
                artifacts_key_arn=args.artifacts_key_arn,
                tooling_bucket=args.tooling_bucket,
                logs=logs,
            ),
            opts=child,
        )
        machine = PipelineStateMachine(
            name,
            PipelineStateMachineArgs(
                names=names,
                role_arn=roles.state_machine,
                function_arns=functions.function_arns,
                deploy_projects=builds.deploy_projects,
                test_projects=builds.test_projects,
                max_rollback_attempts=args.contract.max_rollback_attempts,
                logs=logs,
            ),
            opts=child,
        )
        _triggers(name, names, functions, events, machine, child)

        SweeperSchedule(name, SweeperScheduleArgs(names, functions.function_arns["sweeper"]), opts=child)
        AnchorSchedule(name, AnchorScheduleArgs(names, functions.function_arns["anchor"]), opts=child)
        operators = OperatorAccess(
            name,
            OperatorAccessArgs(names, functions.function_names["override"], args.operator_principal_arns),
            opts=child,
        )

        self.state_machine_arn = machine.arn
        self.event_bus_name = events.event_bus_name
        self.alert_topic_arn = events.alert_topic_arn
        self.break_glass_parameter = operators.break_glass_parameter
        self.register_outputs({k: getattr(self, k) for k in ("state_machine_arn", "event_bus_name", "alert_topic_arn")})

    def _events(self, name: str, args: DeployPipelineArgs, logs: LogSettings) -> PipelineEvents:
        """The bus, the alert topic and the dead-letter queue, and what watches the pipeline: alarms,
        alert rules and the dashboard."""
        child = pulumi.ResourceOptions(parent=self)
        events = PipelineEvents(
            name, PipelineEventsArgs(args.names, args.alert_email_addresses, args.alert_key_arn), opts=child
        )
        PipelineMonitoring(
            name,
            PipelineMonitoringArgs(
                names=args.names,
                thresholds=args.alarms,
                alert_topic_arn=events.alert_topic_arn,
                event_bus_name=events.event_bus_name,
                logs=logs,
            ),
            opts=child,
        )
        return events


def _triggers(
    name: str,
    names: ToolsNames,
    functions: PipelineFunctions,
    events: PipelineEvents,
    machine: PipelineStateMachine,
    opts: pulumi.ResourceOptions,
) -> PipelineTriggers:
    """Manifests to intake and the dispatcher; runs that ended without succeeding to the finalizer."""
    return PipelineTriggers(
        name,
        PipelineTriggersArgs(
            names=names,
            dispatcher_arn=functions.function_arns["dispatcher"],
            dispatcher_name=functions.function_names["dispatcher"],
            intake_arn=functions.function_arns["intake"],
            intake_name=functions.function_names["intake"],
            dead_letter_queue_arn=events.dead_letter_queue_arn,
            dead_letter_queue_url=events.dead_letter_queue_url,
            state_machine_arn=machine.arn,
            finalizer_arn=functions.function_arns["finalizer"],
            finalizer_name=functions.function_names["finalizer"],
        ),
        opts=opts,
    )
