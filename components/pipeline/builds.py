"""The pipeline's CodeBuild projects: a deployer per environment, the stage tests and the prod smoke
tests; 60-minute timeouts, CloudWatch logs, buildspecs and code from the source bundle this component
uploads to the tooling bucket."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.pipeline.common import LogSettings, PipelineContract, adopted, log_group
from components.pipeline.packaging import buildspec, bundle_files
from functions import naming
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import Environment
from functions.pipeline.settings import BuildSettings

TYPE = "cdk-control-plane:pipeline:PipelineBuilds"
BUILD_IMAGE = "aws/codebuild/standard:7.0"
BUILD_TIMEOUT_MINUTES = 60  # the spec's phase limit
BUNDLE_KEY = "bundle/control-plane.zip"


def build_settings(names: ToolsNames, contract: PipelineContract, kind: str, environment: Environment) -> BuildSettings:
    """A project's environment: deployers get the stack policies, test runners the services' test
    commands."""
    deployer = kind == naming.DEPLOYER
    settings = BuildSettings(
        region=names.region,
        table_name=names.metadata_table,
        name_prefix=names.prefix,
        tools_account_id=names.account,
        service_accounts={s: dict(accounts) for s, accounts in contract.service_accounts.items()},
        artifact_bucket=names.artifact_bucket(environment),
        stack_policies={s: dict(p) for s, p in contract.stack_policies.items()} if deployer else {},
        test_commands={} if deployer else {s: dict(c) for s, c in contract.test_commands.items()},
        service_repositories=dict(contract.service_repositories),
    )
    settings.check()
    return settings


@dataclass(frozen=True)
class PipelineBuildsArgs:
    names: ToolsNames
    contract: PipelineContract
    deployer_role_arns: Mapping[Environment, pulumi.Input[str]]
    test_role_arns: Mapping[Environment, pulumi.Input[str]]
    artifacts_key_arn: pulumi.Input[str]  # encrypts the builds' outputs
    tooling_bucket: pulumi.Input[str]  # where the source bundle goes
    logs: LogSettings


class PipelineBuilds(pulumi.ComponentResource):
    deploy_projects: dict[Environment, pulumi.Output[str]]
    test_projects: dict[Environment, pulumi.Output[str]]

    def __init__(self, name: str, args: PipelineBuildsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        bundle = aws.s3.BucketObjectv2(
            f"{name}-bundle",
            bucket=args.tooling_bucket,
            key=BUNDLE_KEY,
            source=pulumi.AssetArchive(bundle_files()),
            opts=adopted(self, opts),
        )
        source = pulumi.Output.concat(args.tooling_bucket, "/", bundle.key)
        self.deploy_projects = {
            e: self._project(name, args, naming.DEPLOYER, e, args.deployer_role_arns[e], source, opts).name
            for e in Environment
        }
        self.test_projects = {
            e: self._project(name, args, naming.TEST_KIND[e], e, args.test_role_arns[e], source, opts).name
            for e in Environment
        }
        self.register_outputs({"deploy_projects": self.deploy_projects, "test_projects": self.test_projects})

    def _project(
        self,
        name: str,
        args: PipelineBuildsArgs,
        kind: str,
        environment: Environment,
        role_arn: pulumi.Input[str],
        source: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None,
    ) -> aws.codebuild.Project:
        names = args.names
        project = names.project(kind, environment)
        group = log_group(f"{name}-{project}-logs", names.project_log_group(project), args.logs, adopted(self, opts))
        variables = build_settings(names, args.contract, kind, environment).to_environ()
        return aws.codebuild.Project(
            f"{name}-{project}",
            name=project,
            description=f"{kind} ({environment}) for DeployArtifactPipeline",
            service_role=role_arn,
            build_timeout=BUILD_TIMEOUT_MINUTES,
            queued_timeout=BUILD_TIMEOUT_MINUTES,
            encryption_key=args.artifacts_key_arn,
            source=aws.codebuild.ProjectSourceArgs(
                type="S3",
                location=source,
                buildspec=buildspec("deploy.yml" if kind == naming.DEPLOYER else "tests.yml"),
            ),
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                compute_type="BUILD_GENERAL1_SMALL",
                image=BUILD_IMAGE,
                type="LINUX_CONTAINER",
                environment_variables=[
                    aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=k, value=value, type="PLAINTEXT")
                    for k, value in sorted(variables.items())
                ],
            ),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    group_name=group.name, status="ENABLED"
                )
            ),
            opts=adopted(self, opts),
        )
