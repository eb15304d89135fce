"""`auditAnchorCloudTrailLake`: with it (the default) the tools stack declares CloudTrail Lake's event data
store and channel, the anchor function's environment names the channel and its role may put events on it;
with `false` (an account that never used the Lake, which AWS closed to new customers on 31 May 2026) none
of that is declared, `auditAnchorChannelArn` is not exported at all, and the function is told
`ANCHOR_CLOUDTRAIL=off`. The key is the tools stack's alone, and a boolean."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from devtools.emulator.program import copy_program
from stack_config import ConfigError, load_stack_config
from tests.conftest import PROJECT_DIR, run_preview, stack_bag

from .graph import as_list, inline_policies, of_type, role, statements

KEY = "cdk-control-plane:auditAnchorCloudTrailLake"
LAKE_TYPES = {"aws:cloudtrail/eventDataStore:EventDataStore", "aws:cloudcontrol/resource:Resource"}
BUCKET_AND_TOPIC_SIDS = {"ListAnchors", "ReadAnchors", "WriteAnchors", "PublishAnchors", "AnchorsEncryption"}


@pytest.fixture(scope="module")
def lake_off(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tools stack's graph with `auditAnchorCloudTrailLake: false`, through the real entry point."""
    project = tmp_path_factory.mktemp("lake-off")
    copy_program(project)
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.tools.yaml").read_text())
    document["config"][KEY] = False
    (project / "Pulumi.tools.yaml").write_text(yaml.safe_dump(document))
    out = project / "tools.json"
    proc = run_preview("tools", out, project_dir=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def _lake(graph: dict[str, Any]) -> list[str]:
    return sorted(r["name"] for r in graph["resources"] if r["type"] in LAKE_TYPES)


def _anchor_variables(graph: dict[str, Any]) -> dict[str, str]:
    (function,) = [r for r in of_type(graph, "aws:lambda/function:Function") if r["inputs"]["name"] == "cdkcp-anchor"]
    return function["inputs"]["environment"]["variables"]


def _anchor_grants(graph: dict[str, Any]) -> dict[str, list[str]]:
    (document,) = inline_policies(graph, role(graph, "cdkcp-fn-anchor")).values()
    return {s["Sid"]: sorted(as_list(s["Action"])) for s in statements(document)}


def test_by_default_the_lake_is_declared_named_and_granted(graphs: dict) -> None:
    tools = graphs["tools"]
    assert "auditAnchorCloudTrailLake" not in json.dumps(stack_bag("tools"))  # the example relies on the default
    assert _lake(tools) == ["audit-anchors-channel", "audit-anchors-event-store"]
    variables = _anchor_variables(tools)
    assert variables["ANCHOR_CHANNEL_ARN"].startswith("arn:aws:cloudtrail:us-east-1:111111111111:channel/")
    assert "ANCHOR_CLOUDTRAIL" not in variables
    assert _anchor_grants(tools)["AnchorsToCloudTrail"] == ["cloudtrail-data:PutAuditEvents"]
    assert "auditAnchorChannelArn" in tools["exports"]


def test_switched_off_no_store_no_channel_no_variable_no_grant_no_export(graphs: dict, lake_off: dict) -> None:
    assert _lake(lake_off) == []
    variables = _anchor_variables(lake_off)
    assert "ANCHOR_CHANNEL_ARN" not in variables and variables["ANCHOR_CLOUDTRAIL"] == "off"
    assert (variables["ANCHOR_BUCKET"], variables["ANCHOR_TOPIC_ARN"]) == (
        "cdk-audit-log-anchors-111111111111-us-east-1",
        "arn:aws:sns:us-east-1:111111111111:audit-anchor-publish",
    )
    grants = _anchor_grants(lake_off)
    assert "AnchorsToCloudTrail" not in grants
    assert not any(a.startswith("cloudtrail") for actions in grants.values() for a in actions)
    assert set(grants) >= BUCKET_AND_TOPIC_SIDS
    assert {**grants, "AnchorsToCloudTrail": ["cloudtrail-data:PutAuditEvents"]} == _anchor_grants(graphs["tools"])
    assert "auditAnchorChannelArn" not in lake_off["exports"]
    assert set(graphs["tools"]["exports"]) - set(lake_off["exports"]) == {"auditAnchorChannelArn"}
    # only the Lake's two resources are gone: the bucket, the topic, the inbox and the function remain
    on = {r["name"] for r in graphs["tools"]["resources"]}
    assert on - {r["name"] for r in lake_off["resources"]} == {"audit-anchors-channel", "audit-anchors-event-store"}


@pytest.mark.parametrize("value", [False, True, "false"])
@pytest.mark.parametrize("stack", ["stage", "prod"])
def test_the_switch_is_refused_outside_the_tools_stack(stack: str, value: Any) -> None:
    with pytest.raises(ConfigError, match="auditAnchorCloudTrailLake: only the tools stack reads it") as raised:
        load_stack_config({**stack_bag(stack), KEY: value})
    assert f"remove from the {stack} stack" in str(raised.value)


@pytest.mark.parametrize("value", ["sometimes", 2, "disabled"])
def test_a_non_boolean_switch_is_refused_naming_the_key(value: Any) -> None:
    with pytest.raises(ConfigError, match=f"{KEY}: Input should be a valid boolean") as raised:
        load_stack_config({**stack_bag("tools"), KEY: value})
    assert repr(value) in str(raised.value)


@pytest.mark.parametrize(("value", "expected"), [(False, False), ("false", False), (True, True), ("true", True)])
def test_the_switch_reads_as_the_engine_passes_it(value: Any, expected: bool) -> None:
    """The engine hands config values as text (`pulumi config set ... false`); YAML hands a boolean."""
    assert load_stack_config({**stack_bag("tools"), KEY: value}).audit_anchor_cloud_trail_lake is expected
    assert load_stack_config(stack_bag("tools")).audit_anchor_cloud_trail_lake is True
