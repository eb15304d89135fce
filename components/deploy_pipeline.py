"""The `DeployArtifactPipeline` and what it runs (spec: Stage Deployment + Testing, Production
Deployment + Smoke Testing, Configurable Rollback Retry Policy; DESIGN.md: the pipeline).

- the Step Functions state machine (Standard), its definition from `pipeline_definition`;
- the Lambda functions (transition, validate, promote, rollback-plan, finalizer, dispatcher), each
  with its own role (PipelineIdentity), log group (retention, KMS), X-Ray tracing and a dead-letter
  queue for failed asynchronous invocations;
- the CodeBuild projects (deployer per environment, stage tests, prod smoke), 60-minute timeouts,
  CloudWatch logs, buildspecs from this repository;
- the triggers: `Object Created` of `*/artifact-manifest.json` in the candidate bucket starts stage,
  in the release bucket starts prod (through the dispatcher, with deterministic execution names);
- the custom EventBridge bus the spec's events go to, and the critical-alerts topic.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import pipeline_definition as definition
from components.kms import kms_key
from components.policies import pipeline as policies
from components.policies.common import statement
from components.policies.service_account import KEY_ADMINISTRATION_ACTIONS
from functions import naming
from functions.pipeline import vocabulary as v
from stack_config import AccountRole, StackConfig

TYPE = "cdk-control-plane:tools:DeployPipeline"
PROJECT_DIR = Path(__file__).resolve().parent.parent
LAYER_ARCHIVE = PROJECT_DIR / "build" / "lambda" / "layer.zip"
OFFLINE_PREVIEW = "CDKCP_OFFLINE_PREVIEW"  # set by devtools.preview_offline: no layer build needed
RUNTIME = "python3.12"
ARCHITECTURE = "x86_64"
BUILD_IMAGE = "aws/codebuild/standard:7.0"

# Python packages shipped to Lambda and to the CodeBuild bundle: explicit, no tests or caches.
CODE_PACKAGES = ("functions", "functions/artifacts", "functions/pipeline", "functions/handlers", "functions/deployer")
BUNDLE_EXTRA = ("artifactctl", "buildspecs")

FUNCTION_SETTINGS = {
    # function: (handler module, timeout seconds, memory MB, reserved concurrency)
    "transition": ("transition", 60, 256, None),
    "validate": ("validate", 900, 2048, None),
    "promote": ("promote", 300, 512, None),
    "rollback-plan": ("rollback_plan", 60, 256, None),
    "finalizer": ("finalizer", 300, 256, None),
    # EventBridge may deliver bursts; the dispatcher only starts executions, a few at a time.
    "dispatcher": ("dispatcher", 30, 256, 5),
}


def code_files(packages: tuple[str, ...] = CODE_PACKAGES) -> dict[str, pulumi.Asset]:
    """The archive's explicit content: the `.py` files of these packages, sorted, nothing else."""
    files: dict[str, pulumi.Asset] = {}
    for package in packages:
        for path in sorted((PROJECT_DIR / package).glob("*.py")):
            files[path.relative_to(PROJECT_DIR).as_posix()] = pulumi.FileAsset(str(path))
    return files


def bundle_files() -> dict[str, pulumi.Asset]:
    files = code_files(CODE_PACKAGES + ("artifactctl",))
    for path in sorted((PROJECT_DIR / "buildspecs").iterdir()):
        if path.is_file():
            files[path.relative_to(PROJECT_DIR).as_posix()] = pulumi.FileAsset(str(path))
    return files


def layer_archive() -> pulumi.Archive:
    if not LAYER_ARCHIVE.is_file() and not os.environ.get(OFFLINE_PREVIEW):
        raise pulumi.RunError(f"{LAYER_ARCHIVE} is missing: run `make lambda-layer` before `pulumi up`")
    return pulumi.FileArchive(str(LAYER_ARCHIVE))


@dataclass(frozen=True)
class DeployPipelineArgs:
    config: StackConfig
    function_role_arns: dict[str, pulumi.Input[str]]
    deployer_role_arns: dict[str, pulumi.Input[str]]
    test_role_arns: dict[str, pulumi.Input[str]]
    state_machine_role_arn: pulumi.Input[str]
    artifacts_key_arn: pulumi.Input[str]
    ci_signer_key_arn: pulumi.Input[str]
    tooling_bucket: pulumi.Input[str]


class DeployPipeline(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]
    event_bus_name: pulumi.Output[str]
    alert_topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeployPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        config = args.config
        names = policies.PipelineNames(config)
        child = pulumi.ResourceOptions(parent=self)

        logs_key = kms_key(
            f"{name}-logs",
            alias=f"alias/{names.prefix}-pipeline-logs",
            description="log groups of the pipeline's functions, builds and state machine",
            policy=policies.logs_key_policy(
                names,
                statement(
                    "AccountAdministersKey",
                    KEY_ADMINISTRATION_ACTIONS,
                    "*",
                    principal={"AWS": f"arn:aws:iam::{names.account}:root"},
                ),
            ),
            parent=self,
            protect=config.protect_stateful_resources,
        )

        def log_group(resource_name: str, group: str) -> aws.cloudwatch.LogGroup:
            return aws.cloudwatch.LogGroup(
                resource_name,
                name=group,
                retention_in_days=config.log_retention_days,
                kms_key_id=logs_key.arn,
                opts=child,
            )

        bus = aws.cloudwatch.EventBus(f"{name}-bus", name=policies.EVENT_BUS, opts=child)
        topic = aws.sns.Topic(
            f"{name}-alerts", name=names.alert_topic_name, kms_master_key_id="alias/aws/sns", opts=child
        )
        for i, address in enumerate(config.alert_email_addresses):
            aws.sns.TopicSubscription(
                f"{name}-alerts-{i}", topic=topic.arn, protocol="email", endpoint=address, opts=child
            )
        dead_letters = aws.sqs.Queue(
            f"{name}-dlq",
            name=names.dead_letter_queue_name,
            sqs_managed_sse_enabled=True,
            message_retention_seconds=14 * 24 * 3600,
            opts=child,
        )

        candidate = naming.tools_bucket_name(naming.CANDIDATE_BUCKET, names.account, names.region)
        release = naming.tools_bucket_name(naming.RELEASE_BUCKET, names.account, names.region)
        accounts = {
            s.name: {e: s.environment(AccountRole(e)).account_id for e in v.ENVIRONMENTS} for s in config.services
        }
        environment = {
            "TABLE_NAME": naming.METADATA_TABLE,
            "EVENT_BUS_NAME": policies.EVENT_BUS,
            "ALERT_TOPIC_ARN": names.alert_topic_arn,
            "CANDIDATE_BUCKET": candidate,
            "RELEASE_BUCKET": release,
            "NAME_PREFIX": names.prefix,
            "TOOLS_ACCOUNT_ID": names.account,
            "SERVICE_ACCOUNTS": json.dumps(accounts, sort_keys=True),
            "APPROVED_CDK_VERSIONS": ",".join(config.approved_cdk_versions),
            "MAX_ROLLBACK_ATTEMPTS": str(config.max_rollback_attempts),
            "ROLLBACK_BASE_DELAY_SECONDS": str(v.ROLLBACK_BASE_DELAY_SECONDS),
            "STATE_MACHINE_ARN": names.state_machine_arn,
            "POWERTOOLS_SERVICE_NAME": "cdk-control-plane",
            "POWERTOOLS_METRICS_NAMESPACE": v.METRICS_NAMESPACE,
        }
        key_pin = (
            {"CI_PUBLIC_KEY_PEM": config.ci_signer_public_key_pem}
            if config.ci_signer_public_key_pem
            else {"CI_SIGNER_KEY_ID": naming.CI_SIGNER_KEY_ALIAS}
        )

        layer = aws.lambda_.LayerVersion(
            f"{name}-dependencies",
            layer_name=f"{names.prefix}-pipeline-dependencies",
            code=layer_archive(),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="cryptography, rfc8785, Powertools (lambda-requirements.txt)",
            opts=child,
        )
        code = pulumi.AssetArchive(code_files())
        functions: dict[str, aws.lambda_.Function] = {}
        for function, (module, timeout, memory, reserved) in FUNCTION_SETTINGS.items():
            group = log_group(f"{name}-{function}-logs", names.log_group("lambda", names.function_name(function)))
            functions[function] = aws.lambda_.Function(
                f"{name}-{function}",
                name=names.function_name(function),
                role=args.function_role_arns[function],
                runtime=RUNTIME,
                architectures=[ARCHITECTURE],
                handler=f"functions.handlers.{module}.handler",
                code=code,
                layers=[layer.arn],
                timeout=timeout,
                memory_size=memory,
                ephemeral_storage=aws.lambda_.FunctionEphemeralStorageArgs(
                    size=10240 if function == "validate" else 512
                ),
                reserved_concurrent_executions=reserved,
                environment=aws.lambda_.FunctionEnvironmentArgs(
                    variables={**environment, **(key_pin if function == "validate" else {})}
                ),
                tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=group.name),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[group]),
            )
            aws.lambda_.FunctionEventInvokeConfig(
                f"{name}-{function}-async",
                function_name=functions[function].name,
                maximum_retry_attempts=2,
                destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                    on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                        destination=dead_letters.arn
                    )
                ),
                opts=child,
            )

        bundle = aws.s3.BucketObjectv2(
            f"{name}-bundle",
            bucket=args.tooling_bucket,
            key="bundle/control-plane.zip",
            source=pulumi.AssetArchive(bundle_files()),
            opts=child,
        )
        stack_policies = {
            s.name: {
                e: json.loads((PROJECT_DIR / path).read_text())
                for e in v.ENVIRONMENTS
                if (path := s.environment(AccountRole(e)).stack_policy_file)
            }
            for s in config.services
        }
        test_commands = {
            s.name: {e: s.environment(AccountRole(e)).test_command for e in v.ENVIRONMENTS} for s in config.services
        }
        repositories = {s.name: s.github_repository for s in config.services}
        projects: dict[tuple[str, str], aws.codebuild.Project] = {}
        for kind, environment_name in [("deployer", e) for e in v.ENVIRONMENTS] + list(
            (("tests", v.STAGE), ("smoke", v.PROD))
        ):
            project = names.project(kind, environment_name)
            group = log_group(f"{name}-{project}-logs", names.log_group("codebuild", project))
            deployer = kind == "deployer"
            variables = {
                **{k: environment[k] for k in ("TABLE_NAME", "NAME_PREFIX", "TOOLS_ACCOUNT_ID", "SERVICE_ACCOUNTS")},
                **(key_pin if deployer else {}),
                "ARTIFACT_BUCKET": candidate if environment_name == v.STAGE else release,
                "STACK_POLICIES": json.dumps(stack_policies, sort_keys=True) if deployer else "{}",
                "TEST_COMMANDS": "{}" if deployer else json.dumps(test_commands, sort_keys=True),
                "SERVICE_REPOSITORIES": json.dumps(repositories, sort_keys=True),
            }
            projects[(kind, environment_name)] = aws.codebuild.Project(
                f"{name}-{project}",
                name=project,
                description=f"{kind} ({environment_name}) for DeployArtifactPipeline",
                service_role=(args.deployer_role_arns if deployer else args.test_role_arns)[environment_name],
                build_timeout=60,
                queued_timeout=60,
                encryption_key=args.artifacts_key_arn,
                source=aws.codebuild.ProjectSourceArgs(
                    type="S3",
                    location=pulumi.Output.concat(args.tooling_bucket, "/", bundle.key),
                    buildspec=(PROJECT_DIR / "buildspecs" / ("deploy.yml" if deployer else "tests.yml")).read_text(),
                ),
                artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
                environment=aws.codebuild.ProjectEnvironmentArgs(
                    compute_type="BUILD_GENERAL1_SMALL",
                    image=BUILD_IMAGE,
                    type="LINUX_CONTAINER",
                    environment_variables=[
                        aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=k, value=val, type="PLAINTEXT")
                        for k, val in sorted(variables.items())
                    ],
                ),
                logs_config=aws.codebuild.ProjectLogsConfigArgs(
                    cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                        group_name=group.name, status="ENABLED"
                    )
                ),
                opts=child,
            )

        machine_logs = log_group(f"{name}-state-machine-logs", f"/aws/vendedlogs/states/{names.state_machine_name}")
        resources = definition.PipelineResources(
            table_name=naming.METADATA_TABLE,
            transition_function=functions["transition"].arn,
            validate_function=functions["validate"].arn,
            promote_function=functions["promote"].arn,
            rollback_plan_function=functions["rollback-plan"].arn,
            finalizer_function=functions["finalizer"].arn,
            deploy_projects={e: projects[("deployer", e)].name for e in v.ENVIRONMENTS},
            test_projects={v.STAGE: projects[("tests", v.STAGE)].name, v.PROD: projects[("smoke", v.PROD)].name},
            max_rollback_attempts=config.max_rollback_attempts,
        )
        machine = aws.sfn.StateMachine(
            f"{name}-state-machine",
            name=names.state_machine_name,
            type="STANDARD",
            role_arn=args.state_machine_role_arn,
            definition=pulumi.Output.json_dumps(definition.build_definition(resources)),
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level="ERROR",
                include_execution_data=False,
                log_destination=pulumi.Output.concat(machine_logs.arn, ":*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=True),
            opts=child,
        )

        rules = []
        for environment_name, bucket in ((v.STAGE, candidate), (v.PROD, release)):
            rule = aws.cloudwatch.EventRule(
                f"{name}-trigger-{environment_name}",
                description=f"artifact manifest uploaded to {bucket}: start the {environment_name} pipeline",
                event_pattern=json.dumps(
                    {
                        "source": ["aws.s3"],
                        "detail-type": ["Object Created"],
                        "detail": {
                            "bucket": {"name": [bucket]},
                            "object": {"key": [{"suffix": "/artifact-manifest.json"}]},
                        },
                    },
                    sort_keys=True,
                ),
                opts=child,
            )
            rules.append(rule)
            aws.cloudwatch.EventTarget(
                f"{name}-trigger-{environment_name}-target",
                rule=rule.name,
                arn=functions["dispatcher"].arn,
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=3600, maximum_retry_attempts=10
                ),
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dead_letters.arn),
                opts=child,
            )
            aws.lambda_.Permission(
                f"{name}-trigger-{environment_name}-invoke",
                action="lambda:InvokeFunction",
                function=functions["dispatcher"].name,
                principal="events.amazonaws.com",
                source_arn=rule.arn,
                opts=child,
            )

        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=dead_letters.url,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        statement(
                            "TriggerRulesDeadLetters",
                            ["sqs:SendMessage"],
                            [dead_letters.arn],
                            principal={"Service": "events.amazonaws.com"},
                            conditions={"ArnLike": {"aws:SourceArn": [r.arn for r in rules]}},
                        )
                    ],
                }
            ),
            opts=child,
        )

        self.state_machine_arn = machine.arn
        self.event_bus_name = bus.name
        self.alert_topic_arn = topic.arn
        self.register_outputs(
            {
                "state_machine_arn": self.state_machine_arn,
                "event_bus_name": self.event_bus_name,
                "alert_topic_arn": self.alert_topic_arn,
            }
        )
