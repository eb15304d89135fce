"""The control plane's Pulumi program: one program, three kinds of stack (tools, stage, prod).

Only wiring happens here: read and validate the stack's config once, build the providers, create the
components of this stack's account role, export what operators and other stacks need.
"""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.ci_identity import CiIdentity, CiIdentityArgs
from components.deploy_pipeline import DeployPipeline, DeployPipelineArgs
from components.metadata_store import MetadataStore, MetadataStoreArgs
from components.pipeline_identity import PipelineIdentity, PipelineIdentityArgs
from components.policies.pipeline import PipelineKeys
from components.policies.tools_identity import ToolsKeys
from components.providers import account_providers
from components.service_account import ServiceAccount, ServiceAccountArgs
from components.signing_keys import SigningKeys, SigningKeysArgs
from stack_config import AccountRole, ConfigError, StackConfig, load_stack_config


def _config_bag() -> dict[str, object]:
    # The engine hands the whole stack config to the language host, which stores it here; reading
    # the bag (not key by key) is what lets unknown keys be reported instead of ignored.
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def _tools(config: StackConfig) -> None:
    store = ArtifactStore("artifact-store", ArtifactStoreArgs(config))
    metadata = MetadataStore("metadata-store", MetadataStoreArgs(config))
    signing = SigningKeys("signing-keys", SigningKeysArgs(config))
    identity = PipelineIdentity(
        "pipeline-identity",
        PipelineIdentityArgs(
            config,
            PipelineKeys(
                artifacts=store.artifacts_key_arn,
                metadata=metadata.key_arn,
                ci_signer=signing.ci_signer_arn,
                tooling=store.tooling_key_arn,
            ),
        ),
    )
    keys = ToolsKeys(
        artifacts_bucket_key=store.artifacts_key_arn,
        contexts_bucket_key=store.contexts_key_arn,
        ci_signer=signing.ci_signer_arn,
        context_signer=signing.context_signer_arn,
    )
    ci = CiIdentity("ci-identity", CiIdentityArgs(config, keys))
    pipeline = DeployPipeline(
        "deploy-pipeline",
        DeployPipelineArgs(
            config=config,
            function_role_arns=identity.function_role_arns,
            deployer_role_arns=identity.deployer_role_arns,
            test_role_arns=identity.test_role_arns,
            state_machine_role_arn=identity.state_machine_role_arn,
            artifacts_key_arn=store.artifacts_key_arn,
            ci_signer_key_arn=signing.ci_signer_arn,
            tooling_bucket=store.tooling_bucket,
        ),
    )
    pulumi.export("candidateBucket", store.candidate_bucket)
    pulumi.export("releaseBucket", store.release_bucket)
    pulumi.export("contextsBucket", store.contexts_bucket)
    pulumi.export("metadataTable", metadata.table_name)
    pulumi.export("metadataExportsBucket", metadata.exports_bucket)
    pulumi.export("ciSignerKeyArn", signing.ci_signer_arn)
    pulumi.export("contextSignerKeyArn", signing.context_signer_arn)
    pulumi.export("overrideSignerKeyArn", signing.override_signer_arn)
    pulumi.export("ciRoleArn", ci.ci_role_arn)
    pulumi.export("contextGeneratorRoleArn", ci.context_generator_role_arn)
    pulumi.export("githubOidcProviderArn", ci.oidc_provider_arn)
    pulumi.export("deployerRoleArns", identity.deployer_role_arns)
    pulumi.export("stateMachineArn", pipeline.state_machine_arn)
    pulumi.export("eventBusName", pipeline.event_bus_name)
    pulumi.export("alertTopicArn", pipeline.alert_topic_arn)


def _service_accounts(config: StackConfig) -> None:
    providers = account_providers(config)
    exports = {}
    for service in config.services:
        env = service.environment(config.account_role)
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
