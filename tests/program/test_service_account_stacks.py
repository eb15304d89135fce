"""Stage and prod stacks: per service, the deploy roles and the `cdk bootstrap` equivalent, each in the
service's own account through its own provider."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.scoped_role import MAX_SESSION_SECONDS
from stack_config import load_stack_config
from tests.conftest import stack_bag

from .graph import (
    BUCKET,
    ECR_POLICY,
    ECR_REPOSITORY,
    KMS_KEY,
    allowed_actions,
    as_list,
    attachments,
    by_sid,
    inline_policies,
    named,
    of_type,
    role,
    statements,
    trust,
)

ENVS = ("stage", "prod")
SERVICES = {
    "orders": {"stage": "222222222222", "prod": "333333333333"},
    "payments": {"stage": "444444444444", "prod": "555555555555"},
}
QUALIFIER = {"orders": "hnb659fds", "payments": "pay01"}
TOOLS = "111111111111"
REGION = "us-east-1"


def account(service: str, env: str) -> str:
    return SERVICES[service][env]


def deploy_policy(graph: dict[str, Any], service: str, env: str) -> dict[str, Any]:
    return inline_policies(graph, role(graph, f"cdkcp-{service}-{env}-deploy"))["deploy-service-stacks"]


# --- providers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_one_explicit_provider_per_account_assuming_the_admin_role(graphs: dict, env: str) -> None:
    providers = {p["name"]: p["inputs"] for p in of_type(graphs[env], "pulumi:providers:aws")}
    expected = {f"{env}-{account(s, env)}" for s in SERVICES}
    assert set(providers) == expected
    for name, inputs in providers.items():
        acct = name.rsplit("-", 1)[1]
        assert json.loads(inputs["allowedAccountIds"]) == [acct]
        assert (
            json.loads(inputs["assumeRoles"])[0]["roleArn"] == f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole"
        )
        assert inputs["region"] == REGION


@pytest.mark.parametrize("env", ENVS)
def test_every_resource_lands_in_its_services_account(graphs: dict, env: str) -> None:
    aws_resources = [r for r in graphs[env]["resources"] if r["type"].startswith("aws:")]
    assert aws_resources
    for r in aws_resources:
        assert r["provider"] is not None, f"{r['name']} uses the default provider"
        service = r["name"].split("-")[0]
        assert r["provider"] == f"{env}-{account(service, env)}", r["name"]


# --- deploy role ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("service", SERVICES)
def test_deploy_role_trusts_only_the_tools_deployer_of_its_environment(graphs: dict, env: str, service: str) -> None:
    deploy = role(graphs[env], f"cdkcp-{service}-{env}-deploy")
    (only,) = statements(trust(deploy))
    assert only["Principal"] == {"AWS": f"arn:aws:iam::{TOOLS}:role/cdkcp-deployer-{env}"}
    assert only["Action"] == ["sts:AssumeRole"]
    assert only["Condition"] == {"StringEquals": {"sts:ExternalId": f"cdkcp:{TOOLS}:{service}:{env}"}}
    assert deploy["inputs"]["maxSessionDuration"] == MAX_SESSION_SECONDS


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("service", SERVICES)
def test_deploy_policy_is_scoped_to_the_services_stacks(graphs: dict, env: str, service: str) -> None:
    policy = deploy_policy(graphs[env], service, env)
    stacks = f"arn:aws:cloudformation:{REGION}:{account(service, env)}:stack/{service}-{env}-*/*"
    for statement in statements(policy):
        if statement["Effect"] == "Allow" and any(
            a.startswith("cloudformation:") for a in as_list(statement["Action"])
        ):
            assert as_list(statement["Resource"]) in ([stacks], ["*"]), statement["Sid"]
    create = by_sid(policy, "CreateChangeSetsWithExecutionRoleOnly")
    assert create["Condition"] == {
        "ArnEquals": {
            "cloudformation:RoleArn": f"arn:aws:iam::{account(service, env)}:role/cdkcp-{service}-{env}-cfn-exec"
        }
    }
    outside = by_sid(policy, "DenyStacksOutsideServicePrefix")
    assert outside["Effect"] == "Deny" and outside["NotResource"] == [stacks]
    assert {
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DeleteStack",
    } <= set(outside["Action"])


@pytest.mark.parametrize("env", ENVS)
def test_deploy_policy_passes_only_the_execution_role_to_cloudformation(graphs: dict, env: str) -> None:
    policy = deploy_policy(graphs[env], "orders", env)
    passing = [s for s in statements(policy) if "iam:PassRole" in as_list(s["Action"]) and s["Effect"] == "Allow"]
    assert passing == [by_sid(policy, "PassExecutionRoleToCloudFormation")]
    assert passing[0]["Resource"] == [f"arn:aws:iam::{account('orders', env)}:role/cdkcp-orders-{env}-cfn-exec"]
    assert passing[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}


@pytest.mark.parametrize("env", ENVS)
def test_deploy_policy_denies_iam_ssm_and_organizations_writes(graphs: dict, env: str) -> None:
    policy = deploy_policy(graphs[env], "payments", env)
    assert {"iam:Create*", "iam:Put*", "iam:Attach*", "iam:Delete*"} <= set(by_sid(policy, "DenyIamWrites")["Action"])
    assert {"ssm:Put*", "ssm:Delete*"} <= set(by_sid(policy, "DenySsmWrites")["Action"])
    assert by_sid(policy, "DenyOrganizations")["Action"] == ["organizations:*"]
    for sid in ("DenyIamWrites", "DenySsmWrites", "DenyOrganizations"):
        assert by_sid(policy, sid)["Effect"] == "Deny"
    allowed_ssm = {a for a in allowed_actions(policy) if a.startswith("ssm:")}
    assert allowed_ssm == {"ssm:GetParameters"}
    assert by_sid(policy, "ResolveBootstrapVersionParameter")["Resource"] == [
        f"arn:aws:ssm:{REGION}:{account('payments', env)}:parameter/cdk-bootstrap/pay01/version"
    ]


@pytest.mark.parametrize("env", ENVS)
def test_deploy_role_reads_only_its_services_assets(graphs: dict, env: str) -> None:
    policy = deploy_policy(graphs[env], "orders", env)
    bucket = f"arn:aws:s3:::cdk-hnb659fds-assets-{account('orders', env)}-{REGION}"
    assert by_sid(policy, "ReadServiceAssets")["Resource"] == [bucket, f"{bucket}/*"]
    assert {a for a in allowed_actions(policy) if a.startswith("s3:")} == {
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:ListBucket",
    }
    decrypt = by_sid(policy, "DecryptServiceAssets")
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
    assert decrypt["Resource"][0].startswith(f"arn:aws:kms:{REGION}:{account('orders', env)}:key/")
    # It checks image digests in its own repository and writes no asset (the file-publishing role does).
    repository = f"cdk-hnb659fds-container-assets-{account('orders', env)}-{REGION}"
    assert by_sid(policy, "CheckImageDigests")["Resource"] == [
        f"arn:aws:ecr:{REGION}:{account('orders', env)}:repository/{repository}"
    ]
    assert {a for a in allowed_actions(policy) if a.startswith("ecr:")} == {"ecr:DescribeImages"}


def test_prod_deploy_policy_is_tighter_than_stage(graphs: dict) -> None:
    stage = allowed_actions(deploy_policy(graphs["stage"], "orders", "stage"))
    prod = allowed_actions(deploy_policy(graphs["prod"], "orders", "prod"))
    assert prod < stage
    assert "cloudformation:DeleteStack" in stage and "cloudformation:DeleteStack" not in prod
    prod_cfn = {a for a in prod if a.startswith("cloudformation:")}
    assert prod_cfn == {
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DeleteChangeSet",
        "cloudformation:DescribeChangeSet",
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackEvents",
        "cloudformation:DescribeStackResource",
        "cloudformation:DescribeStackResources",
        "cloudformation:DescribeStackResourceDrifts",
        "cloudformation:DescribeStackDriftDetectionStatus",
        "cloudformation:DetectStackDrift",
        "cloudformation:SetStackPolicy",
        "cloudformation:ContinueUpdateRollback",
    }


def test_only_prod_deploy_role_gets_drift_read_policies(graphs: dict) -> None:
    assert attachments(graphs["stage"], role(graphs["stage"], "cdkcp-orders-stage-deploy")) == []
    assert attachments(graphs["prod"], role(graphs["prod"], "cdkcp-orders-prod-deploy")) == [
        "arn:aws:iam::aws:policy/SecurityAudit"
    ]


# --- execution and read-only roles ------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("service", SERVICES)
def test_execution_role_is_cloudformations_with_configured_policies_only(graphs: dict, env: str, service: str) -> None:
    config = load_stack_config(stack_bag(env))
    configured = next(s for s in config.services if s.name == service).environment(config.environment)
    execution = role(graphs[env], f"cdkcp-{service}-{env}-cfn-exec")
    (only,) = statements(trust(execution))
    assert only["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert only["Condition"] == {"StringEquals": {"aws:SourceAccount": account(service, env)}}
    assert attachments(graphs[env], execution) == sorted(configured.execution_policy_arns)
    assert "arn:aws:iam::aws:policy/AdministratorAccess" not in attachments(graphs[env], execution)
    assert execution["inputs"].get("permissionsBoundary") == configured.permissions_boundary_arn
    bounded = {"bounded-identities"} if configured.permissions_boundary_arn else set()
    assert set(inline_policies(graphs[env], execution)) == {"read-service-assets", "pass-own-roles-only"} | bounded


def test_bounded_execution_roles_create_only_identities_under_their_boundary(graphs: dict) -> None:
    env, boundary = "prod", "arn:aws:iam::555555555555:policy/workload-boundary"  # payments in prod is bounded
    execution = role(graphs[env], f"cdkcp-payments-{env}-cfn-exec")
    assert execution["inputs"]["permissionsBoundary"] == boundary
    policy = inline_policies(graphs[env], execution)["bounded-identities"]
    by_sid = {s["Sid"]: s for s in statements(policy)}
    identities = ["arn:aws:iam::555555555555:role/*", "arn:aws:iam::555555555555:user/*"]
    only = by_sid["OnlyBoundedIdentities"]
    assert only["Effect"] == "Deny" and only["Resource"] == identities
    assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"} <= set(
        only["Action"]
    )
    assert only["Condition"] == {"StringNotEquals": {"iam:PermissionsBoundary": boundary}}
    stay = by_sid["BoundariesStay"]
    assert stay["Effect"] == "Deny" and "iam:DeleteRolePermissionsBoundary" in stay["Action"]


@pytest.mark.parametrize("env", ENVS)
def test_read_only_role_serves_the_finalizer(graphs: dict, env: str) -> None:
    read_only = role(graphs[env], f"cdkcp-orders-{env}-readonly")
    (only,) = statements(trust(read_only))
    assert only["Principal"] == {"AWS": f"arn:aws:iam::{TOOLS}:role/cdkcp-finalizer"}
    assert only["Condition"]["StringEquals"]["sts:ExternalId"] == f"cdkcp:{TOOLS}:orders:{env}"
    actions = allowed_actions(inline_policies(graphs[env], read_only)["read-service-stacks"])
    assert {"cloudformation:DescribeStacks", "cloudformation:DetectStackDrift"} <= actions
    assert all(a.split(":")[1].startswith(("Describe", "Detect", "Get", "List")) for a in actions)


@pytest.mark.parametrize("env", ENVS)
def test_roles_are_exclusive_owners_of_their_policies(graphs: dict, env: str) -> None:
    roles = of_type(graphs[env], "aws:iam/role:Role")
    inline_guards = of_type(graphs[env], "aws:iam/rolePoliciesExclusive:RolePoliciesExclusive")
    attachment_guards = of_type(graphs[env], "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive")
    assert len(roles) == len(inline_guards) == len(attachment_guards) == 12


# --- cdk bootstrap equivalent ------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("service", SERVICES)
def test_asset_bucket_has_the_cdk_default_name_and_the_baseline(graphs: dict, env: str, service: str) -> None:
    graph = graphs[env]
    acct, qualifier = account(service, env), QUALIFIER[service]
    name = f"{service}-{env}-bootstrap-assets"
    bucket = named(graph, f"{name}-bucket")
    assert bucket["type"] == BUCKET and bucket["inputs"]["bucket"] == f"cdk-{qualifier}-assets-{acct}-{REGION}"
    assert named(graph, f"{name}-versioning")["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    sse = named(graph, f"{name}-encryption")["inputs"]["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert sse["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith(f"arn:aws:kms:{REGION}:{acct}:key/")
    block = named(graph, f"{name}-public-access")["inputs"]
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert named(graph, f"{name}-ownership")["inputs"]["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    policy = json.loads(named(graph, f"{name}-policy")["inputs"]["policy"])
    writes = by_sid(policy, "OnlyTheFilePublishingRoleWritesObjects")
    assert writes["Effect"] == "Deny" and writes["Principal"] == "*"
    assert {"s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(writes["Action"])
    assert writes["Resource"] == [f"arn:aws:s3:::cdk-{qualifier}-assets-{acct}-{REGION}/*"]
    publisher = f"arn:aws:iam::{acct}:role/cdk-{qualifier}-file-publishing-role-{acct}-{REGION}"
    assert writes["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": publisher}}
    tls = by_sid(policy, "DenyInsecureTransport")
    assert tls["Effect"] == "Deny" and tls["Principal"] == "*"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert tls["Resource"] == [
        f"arn:aws:s3:::cdk-{qualifier}-assets-{acct}-{REGION}",
        f"arn:aws:s3:::cdk-{qualifier}-assets-{acct}-{REGION}/*",
    ]


@pytest.mark.parametrize("env", ENVS)
def test_asset_key_rotates_and_serves_only_the_services_roles(graphs: dict, env: str) -> None:
    (key, *_) = [k for k in of_type(graphs[env], KMS_KEY) if k["name"].startswith("orders-")]
    assert key["inputs"]["enableKeyRotation"] is True
    policy = json.loads(key["inputs"]["policy"])
    acct = account("orders", env)
    readers = by_sid(policy, "ServiceRolesReadAssetsThroughS3")
    assert readers["Action"] == ["kms:Decrypt"]
    assert sorted(readers["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == [
        f"arn:aws:iam::{acct}:role/cdkcp-orders-{env}-cfn-exec",
        f"arn:aws:iam::{acct}:role/cdkcp-orders-{env}-deploy",
    ]
    admin = by_sid(policy, "AccountAdministersKey")
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:Sign"} & set(admin["Action"])


@pytest.mark.parametrize("env", ENVS)
def test_container_repository_is_immutable_and_scanned(graphs: dict, env: str) -> None:
    repositories = of_type(graphs[env], ECR_REPOSITORY)
    assert {r["inputs"]["name"] for r in repositories} == {
        f"cdk-{QUALIFIER[s]}-container-assets-{account(s, env)}-{REGION}" for s in SERVICES
    }
    for repository in repositories:
        assert repository["inputs"]["imageTagMutability"] == "IMMUTABLE"
        assert repository["inputs"]["imageScanningConfiguration"] == {"scanOnPush": True}
    for policy in of_type(graphs[env], ECR_POLICY):
        (only,) = statements(json.loads(policy["inputs"]["policy"]))
        assert only["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert only["Condition"]["StringLike"]["aws:SourceArn"].endswith(":function:*")


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("service", SERVICES)
def test_image_publishing_is_trusted_by_the_services_own_ci_only_and_file_publishing_by_the_deployer(
    graphs: dict, env: str, service: str
) -> None:
    acct, qualifier = account(service, env), QUALIFIER[service]
    trusted = {"image": f"cdk-ci-artifact-builder-{service}", "file": f"cdkcp-deployer-{env}"}
    for kind, principal in trusted.items():
        publishing = role(graphs[env], f"cdk-{qualifier}-{kind}-publishing-role-{acct}-{REGION}")
        (only,) = statements(trust(publishing))
        assert only["Principal"] == {"AWS": f"arn:aws:iam::{TOOLS}:role/{principal}"}
        assert only["Condition"] == {"StringEquals": {"sts:ExternalId": f"cdkcp:{TOOLS}:{service}:{env}"}}
    file_policy = inline_policies(
        graphs[env], role(graphs[env], f"cdk-{qualifier}-file-publishing-role-{acct}-{REGION}")
    )
    assert "s3:DeleteObject" not in allowed_actions(file_policy["publish-file-assets"])


@pytest.mark.parametrize("env", ENVS)
def test_lookup_role_is_the_context_generators_and_cannot_decrypt(graphs: dict, env: str) -> None:
    lookup = role(graphs[env], f"cdk-hnb659fds-lookup-role-{account('orders', env)}-{REGION}")
    (only,) = statements(trust(lookup))
    assert only["Principal"] == {"AWS": f"arn:aws:iam::{TOOLS}:role/cdk-context-generator"}
    policy = inline_policies(graphs[env], lookup)["context-lookups"]
    assert by_sid(policy, "DenySecretDecryption")["Effect"] == "Deny"


@pytest.mark.parametrize("env", ENVS)
def test_bootstrap_version_parameter_per_qualifier(graphs: dict, env: str) -> None:
    parameters = {p["inputs"]["name"]: p for p in of_type(graphs[env], "aws:ssm/parameter:Parameter")}
    assert set(parameters) == {"/cdk-bootstrap/hnb659fds/version", "/cdk-bootstrap/pay01/version"}
    assert all(int(p["inputs"]["insecureValue"]) >= 8 for p in parameters.values())
