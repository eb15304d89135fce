"""Tools stack identity: GitHub OIDC, the CI builder, the context generator, and the pipeline roles the
service accounts trust."""

from __future__ import annotations

import pytest

from components.scoped_role import MAX_SESSION_SECONDS

from .graph import ROLE, allowed_actions, as_list, by_sid, inline_policies, of_type, role, statements, trust

TOOLS = "111111111111"
REGION = "us-east-1"
HOST = "token.actions.githubusercontent.com"
SERVICE_ACCOUNTS = {"stage": ("222222222222", "444444444444"), "prod": ("333333333333", "555555555555")}


def ci_policy(graph: dict) -> dict:
    return inline_policies(graph, role(graph, "cdk-ci-artifact-builder"))["publish-signed-artifacts"]


def test_tools_stack_uses_the_default_provider_only(graphs: dict) -> None:
    assert of_type(graphs["tools"], "pulumi:providers:aws") == []
    assert all(r["provider"] is None for r in graphs["tools"]["resources"])


def test_github_oidc_provider(graphs: dict) -> None:
    (provider,) = of_type(graphs["tools"], "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider["inputs"]["url"] == f"https://{HOST}"
    assert provider["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]


def test_ci_role_trusts_github_main_of_configured_repositories_only(graphs: dict) -> None:
    (only,) = statements(trust(role(graphs["tools"], "cdk-ci-artifact-builder")))
    assert only["Principal"] == {"Federated": f"arn:aws:iam::{TOOLS}:oidc-provider/{HOST}"}
    assert only["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert set(only["Condition"]) == {"StringEquals"}  # exact match: no StringLike wildcards
    assert only["Condition"]["StringEquals"] == {
        f"{HOST}:aud": "sts.amazonaws.com",
        f"{HOST}:sub": [
            "repo:acme-corp/orders-service:ref:refs/heads/main:job_workflow_ref:"
            "acme-corp/orders-service/.github/workflows/release.yml@refs/heads/main",
            "repo:acme-corp/payments-service:ref:refs/heads/main",
        ],
    }


def test_ci_role_has_exactly_the_spec_permissions(graphs: dict) -> None:
    policy = ci_policy(graphs["tools"])
    assert allowed_actions(policy) == {
        "s3:GetObject",  # blessed contexts
        "kms:Decrypt",  # contexts bucket key (via S3) and multipart uploads of candidates
        "s3:PutObject",
        "s3:AbortMultipartUpload",  # candidate artifacts
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:Sign",  # artifact manifests
        "kms:GetPublicKey",  # verify fetched contexts with the context signer's public key
        "dynamodb:PutItem",  # the candidate item
        "sts:AssumeRole",  # cdk-assets publish through the services' publishing roles
    }
    contexts = f"arn:aws:s3:::cdk-contexts-{TOOLS}-{REGION}/*"
    assert by_sid(policy, "ReadBlessedContexts")["Resource"] == [contexts]
    assert by_sid(policy, "UploadCandidateArtifacts")["Resource"] == [
        f"arn:aws:s3:::cdk-artifacts-candidate-{TOOLS}-{REGION}/*"
    ]
    assert by_sid(policy, "RecordCandidateMetadata")["Resource"] == [
        f"arn:aws:dynamodb:{REGION}:{TOOLS}:table/cdk-artifact-metadata"
    ]


def test_ci_role_signs_only_through_the_manifest_signer_alias(graphs: dict) -> None:
    sign = by_sid(ci_policy(graphs["tools"]), "SignArtifactManifests")
    assert sign["Action"] == ["kms:Sign"]
    assert sign["Condition"]["StringEquals"] == {
        "kms:RequestAlias": "alias/cdk-ci-artifact-signer",
        "kms:SigningAlgorithm": "ECDSA_SHA_256",
        "kms:MessageType": "DIGEST",
    }


def test_ci_role_has_nothing_on_cloudformation_ssm_or_iam(graphs: dict) -> None:
    policy = ci_policy(graphs["tools"])
    assert not {a for a in allowed_actions(policy) if a.split(":")[0] in ("cloudformation", "ssm", "iam", "ec2")}
    deny = by_sid(policy, "DenyDeployAndEnvironmentAccess")
    assert deny["Effect"] == "Deny" and {"cloudformation:*", "ssm:*", "iam:*", "ec2:*"} == set(deny["Action"])
    uploads = by_sid(policy, "DenyContextUploads")
    assert uploads["Effect"] == "Deny" and "s3:PutObject*" in uploads["Action"]


def test_ci_role_assumes_exactly_the_services_publishing_roles(graphs: dict) -> None:
    assumed = by_sid(ci_policy(graphs["tools"]), "PublishAssetsThroughServiceRoles")["Resource"]
    expected = {
        f"arn:aws:iam::{account}:role/cdk-{qualifier}-{kind}-publishing-role-{account}-{REGION}"
        for qualifier, accounts in (
            ("hnb659fds", ("222222222222", "333333333333")),
            ("pay01", ("444444444444", "555555555555")),
        )
        for account in accounts
        for kind in ("file", "image")
    }
    assert set(assumed) == expected


def test_context_generator_is_a_tools_codebuild_role_that_cannot_deploy_or_publish(graphs: dict) -> None:
    generator = role(graphs["tools"], "cdk-context-generator")
    (only,) = statements(trust(generator))
    assert only["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert only["Condition"] == {
        "StringEquals": {"aws:SourceAccount": TOOLS},
        "ArnLike": {"aws:SourceArn": f"arn:aws:codebuild:{REGION}:{TOOLS}:project/cdkcp-context-generator"},
    }
    policy = inline_policies(graphs["tools"], generator)["generate-blessed-contexts"]
    assert by_sid(policy, "WriteBlessedContexts")["Resource"] == [f"arn:aws:s3:::cdk-contexts-{TOOLS}-{REGION}/*"]
    assert (
        by_sid(policy, "SignContextFiles")["Condition"]["StringEquals"]["kms:RequestAlias"]
        == "alias/cdk-context-signer"
    )
    assert by_sid(policy, "DenyArtifactWrites")["Effect"] == "Deny"
    assert by_sid(policy, "DenyDeploys")["Effect"] == "Deny"
    lookups = by_sid(policy, "LookupThroughTargetAccountRoles")["Resource"]
    assert len(lookups) == 4 and all(":role/cdk-" in arn and "-lookup-role-" in arn for arn in lookups)


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_deployer_of_an_environment_reaches_only_that_environments_deploy_roles(graphs: dict, env: str) -> None:
    deployer = role(graphs["tools"], f"cdkcp-deployer-{env}")
    (only,) = statements(trust(deployer))
    assert only["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert only["Condition"]["ArnLike"]["aws:SourceArn"].endswith(f":project/cdkcp-deployer-{env}")
    (policy,) = inline_policies(graphs["tools"], deployer).values()
    assume = by_sid(policy, f"AssumeServiceDeployRoles{env.title()}")
    assert assume["Action"] == ["sts:AssumeRole"]
    assert [s for s in statements(policy) if "sts:AssumeRole" in s["Action"]] == [assume]
    assert set(assume["Resource"]) == {
        f"arn:aws:iam::{account}:role/cdkcp-{service}-{env}-deploy"
        for service, account in zip(("orders", "payments"), SERVICE_ACCOUNTS[env], strict=True)
    }


def test_finalizer_reaches_only_read_only_roles(graphs: dict) -> None:
    finalizer = role(graphs["tools"], "cdkcp-finalizer")
    (only,) = statements(trust(finalizer))
    assert only["Principal"] == {"Service": "lambda.amazonaws.com"}
    (policy,) = inline_policies(graphs["tools"], finalizer).values()
    resources = as_list(by_sid(policy, "AssumeServiceReadOnlyRoles")["Resource"])
    assert len(resources) == 4 and all(r.endswith("-readonly") for r in resources)
    assumed = [s for s in statements(policy) if "sts:AssumeRole" in s["Action"]]
    assert assumed == [by_sid(policy, "AssumeServiceReadOnlyRoles")]


def test_every_tools_role_has_the_minimum_session_iam_allows(graphs: dict) -> None:
    roles = of_type(graphs["tools"], ROLE)
    # deployers x2, functions x6 (finalizer included), test runners x2, state machine, CI,
    # context generator, metadata exporter
    assert len(roles) == 14
    assert {r["inputs"]["maxSessionDuration"] for r in roles} == {MAX_SESSION_SECONDS} == {3600}


def test_the_state_machine_takes_the_lease_and_the_lock_and_nothing_more_on_the_table(graphs: dict) -> None:
    """The lease's TransactWriteItems is authorized item by item: `Update` as UpdateItem, the prod
    ordering's `ConditionCheck` as ConditionCheckItem. No put, no delete, no read."""
    (policy,) = inline_policies(graphs["tools"], role(graphs["tools"], "cdkcp-pipeline")).values()
    items = by_sid(policy, "MetadataItems")
    assert sorted(as_list(items["Action"])) == ["dynamodb:ConditionCheckItem", "dynamodb:UpdateItem"]
    assert as_list(items["Resource"]) == [f"arn:aws:dynamodb:{REGION}:{TOOLS}:table/cdk-artifact-metadata"]
    table_actions = {a for a in allowed_actions(policy) if a.startswith("dynamodb:")}
    assert table_actions == {"dynamodb:ConditionCheckItem", "dynamodb:UpdateItem"}
