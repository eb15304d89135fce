"""The `DeployArtifactPipeline` state machine (Standard): its definition from `definition`,
X-Ray tracing, and error-level execution logs in its own log group."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.pipeline import definition
from components.pipeline.common import LogSettings, adopted, log_group
from components.pipeline.functions import FUNCTION_SPECS
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import Environment

TYPE = "cdk-control-plane:pipeline:PipelineStateMachine"


@dataclass(frozen=True)
class PipelineStateMachineArgs:
    names: ToolsNames
    role_arn: pulumi.Input[str]
    function_arns: Mapping[str, pulumi.Input[str]]  # function -> ARN, as PipelineFunctions declares them
    deploy_projects: Mapping[Environment, pulumi.Input[str]]  # CodeBuild project names
    test_projects: Mapping[Environment, pulumi.Input[str]]
    max_rollback_attempts: int
    logs: LogSettings


class PipelineStateMachine(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineStateMachineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names = args.names
        machine_logs = log_group(
            f"{name}-state-machine-logs", names.state_machine_log_group, args.logs, adopted(self, opts)
        )
        resources = definition.PipelineResources(
            table_name=names.metadata_table,
            transition_function=args.function_arns["transition"],
            validate_function=args.function_arns["validate"],
            promote_function=args.function_arns["promote"],
            rollback_plan_function=args.function_arns["rollback-plan"],
            finalizer_function=args.function_arns["finalizer"],
            deploy_projects={e.value: args.deploy_projects[e] for e in Environment},
            test_projects={e.value: args.test_projects[e] for e in Environment},
            function_timeouts={function: spec.timeout for function, spec in FUNCTION_SPECS.items()},
            max_rollback_attempts=args.max_rollback_attempts,
        )
        machine = aws.sfn.StateMachine(
            f"{name}-state-machine",
            name=names.state_machine_name,
            type="STANDARD",
            role_arn=args.role_arn,
            definition=pulumi.Output.json_dumps(definition.build_definition(resources)),
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level="ERROR",
                include_execution_data=False,
                log_destination=pulumi.Output.concat(machine_logs.arn, ":*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
            opts=adopted(self, opts),
        )
        self.arn = machine.arn
        self.register_outputs({"arn": self.arn})
