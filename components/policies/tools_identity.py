"""Policies of the tools account's identities: CI, context generator, deployer and finalizer.

Bucket and table names are deterministic (see `naming`); KMS keys are named by their exact ARNs,
handed in as `ToolsKeys` from the storage and signing-key components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from functions import naming
from stack_config import Service, StackConfig

from .common import document, objects, service_trust, statement


@dataclass(frozen=True)
class ToolsContext:
    config: StackConfig

    @property
    def account(self) -> str:
        return self.config.tools_account_id

    @property
    def region(self) -> str:
        return self.config.region

    def bucket_arn(self, kind: str) -> str:
        return naming.bucket_arn(naming.tools_bucket_name(kind, self.account, self.region))

    @property
    def via_s3(self) -> dict[str, dict[str, str]]:
        return {"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}}

    @property
    def metadata_table_arn(self) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{naming.METADATA_TABLE}"

    def service_role_arns(self, role_name: Any, envs: Sequence[str] = ("stage", "prod")) -> list[str]:
        """ARNs of one role per service per environment; `role_name(service, env, account)`."""
        arns = []
        for service in self.config.services:
            for env in envs:
                account = _account(service, env)
                arns.append(naming.role_arn(account, role_name(service, env, account)))
        return sorted(set(arns))


def _account(service: Service, env: str) -> str:
    return service.stage.account_id if env == "stage" else service.prod.account_id


def _bootstrap(ctx: ToolsContext, service: Service, account: str) -> naming.CdkBootstrapNames:
    return naming.CdkBootstrapNames(service.cdk_qualifier, account, ctx.region)


@dataclass(frozen=True)
class ToolsKeys:
    """ARNs (Pulumi Inputs) of the tools account's KMS keys the identities use."""

    artifacts_bucket_key: Any
    contexts_bucket_key: Any
    ci_signer: Any
    context_signer: Any


def _sign_with(sid: str, key_arn: Any, alias: str) -> dict[str, Any]:
    """`kms:Sign` with one key, through its alias only (the signer names it as `signing_identity`),
    with the one algorithm and message type the manifests use."""
    return statement(
        sid,
        ["kms:Sign"],
        [key_arn],
        conditions={
            "StringEquals": {
                "kms:RequestAlias": alias,
                "kms:SigningAlgorithm": "ECDSA_SHA_256",
                "kms:MessageType": "DIGEST",
            },
        },
    )


# --- GitHub Actions (cdk-ci-artifact-builder) ---------------------------------------------------------


def github_subjects(config: StackConfig) -> list[str]:
    """The exact `sub` claims CI may present: each repository's protected branch, and where a workflow
    is configured, that workflow file on that branch (the repository's OIDC subject template must
    then include `job_workflow_ref`; AWS evaluates no other GitHub claim)."""
    branch = f"refs/heads/{config.github.branch}"
    subjects = []
    for service in config.services:
        subject = f"repo:{service.github_repository}:ref:{branch}"
        if service.github_workflow:
            subject += f":job_workflow_ref:{service.github_repository}/{service.github_workflow}@{branch}"
        subjects.append(subject)
    return sorted(set(subjects))


def ci_trust(config: StackConfig, oidc_provider_arn: Any) -> dict[str, Any]:
    host = naming.GITHUB_OIDC_HOST
    return document(
        statement(
            "GithubActionsOnProtectedBranch",
            ["sts:AssumeRoleWithWebIdentity"],
            principal={"Federated": oidc_provider_arn},
            conditions={
                "StringEquals": {
                    f"{host}:aud": naming.GITHUB_OIDC_AUDIENCE,
                    f"{host}:sub": github_subjects(config),
                }
            },
        )
    )


def ci_policy(ctx: ToolsContext, keys: ToolsKeys) -> dict[str, Any]:
    contexts = ctx.bucket_arn(naming.CONTEXTS_BUCKET)
    candidates = ctx.bucket_arn(naming.CANDIDATE_BUCKET)
    publishing_roles = ctx.service_role_arns(
        lambda s, env, account: _bootstrap(ctx, s, account).file_publishing_role
    ) + ctx.service_role_arns(lambda s, env, account: _bootstrap(ctx, s, account).image_publishing_role)
    return document(
        statement("ReadBlessedContexts", ["s3:GetObject"], [objects(contexts)]),
        statement("DecryptBlessedContexts", ["kms:Decrypt"], [keys.contexts_bucket_key], conditions=ctx.via_s3),
        statement("VerifyBlessedContexts", ["kms:GetPublicKey"], [keys.context_signer]),
        statement("UploadCandidateArtifacts", ["s3:AbortMultipartUpload", "s3:PutObject"], [objects(candidates)]),
        statement(
            "EncryptCandidateArtifacts",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [keys.artifacts_bucket_key],
            conditions=ctx.via_s3,
        ),
        _sign_with("SignArtifactManifests", keys.ci_signer, naming.CI_SIGNER_KEY_ALIAS),
        statement("RecordCandidateMetadata", ["dynamodb:PutItem"], [ctx.metadata_table_arn]),
        statement("PublishAssetsThroughServiceRoles", ["sts:AssumeRole"], sorted(publishing_roles)),
        # The spec's "cannot": no lookups, no context uploads, nothing on CloudFormation, SSM or IAM.
        statement(
            "DenyDeployAndEnvironmentAccess",
            ["cloudformation:*", "ec2:*", "iam:*", "ssm:*"],
            "*",
            effect="Deny",
        ),
        statement("DenyContextUploads", ["s3:DeleteObject*", "s3:PutObject*"], [objects(contexts)], effect="Deny"),
    )


# --- context generator (tools CodeBuild) ------------------------------------------------------------


def context_generator_trust(ctx: ToolsContext) -> dict[str, Any]:
    project = naming.context_generator_project_name(ctx.config.name_prefix)
    return service_trust(
        "codebuild.amazonaws.com",
        ctx.account,
        source_arn=f"arn:aws:codebuild:{ctx.region}:{ctx.account}:project/{project}",
    )


def context_generator_policy(ctx: ToolsContext, keys: ToolsKeys) -> dict[str, Any]:
    contexts = ctx.bucket_arn(naming.CONTEXTS_BUCKET)
    lookup_roles = ctx.service_role_arns(lambda s, env, account: _bootstrap(ctx, s, account).lookup_role)
    return document(
        statement("WriteBlessedContexts", ["s3:AbortMultipartUpload", "s3:PutObject"], [objects(contexts)]),
        statement(
            "EncryptBlessedContexts",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [keys.contexts_bucket_key],
            conditions=ctx.via_s3,
        ),
        _sign_with("SignContextFiles", keys.context_signer, naming.CONTEXT_SIGNER_KEY_ALIAS),
        # Lookups happen in each target account through its lookup role, never from tools itself.
        statement("LookupThroughTargetAccountRoles", ["sts:AssumeRole"], lookup_roles),
        statement(
            "DenyArtifactWrites",
            ["s3:PutObject*"],
            [
                objects(ctx.bucket_arn("cdk-artifacts-candidate")),
                objects(ctx.bucket_arn("cdk-artifacts-release")),
            ],
            effect="Deny",
        ),
        statement("DenyDeploys", ["cloudformation:*", "iam:*"], "*", effect="Deny"),
    )
