"""What the pipeline ships is enough to run: every handler the program declares imports from the Lambda
archive alone, and the build entry points from the CodeBuild bundle alone (never from this checkout)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from components.pipeline.packaging import bundle_files, code_files
from functions import naming
from tests.conftest import PROJECT_DIR

IMPORT_FROM_ARCHIVE_ONLY = """
import importlib, json, os, sys
archive, modules = sys.argv[1], json.loads(sys.argv[2])
project = os.path.realpath({project!r})
sys.path = [archive] + [p for p in sys.path if p and os.path.realpath(p) != project]
for name in modules:
    module = importlib.import_module(name)
    assert module.__file__.startswith(archive), (name, module.__file__)
print("imported", len(modules))
"""


def _unpack(files: dict, target: Path) -> Path:
    for relative, asset in files.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(asset.path, target / relative)
    return target


def _import(archive: Path, modules: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORT_FROM_ARCHIVE_ONLY.format(project=str(PROJECT_DIR)),
            str(archive),
            json.dumps(modules),
        ],
        cwd=archive,
        env={"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_declared_handler_imports_from_the_lambda_archive(graphs: dict, tmp_path: Path) -> None:
    functions = [r["inputs"] for r in graphs["tools"]["resources"] if r["type"] == "aws:lambda/function:Function"]
    assert len(functions) == len(naming.FUNCTIONS)  # transition, validate, ..., sweeper, anchor, override
    archive = _unpack(code_files(), tmp_path / "lambda")
    for function in functions:
        module = function["handler"].rsplit(".", 1)[0]
        completed = _import(archive, [module], function["environment"]["variables"])
        assert completed.returncode == 0, f"{function['name']}: {completed.stderr[-2000:]}"


def test_the_build_entry_points_import_from_the_bundle(tmp_path: Path) -> None:
    bundle = _unpack(bundle_files(), tmp_path / "bundle")
    assert (bundle / "buildspecs" / "deploy.yml").is_file()
    modules = ["functions.deployer.codebuild", "functions.deployer.test_runner", "artifactctl.cli"]
    completed = _import(bundle, modules, {})
    assert completed.returncode == 0, completed.stderr[-2000:]
