"""Read helpers over an offline-preview graph (`{"stack", "resources": [{type, name, inputs, provider}]}`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KMS_KEY = "aws:kms/key:Key"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"


def of_type(graph: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == resource_type]


def named(graph: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [r for r in graph["resources"] if r["name"] == name]
    assert len(matches) == 1, f"expected one resource named {name!r}, found {len(matches)}"
    return matches[0]


def role(graph: dict[str, Any], role_name: str) -> dict[str, Any]:
    matches = [r for r in of_type(graph, ROLE) if r["inputs"].get("name") == role_name]
    assert len(matches) == 1, f"expected one role {role_name!r}, found {len(matches)}"
    return matches[0]


def trust(role_resource: dict[str, Any]) -> dict[str, Any]:
    return json.loads(role_resource["inputs"]["assumeRolePolicy"])


def inline_policies(graph: dict[str, Any], role_resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Inline policies of a role, by policy name (children of the same ScopedRole component)."""
    component = role_resource["name"].removesuffix("-role")
    return {
        r["inputs"]["name"]: json.loads(r["inputs"]["policy"])
        for r in of_type(graph, ROLE_POLICY)
        if r["name"].startswith(component + "-") and r["name"] != role_resource["name"]
    }


def attachments(graph: dict[str, Any], role_resource: dict[str, Any]) -> list[str]:
    component = role_resource["name"].removesuffix("-role")
    return sorted(
        r["inputs"]["policyArn"] for r in of_type(graph, ATTACHMENT) if r["name"].startswith(component + "-attach-")
    )


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def by_sid(document: dict[str, Any], sid: str) -> dict[str, Any]:
    matches = [s for s in statements(document) if s.get("Sid") == sid]
    assert len(matches) == 1, f"expected one statement {sid!r} in {json.dumps(document)[:300]}"
    return matches[0]


def allowed_actions(document: dict[str, Any]) -> set[str]:
    return {a for s in statements(document) if s["Effect"] == "Allow" for a in as_list(s.get("Action", []))}


@dataclass(frozen=True)
class Policy:
    stack: str
    kind: str  # identity | trust | bucket | key | repository
    resource: str
    document: dict[str, Any]

    def where(self) -> str:
        return f"{self.stack}:{self.resource} ({self.kind} policy)"


_POLICY_INPUTS = {
    ROLE_POLICY: ("identity", "policy"),
    ROLE: ("trust", "assumeRolePolicy"),
    BUCKET_POLICY: ("bucket", "policy"),
    KMS_KEY: ("key", "policy"),
    ECR_POLICY: ("repository", "policy"),
}


def all_policies(graph: dict[str, Any]) -> Iterator[Policy]:
    for r in graph["resources"]:
        if r["type"] in _POLICY_INPUTS:
            kind, key = _POLICY_INPUTS[r["type"]]
            if r["inputs"].get(key):
                yield Policy(graph["stack"], kind, r["name"], json.loads(r["inputs"][key]))
