"""The control plane's Pulumi program: one program, three kinds of stack (tools, stage, prod).

Only wiring happens here: read and validate the stack's config once, build the providers, create the
components of this stack's account role, export what operators and other stacks need.
"""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.audit_anchors import AuditAnchors, AuditAnchorsArgs
from components.audit_log import AuditLog, AuditLogArgs
from components.ci_identity import CiIdentity, CiIdentityArgs
from components.metadata_store import MetadataStore, MetadataStoreArgs
from components.pipeline.common import PipelineContract
from components.pipeline.deploy_pipeline import DeployPipeline, DeployPipelineArgs, PipelineRoles
from components.pipeline.monitoring import AlertKey, AlertKeyArgs
from components.pipeline.packaging import stack_policy
from components.pipeline_identity import PipelineIdentity, PipelineIdentityArgs
from components.policies.pipeline import PipelineKeys
from components.policies.tools_identity import ToolsKeys
from components.providers import account_providers
from components.service_account import ServiceAccount, ServiceAccountArgs
from components.signing_keys import SigningKeys, SigningKeysArgs
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import Environment
from stack_config import AccountRole, ConfigError, StackConfig, load_stack_config


def _config_bag() -> dict[str, object]:
    # The engine hands the whole stack config to the language host, which stores it here; reading
    # the bag (not key by key) is what lets unknown keys be reported instead of ignored.
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def _pipeline_contract(config: StackConfig) -> PipelineContract:
    services = config.services
    return PipelineContract(
        service_accounts=config.service_accounts,
        service_repositories={s.name: s.github_repository for s in services},
        stack_policies={
            s.name: {e: stack_policy(path) for e in Environment if (path := s.environment(e).stack_policy_file)}
            for s in services
        },
        test_commands={s.name: {e: s.environment(e).test_command for e in Environment} for s in services},
        approved_cdk_versions=config.approved_cdk_versions,
        max_rollback_attempts=config.max_rollback_attempts,
        max_attempts={Environment.STAGE: config.max_attempts.stage, Environment.PROD: config.max_attempts.prod},
        never_promoted_days=config.artifact_never_promoted_days,
        services_without_context_lookups=[s.name for s in services if not s.context_lookups],
    )


def _tools_storage(config: StackConfig, names: ToolsNames) -> tuple[ArtifactStore, MetadataStore, SigningKeys]:
    protect = config.protect_stateful_resources
    lock = config.contexts_object_lock
    store = ArtifactStore(
        "artifact-store",
        ArtifactStoreArgs(
            names=names,
            protect=protect,
            security_automation_role_arn=config.security_automation_role_arn,
            contexts_object_lock=(lock.mode, lock.days) if lock else None,
        ),
    )
    metadata = MetadataStore(
        "metadata-store",
        MetadataStoreArgs(
            names=names,
            protect=protect,
            security_automation_role_arn=config.security_automation_role_arn,
            export_retention_days=config.metadata_export_retention_days,
        ),
    )
    signing = SigningKeys(
        "signing-keys",
        SigningKeysArgs(
            names,
            protect=protect,
            operator_principal_arns=config.operator_principal_arns,
            services=[service.name for service in config.services],
        ),
    )
    return store, metadata, signing


def _ci_identity(config: StackConfig, names: ToolsNames, store: ArtifactStore, signing: SigningKeys) -> CiIdentity:
    keys = ToolsKeys(
        artifacts_bucket_key=store.artifacts_key_arn,
        contexts_bucket_key=store.contexts_key_arn,
        context_signer=signing.context_signer_arn,
    )
    return CiIdentity(
        "ci-identity",
        CiIdentityArgs(
            names,
            keys,
            services=config.services,
            signer_key_arns=signing.ci_signer_arns,
            github_branch=config.github.branch,
            release_workflow=config.github.release_workflow,
            existing_oidc_provider_arn=config.github.existing_oidc_provider_arn,
        ),
    )


def _tools(config: StackConfig) -> None:
    names = ToolsNames(config.name_prefix, config.tools_account_id, config.region)
    store, metadata, signing = _tools_storage(config, names)
    audit = AuditLog(
        "audit-log", AuditLogArgs(names, key_arn=metadata.key_arn, protect=config.protect_stateful_resources)
    )
    alert_key = AlertKey("alert-key", AlertKeyArgs(names, protect=config.protect_stateful_resources))
    retention = config.audit_anchor_retention
    anchors = AuditAnchors(
        "audit-anchors",
        AuditAnchorsArgs(
            names,
            email_addresses=config.audit_email_addresses,
            retention=(retention.mode, retention.days),
            protect=config.protect_stateful_resources,
            cloudtrail_lake=config.audit_anchor_cloud_trail_lake,
        ),
    )
    identity = PipelineIdentity(
        "pipeline-identity",
        PipelineIdentityArgs(
            names,
            PipelineKeys(
                artifacts=store.artifacts_key_arn,
                metadata=metadata.key_arn,
                tooling=store.tooling_key_arn,
                contexts=store.contexts_key_arn,
                context_signer=signing.context_signer_arn,
                alerts=alert_key.arn,
                anchor_bucket=anchors.bucket_key_arn,
                anchor_topic=anchors.topic_key_arn,
                anchor_channel=anchors.channel_arn,
            ),
        ),
    )
    ci = _ci_identity(config, names, store, signing)
    pipeline = DeployPipeline(
        "deploy-pipeline",
        DeployPipelineArgs(
            names=names,
            contract=_pipeline_contract(config),
            roles=PipelineRoles(
                functions=identity.function_role_arns,
                deployers=identity.deployer_role_arns,
                test_runners=identity.test_role_arns,
                state_machine=identity.state_machine_role_arn,
            ),
            artifacts_key_arn=store.artifacts_key_arn,
            tooling_bucket=store.tooling_bucket,
            alert_email_addresses=config.alert_email_addresses,
            alert_key_arn=alert_key.arn,
            alarms=config.alarms,
            log_retention_days=config.log_retention_days,
            protect=config.protect_stateful_resources,
            anchor_channel_arn=anchors.channel_arn,
            operator_principal_arns=config.operator_principal_arns,
        ),
    )
    pulumi.export("candidateBucket", store.candidate_bucket)
    pulumi.export("releaseBucket", store.release_bucket)
    pulumi.export("contextsBucket", store.contexts_bucket)
    pulumi.export("metadataTable", metadata.table_name)
    pulumi.export("metadataExportsBucket", metadata.exports_bucket)
    pulumi.export("auditTable", audit.table_name)
    pulumi.export("auditAnchorsBucket", anchors.bucket_name)
    pulumi.export("auditAnchorTopicArn", anchors.topic_arn)
    if anchors.channel_arn is not None:  # not exported at all where the stack leaves CloudTrail Lake out
        pulumi.export("auditAnchorChannelArn", anchors.channel_arn)
    pulumi.export("ciSignerKeyArns", signing.ci_signer_arns)
    pulumi.export("contextSignerKeyArn", signing.context_signer_arn)
    pulumi.export("overrideSignerKeyArn", signing.override_signer_arn)
    pulumi.export("ciRoleArns", ci.ci_role_arns)
    pulumi.export("contextGeneratorRoleArn", ci.context_generator_role_arn)
    pulumi.export("githubOidcProviderArn", ci.oidc_provider_arn)
    pulumi.export("deployerRoleArns", identity.deployer_role_arns)
    pulumi.export("stateMachineArn", pipeline.state_machine_arn)
    pulumi.export("eventBusName", pipeline.event_bus_name)
    pulumi.export("alertTopicArn", pipeline.alert_topic_arn)
    pulumi.export("breakGlassParameter", pipeline.break_glass_parameter)
    pulumi.export("overrideFunction", names.function_name("override"))


def _service_accounts(config: StackConfig) -> None:
    providers = account_providers(config)
    exports = {}
    for service in config.services:
        env = service.environment(config.environment)
        account = ServiceAccount(
            f"{service.name}-{config.environment}",
            ServiceAccountArgs(config=config, service=service),
            opts=pulumi.ResourceOptions(providers={"aws": providers[env.account_id]}),
        )
        exports[service.name] = {
            "accountId": env.account_id,
            "deployRoleArn": account.deploy_role_arn,
            "executionRoleArn": account.execution_role_arn,
            "readOnlyRoleArn": account.read_only_role_arn,
            "assetBucketArn": account.asset_bucket_arn,
        }
    pulumi.export("services", exports)


def main() -> None:
    try:
        config = load_stack_config(_config_bag(), source=f"stack {pulumi.get_stack()}")
    except ConfigError as exc:
        # RunError: a clean message, no Python traceback, and nothing has been declared yet.
        raise pulumi.RunError(str(exc)) from None
    if config.account_role is AccountRole.TOOLS:
        _tools(config)
    else:
        _service_accounts(config)


main()
