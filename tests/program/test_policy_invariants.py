"""Least-privilege invariants over every policy of all three stacks' graphs.

Each invariant is also run against a deliberately broken graph, so these tests cannot pass vacuously.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components.policies.common import STAR_ONLY_ACTIONS
from tests.conftest import STACKS

from . import policy_checks
from .graph import ROLE, ROLE_POLICY, Policy, all_policies, of_type


def policies_of(graphs: dict[str, dict[str, Any]]) -> list[Policy]:
    return [p for stack in STACKS for p in all_policies(graphs[stack])]


def test_every_stack_has_policies_to_check(graphs: dict[str, dict[str, Any]]) -> None:
    kinds = {(p.stack, p.kind) for p in policies_of(graphs)}
    for stack in STACKS:
        assert {(stack, "identity"), (stack, "trust")} <= kinds
    assert {("stage", "bucket"), ("stage", "key"), ("prod", "bucket"), ("prod", "key")} <= kinds


def test_no_allow_action_contains_a_wildcard(graphs: dict[str, dict[str, Any]]) -> None:
    assert policy_checks.wildcard_allow_actions(policies_of(graphs)) == []


def test_resource_star_only_for_actions_aws_allows_only_on_star(graphs: dict[str, dict[str, Any]]) -> None:
    assert policy_checks.star_resources(policies_of(graphs)) == []


def test_star_only_actions_are_each_explained() -> None:
    assert all(reason.strip() for reason in STAR_ONLY_ACTIONS.values())
    assert all("*" not in action for action in STAR_ONLY_ACTIONS)


def test_every_assume_role_trust_is_exact_or_conditioned(graphs: dict[str, dict[str, Any]]) -> None:
    assert policy_checks.loose_trusts(policies_of(graphs)) == []


def test_every_trust_statement_has_conditions(graphs: dict[str, dict[str, Any]]) -> None:
    assert policy_checks.unconditioned_trusts(policies_of(graphs)) == []


def test_parliament_reports_nothing_medium_or_worse(graphs: dict[str, dict[str, Any]]) -> None:
    assert policy_checks.parliament_findings(policies_of(graphs)) == []


# --- the invariants catch what they are meant to catch ---------------------------------------------


def _deploy_policy(graph: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in of_type(graph, ROLE_POLICY) if r["inputs"]["name"] == "deploy-service-stacks")


def _add_statement(resource: dict[str, Any], key: str, new_statement: dict[str, Any]) -> None:
    document = json.loads(resource["inputs"][key])
    document["Statement"].append(new_statement)
    resource["inputs"][key] = json.dumps(document)


def test_cloudformation_star_on_a_deploy_role_is_caught(graphs: dict[str, dict[str, Any]]) -> None:
    broken = copy.deepcopy(graphs["prod"])
    _add_statement(
        _deploy_policy(broken),
        "policy",
        {"Sid": "Broad", "Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"},
    )
    policies = list(all_policies(broken))
    wildcard = policy_checks.wildcard_allow_actions(policies)
    assert len(wildcard) == 1 and "'cloudformation:*'" in wildcard[0] and "deploy-service-stacks" in wildcard[0]
    assert any("cloudformation:*" in p for p in policy_checks.star_resources(policies))


def test_describe_star_is_caught(graphs: dict[str, dict[str, Any]]) -> None:
    broken = copy.deepcopy(graphs["stage"])
    _add_statement(
        _deploy_policy(broken),
        "policy",
        {"Sid": "Describe", "Effect": "Allow", "Action": ["cloudformation:Describe*"], "Resource": "*"},
    )
    assert policy_checks.wildcard_allow_actions(all_policies(broken))


def test_resource_star_for_a_scopable_action_is_caught(graphs: dict[str, dict[str, Any]]) -> None:
    broken = copy.deepcopy(graphs["stage"])
    _add_statement(
        _deploy_policy(broken),
        "policy",
        {"Sid": "Any", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
    )
    problems = policy_checks.star_resources(all_policies(broken))
    assert len(problems) == 1 and "['s3:GetObject']" in problems[0]


def test_trust_without_principal_arn_or_condition_is_caught(graphs: dict[str, dict[str, Any]]) -> None:
    broken = copy.deepcopy(graphs["stage"])
    role = of_type(broken, ROLE)[0]
    _add_statement(
        role,
        "assumeRolePolicy",
        {
            "Sid": "Account",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
            "Action": "sts:AssumeRole",
        },
    )
    assert any("Account" in p for p in policy_checks.loose_trusts(all_policies(broken)))
    assert any("Account" in p for p in policy_checks.unconditioned_trusts(all_policies(broken)))


def test_web_identity_without_sub_is_caught(graphs: dict[str, dict[str, Any]]) -> None:
    broken = copy.deepcopy(graphs["tools"])
    ci = next(r for r in of_type(broken, ROLE) if r["inputs"]["name"] == "cdk-ci-artifact-builder-orders")
    document = json.loads(ci["inputs"]["assumeRolePolicy"])
    del document["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    ci["inputs"]["assumeRolePolicy"] = json.dumps(document)
    problems = policy_checks.loose_trusts(all_policies(broken))
    assert len(problems) == 1 and "['sub']" in problems[0]


@pytest.mark.parametrize(
    "bad_statement",
    [
        {
            "Sid": "UnknownCondition",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*",
            "Condition": {"StringEquals": {"s3:bogus": "x"}},
        },
        {
            "Sid": "Mismatch",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:iam::111111111111:role/x",
        },
    ],
)
def test_parliament_medium_findings_fail_the_check(graphs: dict[str, dict[str, Any]], bad_statement: dict) -> None:
    broken = copy.deepcopy(graphs["stage"])
    _add_statement(_deploy_policy(broken), "policy", bad_statement)
    problems = policy_checks.parliament_findings(all_policies(broken))
    assert len(problems) == 1 and "MEDIUM" in problems[0] and "deploy-service-stacks" in problems[0]
