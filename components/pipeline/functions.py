"""The pipeline's Lambda functions (transition, validate, promote, rollback-plan, finalizer,
dispatcher, intake, sweeper, anchor): each with its own role (PipelineIdentity), log group (retention,
KMS), X-Ray tracing, the shared dependencies layer, and a dead-letter queue for failed asynchronous
invocations (but the scheduled sweeper and anchor: their next run is the retry)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_aws as aws

from components.pipeline.common import LogSettings, PipelineContract, adopted, log_group
from components.pipeline.packaging import code_files, layer_archive
from components.policies.audit_anchors import anchor_topic_arn, anchors_bucket
from functions.naming import ToolsNames
from functions.pipeline import catalog
from functions.pipeline.lifecycle import Environment
from functions.pipeline.settings import ANCHOR_CLOUDTRAIL_OFF, FunctionSettings

TYPE = "cdk-control-plane:pipeline:PipelineFunctions"
RUNTIME = "python3.12"
ARCHITECTURE = "x86_64"
SWEEPER = "sweeper"
ANCHOR = "anchor"
OVERRIDE = "override"
# Scheduled, so their next run is their retry: the oldest asynchronous event each still runs (seconds).
SCHEDULED_EVENT_AGE = {SWEEPER: 120, ANCHOR: 600}


@dataclass(frozen=True)
class FunctionSpec:
    module: str  # functions.handlers.<module>.handler
    timeout: int  # seconds
    memory: int  # MB
    reserved_concurrency: int | None = None
    ephemeral_storage: int = 512  # MB


FUNCTION_SPECS = {
    "transition": FunctionSpec("transition", 60, 256),
    # Validate unpacks and hashes whole cloud assemblies.
    "validate": FunctionSpec("validate", 900, 2048, ephemeral_storage=10240),
    "promote": FunctionSpec("promote", 300, 512),
    "rollback-plan": FunctionSpec("rollback_plan", 60, 256),
    "finalizer": FunctionSpec("finalizer", 300, 256),
    # EventBridge may deliver bursts; the dispatcher only starts executions, a few at a time.
    "dispatcher": FunctionSpec("dispatcher", 30, 256, reserved_concurrency=5),
    # Reads and verifies one manifest (up to 32 MiB), creates the candidate item, starts the stage run.
    "intake": FunctionSpec("intake", 120, 1024, reserved_concurrency=10),
    # One sweep at a time (every 2 minutes): two would start the same next attempt twice over.
    "sweeper": FunctionSpec("sweeper", 120, 256, reserved_concurrency=1),
    # One anchor at a time (every 10 minutes): two would link to the same previous anchor.
    "anchor": FunctionSpec("anchor", 120, 256, reserved_concurrency=1),
    # Signed operator requests, invoked synchronously by `artifactctl override submit`.
    "override": FunctionSpec("override", 60, 256),
}


def function_settings(names: ToolsNames, contract: PipelineContract) -> FunctionSettings:
    """Every function's environment: the service catalog's location and pinned SHA-256 (not the catalog,
    Lambda allows 4 KB); only Validate adds the blessed contexts."""
    settings = FunctionSettings(
        region=names.region,
        table_name=names.metadata_table,
        name_prefix=names.prefix,
        tools_account_id=names.account,
        service_catalog_uri=catalog.location(names.tooling_bucket, contract.catalog().sha256),
        service_catalog_sha256=contract.catalog().sha256,
        event_bus_name=names.event_bus_name,
        alert_topic_arn=names.alert_topic_arn,
        candidate_bucket=names.candidate_bucket,
        release_bucket=names.release_bucket,
        state_machine_arn=names.state_machine_arn,
        approved_cdk_versions=tuple(contract.approved_cdk_versions),
        max_rollback_attempts=contract.max_rollback_attempts,
    )
    settings.check()
    return settings


def sweeper_settings(contract: PipelineContract) -> dict[str, int]:
    """Settings fields of the sweeper alone: the configured attempts and days (where not configured, the
    defaults of `FunctionSettings`)."""
    settings: dict[str, int] = {}
    if contract.max_attempts is not None:
        settings["max_attempts_stage"] = contract.max_attempts[Environment.STAGE]
        settings["max_attempts_prod"] = contract.max_attempts[Environment.PROD]
    if contract.never_promoted_days is not None:
        settings["never_promoted_days"] = contract.never_promoted_days
    return settings


def anchor_settings(names: ToolsNames, channel_arn: pulumi.Input[str] | None) -> dict[str, str]:
    """Settings fields of the anchor function alone: its bucket and topic (deterministic names) and, where
    the stack has no CloudTrail Lake channel, `ANCHOR_CLOUDTRAIL=off`: the function then leaves the Lake
    out because it was told to, while a channel ARN merely missing still fails it at cold start."""
    settings = {"anchor_bucket": anchors_bucket(names), "anchor_topic_arn": anchor_topic_arn(names)}
    if channel_arn is None:
        settings["anchor_cloudtrail"] = ANCHOR_CLOUDTRAIL_OFF
    return settings


def _environment(function: str, settings: FunctionSettings, args: PipelineFunctionsArgs) -> dict[str, Any]:
    """The function's variables; the anchor's channel ARN is an Output (the channel's, not a name)."""
    variables: dict[str, Any] = dict(settings.to_environ())
    if function == ANCHOR and args.anchor_channel_arn is not None:
        variables["ANCHOR_CHANNEL_ARN"] = args.anchor_channel_arn
    return variables


def async_invoke_config(function: str, dead_letter_queue_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Failed asynchronous invocations: retried twice, then in the dead-letter queue. Not the sweeper's:
    the next scheduled sweep (2 minutes) is its retry, and a retry against its reserved concurrency of 1
    would only be throttled and dead-lettered, three alarms for one failed sweep (its errors alarm says it)."""
    if function in SCHEDULED_EVENT_AGE:
        # Nor does a throttled sweep wait (Lambda keeps a throttled asynchronous event up to 6 hours): one
        # older than a sweep's interval is dropped, the next scheduled sweep does its work. The anchor
        # likewise: a retried anchor would mail the inbox again, the next one comes 10 minutes later.
        return {"maximum_retry_attempts": 0, "maximum_event_age_in_seconds": SCHEDULED_EVENT_AGE[function]}
    return {
        "maximum_retry_attempts": 2,
        "destination_config": aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
            on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                destination=dead_letter_queue_arn
            )
        ),
    }


@dataclass(frozen=True)
class PipelineFunctionsArgs:
    names: ToolsNames
    contract: PipelineContract
    role_arns: Mapping[str, pulumi.Input[str]]  # function -> its role (PipelineIdentity)
    tooling_bucket: pulumi.Input[str]  # where the service catalog goes (`names.tooling_bucket`)
    dead_letter_queue_arn: pulumi.Input[str]
    logs: LogSettings
    # The CloudTrail Lake channel (AuditAnchors); None: the stack leaves the Lake out. No default, so that
    # leaving it out is said, never forgotten.
    anchor_channel_arn: pulumi.Input[str] | None


class PipelineFunctions(pulumi.ComponentResource):
    function_arns: dict[str, pulumi.Output[str]]
    function_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: PipelineFunctionsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names = args.names
        settings = function_settings(names, args.contract)
        layer = aws.lambda_.LayerVersion(
            f"{name}-dependencies",
            layer_name=names.layer_name,
            code=layer_archive(),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="cryptography, rfc8785, Powertools (lambda-requirements.txt)",
            opts=adopted(self, opts),
        )
        # The functions read the catalog at cold start: it exists before them, with the bytes they pin.
        catalog_object = aws.s3.BucketObjectv2(
            f"{name}-service-catalog",
            bucket=args.tooling_bucket,
            key=catalog.catalog_key(args.contract.catalog().sha256),
            content=args.contract.catalog().to_bytes().decode(),
            content_type="application/json",
            opts=adopted(self, opts),
        )
        code = pulumi.AssetArchive(code_files())
        functions = {}
        for function, spec in FUNCTION_SPECS.items():
            own = settings
            if function == "validate":
                own = replace(settings, **args.contract.context_check(names))
            if function == SWEEPER:
                own = replace(settings, **sweeper_settings(args.contract))
            if function == ANCHOR:
                own = replace(settings, **anchor_settings(names, args.anchor_channel_arn))
            if function == OVERRIDE:  # a break-glass use is also mailed to the audit inbox
                own = replace(settings, anchor_topic_arn=anchor_topic_arn(names))
            group = log_group(
                f"{name}-{function}-logs", names.function_log_group(function), args.logs, adopted(self, opts)
            )
            functions[function] = aws.lambda_.Function(
                f"{name}-{function}",
                name=names.function_name(function),
                role=args.role_arns[function],
                runtime=RUNTIME,
                architectures=[ARCHITECTURE],
                handler=f"functions.handlers.{spec.module}.handler",
                code=code,
                layers=[layer.arn],
                timeout=spec.timeout,
                memory_size=spec.memory,
                ephemeral_storage=aws.lambda_.FunctionEphemeralStorageArgs(size=spec.ephemeral_storage),
                reserved_concurrent_executions=spec.reserved_concurrency,
                environment=aws.lambda_.FunctionEnvironmentArgs(variables=_environment(function, own, args)),
                tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=group.name),
                opts=adopted(self, opts, depends_on=[group, catalog_object]),
            )
            aws.lambda_.FunctionEventInvokeConfig(
                f"{name}-{function}-async",
                **async_invoke_config(function, args.dead_letter_queue_arn),
                function_name=functions[function].name,
                opts=adopted(self, opts),
            )

        self.function_arns = {f: fn.arn for f, fn in functions.items()}
        self.function_names = {f: fn.name for f, fn in functions.items()}
        self.register_outputs({"function_arns": self.function_arns, "function_names": self.function_names})
