"""Shared fixtures: the example stack files, and each stack's graph from the offline preview."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACKS = ("tools", "stage", "prod")


def stack_bag(stack: str) -> dict[str, Any]:
    from stack_config import read_stack_file

    return read_stack_file(PROJECT_DIR / f"Pulumi.{stack}.yaml")


def run_preview(stack: str, out: Path, project_dir: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    """The offline preview in its own process, exactly as `make preview-offline` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "devtools.preview_offline", "--stack", stack, "--out", str(out)],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="session")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out_dir = tmp_path_factory.mktemp("preview")
    result = {}
    for stack in STACKS:
        out = out_dir / f"{stack}.json"
        proc = run_preview(stack, out)
        assert proc.returncode == 0, f"preview of {stack} failed:\n{proc.stderr}"
        assert proc.stderr == "", f"preview of {stack} wrote to stderr:\n{proc.stderr}"
        result[stack] = json.loads(out.read_text())
    return result


@pytest.fixture
def stage_bag() -> dict[str, Any]:
    return copy.deepcopy(stack_bag("stage"))
