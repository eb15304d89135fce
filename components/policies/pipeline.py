"""Least-privilege policies of the pipeline's identities: the state machine, each Lambda function, and
the CodeBuild projects (deployers, tests, smoke).

Every ARN here is computed from deterministic names (`functions.naming`, `PipelineNames`) or handed
in for KMS keys, so roles can be declared before what they act on, and nothing is granted on `*`
except the actions AWS authorizes only on `*` (listed in `common.STAR_ONLY_ACTIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions import naming
from functions.pipeline import vocabulary as v
from stack_config import AccountRole, StackConfig

from .common import document, objects, service_trust, statement

FUNCTIONS = ("transition", "validate", "promote", "rollback-plan", "finalizer", "dispatcher")
STATE_MACHINE = "DeployArtifactPipeline"
EVENT_BUS = "cdk-control-plane"


@dataclass(frozen=True)
class PipelineNames:
    """Deterministic names and ARNs of everything the pipeline consists of."""

    config: StackConfig

    @property
    def prefix(self) -> str:
        return self.config.name_prefix

    @property
    def account(self) -> str:
        return self.config.tools_account_id

    @property
    def region(self) -> str:
        return self.config.region

    def function_name(self, function: str) -> str:
        return f"{self.prefix}-{function}"

    def function_arn(self, function: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name(function)}"

    def function_role(self, function: str) -> str:
        # The finalizer's role name is the one the service accounts' read-only roles trust.
        return (
            naming.finalizer_role_name(self.prefix)
            if function == "finalizer"
            else naming.function_role_name(self.prefix, function)
        )

    def log_group(self, kind: str, name: str) -> str:
        return f"/aws/{kind}/{name}"

    def log_group_arn(self, kind: str, name: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{self.log_group(kind, name)}"

    def project(self, kind: str, environment: str) -> str:
        """deployer-stage, deployer-prod, tests-stage, smoke-prod."""
        return f"{self.prefix}-{kind}-{environment}"

    def project_arn(self, kind: str, environment: str) -> str:
        return f"arn:aws:codebuild:{self.region}:{self.account}:project/{self.project(kind, environment)}"

    @property
    def test_projects(self) -> dict[str, str]:
        return {e: naming.test_project_name(self.prefix, e) for e in v.ENVIRONMENTS}

    @property
    def state_machine_name(self) -> str:
        return f"{self.prefix}-{STATE_MACHINE}"

    @property
    def state_machine_arn(self) -> str:
        return f"arn:aws:states:{self.region}:{self.account}:stateMachine:{self.state_machine_name}"

    @property
    def event_bus_arn(self) -> str:
        return f"arn:aws:events:{self.region}:{self.account}:event-bus/{EVENT_BUS}"

    @property
    def alert_topic_name(self) -> str:
        return f"{self.prefix}-critical-alerts"

    @property
    def alert_topic_arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{self.alert_topic_name}"

    @property
    def dead_letter_queue_name(self) -> str:
        return f"{self.prefix}-functions-dlq"

    @property
    def dead_letter_queue_arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{self.dead_letter_queue_name}"

    @property
    def table_arn(self) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{naming.METADATA_TABLE}"

    def bucket_arn(self, kind: str) -> str:
        return naming.bucket_arn(naming.tools_bucket_name(kind, self.account, self.region))

    @property
    def tooling_bucket(self) -> str:
        return naming.tools_bucket_name(f"{self.prefix}-tooling", self.account, self.region)


@dataclass(frozen=True)
class PipelineKeys:
    """KMS key ARNs (Pulumi Inputs) the pipeline's roles use."""

    artifacts: Any
    metadata: Any
    ci_signer: Any
    tooling: Any


# --- trust --------------------------------------------------------------------------------------------


def function_trust(names: PipelineNames, function: str) -> dict[str, Any]:
    return service_trust("lambda.amazonaws.com", names.account, source_arn=names.function_arn(function))


def project_trust(names: PipelineNames, project_arn: str) -> dict[str, Any]:
    return service_trust("codebuild.amazonaws.com", names.account, source_arn=project_arn)


def state_machine_trust(names: PipelineNames) -> dict[str, Any]:
    return service_trust("states.amazonaws.com", names.account, source_arn=names.state_machine_arn)


# --- building blocks ----------------------------------------------------------------------------------


def _logs(names: PipelineNames, kind: str, name: str) -> dict[str, Any]:
    arn = names.log_group_arn(kind, name)
    return statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [arn, f"{arn}:*"])


def _tracing() -> dict[str, Any]:
    return statement("Tracing", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "*")


def _items(names: PipelineNames, keys: PipelineKeys, actions: list[str]) -> list[dict[str, Any]]:
    return [
        statement("MetadataItems", actions, [names.table_arn]),
        statement(
            "MetadataEncryption",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [keys.metadata],
            conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{names.region}.amazonaws.com"}},
        ),
    ]


def _read_artifacts(names: PipelineNames, keys: PipelineKeys, buckets: list[str]) -> list[dict[str, Any]]:
    arns = [names.bucket_arn(b) for b in buckets]
    return [
        statement("ListArtifacts", ["s3:ListBucket"], arns),
        statement("ReadArtifacts", ["s3:GetObject"], [objects(a) for a in arns]),
        statement(
            "DecryptArtifacts",
            ["kms:Decrypt"],
            [keys.artifacts],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{names.region}.amazonaws.com"}},
        ),
    ]


def _events(names: PipelineNames) -> dict[str, Any]:
    return statement("PublishEvents", ["events:PutEvents"], [names.event_bus_arn])


def _dead_letters(names: PipelineNames) -> dict[str, Any]:
    return statement("FailedAsyncInvocations", ["sqs:SendMessage"], [names.dead_letter_queue_arn])


# --- functions ----------------------------------------------------------------------------------------


def function_policy(names: PipelineNames, keys: PipelineKeys, function: str) -> dict[str, Any]:
    common = [_logs(names, "lambda", names.function_name(function)), _tracing(), _dead_letters(names)]
    own: list[dict[str, Any]] = {
        "transition": lambda: [
            *_items(names, keys, ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            _events(names),
            statement("CriticalAlerts", ["sns:Publish"], [names.alert_topic_arn]),
        ],
        "validate": lambda: [
            *_items(names, keys, ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            *_read_artifacts(names, keys, [naming.CANDIDATE_BUCKET, naming.RELEASE_BUCKET]),
            statement("ReadCiSignerPublicKey", ["kms:GetPublicKey"], [keys.ci_signer]),
        ],
        "promote": lambda: [
            *_items(names, keys, ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            *_read_artifacts(names, keys, [naming.CANDIDATE_BUCKET]),
            statement("WriteReleases", ["s3:PutObject"], [objects(names.bucket_arn(naming.RELEASE_BUCKET))]),
            statement(
                "EncryptReleases",
                ["kms:Encrypt", "kms:GenerateDataKey"],
                [keys.artifacts],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{names.region}.amazonaws.com"}},
            ),
            _events(names),
        ],
        "rollback-plan": lambda: [
            *_items(names, keys, ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            *_read_artifacts(names, keys, [naming.RELEASE_BUCKET]),
        ],
        "finalizer": lambda: [
            *_items(names, keys, ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            *_read_artifacts(names, keys, [naming.CANDIDATE_BUCKET, naming.RELEASE_BUCKET]),
            _events(names),
            statement("AssumeServiceReadOnlyRoles", ["sts:AssumeRole"], _service_roles(names, "read_only_role")),
        ],
        "dispatcher": lambda: [
            statement("StartPipelineExecutions", ["states:StartExecution"], [names.state_machine_arn]),
        ],
    }[function]()
    return document(*common, *own)


def _service_roles(names: PipelineNames, attribute: str, environments: tuple[str, ...] = v.ENVIRONMENTS) -> list[str]:
    arns = set()
    for service in names.config.services:
        for environment in environments:
            account = service.environment(AccountRole(environment)).account_id
            arns.add(
                naming.role_arn(
                    account, getattr(naming.ServiceNames(names.prefix, service.name, environment), attribute)
                )
            )
    return sorted(arns)


# --- CodeBuild ----------------------------------------------------------------------------------------


def deployer_policy(names: PipelineNames, keys: PipelineKeys, environment: str) -> dict[str, Any]:
    """Assume the environment's deploy roles; read the artifacts it deploys (stage: candidates,
    prod and rollbacks: releases) and their expected hashes; write its own logs."""
    bucket = naming.CANDIDATE_BUCKET if environment == v.STAGE else naming.RELEASE_BUCKET
    project = names.project("deployer", environment)
    return document(
        statement(
            f"AssumeServiceDeployRoles{environment.title()}",
            ["sts:AssumeRole"],
            _service_roles(names, "deploy_role", (environment,)),
        ),
        *_read_artifacts(names, keys, [bucket]),
        *_items(names, keys, ["dynamodb:GetItem"]),
        statement(
            "ReadToolingBundle",
            ["s3:GetObject", "s3:GetObjectVersion"],
            [objects(naming.bucket_arn(names.tooling_bucket))],
        ),
        _decrypt_tooling(names, keys),
        statement("ReadCiSignerPublicKey", ["kms:GetPublicKey"], [keys.ci_signer]),
        _logs(names, "codebuild", project),
    )


def test_runner_policy(names: PipelineNames, keys: PipelineKeys, environment: str) -> dict[str, Any]:
    """Service tests and smoke tests run with nothing but their logs and the tooling bundle (a CodeBuild
    source, encrypted with the tooling key); a test that needs AWS access assumes a role the service
    grants in its own account."""
    project = names.test_projects[environment]
    return document(
        statement(
            "ReadToolingBundle",
            ["s3:GetObject", "s3:GetObjectVersion"],
            [objects(naming.bucket_arn(names.tooling_bucket))],
        ),
        _decrypt_tooling(names, keys),
        _logs(names, "codebuild", project),
    )


def _decrypt_tooling(names: PipelineNames, keys: PipelineKeys) -> dict[str, Any]:
    return statement(
        "DecryptToolingBundle",
        ["kms:Decrypt"],
        [keys.tooling],
        conditions={"StringEquals": {"kms:ViaService": f"s3.{names.region}.amazonaws.com"}},
    )


# --- the state machine --------------------------------------------------------------------------------


def state_machine_policy(names: PipelineNames, keys: PipelineKeys) -> dict[str, Any]:
    functions = [names.function_arn(f) for f in FUNCTIONS if f != "dispatcher"]
    projects = [names.project_arn("deployer", e) for e in v.ENVIRONMENTS] + [
        f"arn:aws:codebuild:{names.region}:{names.account}:project/{p}" for p in names.test_projects.values()
    ]
    return document(
        statement("InvokePipelineFunctions", ["lambda:InvokeFunction"], [*functions, *[f"{f}:*" for f in functions]]),
        *_items(names, keys, ["dynamodb:UpdateItem"]),
        statement("RunBuilds", ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"], projects),
        # `startBuild.sync` learns of build completion through this managed rule.
        statement(
            "SyncBuildCompletion",
            ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
            [f"arn:aws:events:{names.region}:{names.account}:rule/StepFunctionsGetEventsForCodeBuildStartBuildRule"],
        ),
        _tracing(),
        statement(
            "ExecutionLogDelivery",
            [
                "logs:CreateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:DescribeLogGroups",
                "logs:DescribeResourcePolicies",
                "logs:GetLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:UpdateLogDelivery",
            ],
            "*",
        ),
    )


def logs_key_policy(names: PipelineNames, admin: dict[str, Any]) -> dict[str, Any]:
    """CloudWatch Logs encrypts this account's log groups with the key, and nothing else uses it."""
    return document(
        admin,
        statement(
            "CloudWatchLogsEncryptsOwnLogGroups",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
            "*",
            principal={"Service": f"logs.{names.region}.amazonaws.com"},
            conditions={
                "StringLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{names.region}:{names.account}:log-group:*"
                }
            },
        ),
        statement(
            "CloudWatchLogsDescribesKey",
            ["kms:DescribeKey"],
            "*",
            principal={"Service": f"logs.{names.region}.amazonaws.com"},
            conditions={"StringEquals": {"aws:SourceAccount": names.account}},
        ),
    )
