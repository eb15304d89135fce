"""Every role the pipeline runs as, in the tools account: the state machine, each function, the
deployers (one per environment) and the test runners.

They exist from the first `pulumi up` of the tools stack, before any stage or prod stack, because IAM
refuses a trust policy whose principal does not exist: the service accounts trust the deployers
(deploy roles) and the finalizer (read-only roles) by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.policies import pipeline as policies
from components.scoped_role import ScopedRole, ScopedRoleArgs
from functions.naming import FUNCTIONS, ToolsNames
from functions.pipeline.lifecycle import Environment

TYPE = "cdk-control-plane:tools:PipelineIdentity"


@dataclass(frozen=True)
class PipelineIdentityArgs:
    names: ToolsNames
    keys: policies.PipelineKeys


class PipelineIdentity(pulumi.ComponentResource):
    function_role_arns: dict[str, pulumi.Output[str]]
    deployer_role_arns: dict[Environment, pulumi.Output[str]]
    test_role_arns: dict[Environment, pulumi.Output[str]]
    state_machine_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names, keys = args.names, args.keys
        child = pulumi.ResourceOptions(parent=self)

        self.function_role_arns = {
            function: ScopedRole(
                f"{name}-{function}",
                ScopedRoleArgs(
                    role_name=names.function_role(function),
                    description=f"pipeline function {names.function_name(function)}",
                    trust_policy=policies.function_trust(names, function),
                    inline_policies={"function": policies.function_policy(names, keys, function)},
                ),
                opts=child,
            ).arn
            for function in FUNCTIONS
        }
        self.deployer_role_arns = {
            environment: ScopedRole(
                f"{name}-deployer-{environment}",
                ScopedRoleArgs(
                    role_name=names.deployer_role(environment),
                    description=f"CodeBuild deployer ({environment}): assumes the services' {environment} deploy roles",
                    trust_policy=policies.project_trust(names, names.deployer_project(environment)),
                    inline_policies={"deploy": policies.deployer_policy(names, keys, environment)},
                ),
                opts=child,
            ).arn
            for environment in Environment
        }
        self.test_role_arns = {
            environment: ScopedRole(
                f"{name}-{names.test_project(environment)}",
                ScopedRoleArgs(
                    role_name=names.test_runner_role(environment),
                    description=f"CodeBuild runner of the services' {environment} tests",
                    trust_policy=policies.project_trust(names, names.test_project(environment)),
                    inline_policies={"tests": policies.test_runner_policy(names, keys, environment)},
                ),
                opts=child,
            ).arn
            for environment in Environment
        }
        self.state_machine_role_arn = ScopedRole(
            f"{name}-state-machine",
            ScopedRoleArgs(
                role_name=names.state_machine_role,
                description="DeployArtifactPipeline orchestrates functions and builds",
                trust_policy=policies.state_machine_trust(names),
                inline_policies={"orchestrate": policies.state_machine_policy(names, keys)},
            ),
            opts=child,
        ).arn
        self.register_outputs(
            {
                "function_role_arns": self.function_role_arns,
                "deployer_role_arns": self.deployer_role_arns,
                "test_role_arns": self.test_role_arns,
                "state_machine_role_arn": self.state_machine_role_arn,
            }
        )
