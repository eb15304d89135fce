"""The least-privilege invariants, as functions that return violations (empty list = holds).

They are functions rather than inline asserts so that tests can prove each one fails on a bad graph.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from components.policies.common import STAR_ONLY_ACTIONS

from .graph import Policy, as_list, statements

ASSUME_ACTIONS = re.compile(r"^sts:AssumeRole")
EXACT_ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$")
WEB_IDENTITY_CLAIMS = ("aud", "sub")


def wildcard_allow_actions(policies: Iterable[Policy]) -> list[str]:
    """No Allow action of an identity policy contains `*` (deploy, CI, publishing, context...)."""
    return [
        f"{p.where()}: Allow {action!r} in {s.get('Sid')}"
        for p in policies
        if p.kind in ("identity", "trust")
        for s in statements(p.document)
        if s["Effect"] == "Allow"
        for action in as_list(s.get("Action", []))
        if "*" in action
    ]


def star_resources(policies: Iterable[Policy]) -> list[str]:
    """`"Resource": "*"` in an identity policy's Allow only for actions AWS authorizes on `*` alone."""
    problems = []
    for p in policies:
        if p.kind != "identity":
            continue
        for s in statements(p.document):
            if s["Effect"] != "Allow" or "*" not in as_list(s.get("Resource", [])):
                continue
            unlisted = [a for a in as_list(s["Action"]) if a not in STAR_ONLY_ACTIONS]
            if unlisted:
                problems.append(f"{p.where()}: {s.get('Sid')} grants {unlisted} on Resource '*'")
    return problems


def loose_trusts(policies: Iterable[Policy]) -> list[str]:
    """Every `sts:AssumeRole*` trust names an exact role ARN or has a condition; web identity
    trusts pin both `aud` and `sub` with StringEquals."""
    problems = []
    for p in policies:
        if p.kind != "trust":
            continue
        for s in statements(p.document):
            actions = as_list(s.get("Action", []))
            if s["Effect"] != "Allow" or not any(ASSUME_ACTIONS.match(a) for a in actions):
                continue
            principal = s.get("Principal", {})
            condition = s.get("Condition", {})
            if principal == "*" or "*" in as_list(principal.get("AWS", [])):
                problems.append(f"{p.where()}: {s.get('Sid')} trusts any principal")
                continue
            if "Federated" in principal:
                equals = condition.get("StringEquals", {})
                missing = [c for c in WEB_IDENTITY_CLAIMS if not any(k.endswith(f":{c}") for k in equals)]
                if missing or "sts:AssumeRoleWithWebIdentity" not in actions:
                    problems.append(f"{p.where()}: {s.get('Sid')} web identity without StringEquals on {missing}")
                continue
            aws_principals = as_list(principal.get("AWS", []))
            exact = aws_principals and all(EXACT_ROLE_ARN.match(str(a)) for a in aws_principals)
            if not exact and not condition:
                problems.append(f"{p.where()}: {s.get('Sid')} trusts {principal} without a condition")
    return problems


def unconditioned_trusts(policies: Iterable[Policy]) -> list[str]:
    """The quality bar: every trust policy statement carries conditions."""
    return [
        f"{p.where()}: {s.get('Sid')} has no Condition"
        for p in policies
        if p.kind == "trust"
        for s in statements(p.document)
        if s["Effect"] == "Allow" and not s.get("Condition")
    ]


# Policy kinds parliament is not made for: trust policies (checked by loose_trusts and
# unconditioned_trusts) and ECR repository policies, which have no Resource element by design.
PARLIAMENT_SKIPS = ("trust", "repository")
# Gaps in parliament's copy of the Service Authorization Reference: findings that are wrong about AWS.
# - states:DescribeExecution is authorized on a Standard execution (`execution:{machine}:{name}`) as well
#   as an Express one; parliament knows only the Express form (the sweeper describes Standard runs).
PARLIAMENT_DATA_GAPS = (
    (
        "RESOURCE_MISMATCH",
        [{"action": "states:DescribeExecution", "required_format": "arn:*:states:*:*:express:*:*:*"}],
    ),
)


def parliament_findings(policies: Iterable[Policy], minimum: str = "MEDIUM") -> list[str]:
    """parliament's findings of `minimum` severity or worse, over identity, bucket and key policies."""
    import json

    import parliament

    order = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
    problems = []
    for p in policies:
        if p.kind in PARLIAMENT_SKIPS:
            continue
        analyzed = parliament.analyze_policy_string(json.dumps(p.document), include_community_auditors=False)
        for finding in map(parliament.enhance_finding, analyzed.findings):
            if order.index(finding.severity) < order.index(minimum):
                continue
            if (finding.issue, finding.detail) in PARLIAMENT_DATA_GAPS:
                continue
            problems.append(f"{p.where()}: {finding.severity} {finding.issue} {finding.detail}")
    return problems


PASS_ROLE = "iam:PassRole"
ANY_ROLE = re.compile(r"^(\*|arn:aws:iam::(\*|\d{12}):role/\*)$")


def _grants(action_pattern: str, action: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(action.lower(), action_pattern.lower())


def loose_pass_roles(policies: Iterable[Policy]) -> list[str]:
    """Every Allow of `iam:PassRole` (named, or through a wildcard action) in an identity policy names
    the roles (no `Resource: *`, no `role/*`, no NotResource) and the service they go to
    (`iam:PassedToService`: every service that receives a role supports the key)."""
    problems = []
    for p in policies:
        if p.kind != "identity":
            continue
        for s in statements(p.document):
            actions = as_list(s.get("Action", []))
            if s["Effect"] != "Allow" or (not any(_grants(a, PASS_ROLE) for a in actions) and "NotAction" not in s):
                continue
            where = f"{p.where()}: {s.get('Sid')}"
            resources = as_list(s.get("Resource", []))
            if "NotResource" in s or not resources or any(ANY_ROLE.match(r) for r in resources if isinstance(r, str)):
                problems.append(f"{where} passes any role ({s.get('Resource', s.get('NotResource'))!r})")
            conditions = {k for values in s.get("Condition", {}).values() for k in values}
            if "iam:PassedToService" not in conditions:
                problems.append(f"{where} passes roles without an iam:PassedToService condition")
    return problems
