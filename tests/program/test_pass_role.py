"""`iam:PassRole` across every role the program creates: a role is handed to a service only by name and
only to the service named, and the roles that deploy what a service's stacks create can pass nothing of
the control plane's, whatever the managed policies attached to them from config allow."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import STACKS

from . import policy_checks
from .graph import ROLE_POLICY, all_policies, as_list, by_sid, inline_policies, of_type, role, statements

ENVS = ("stage", "prod")
ACCOUNTS = {("orders", "stage"): "222222222222", ("orders", "prod"): "333333333333"}
ACCOUNTS |= {("payments", "stage"): "444444444444", ("payments", "prod"): "555555555555"}


def test_every_pass_role_names_its_roles_and_their_service(graphs: dict[str, dict[str, Any]]) -> None:
    policies = [p for stack in STACKS for p in all_policies(graphs[stack])]
    assert policy_checks.loose_pass_roles(policies) == []
    granted = [
        (p.resource, s["Sid"])
        for p in policies
        if p.kind == "identity"
        for s in statements(p.document)
        if s["Effect"] == "Allow" and "iam:PassRole" in as_list(s["Action"])
    ]
    # The deploy roles, one per service and environment, pass the execution role to CloudFormation.
    assert len(granted) == 4 and {sid for _, sid in granted} == {"PassExecutionRoleToCloudFormation"}


def _deploy_policy(graph: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in of_type(graph, ROLE_POLICY) if r["inputs"]["name"] == "deploy-service-stacks")


@pytest.mark.parametrize(
    ("bad", "found"),
    [
        ({"Action": "iam:PassRole", "Resource": "*"}, "passes any role"),
        ({"Action": "iam:PassRole", "Resource": "arn:aws:iam::222222222222:role/*"}, "passes any role"),
        ({"Action": "iam:PassRole", "Resource": "arn:aws:iam::222222222222:role/x"}, "without an iam:PassedToService"),
        ({"Action": "iam:Pass*", "Resource": "arn:aws:iam::222222222222:role/x"}, "without an iam:PassedToService"),
        (
            {
                "Action": "iam:PassRole",
                "NotResource": "arn:aws:iam::222222222222:role/x",
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            },
            "passes any role",
        ),
    ],
)
def test_a_loose_pass_role_is_caught(graphs: dict[str, dict[str, Any]], bad: dict[str, Any], found: str) -> None:
    broken = copy.deepcopy(graphs["stage"])
    resource = _deploy_policy(broken)
    document = json.loads(resource["inputs"]["policy"])
    document["Statement"].append({"Sid": "Loose", "Effect": "Allow", **bad})
    resource["inputs"]["policy"] = json.dumps(document)
    problems = policy_checks.loose_pass_roles(all_policies(broken))
    assert problems and all("Loose" in x for x in problems) and any(found in x for x in problems), problems


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("service", ("orders", "payments"))
def test_execution_role_passes_only_its_services_own_roles(graphs: dict, env: str, service: str) -> None:
    account = ACCOUNTS[(service, env)]
    execution = role(graphs[env], f"cdkcp-{service}-{env}-cfn-exec")
    policy = inline_policies(graphs[env], execution)["pass-own-roles-only"]
    own = by_sid(policy, "PassOnlyTheServicesOwnRoles")
    assert own["Effect"] == "Deny" and own["Action"] == ["iam:PassRole"]
    # CloudFormation names a role it creates `{stackName}-{logicalId}-{suffix}`: the stack prefix.
    assert own["NotResource"] == [
        f"arn:aws:iam::{account}:role/{service}-{env}-*",
        f"arn:aws:iam::{account}:role/aws-service-role/*",
    ]
    control_plane = by_sid(policy, "NeverPassControlPlaneRoles")
    assert control_plane["Effect"] == "Deny" and control_plane["Resource"] == [
        f"arn:aws:iam::{account}:role/cdkcp-*",
        f"arn:aws:iam::{account}:role/cdk-*-role-{account}-us-east-1",
    ]
    # Nor may a stack change another role's trust or permissions (make it assumable, or more powerful).
    changes = by_sid(policy, "ChangeOnlyTheServicesOwnRoles")
    assert changes["Effect"] == "Deny" and changes["NotResource"] == [f"arn:aws:iam::{account}:role/{service}-{env}-*"]
    assert {"iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePolicy"} <= set(changes["Action"])
    policies = by_sid(policy, "ChangeOnlyTheServicesOwnPolicies")
    assert policies["NotResource"] == [f"arn:aws:iam::{account}:policy/{service}-{env}-*"]
    assert {"iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion"} <= set(policies["Action"])


@pytest.mark.parametrize("env", ENVS)
def test_control_plane_roles_are_never_passable_by_a_service_stack(graphs: dict, env: str) -> None:
    """Every role the stage or prod stack creates (deploy, execution, read-only, publishing, lookup), as if
    it were in the account of any execution role: denied, and under no service's own prefix."""
    from fnmatch import fnmatchcase

    names = [r["inputs"]["name"] for r in of_type(graphs[env], "aws:iam/role:Role")]
    assert len(names) >= 12
    for (service, service_env), account in ACCOUNTS.items():
        if service_env != env:
            continue
        execution = role(graphs[env], f"cdkcp-{service}-{env}-cfn-exec")
        policy = inline_policies(graphs[env], execution)["pass-own-roles-only"]
        denied = as_list(by_sid(policy, "NeverPassControlPlaneRoles")["Resource"])
        own = as_list(by_sid(policy, "PassOnlyTheServicesOwnRoles")["NotResource"])
        for name in names:
            arn = f"arn:aws:iam::{account}:role/{name.replace(ACCOUNTS[(service, env)], account)}"
            bootstrap_of_other_account = name.startswith("cdk-") and account not in name
            if not bootstrap_of_other_account:
                assert any(fnmatchcase(arn, pattern) for pattern in denied), arn
            assert not any(fnmatchcase(arn, pattern) for pattern in own), arn


@pytest.mark.parametrize("env", ENVS)
def test_deploy_and_read_only_roles_pass_nothing_else_whatever_their_managed_policies(graphs: dict, env: str) -> None:
    deploy = inline_policies(graphs[env], role(graphs[env], f"cdkcp-orders-{env}-deploy"))["deploy-service-stacks"]
    no_other = by_sid(deploy, "PassNoOtherRole")
    execution = f"arn:aws:iam::{ACCOUNTS[('orders', env)]}:role/cdkcp-orders-{env}-cfn-exec"
    assert no_other["Effect"] == "Deny" and no_other["NotResource"] == [execution]
    read_only = inline_policies(graphs[env], role(graphs[env], f"cdkcp-orders-{env}-readonly"))["read-service-stacks"]
    assert by_sid(read_only, "PassNoRole") == {
        "Sid": "PassNoRole",
        "Effect": "Deny",
        "Action": ["iam:PassRole"],
        "Resource": "*",
    }
