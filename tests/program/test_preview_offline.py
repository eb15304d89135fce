"""The offline preview's contract: its JSON shape, its summary line, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import yaml

from devtools.emulator.program import copy_program
from devtools.preview_offline import _GraphMocks, _plain
from tests.conftest import PROJECT_DIR, run_preview

NS = "cdk-control-plane"


def test_graph_document_shape(graphs: dict) -> None:
    for stack, graph in graphs.items():
        assert set(graph) == {"stack", "resources", "exports"} and graph["stack"] == stack
        assert graph["exports"] == sorted(graph["exports"]) and all(isinstance(e, str) for e in graph["exports"])
        for resource in graph["resources"]:
            assert set(resource) == {"type", "name", "inputs", "provider"}
            json.dumps(resource["inputs"])  # plain JSON all the way down
            for value in resource["inputs"].values():
                assert not (isinstance(value, str) and value.startswith("<")), resource["name"]


def test_policy_inputs_are_the_json_strings_the_provider_receives(graphs: dict) -> None:
    role = next(r for r in graphs["stage"]["resources"] if r["type"] == "aws:iam/role:Role")
    assert isinstance(role["inputs"]["assumeRolePolicy"], str)
    assert json.loads(role["inputs"]["assumeRolePolicy"])["Version"] == "2012-10-17"


def test_command_reports_counts_and_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "prod.json"
    proc = run_preview("prod", out)
    assert proc.returncode == 0
    graph = json.loads(out.read_text())
    custom = [r for r in graph["resources"] if not r["type"].startswith("cdk-control-plane:")]
    assert f"prod: {len(custom)} resources ({len(graph['resources'])} with components)" in proc.stdout


def test_unknown_stack_is_refused(tmp_path: Path) -> None:
    proc = run_preview("qa", tmp_path / "qa.json")
    assert proc.returncode == 2 and "no stack file" in proc.stderr and "Pulumi.qa.yaml" in proc.stderr


def test_default_provider_use_is_recorded_when_disabled() -> None:
    mocks = _GraphMocks("us-east-1", "111111111111", default_provider_disabled=True)
    mocks.new_resource(SimpleNamespace(typ="aws:s3/bucket:Bucket", name="stray", inputs={}, provider="", custom=True))
    assert mocks.default_provider_users == ["aws:s3/bucket:Bucket stray"]


def test_secrets_are_never_written() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"}
    assert _plain({"password": secret, "list": [secret]}) == {"password": "[secret]", "list": ["[secret]"]}


def test_bad_stack_file_fails_preview_before_any_resource(tmp_path: Path) -> None:
    """Through the real entry point: exit code 2, the key in the message, no graph written."""
    copy_program(tmp_path)
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    document["config"][f"{NS}:services"][0]["prod"]["accountId"] = "33333333333"
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    out = tmp_path / "build" / "prod.json"

    proc = run_preview("prod", out, project_dir=tmp_path)

    assert proc.returncode == 2, proc.stderr
    assert f"{NS}:services[0].prod.accountId: expected a 12-digit AWS account id" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_stage_stack_must_disable_the_default_provider(tmp_path: Path) -> None:
    """The loader's rule (tests/stack_config) through the real entry point: refused before any resource."""
    copy_program(tmp_path)
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.stage.yaml").read_text())
    del document["config"]["pulumi:disable-default-providers"]
    (tmp_path / "Pulumi.stage.yaml").write_text(yaml.safe_dump(document))

    proc = run_preview("stage", tmp_path / "stage.json", project_dir=tmp_path)

    assert proc.returncode == 2
    assert "pulumi:disable-default-providers must list aws for a stage stack" in proc.stderr
    assert "Traceback" not in proc.stderr
