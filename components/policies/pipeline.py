"""Least-privilege policies of the pipeline's identities: the state machine, each Lambda function, and
the CodeBuild projects (deployers, tests, smoke).

Every ARN here is computed from deterministic names (`functions.naming.ToolsNames`) or handed in for
KMS keys, so roles can be declared before what they act on, and nothing is granted on `*`
except the actions AWS authorizes only on `*` (listed in `common.STAR_ONLY_ACTIONS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions import naming
from functions.naming import FUNCTIONS, ToolsNames
from functions.pipeline.lifecycle import Environment

from .common import document, objects, service_trust, statement, via

# service -> environment -> account id (the same map the functions read as SERVICE_ACCOUNTS)
ServiceAccounts = Mapping[str, Mapping[Environment, str]]


@dataclass(frozen=True)
class PipelineKeys:
    """KMS key ARNs (Pulumi Inputs) the pipeline's roles use."""

    artifacts: Any
    metadata: Any
    ci_signer: Any
    tooling: Any


# --- trust --------------------------------------------------------------------------------------------


def function_trust(names: ToolsNames, function: str) -> dict[str, Any]:
    return service_trust("lambda.amazonaws.com", names.account, source_arn=names.function_arn(function))


def project_trust(names: ToolsNames, project: str) -> dict[str, Any]:
    return service_trust("codebuild.amazonaws.com", names.account, source_arn=names.project_arn(project))


def state_machine_trust(names: ToolsNames) -> dict[str, Any]:
    return service_trust("states.amazonaws.com", names.account, source_arn=names.state_machine_arn)


# --- building blocks ----------------------------------------------------------------------------------


def _logs(names: ToolsNames, group: str) -> dict[str, Any]:
    arn = names.log_group_arn(group)
    return statement("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [arn, f"{arn}:*"])


def _tracing() -> dict[str, Any]:
    return statement("Tracing", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "*")


def _items(names: ToolsNames, keys: PipelineKeys, actions: list[str]) -> list[dict[str, Any]]:
    return [
        statement("MetadataItems", actions, [names.metadata_table_arn]),
        statement(
            "MetadataEncryption",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [keys.metadata],
            conditions={"StringEquals": via("dynamodb", names.region)},
        ),
    ]


def _read_artifacts(names: ToolsNames, keys: PipelineKeys, buckets: list[str]) -> list[dict[str, Any]]:
    arns = [names.bucket_arn(b) for b in buckets]
    return [
        statement("ListArtifacts", ["s3:ListBucket"], arns),
        statement("ReadArtifacts", ["s3:GetObject"], [objects(a) for a in arns]),
        statement(
            "DecryptArtifacts",
            ["kms:Decrypt"],
            [keys.artifacts],
            conditions={"StringEquals": via("s3", names.region)},
        ),
    ]


def _events(names: ToolsNames) -> dict[str, Any]:
    return statement("PublishEvents", ["events:PutEvents"], [names.event_bus_arn])


def _dead_letters(names: ToolsNames) -> dict[str, Any]:
    return statement("FailedAsyncInvocations", ["sqs:SendMessage"], [names.dead_letter_queue_arn])


def _service_roles(
    names: ToolsNames, accounts: ServiceAccounts, role: str, environments: tuple[Environment, ...] = tuple(Environment)
) -> list[str]:
    """ARNs of one role (a `ServiceNames` attribute) of every service in `environments`."""
    arns = set()
    for service, account_of in accounts.items():
        for environment in environments:
            names_in_env = naming.ServiceNames(names.prefix, service, environment)
            arns.add(naming.role_arn(account_of[environment], getattr(names_in_env, role)))
    return sorted(arns)


# --- functions ----------------------------------------------------------------------------------------


def function_policy(names: ToolsNames, keys: PipelineKeys, function: str, accounts: ServiceAccounts) -> dict[str, Any]:
    common = [_logs(names, names.function_log_group(function)), _tracing(), _dead_letters(names)]
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
                conditions={"StringEquals": via("s3", names.region)},
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
            statement(
                "AssumeServiceReadOnlyRoles", ["sts:AssumeRole"], _service_roles(names, accounts, "read_only_role")
            ),
        ],
        "dispatcher": lambda: [
            statement("StartPipelineExecutions", ["states:StartExecution"], [names.state_machine_arn]),
        ],
    }[function]()
    return document(*common, *own)


# --- CodeBuild ----------------------------------------------------------------------------------------


def deployer_policy(
    names: ToolsNames, keys: PipelineKeys, environment: Environment, accounts: ServiceAccounts
) -> dict[str, Any]:
    """Assume the environment's deploy roles; read the artifacts it deploys (stage: candidates,
    prod and rollbacks: releases) and their expected hashes; write its own logs."""
    bucket = naming.CANDIDATE_BUCKET if environment is Environment.STAGE else naming.RELEASE_BUCKET
    return document(
        statement(
            f"AssumeServiceDeployRoles{environment.title()}",
            ["sts:AssumeRole"],
            _service_roles(names, accounts, "deploy_role", (environment,)),
        ),
        *_read_artifacts(names, keys, [bucket]),
        *_items(names, keys, ["dynamodb:GetItem"]),
        _read_tooling(names),
        _decrypt_tooling(names, keys),
        statement("ReadCiSignerPublicKey", ["kms:GetPublicKey"], [keys.ci_signer]),
        _logs(names, names.project_log_group(names.deployer_project(environment))),
    )


def test_runner_policy(names: ToolsNames, keys: PipelineKeys, environment: Environment) -> dict[str, Any]:
    """Service tests and smoke tests run with nothing but their logs and the tooling bundle (a CodeBuild
    source, encrypted with the tooling key); a test that needs AWS access assumes a role the service
    grants in its own account."""
    return document(
        _read_tooling(names),
        _decrypt_tooling(names, keys),
        _logs(names, names.project_log_group(names.test_project(environment))),
    )


def _read_tooling(names: ToolsNames) -> dict[str, Any]:
    return statement(
        "ReadToolingBundle",
        ["s3:GetObject", "s3:GetObjectVersion"],
        [objects(naming.bucket_arn(names.tooling_bucket))],
    )


def _decrypt_tooling(names: ToolsNames, keys: PipelineKeys) -> dict[str, Any]:
    return statement(
        "DecryptToolingBundle",
        ["kms:Decrypt"],
        [keys.tooling],
        conditions={"StringEquals": via("s3", names.region)},
    )


# --- the state machine --------------------------------------------------------------------------------


def state_machine_policy(names: ToolsNames, keys: PipelineKeys) -> dict[str, Any]:
    functions = [names.function_arn(f) for f in FUNCTIONS if f != "dispatcher"]
    projects = [names.project_arn(names.deployer_project(e)) for e in Environment] + [
        names.project_arn(names.test_project(e)) for e in Environment
    ]
    return document(
        statement("InvokePipelineFunctions", ["lambda:InvokeFunction"], [*functions, *[f"{f}:*" for f in functions]]),
        # The lease's TransactWriteItems is authorized per item: `Update` (the artifact, the environment's
        # lock) as dynamodb:UpdateItem, the prod ordering's `ConditionCheck` (the service record) as
        # dynamodb:ConditionCheckItem. Nothing is put or deleted.
        *_items(names, keys, ["dynamodb:ConditionCheckItem", "dynamodb:UpdateItem"]),
        statement("RunBuilds", ["codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"], projects),
        # `startBuild.sync` learns of build completion through this managed rule.
        statement(
            "SyncBuildCompletion",
            ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
            [names.event_rule_arn("StepFunctionsGetEventsForCodeBuildStartBuildRule")],
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


def logs_key_policy(names: ToolsNames, admin: dict[str, Any]) -> dict[str, Any]:
    """CloudWatch Logs encrypts this account's log groups with the key, and nothing else uses it."""
    return document(
        admin,
        statement(
            "CloudWatchLogsEncryptsOwnLogGroups",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
            "*",
            principal={"Service": f"logs.{names.region}.amazonaws.com"},
            conditions={"StringLike": {"kms:EncryptionContext:aws:logs:arn": names.log_group_arn("*")}},
        ),
        statement(
            "CloudWatchLogsDescribesKey",
            ["kms:DescribeKey"],
            "*",
            principal={"Service": f"logs.{names.region}.amazonaws.com"},
            conditions={"StringEquals": {"aws:SourceAccount": names.account}},
        ),
    )
