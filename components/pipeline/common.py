"""What the pipeline's parts share: log groups, the environment contract inputs, and the way a part
adopts resources that `DeployPipeline` used to declare itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from functions import naming
from functions.pipeline.catalog import ServiceCatalog
from functions.pipeline.lifecycle import Environment


@dataclass(frozen=True)
class LogSettings:
    """Every log group of the pipeline: the same retention, encrypted with the pipeline's log key."""

    retention_days: int
    kms_key_arn: pulumi.Input[str]


def log_group(
    resource_name: str, group: str, logs: LogSettings, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.LogGroup:
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=group,
        retention_in_days=logs.retention_days,
        kms_key_id=logs.kms_key_arn,
        opts=opts,
    )


@dataclass(frozen=True)
class PipelineContract:
    """What the functions and builds are told (beyond deterministic names): through their environment
    (`functions.pipeline.settings`), and for the functions the service catalog (`catalog()`)."""

    service_accounts: Mapping[str, Mapping[Environment, str]]
    service_repositories: Mapping[str, str]
    stack_policies: Mapping[str, Mapping[Environment, Any]]  # service -> environment -> policy document
    test_commands: Mapping[str, Mapping[Environment, str]]
    approved_cdk_versions: Sequence[str]
    max_rollback_attempts: int
    # Validate's check 6: services configured with `contextLookups: false` (their synth reads no context).
    services_without_context_lookups: Sequence[str] = ()
    # The sweeper: attempts per environment, and the age of a parked candidate ArtifactNeverPromoted counts.
    max_attempts: Mapping[Environment, int] | None = None
    never_promoted_days: int | None = None

    def catalog(self) -> ServiceCatalog:
        """What the functions read from the tooling bucket (`functions.pipeline.catalog`), not from env."""
        return ServiceCatalog.of(self.service_accounts, self.services_without_context_lookups)

    def context_check(self, names: naming.ToolsNames) -> dict[str, Any]:
        """Settings fields of Validate's check 6: the blessed contexts and their signer (who has no
        lookups is in the catalog)."""
        return {
            "contexts_bucket": names.contexts_bucket,
            "context_signer_key_id": naming.CONTEXT_SIGNER_KEY_ALIAS,
        }


def adopted(component: pulumi.Resource, opts: pulumi.ResourceOptions | None, **options: Any) -> pulumi.ResourceOptions:
    """Options of a child that used to be declared by this component's own parent (`DeployPipeline`).

    The part is named as its parent and keeps each child's name, so the alias needs only the former
    parent: a real `pulumi up` finds the existing resource under its old URN and moves it, instead of
    replacing it.
    """
    former_parent = opts.parent if opts is not None else None
    aliases = [pulumi.Alias(parent=former_parent)] if former_parent is not None else []
    return pulumi.ResourceOptions(parent=component, aliases=aliases, **options)


def rule_invokes_function(
    resource_name: str,
    rule: aws.cloudwatch.EventRule,
    *,
    function_arn: pulumi.Input[str],
    function_name: pulumi.Input[str],
    dead_letter_queue_arn: pulumi.Input[str],
    maximum_event_age_seconds: int,
    maximum_retry_attempts: int,
    opts: pulumi.ResourceOptions,
) -> None:
    """An EventBridge rule's function target (`{resource_name}-target`): retried, undeliverable events to the
    dead-letter queue, and the function's permission for this rule only (`{resource_name}-invoke`)."""
    aws.cloudwatch.EventTarget(
        f"{resource_name}-target",
        rule=rule.name,
        arn=function_arn,
        retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
            maximum_event_age_in_seconds=maximum_event_age_seconds, maximum_retry_attempts=maximum_retry_attempts
        ),
        dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dead_letter_queue_arn),
        opts=opts,
    )
    aws.lambda_.Permission(
        f"{resource_name}-invoke",
        action="lambda:InvokeFunction",
        function=function_name,
        principal="events.amazonaws.com",
        source_arn=rule.arn,
        opts=opts,
    )
