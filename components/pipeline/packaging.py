"""What the pipeline ships: the functions' code and layer, and the CodeBuild projects' bundle, each
from an explicit file list (no tests or caches) so the archive hash is stable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pulumi

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
LAYER_ARCHIVE = PROJECT_DIR / "build" / "lambda" / "layer.zip"
OFFLINE_PREVIEW = "CDKCP_OFFLINE_PREVIEW"  # set by devtools.preview_offline: no layer build needed
BUILDSPECS = PROJECT_DIR / "buildspecs"

# Python packages shipped to Lambda and to the CodeBuild bundle: explicit, no tests or caches.
CODE_PACKAGES = ("functions", "functions/artifacts", "functions/pipeline", "functions/handlers", "functions/deployer")


def code_files(packages: tuple[str, ...] = CODE_PACKAGES) -> dict[str, pulumi.Asset]:
    """The archive's explicit content: the `.py` files of these packages, sorted, nothing else."""
    files: dict[str, pulumi.Asset] = {}
    for package in packages:
        for path in sorted((PROJECT_DIR / package).glob("*.py")):
            files[path.relative_to(PROJECT_DIR).as_posix()] = pulumi.FileAsset(str(path))
    return files


def bundle_files() -> dict[str, pulumi.Asset]:
    """The CodeBuild bundle: the functions' code, `artifactctl` and the buildspecs."""
    files = code_files(CODE_PACKAGES + ("artifactctl",))
    for path in sorted(BUILDSPECS.iterdir()):
        if path.is_file():
            files[path.relative_to(PROJECT_DIR).as_posix()] = pulumi.FileAsset(str(path))
    return files


def layer_archive() -> pulumi.Archive:
    if not LAYER_ARCHIVE.is_file() and not os.environ.get(OFFLINE_PREVIEW):
        raise pulumi.RunError(f"{LAYER_ARCHIVE} is missing: run `make lambda-layer` before `pulumi up`")
    return pulumi.FileArchive(str(LAYER_ARCHIVE))


def buildspec(name: str) -> str:
    return (BUILDSPECS / name).read_text()


def stack_policy(relative_path: str) -> dict[str, Any]:
    """A CloudFormation stack policy file of this repository (the config loader checked it)."""
    return json.loads((PROJECT_DIR / relative_path).read_text())
