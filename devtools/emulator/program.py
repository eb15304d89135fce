"""The runtime's shape as the Pulumi program declares it: the offline preview of the tools stack, run
with moto's default account as the tools account. Everything the emulator creates comes from here."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOOLS = "123456789012"  # moto's default account stands for the tools account (see conftest)
REGION = "us-east-1"
PREFIX = "cdkcp"
ACCOUNTS = {"orders": {"stage": "222222222222", "prod": "333333333333"}}
PROJECT_DIR = Path(__file__).resolve().parents[2]


PROGRAM_FOLDERS = ("components", "stack_config", "devtools", "functions", "stack-policies", "buildspecs", "artifactctl")


def copy_program(target: Path) -> None:
    """The Pulumi program without its stack files, so it can run on stack files of a caller's own."""
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(PROJECT_DIR / name, target / name)
    for folder in PROGRAM_FOLDERS:
        shutil.copytree(PROJECT_DIR / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))


@dataclass(frozen=True)
class ProgramGraph:
    """The runtime's shape as the Pulumi program declares it (from the offline preview)."""

    functions: dict[str, dict[str, Any]]  # name -> {"handler", "environment"}
    projects: dict[str, dict[str, str]]  # CodeBuild project name -> its environment variables
    state_machine_name: str
    definition: dict[str, Any]
    # role name -> its inline policy documents (tools roles: CI, the pipeline's functions, ...)
    role_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (bucket, key) -> content of each object the program writes with inline content (the service catalog)
    objects: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_preview(cls, graph: dict[str, Any]) -> ProgramGraph:
        functions = {
            r["inputs"]["name"]: {
                "handler": r["inputs"]["handler"],
                "environment": r["inputs"]["environment"]["variables"],
            }
            for r in graph["resources"]
            if r["type"] == "aws:lambda/function:Function"
        }
        projects = {
            r["inputs"]["name"]: {e["name"]: e["value"] for e in r["inputs"]["environment"]["environmentVariables"]}
            for r in graph["resources"]
            if r["type"] == "aws:codebuild/project:Project"
        }
        (machine,) = [r for r in graph["resources"] if r["type"] == "aws:sfn/stateMachine:StateMachine"]
        role_policies: dict[str, list[dict[str, Any]]] = {}
        for r in graph["resources"]:
            if r["type"] == "aws:iam/rolePolicy:RolePolicy":
                role_policies.setdefault(r["inputs"]["role"], []).append(json.loads(r["inputs"]["policy"]))
        objects = {
            (r["inputs"]["bucket"], r["inputs"]["key"]): r["inputs"]["content"]
            for r in graph["resources"]
            if r["type"] == "aws:s3/bucketObjectv2:BucketObjectv2" and "content" in r["inputs"]
        }
        name, definition = machine["inputs"]["name"], json.loads(machine["inputs"]["definition"])
        return cls(functions, projects, name, definition, role_policies, objects)

    @classmethod
    def of_program(cls, workdir: Path) -> ProgramGraph:
        """Run the program (offline preview of the tools stack) configured with moto's default account
        as the tools account: Step Functions tasks run in the emulator's default account, and only then
        do assumed roles reach the stage and prod accounts as separate backends."""
        import subprocess
        import sys

        import yaml

        project = workdir / "program"
        project.mkdir(parents=True)
        copy_program(project)
        document = yaml.safe_load((PROJECT_DIR / "Pulumi.tools.yaml").read_text())
        document["config"]["cdk-control-plane:toolsAccountId"] = TOOLS
        document["config"]["aws:allowedAccountIds"] = [TOOLS]
        (project / "Pulumi.tools.yaml").write_text(yaml.safe_dump(document))
        out = workdir / "tools.json"
        completed = subprocess.run(
            [sys.executable, "-m", "devtools.preview_offline", "--stack", "tools", "--out", str(out)],
            cwd=project,
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"the program's offline preview failed:\n{completed.stderr}")
        return cls.from_preview(json.loads(out.read_text()))

    @property
    def environment(self) -> dict[str, str]:
        """The functions' environment: the same variables for all, plus Validate's key pin."""
        merged: dict[str, str] = {}
        for function in self.functions.values():
            merged.update(function["environment"])
        return merged

    @property
    def catalog_bytes(self) -> bytes:
        """The service catalog as the program writes it, where the functions' environment says it is."""
        from functions.pipeline.catalog import split_location

        return self.objects[split_location(self.environment["SERVICE_CATALOG_URI"])].encode()
