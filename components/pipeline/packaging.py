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

# The code shipped to Lambda ("functions" and every package below it) and to the CodeBuild bundle
# (that and "artifactctl"): each package's `.py` files, no tests or caches.
CODE_ROOTS = ("functions",)
BUNDLE_ROOTS = ("functions", "artifactctl")


def packages(roots: tuple[str, ...]) -> list[Path]:
    """Every package under `roots` (a folder with an `__init__.py`), so a new subpackage ships too."""
    return sorted({init.parent for root in roots for init in (PROJECT_DIR / root).rglob("__init__.py")})


def code_files(roots: tuple[str, ...] = CODE_ROOTS) -> dict[str, pulumi.Asset]:
    """The archive's explicit content: the `.py` files of these packages, sorted, nothing else."""
    files: dict[str, pulumi.Asset] = {}
    for package in packages(roots):
        for path in sorted(package.glob("*.py")):
            files[path.relative_to(PROJECT_DIR).as_posix()] = pulumi.FileAsset(str(path))
    return files


def bundle_files() -> dict[str, pulumi.Asset]:
    """The CodeBuild bundle: the functions' code, `artifactctl` and the buildspecs."""
    files = code_files(BUNDLE_ROOTS)
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
