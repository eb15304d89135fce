"""Tools stack identity: GitHub OIDC, the CI builder, the context generator, and the pipeline roles the
service accounts trust."""

from __future__ import annotations

import pytest

from components.scoped_role import MAX_SESSION_SECONDS

from .graph import ROLE, allowed_actions, as_list, by_sid, inline_policies, of_type, role, statements, trust

TOOLS = "111111111111"
REGION = "us-east-1"
HOST = "token.actions.githubusercontent.com"
KMS_ALIAS = "aws:kms/alias:Alias"


QUALIFIERS = {"orders": "hnb659fds", "payments": "pay01"}
ACCOUNTS = {"orders": ("222222222222", "333333333333"), "payments": ("444444444444", "555555555555")}
WORKFLOWS = {"orders": "release.yml", "payments": "deploy.yml"}


def ci_policy(graph: dict, service: str) -> dict:
    return inline_policies(graph, role(graph, f"cdk-ci-artifact-builder-{service}"))["publish-signed-artifacts"]


def test_tools_stack_uses_the_default_provider_only(graphs: dict) -> None:
    assert of_type(graphs["tools"], "pulumi:providers:aws") == []
    assert all(r["provider"] is None for r in graphs["tools"]["resources"])


def test_github_oidc_provider(graphs: dict) -> None:
    (provider,) = of_type(graphs["tools"], "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider["inputs"]["url"] == f"https://{HOST}"
    assert provider["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]


def test_there_is_no_ci_role_shared_by_services(graphs: dict) -> None:
    names = sorted(r["inputs"]["name"] for r in of_type(graphs["tools"], ROLE) if "ci-artifact" in r["inputs"]["name"])
    assert names == ["cdk-ci-artifact-builder-orders", "cdk-ci-artifact-builder-payments"]


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_a_ci_role_trusts_only_its_own_repository_on_main_running_its_workflow(graphs: dict, service: str) -> None:
    (only,) = statements(trust(role(graphs["tools"], f"cdk-ci-artifact-builder-{service}")))
    assert only["Principal"] == {"Federated": f"arn:aws:iam::{TOOLS}:oidc-provider/{HOST}"}
    assert only["Action"] == ["sts:AssumeRoleWithWebIdentity"]
    assert set(only["Condition"]) == {"StringEquals"}  # exact match: no StringLike wildcards
    repository = f"acme-corp/{service}-service"
    assert only["Condition"]["StringEquals"] == {
        f"{HOST}:aud": "sts.amazonaws.com",
        f"{HOST}:sub": f"repo:{repository}:ref:refs/heads/main:job_workflow_ref:"
        f"{repository}/.github/workflows/{WORKFLOWS[service]}@refs/heads/main",
    }


def test_a_central_release_workflow_replaces_the_services_own_in_the_subject() -> None:
    from components.policies.tools_identity import github_subject
    from stack_config import load_stack_config
    from tests.conftest import stack_bag

    orders = load_stack_config(stack_bag("tools")).services[0]
    central = "acme-corp/platform/.github/workflows/release.yml@refs/heads/main"
    assert github_subject("main", orders, central) == (
        f"repo:acme-corp/orders-service:ref:refs/heads/main:job_workflow_ref:{central}"
    )
    assert github_subject("main", orders) == (
        "repo:acme-corp/orders-service:ref:refs/heads/main:job_workflow_ref:"
        "acme-corp/orders-service/.github/workflows/release.yml@refs/heads/main"
    )


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_a_ci_role_has_exactly_the_spec_permissions_on_its_own_prefix_and_no_metadata(
    graphs: dict, service: str
) -> None:
    policy = ci_policy(graphs["tools"], service)
    assert allowed_actions(policy) == {
        "s3:GetObject",  # blessed contexts
        "kms:Decrypt",  # contexts bucket key (via S3) and multipart uploads of candidates
        "s3:PutObject",
        "s3:AbortMultipartUpload",  # candidate artifacts
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:Sign",  # artifact manifests
        "kms:GetPublicKey",  # verify fetched contexts with the context signer's public key
        "sts:AssumeRole",  # cdk-assets publish of container images through the service's own roles
    }
    # its own service's blessed context only (`{service}/latest.context.json` and its hash and signature)
    contexts = f"arn:aws:s3:::cdk-contexts-{TOOLS}-{REGION}/{service}/*"
    assert by_sid(policy, "ReadOwnBlessedContexts")["Resource"] == [contexts]
    assert by_sid(policy, "UploadOwnCandidates")["Resource"] == [
        f"arn:aws:s3:::cdk-artifacts-candidate-{TOOLS}-{REGION}/{service}/*"
    ]


def test_ci_roles_sign_only_with_their_own_services_key_through_its_alias(graphs: dict) -> None:
    signs = {s: by_sid(ci_policy(graphs["tools"], s), "SignOwnManifests") for s in ("orders", "payments")}
    for service, sign in signs.items():
        assert sign["Action"] == ["kms:Sign"]
        assert sign["Condition"]["StringEquals"] == {
            "kms:RequestAlias": f"alias/cdk-ci-artifact-signer-{service}",
            "kms:SigningAlgorithm": "ECDSA_SHA_256",
            "kms:MessageType": "DIGEST",
        }
        (alias,) = [
            a
            for a in of_type(graphs["tools"], KMS_ALIAS)
            if a["inputs"]["name"] == f"alias/cdk-ci-artifact-signer-{service}"
        ]
        assert sign["Resource"] == [f"arn:aws:kms:{REGION}:{TOOLS}:key/{alias['inputs']['targetKeyId']}"]
    assert signs["orders"]["Resource"] != signs["payments"]["Resource"]


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_a_ci_role_has_nothing_on_cloudformation_dynamodb_ssm_or_iam(graphs: dict, service: str) -> None:
    policy = ci_policy(graphs["tools"], service)
    denied = ("cloudformation", "dynamodb", "ssm", "iam", "ec2")
    assert not {a for a in allowed_actions(policy) if a.split(":")[0] in denied}
    deny = by_sid(policy, "DenyDeployAndEnvironmentAccess")
    assert deny["Effect"] == "Deny" and {f"{p}:*" for p in denied} == set(deny["Action"])
    uploads = by_sid(policy, "DenyContextUploads")
    assert uploads["Effect"] == "Deny" and "s3:PutObject*" in uploads["Action"]


@pytest.mark.parametrize("service", ["orders", "payments"])
def test_a_ci_role_assumes_only_its_own_accounts_image_publishing_roles(graphs: dict, service: str) -> None:
    policy = ci_policy(graphs["tools"], service)
    assumed = [s for s in statements(policy) if "sts:AssumeRole" in s["Action"]]
    assert assumed == [by_sid(policy, "PublishImagesThroughOwnRoles")]
    qualifier = QUALIFIERS[service]
    assert set(assumed[0]["Resource"]) == {
        f"arn:aws:iam::{account}:role/cdk-{qualifier}-image-publishing-role-{account}-{REGION}"
        for account in ACCOUNTS[service]
    }


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
    assert lookups == [f"arn:aws:iam::*:role/cdk-*-lookup-role-*-{REGION}"]  # one pattern for every service


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_deployer_of_an_environment_reaches_only_that_environments_deploy_roles(graphs: dict, env: str) -> None:
    deployer = role(graphs["tools"], f"cdkcp-deployer-{env}")
    (only,) = statements(trust(deployer))
    assert only["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert only["Condition"]["ArnLike"]["aws:SourceArn"].endswith(f":project/cdkcp-deployer-{env}")
    (policy,) = inline_policies(graphs["tools"], deployer).values()
    assume = by_sid(policy, f"AssumeServiceDeployRoles{env.title()}")
    publish = by_sid(policy, "AssumeFilePublishingRoles")
    assert assume["Action"] == ["sts:AssumeRole"]
    assert [s for s in statements(policy) if "sts:AssumeRole" in s["Action"]] == [assume, publish]
    # One pattern for every service's deploy role of this environment and one for every file-publishing
    # role (the policy does not grow with the services); each role trusts only this deployer, with its own
    # external id.
    assert assume["Resource"] == [f"arn:aws:iam::*:role/cdkcp-*-{env}-deploy"]
    assert publish["Resource"] == [f"arn:aws:iam::*:role/cdk-*-file-publishing-role-*-{REGION}"]


def test_finalizer_reaches_only_read_only_roles(graphs: dict) -> None:
    finalizer = role(graphs["tools"], "cdkcp-finalizer")
    (only,) = statements(trust(finalizer))
    assert only["Principal"] == {"Service": "lambda.amazonaws.com"}
    (policy,) = inline_policies(graphs["tools"], finalizer).values()
    resources = as_list(by_sid(policy, "AssumeServiceReadOnlyRoles")["Resource"])
    assert resources == ["arn:aws:iam::*:role/cdkcp-*-prod-readonly", "arn:aws:iam::*:role/cdkcp-*-stage-readonly"]
    assumed = [s for s in statements(policy) if "sts:AssumeRole" in s["Action"]]
    assert assumed == [by_sid(policy, "AssumeServiceReadOnlyRoles")]


def test_every_tools_role_has_the_minimum_session_iam_allows(graphs: dict) -> None:
    roles = of_type(graphs["tools"], ROLE)
    # deployers x2, functions x10 (finalizer, intake, sweeper, anchor and override included), test runners x2,
    # state machine, CI x2 (one per service), context generator, metadata exporter, the sweeper's and the
    # anchor's schedules
    assert len(roles) == 21
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
