"""The pipeline's parts adopt the resources `DeployPipeline` used to declare itself: same names, and an
alias to their former parent, so a real `pulumi up` moves them in its state instead of replacing them."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import PROJECT_DIR

STACK_URN = "urn:pulumi:tools::cdk-control-plane::pulumi:pulumi:Stack"
PIPELINE_TYPE = "cdk-control-plane:tools:DeployPipeline"
PIPELINE_URN = f"{STACK_URN}${PIPELINE_TYPE}::deploy-pipeline"
PARTS = {
    "cdk-control-plane:pipeline:PipelineEvents",
    "cdk-control-plane:pipeline:PipelineFunctions",
    "cdk-control-plane:pipeline:PipelineBuilds",
    "cdk-control-plane:pipeline:PipelineStateMachine",
    "cdk-control-plane:pipeline:PipelineTriggers",
    "cdk-control-plane:pipeline:SweeperSchedule",  # new with the sweeper: nothing of it to move
}
# Parts added after the split (issue 10's alarms, alert rules, dashboard; issue 11's anchor schedule and
# operator access): nothing of theirs ever moved.
NEW_PARTS = {
    "cdk-control-plane:pipeline:PipelineMonitoring",
    "cdk-control-plane:pipeline:AnchorSchedule",
    "cdk-control-plane:pipeline:OperatorAccess",
}

_SCRIPT = """
import json, sys
from devtools.preview_offline import run_preview
registrations = []
run_preview("tools", registrations=registrations)
json.dump(registrations, sys.stdout)
"""


@pytest.fixture(scope="module")
def registrations() -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(proc.stdout)


def test_parts_are_children_of_the_pipeline_named_as_it(registrations: list[dict[str, Any]]) -> None:
    parts = [r for r in registrations if r["type"] in PARTS]
    assert {r["type"] for r in parts} == PARTS
    assert all(r["name"] == "deploy-pipeline" and r["parent"] == PIPELINE_URN for r in parts)
    new = [r for r in registrations if r["type"] in NEW_PARTS]
    assert [(r["name"], r["parent"]) for r in new] == [("deploy-pipeline", PIPELINE_URN)] * len(NEW_PARTS)
    direct = {r["name"] for r in registrations if r["parent"] == PIPELINE_URN and r["type"] not in PARTS | NEW_PARTS}
    assert direct == {"deploy-pipeline-logs-key", "deploy-pipeline-logs-alias"}  # never moved


def _parent_type(registration: dict[str, Any]) -> str:
    """`urn:pulumi:<stack>::<project>::<parent types, $-separated>::<name>` -> the parent's own type."""
    parent = registration["parent"]
    return parent.split("::")[2].split("$")[-1] if parent else ""


# Every resource `DeployPipeline` declared before the split (offline preview of commit d03153e): the
# addresses a real stack already holds. A rename would leave the old one to be deleted.
FORMER_CHILDREN = {
    "deploy-pipeline-alerts",
    "deploy-pipeline-alerts-0",
    "deploy-pipeline-bundle",
    "deploy-pipeline-bus",
    "deploy-pipeline-cdkcp-deployer-prod",
    "deploy-pipeline-cdkcp-deployer-prod-logs",
    "deploy-pipeline-cdkcp-deployer-stage",
    "deploy-pipeline-cdkcp-deployer-stage-logs",
    "deploy-pipeline-cdkcp-smoke-prod",
    "deploy-pipeline-cdkcp-smoke-prod-logs",
    "deploy-pipeline-cdkcp-tests-stage",
    "deploy-pipeline-cdkcp-tests-stage-logs",
    "deploy-pipeline-dependencies",
    "deploy-pipeline-dispatcher",
    "deploy-pipeline-dispatcher-async",
    "deploy-pipeline-dispatcher-logs",
    "deploy-pipeline-dlq",
    "deploy-pipeline-dlq-policy",
    "deploy-pipeline-finalizer",
    "deploy-pipeline-finalizer-async",
    "deploy-pipeline-finalizer-logs",
    "deploy-pipeline-logs-alias",
    "deploy-pipeline-logs-key",
    "deploy-pipeline-promote",
    "deploy-pipeline-promote-async",
    "deploy-pipeline-promote-logs",
    "deploy-pipeline-rollback-plan",
    "deploy-pipeline-rollback-plan-async",
    "deploy-pipeline-rollback-plan-logs",
    "deploy-pipeline-state-machine",
    "deploy-pipeline-state-machine-logs",
    "deploy-pipeline-transition",
    "deploy-pipeline-transition-async",
    "deploy-pipeline-transition-logs",
    "deploy-pipeline-trigger-prod",
    "deploy-pipeline-trigger-prod-invoke",
    "deploy-pipeline-trigger-prod-target",
    "deploy-pipeline-trigger-stage",
    "deploy-pipeline-trigger-stage-invoke",
    "deploy-pipeline-trigger-stage-target",
    "deploy-pipeline-validate",
    "deploy-pipeline-validate-async",
    "deploy-pipeline-validate-logs",
}


# Declared by the parts since the split (their alias names a former address that never existed: harmless).
ADDED_SINCE = {
    "deploy-pipeline-intake",
    "deploy-pipeline-intake-async",
    "deploy-pipeline-intake-logs",
    "deploy-pipeline-service-catalog",
    "deploy-pipeline-sweeper",
    "deploy-pipeline-sweeper-async",
    "deploy-pipeline-sweeper-logs",
    "deploy-pipeline-anchor",
    "deploy-pipeline-anchor-async",
    "deploy-pipeline-anchor-logs",
    "deploy-pipeline-sweeper-schedule",  # the SweeperSchedule part's role (a ScopedRole)
    # the finalizer on every ending (issue 10)
    "deploy-pipeline-finalizer-endings",
    "deploy-pipeline-finalizer-endings-invoke",
    "deploy-pipeline-finalizer-endings-target",
    # signed operator requests (issue 11)
    "deploy-pipeline-override",
    "deploy-pipeline-override-async",
    "deploy-pipeline-override-logs",
}


def test_every_moved_resource_is_aliased_to_its_former_parent(registrations: list[dict[str, Any]]) -> None:
    moved = [r for r in registrations if _parent_type(r) in PARTS]
    direct = {r["name"] for r in registrations if r["parent"] == PIPELINE_URN and r["type"] not in PARTS | NEW_PARTS}
    assert {r["name"] for r in moved} | direct == FORMER_CHILDREN | ADDED_SINCE
    for resource in moved:
        assert resource["name"].startswith("deploy-pipeline-"), resource["name"]
        assert {"spec": {"parentUrn": PIPELINE_URN}} in resource["aliases"], resource["name"]
