"""The size limits the team keeps product code to: a function a reader takes in at once (80 lines), a
module a newcomer reads in one sitting (450 lines)."""

from __future__ import annotations

import ast

from tests.conftest import PROJECT_DIR

PRODUCT = ("functions", "components", "artifactctl", "stack_config", "devtools", "__main__.py")
MAX_FUNCTION_LINES, MAX_MODULE_LINES = 80, 450


def _modules() -> list:
    found = []
    for root in PRODUCT:
        path = PROJECT_DIR / root
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return found


def _problems(module) -> list[str]:
    source = module.read_text(encoding="utf-8")
    name = str(module.relative_to(PROJECT_DIR))
    problems = [f"{name}: {len(source.splitlines())} lines"] if len(source.splitlines()) > MAX_MODULE_LINES else []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{name}: {node.name} is {length} lines")
    return problems


def test_modules_and_functions_stay_readable() -> None:
    modules = _modules()
    assert len(modules) > 50
    assert [p for module in modules for p in _problems(module)] == []
