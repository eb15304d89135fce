"""Policies of the tools account's identities: CI, context generator, deployer and finalizer.

Bucket and table names are deterministic (see `naming`); KMS keys are named by their exact ARNs,
handed in as `ToolsKeys` from the storage and signing-key components.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from functions import naming
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import Environment
from stack_config import Service

from .common import document, objects, service_trust, statement, via


def _bootstrap_role_arns(
    names: ToolsNames, services: Sequence[Service], role: Callable[[naming.CdkBootstrapNames], str]
) -> list[str]:
    """ARNs of one bootstrap role (`role(bootstrap_names)`) of every service in stage and prod."""
    arns = set()
    for service in services:
        for environment in Environment:
            account = service.environment(environment).account_id
            arns.add(
                naming.role_arn(account, role(naming.CdkBootstrapNames(service.cdk_qualifier, account, names.region)))
            )
    return sorted(arns)


@dataclass(frozen=True)
class ToolsKeys:
    """ARNs (Pulumi Inputs) of the tools account's KMS keys the identities use."""

    artifacts_bucket_key: Any
    contexts_bucket_key: Any
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


# --- GitHub Actions (cdk-ci-artifact-builder-{service}) -----------------------------------------------


def github_subject(branch_name: str, service: Service, release_workflow: str | None = None) -> str:
    """The one `sub` claim the service's CI role accepts: its repository, on the protected branch, running
    its own workflow file on that branch, or the central reusable workflow (`github.releaseWorkflow`) when
    one is configured. The repository's OIDC subject template must include `job_workflow_ref` (README);
    AWS evaluates no GitHub claim but `aud` and `sub`."""
    branch = f"refs/heads/{branch_name}"
    workflow = release_workflow or f"{service.github_repository}/{service.github_workflow}@{branch}"
    return f"repo:{service.github_repository}:ref:{branch}:job_workflow_ref:{workflow}"


def ci_trust(subject: str, oidc_provider_arn: Any) -> dict[str, Any]:
    host = naming.GITHUB_OIDC_HOST
    return document(
        statement(
            "GithubActionsOnProtectedBranch",
            ["sts:AssumeRoleWithWebIdentity"],
            principal={"Federated": oidc_provider_arn},
            conditions={"StringEquals": {f"{host}:aud": naming.GITHUB_OIDC_AUDIENCE, f"{host}:sub": subject}},
        )
    )


def ci_policy(names: ToolsNames, keys: ToolsKeys, service: Service, signer_key_arn: Any) -> dict[str, Any]:
    """One service's CI: its own candidate prefix, its own signing key, its own accounts' image-publishing
    roles. No DynamoDB at all: the intake step, not CI, records the candidate (only the orchestrator
    mutates metadata). File assets are published by the deployer from the verified artifact, not by CI."""
    contexts = names.bucket_arn(naming.CONTEXTS_BUCKET)
    own_candidates = f"{names.bucket_arn(naming.CANDIDATE_BUCKET)}/{service.name}/*"
    via_s3 = {"StringEquals": via("s3", names.region)}
    image_publishing = _bootstrap_role_arns(names, [service], lambda b: b.image_publishing_role)
    return document(
        # Contexts are blessed per service (`{service}/latest.context.json`, `contexts.blessed_key`): a
        # service's CI reads its own, never another service's lookups (accounts, VPCs, subnets, AMIs).
        statement("ReadOwnBlessedContexts", ["s3:GetObject"], [f"{contexts}/{service.name}/*"]),
        statement("DecryptBlessedContexts", ["kms:Decrypt"], [keys.contexts_bucket_key], conditions=via_s3),
        statement("VerifyBlessedContexts", ["kms:GetPublicKey"], [keys.context_signer]),
        statement("UploadOwnCandidates", ["s3:AbortMultipartUpload", "s3:PutObject"], [own_candidates]),
        statement(
            "EncryptCandidateArtifacts",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [keys.artifacts_bucket_key],
            conditions=via_s3,
        ),
        _sign_with("SignOwnManifests", signer_key_arn, naming.ci_signer_alias(service.name)),
        statement("PublishImagesThroughOwnRoles", ["sts:AssumeRole"], image_publishing),
        # The spec's "cannot": no lookups, no context uploads, nothing on CloudFormation, SSM or IAM, and
        # (stricter than the spec's CI-role list, see DESIGN) no pipeline state.
        statement(
            "DenyDeployAndEnvironmentAccess",
            ["cloudformation:*", "dynamodb:*", "ec2:*", "iam:*", "ssm:*"],
            "*",
            effect="Deny",
        ),
        statement("DenyContextUploads", ["s3:DeleteObject*", "s3:PutObject*"], [objects(contexts)], effect="Deny"),
    )


# --- context generator (tools CodeBuild) ------------------------------------------------------------


def context_generator_trust(names: ToolsNames) -> dict[str, Any]:
    return service_trust(
        "codebuild.amazonaws.com",
        names.account,
        source_arn=names.project_arn(names.context_generator_project),
    )


def context_generator_policy(names: ToolsNames, keys: ToolsKeys) -> dict[str, Any]:
    contexts = names.bucket_arn(naming.CONTEXTS_BUCKET)
    via_s3 = {"StringEquals": via("s3", names.region)}
    # Every service's lookup role by one pattern: the policy's size does not grow with the services.
    lookup_roles = [naming.bootstrap_role_arn_pattern(names.region, "lookup_role")]
    return document(
        statement("WriteBlessedContexts", ["s3:AbortMultipartUpload", "s3:PutObject"], [objects(contexts)]),
        statement(
            "EncryptBlessedContexts",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            [keys.contexts_bucket_key],
            conditions=via_s3,
        ),
        _sign_with("SignContextFiles", keys.context_signer, naming.CONTEXT_SIGNER_KEY_ALIAS),
        # Lookups happen in each target account through its lookup role, never from tools itself.
        statement("LookupThroughTargetAccountRoles", ["sts:AssumeRole"], lookup_roles),
        statement(
            "DenyArtifactWrites",
            ["s3:PutObject*"],
            [
                objects(names.bucket_arn(naming.CANDIDATE_BUCKET)),
                objects(names.bucket_arn(naming.RELEASE_BUCKET)),
            ],
            effect="Deny",
        ),
        statement("DenyDeploys", ["cloudformation:*", "iam:*"], "*", effect="Deny"),
    )
