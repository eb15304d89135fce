"""AWS's size quotas with 200 services: the program's graph at that scale, from the offline preview.

The tools stack is built with all 200 services (it holds everything that names services: a CI role and a
signing key each, the pipeline's roles and functions). A service account's stack declares, for each of its
services, resources built from that service alone (`ServiceAccount(config, service)`), so the stage and
prod stacks are built with the first and the last of the 200 services (longest names, distinct accounts)
and checked to name no other service; their full 200-service configs are validated too. Building those
two stacks at 200 services takes minutes and would show the same policies 200 times.

Sizes are counted as AWS counts them: IAM and KMS ignore white space, so a policy's size is its JSON
without white space; a Lambda function's environment is its variables as compact JSON.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from devtools.emulator.program import copy_program
from stack_config import load_stack_config
from tests.conftest import PROJECT_DIR, STACKS

from .graph import BUCKET_POLICY, KMS_KEY, ROLE, ROLE_POLICY, of_type

SERVICES = 200
SAMPLED = (0, SERVICES - 1)  # the service accounts' stacks: the first and the last service

TRUST_POLICY_MAX = 2_048  # IAM's default role trust policy quota (adjustable up to 4,096)
INLINE_POLICIES_MAX = 10_240  # all inline policies of one role together
MANAGED_POLICY_MAX = 6_144
KEY_POLICY_MAX = 32_768
BUCKET_POLICY_MAX = 20 * 1_024
FUNCTION_ENVIRONMENT_MAX = 4 * 1_024
MANAGED_POLICY = "aws:iam/policy:Policy"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
CATALOG_BYTES_PER_SERVICE = 128  # a 29-character name, two accounts, its context lookups


def service(index: int) -> dict[str, Any]:
    """A service with a name of the longest length allowed (29), its own stage and prod accounts."""
    name = f"s{index:03d}-" + "x" * 24
    stage, prod = f"{200_000_000_000 + index}", f"{300_000_000_000 + index}"
    return {
        "name": name,
        "githubRepository": f"acme-corp/{name}-service-repository",
        "githubWorkflow": ".github/workflows/release-to-production.yml",
        "contextLookups": index % 2 == 0,
        "stage": {
            "accountId": stage,
            "executionPolicyArns": [f"arn:aws:iam::{stage}:policy/{name}-cfn-resources"],
            "testCommand": "make integration-test",
        },
        "prod": {
            "accountId": prod,
            "executionPolicyArns": [f"arn:aws:iam::{prod}:policy/{name}-cfn-resources"],
            "permissionsBoundaryArn": f"arn:aws:iam::{prod}:policy/workload-boundary",
            "testCommand": "make smoke-test",
        },
    }


def stack_file(stack: str, indexes: range | tuple[int, ...]) -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())
    document["config"]["cdk-control-plane:services"] = [service(i) for i in indexes]
    return document


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The three stacks' graphs, previewed side by side (each in its own process)."""
    project = tmp_path_factory.mktemp("size-quotas")
    copy_program(project)
    for stack in STACKS:
        indexes = range(SERVICES) if stack == "tools" else SAMPLED
        (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(stack_file(stack, indexes)))
    previews = {
        stack: subprocess.Popen(
            [sys.executable, "-m", "devtools.preview_offline", "--stack", stack, "--out", f"{stack}.json"],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stack in STACKS
    }
    for stack, preview in previews.items():
        _, errors = preview.communicate(timeout=300)
        assert preview.returncode == 0, f"preview of {stack} with {SERVICES} services failed:\n{errors}"
    return {stack: json.loads((project / f"{stack}.json").read_text()) for stack in STACKS}


def size(document: Any) -> int:
    return len(re.sub(r"\s", "", json.dumps(document, ensure_ascii=False)).encode())


def over(sizes: dict[str, int], limit: int) -> dict[str, int]:
    return {name: n for name, n in sizes.items() if n > limit}


def each_stack(graphs: dict[str, dict[str, Any]], sizes_of: Any) -> dict[str, int]:
    return {f"{stack}:{name}": n for stack in STACKS for name, n in sizes_of(graphs[stack]).items()}


def test_the_scaled_configs_are_valid_with_200_services() -> None:
    for stack in STACKS:
        bag = {k: v for k, v in stack_file(stack, range(SERVICES))["config"].items()}
        assert len(load_stack_config(bag, project_dir=PROJECT_DIR).services) == SERVICES


def test_the_tools_stack_has_a_ci_role_and_a_signing_key_per_service(scaled: dict[str, dict[str, Any]]) -> None:
    roles = [r for r in of_type(scaled["tools"], ROLE) if r["inputs"]["name"].startswith("cdk-ci-artifact-builder-")]
    aliases = [
        r for r in of_type(scaled["tools"], "aws:kms/alias:Alias") if "ci-artifact-signer-" in r["inputs"]["name"]
    ]
    assert len(roles) == len(aliases) == SERVICES


def test_every_trust_policy_fits_iams_default_quota(scaled: dict[str, dict[str, Any]]) -> None:
    def trusts(graph: dict[str, Any]) -> dict[str, int]:
        return {r["inputs"]["name"]: size(json.loads(r["inputs"]["assumeRolePolicy"])) for r in of_type(graph, ROLE)}

    sizes = each_stack(scaled, trusts)
    assert sizes and over(sizes, TRUST_POLICY_MAX) == {}


def test_each_roles_inline_policies_fit_together(scaled: dict[str, dict[str, Any]]) -> None:
    def inline(graph: dict[str, Any]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for policy in of_type(graph, ROLE_POLICY):
            role = policy["inputs"]["role"]
            totals[role] = totals.get(role, 0) + size(json.loads(policy["inputs"]["policy"]))
        return totals

    sizes = each_stack(scaled, inline)
    assert sizes and over(sizes, INLINE_POLICIES_MAX) == {}


def test_every_managed_policy_fits(scaled: dict[str, dict[str, Any]]) -> None:
    """The program declares no customer managed policy today; any it declares must fit."""

    def managed(graph: dict[str, Any]) -> dict[str, int]:
        return {r["name"]: size(json.loads(r["inputs"]["policy"])) for r in of_type(graph, MANAGED_POLICY)}

    assert over(each_stack(scaled, managed), MANAGED_POLICY_MAX) == {}


def test_every_key_policy_fits(scaled: dict[str, dict[str, Any]]) -> None:
    def keys(graph: dict[str, Any]) -> dict[str, int]:
        return {r["name"]: size(json.loads(r["inputs"]["policy"])) for r in of_type(graph, KMS_KEY)}

    sizes = each_stack(scaled, keys)
    assert len(sizes) > SERVICES and over(sizes, KEY_POLICY_MAX) == {}


def test_every_bucket_policy_fits(scaled: dict[str, dict[str, Any]]) -> None:
    def buckets(graph: dict[str, Any]) -> dict[str, int]:
        return {r["name"]: size(json.loads(r["inputs"]["policy"])) for r in of_type(graph, BUCKET_POLICY)}

    sizes = each_stack(scaled, buckets)
    assert sizes and over(sizes, BUCKET_POLICY_MAX) == {}


def test_every_function_environment_fits(scaled: dict[str, dict[str, Any]]) -> None:
    def environments(graph: dict[str, Any]) -> dict[str, int]:
        return {
            r["inputs"]["name"]: len(json.dumps(r["inputs"]["environment"]["variables"], separators=(",", ":")))
            for r in of_type(graph, "aws:lambda/function:Function")
        }

    sizes = each_stack(scaled, environments)
    assert sizes and over(sizes, FUNCTION_ENVIRONMENT_MAX) == {}


def test_the_service_catalog_object_holds_every_service_within_its_bound(scaled: dict[str, dict[str, Any]]) -> None:
    """The catalog left the environment for an object in the tooling bucket: it names all 200 services,
    a few hundred bytes each, far below what the functions agree to read (`MAX_CATALOG_BYTES`)."""
    from functions.pipeline.catalog import CATALOG_PREFIX, MAX_CATALOG_BYTES, ServiceCatalog

    (written,) = [o for o in of_type(scaled["tools"], OBJECT) if o["inputs"]["key"].startswith(CATALOG_PREFIX)]
    data = written["inputs"]["content"].encode()
    catalog = ServiceCatalog.from_bytes(data)
    assert len(catalog.services) == SERVICES and catalog.account(service(7)["name"], "prod") == "300000000007"
    assert len(data) <= CATALOG_BYTES_PER_SERVICE * SERVICES and len(data) * 10 < MAX_CATALOG_BYTES


def test_every_ci_role_has_the_same_size_whatever_the_number_of_services(scaled: dict[str, dict[str, Any]]) -> None:
    """The names are of one length, so policies that did not name other services have one size."""
    graph = scaled["tools"]
    ci_roles = {r["inputs"]["name"] for r in of_type(graph, ROLE) if "ci-artifact-builder-" in r["inputs"]["name"]}
    trusts = {
        size(json.loads(r["inputs"]["assumeRolePolicy"]))
        for r in of_type(graph, ROLE)
        if r["inputs"]["name"] in ci_roles
    }
    inline = {
        size(json.loads(p["inputs"]["policy"])) for p in of_type(graph, ROLE_POLICY) if p["inputs"]["role"] in ci_roles
    }
    assert len(trusts) == 1 and len(inline) == 1


@pytest.mark.parametrize("stack", ["stage", "prod"])
def test_a_service_accounts_policies_name_no_other_service(scaled: dict[str, dict[str, Any]], stack: str) -> None:
    """Why sampling the service accounts' stacks is enough: no policy there depends on another service."""
    marks = {i: (service(i)["name"], service(i)[stack]["accountId"]) for i in SAMPLED}
    for resource in scaled[stack]["resources"]:
        document = json.dumps(resource["inputs"])
        named = {i for i, (name, account) in marks.items() if name in document or account in document}
        assert len(named) <= 1, f"{resource['name']} names services {sorted(named)}"


@pytest.mark.parametrize("central", [False, True])
def test_the_longest_subject_config_allows_still_fits_the_trust_quota(central: bool) -> None:
    from components.policies.tools_identity import ci_trust, github_subject
    from stack_config.models import WORKFLOW_PATH_MAX, Service

    workflow = ".github/workflows/" + "w" * (WORKFLOW_PATH_MAX - len(".github/workflows/") - len(".yml")) + ".yml"
    longest = Service.model_validate(
        {**service(0), "githubRepository": "o" * 39 + "/" + "r" * 100, "githubWorkflow": workflow}
    )
    release = "o" * 39 + "/" + "r" * 100 + "/.github/workflows/" + "w" * 200 + ".yml@refs/heads/" + "b" * 100
    subject = github_subject("b" * 100, longest, release if central else None)
    provider = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    assert size(ci_trust(subject, provider)) <= TRUST_POLICY_MAX
