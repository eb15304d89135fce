"""Least-privilege policies of the pipeline's identities: the state machine, each Lambda function, and
the CodeBuild projects (deployers, tests, smoke).

Every ARN here is computed from deterministic names (`functions.naming.ToolsNames`) or handed in for
KMS keys, so roles can be declared before what they act on, and nothing is granted on `*`
except the actions AWS authorizes only on `*` (listed in `common.STAR_ONLY_ACTIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions import naming
from functions.artifacts.metadata import SWEEP_INDEX
from functions.audit import AUDIT_TABLE
from functions.naming import FUNCTIONS, ToolsNames
from functions.pipeline import catalog
from functions.pipeline.lifecycle import Environment

from .audit_anchors import anchor_function_statements
from .common import AUDIT_APPEND, document, objects, service_trust, statement, via
from .overrides import override_policy


@dataclass(frozen=True)
class PipelineKeys:
    """KMS key ARNs (Pulumi Inputs) the pipeline's roles use."""

    artifacts: Any
    metadata: Any
    tooling: Any
    contexts: Any  # the contexts bucket's key (Validate reads blessed contexts)
    context_signer: Any
    alerts: Any  # the critical-alerts topic's key (the functions publish through SNS)
    # The anchor function's (`audit_anchors.anchor_function_statements`): the anchors bucket's and topic's
    # keys, and the CloudTrail Lake channel (not a key: PutAuditEvents is authorized on it; None where the
    # stack leaves CloudTrail Lake out).
    anchor_bucket: Any = None
    anchor_topic: Any = None
    anchor_channel: Any = None


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


METADATA_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem"}


def _items(names: ToolsNames, keys: PipelineKeys, actions: list[str], *, audited: bool = True) -> list[dict[str, Any]]:
    """The metadata table's items; a function that writes them also appends each change's audit entry, in
    the same transaction (`functions/pipeline/store.py`), to the audit table (encrypted with the same key).
    The state machine's own lease is audited by the run's first function (`audited=False`)."""
    writes = audited and bool(METADATA_WRITES & set(actions))
    audit = [statement("AuditAppends", AUDIT_APPEND, [names.table_arn(AUDIT_TABLE)])] if writes else []
    return [
        statement("MetadataItems", actions, [names.metadata_table_arn]),
        *audit,
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


def _read_blessed_contexts(names: ToolsNames, keys: PipelineKeys) -> list[dict[str, Any]]:
    """Validate's check 6: the blessed contexts (listing, so that a missing one is NoSuchKey, not
    AccessDenied), their bucket key through S3, and the context signer's public half."""
    bucket = names.bucket_arn(naming.CONTEXTS_BUCKET)
    return [
        statement("ListBlessedContexts", ["s3:ListBucket"], [bucket]),
        statement("ReadBlessedContexts", ["s3:GetObject"], [objects(bucket)]),
        statement(
            "DecryptBlessedContexts",
            ["kms:Decrypt"],
            [keys.contexts],
            conditions={"StringEquals": via("s3", names.region)},
        ),
        statement("ReadContextSignerPublicKey", ["kms:GetPublicKey"], [keys.context_signer]),
    ]


def _read_catalog(names: ToolsNames, keys: PipelineKeys) -> list[dict[str, Any]]:
    """The service catalog, one object in the tooling bucket (its key through S3): the same two
    statements whatever the number of services."""
    return [
        statement(
            "ReadServiceCatalog",
            ["s3:GetObject"],
            [f"{naming.bucket_arn(names.tooling_bucket)}/{catalog.CATALOG_PREFIX}*"],
        ),
        statement(
            "DecryptServiceCatalog",
            ["kms:Decrypt"],
            [keys.tooling],
            conditions={"StringEquals": via("s3", names.region)},
        ),
    ]


def read_service_public_keys(names: ToolsNames) -> dict[str, Any]:
    """The public half of every service's signing key, one statement whatever the number of services.

    `ServiceKeys` always names the key by its alias, so `kms:RequestAlias` (which the service authorization
    reference lists for GetPublicKey; `kms:ResourceAliases` it does not) confines the grant to the
    services' signing keys. Which key verifies which service is the verifier's rule, and only that
    service's CI role may sign with it (its key policy)."""
    return statement(
        "ReadServiceSignerPublicKeys",
        ["kms:GetPublicKey"],
        [names.ci_signer_key_arn_pattern],
        conditions={"StringLike": {"kms:RequestAlias": naming.CI_SIGNER_ALIAS_PATTERN}},
    )


# Functions that publish to the critical-alerts topic (`Notifier.alert`): they get the topic and its key.
ALERT_PUBLISHERS = frozenset({"transition", "intake", "promote", "finalizer", "sweeper", "override"})


def publish_alerts(names: ToolsNames, keys: PipelineKeys) -> list[dict[str, Any]]:
    """Publish to the encrypted alert topic: SNS generates and reads the data key as the caller."""
    return [
        statement("CriticalAlerts", ["sns:Publish"], [names.alert_topic_arn]),
        statement(
            "CriticalAlertsEncryption",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            [keys.alerts],
            conditions={"StringEquals": via("sns", names.region)},
        ),
    ]


def _events(names: ToolsNames) -> dict[str, Any]:
    return statement("PublishEvents", ["events:PutEvents"], [names.event_bus_arn])


def _dead_letters(names: ToolsNames) -> dict[str, Any]:
    return statement("FailedAsyncInvocations", ["sqs:SendMessage"], [names.dead_letter_queue_arn])


def _service_roles(
    names: ToolsNames, role: str, environments: tuple[Environment, ...] = tuple(Environment)
) -> list[str]:
    """One role (a `ServiceNames` attribute) of every service in `environments`, by name pattern: the
    policy has the same size for 2 services or 200 (`naming.service_role_arn_pattern`)."""
    return sorted(naming.service_role_arn_pattern(names.prefix, environment, role) for environment in environments)


def file_publishing_role_pattern(region: str) -> str:
    """Every CDK file-publishing role (`cdk-{qualifier}-file-publishing-role-{account}-{region}`)."""
    return naming.role_arn("*", naming.CdkBootstrapNames("*", "*", region).file_publishing_role)


# --- functions ----------------------------------------------------------------------------------------


def function_policy(names: ToolsNames, keys: PipelineKeys, function: str) -> dict[str, Any]:
    # The scheduled functions have no failure destination (their next run is the retry): no dead-letter grant.
    dead_letters = [] if function in ("sweeper", "anchor") else [_dead_letters(names)]
    common = [_logs(names, names.function_log_group(function)), _tracing(), *dead_letters]
    own: list[dict[str, Any]] = {
        "transition": lambda: [
            *_items(names, keys, ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            _events(names),
        ],
        "validate": lambda: [
            *_items(names, keys, ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            *_read_artifacts(names, keys, [naming.CANDIDATE_BUCKET, naming.RELEASE_BUCKET]),
            read_service_public_keys(names),
            *_read_blessed_contexts(names, keys),
        ],
        "promote": lambda: [
            *_items(names, keys, ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
            read_service_public_keys(names),  # the provenance it copies is checked with the service's key
            *_read_artifacts(names, keys, [naming.CANDIDATE_BUCKET]),
            # The manifest is read and copied at the version Validate verified (VersionId, CopySource).
            statement(
                "ReadVerifiedManifestVersions",
                ["s3:GetObjectVersion"],
                [objects(names.bucket_arn(naming.CANDIDATE_BUCKET))],
            ),
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
            statement("AssumeServiceReadOnlyRoles", ["sts:AssumeRole"], _service_roles(names, "read_only_role")),
            *_read_run_endings(names),
        ],
        "dispatcher": lambda: [
            statement("StartPipelineExecutions", ["states:StartExecution"], [names.state_machine_arn]),
        ],
        "intake": lambda: _intake(names, keys),
        "sweeper": lambda: _sweeper(names, keys),
        "anchor": lambda: anchor_function_statements(names, keys),
        "override": lambda: override_policy(names, keys),
    }[function]()
    reads = _read_catalog(names, keys) if function in catalog.READERS else []
    alerts = publish_alerts(names, keys) if function in ALERT_PUBLISHERS else []
    return document(*common, *own, *reads, *alerts)


def _read_run_endings(names: ToolsNames) -> list[dict[str, Any]]:
    """How a run ended (an EventBridge ending is confirmed with DescribeExecution) and what its deploy
    build did (the execution's history names the build; CodeBuild says how it ended): this state
    machine's executions and the deploy projects only."""
    executions = names.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":*"
    # IAM lists DescribeExecution on `express` executions too; this machine is STANDARD, so the pattern
    # (scoped to it) matches nothing real, and names the resource type the action is defined on.
    express = names.state_machine_arn.replace(":stateMachine:", ":express:", 1) + ":*:*"
    deploy_projects = [names.project_arn(names.deployer_project(e)) for e in Environment]
    return [
        statement("ReadRunHistories", ["states:GetExecutionHistory"], [executions]),
        statement("DescribeRuns", ["states:DescribeExecution"], [executions, express]),
        statement("ReadDeployBuilds", ["codebuild:BatchGetBuilds"], deploy_projects),
    ]


def _intake(names: ToolsNames, keys: PipelineKeys) -> list[dict[str, Any]]:
    """Read a candidate manifest, read the services' signing public keys, create the candidate item
    (a conditional PutItem; GetItem for revoked content), start the stage run, report refusals."""
    return [
        statement("ReadCandidateManifests", ["s3:GetObject"], [objects(names.bucket_arn(naming.CANDIDATE_BUCKET))]),
        # so that a manifest gone since its event is NoSuchKey (a refusal), not AccessDenied (a retry)
        statement("ListCandidates", ["s3:ListBucket"], [names.bucket_arn(naming.CANDIDATE_BUCKET)]),
        statement(
            "DecryptCandidates", ["kms:Decrypt"], [keys.artifacts], conditions={"StringEquals": via("s3", names.region)}
        ),
        read_service_public_keys(names),
        *_items(names, keys, ["dynamodb:GetItem", "dynamodb:PutItem"]),
        statement("StartStageRuns", ["states:StartExecution"], [names.state_machine_arn]),
        _events(names),
    ]


def sweeper_execution_arns(names: ToolsNames) -> str:
    """Every execution of this state machine, and nothing else's."""
    return names.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":*"


def _sweeper(names: ToolsNames, keys: PipelineKeys) -> list[dict[str, Any]]:
    """Query the sweep index (never Scan), read and update items, head the manifests in the two artifact
    buckets (no object body: HeadObject needs s3:GetObject, and s3:ListBucket so that a missing manifest
    is a 404, not a 403; HEAD decrypts nothing), start the next attempt, describe, read the history of
    and stop this state machine's executions, report."""
    manifests = [
        f"{names.bucket_arn(b)}/*/{naming.MANIFEST_NAME}" for b in (naming.CANDIDATE_BUCKET, naming.RELEASE_BUCKET)
    ]
    return [
        statement("QuerySweepIndex", ["dynamodb:Query"], [f"{names.metadata_table_arn}/index/{SWEEP_INDEX}"]),
        *_items(names, keys, ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
        statement(
            "ListArtifactBuckets",
            ["s3:ListBucket"],
            [names.bucket_arn(naming.CANDIDATE_BUCKET), names.bucket_arn(naming.RELEASE_BUCKET)],
        ),
        statement("HeadManifests", ["s3:GetObject"], manifests),
        statement("StartNextAttempts", ["states:StartExecution"], [names.state_machine_arn]),
        # a run that ended without clearing its item: the finalizer reconciles it, as for any ending
        statement("FinalizeEndedRuns", ["lambda:InvokeFunction"], [names.function_arn("finalizer")]),
        statement(
            "WatchExecutions",
            ["states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution"],
            [sweeper_execution_arns(names)],
        ),
        _events(names),
    ]


# --- CodeBuild ----------------------------------------------------------------------------------------


def deployer_policy(names: ToolsNames, keys: PipelineKeys, environment: Environment) -> dict[str, Any]:
    """Assume the environment's deploy roles and file-publishing roles (it publishes the verified file
    assets itself); read the artifacts it deploys (stage: candidates, prod and rollbacks: releases) and
    their expected hashes; write its own logs."""
    bucket = naming.CANDIDATE_BUCKET if environment is Environment.STAGE else naming.RELEASE_BUCKET
    return document(
        statement(
            f"AssumeServiceDeployRoles{environment.title()}",
            ["sts:AssumeRole"],
            _service_roles(names, "deploy_role", (environment,)),
        ),
        # One pattern, whatever the number of services: each file-publishing role trusts only the deployer
        # of its own environment, with its service's external id (the boundary is the role's trust).
        statement("AssumeFilePublishingRoles", ["sts:AssumeRole"], [file_publishing_role_pattern(names.region)]),
        *_read_artifacts(names, keys, [bucket]),
        *_items(names, keys, ["dynamodb:GetItem"]),
        _read_tooling(names),
        _decrypt_tooling(names, keys),
        read_service_public_keys(names),
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
    # dispatcher and intake are started by S3 events, the sweeper by its schedule: never by a run
    functions = [names.function_arn(f) for f in FUNCTIONS if f not in naming.NOT_INVOKED_BY_RUNS]
    projects = [names.project_arn(names.deployer_project(e)) for e in Environment] + [
        names.project_arn(names.test_project(e)) for e in Environment
    ]
    return document(
        statement("InvokePipelineFunctions", ["lambda:InvokeFunction"], [*functions, *[f"{f}:*" for f in functions]]),
        # The lease's TransactWriteItems is authorized per item: `Update` (the artifact, the environment's
        # lock) as dynamodb:UpdateItem, the prod ordering's `ConditionCheck` (the service record) as
        # dynamodb:ConditionCheckItem. Nothing is put or deleted.
        *_items(names, keys, ["dynamodb:ConditionCheckItem", "dynamodb:UpdateItem"], audited=False),
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
