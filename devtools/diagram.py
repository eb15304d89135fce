"""A Mermaid flowchart of the state machine, generated from its ASL.

    python -m devtools.diagram [--graph build/preview/tools.json] [--readme README.md]

Reads the definition the program declares (the offline preview of the tools stack) and rewrites the
block between the README's `pipeline-diagram` markers; a test fails when the README is stale.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
START, END = "<!-- pipeline-diagram:start -->", "<!-- pipeline-diagram:end -->"


def _choice_label(rule: dict[str, Any]) -> str:
    variable = rule.get("Variable", "").removeprefix("$.").removesuffix(".possible")
    for operator in ("StringEquals", "BooleanEquals", "NumericLessThan"):
        if operator in rule:
            value = rule[operator]
            return f"{variable.split('.')[-1]} = {str(value).lower() if isinstance(value, bool) else value}"
    return "condition"


def _node(name: str, state: dict[str, Any]) -> str:
    kind = state["Type"]
    if kind == "Choice":
        return f"    {name}{{{name}}}"
    if kind in ("Succeed", "Fail"):
        return f"    {name}((({name})))" if kind == "Succeed" else f"    {name}[/{name}/]"
    if kind == "Wait":
        return f"    {name}([{name}])"
    return f"    {name}[{name}]"


def mermaid(definition: dict[str, Any]) -> str:
    states = definition["States"]
    lines = ["flowchart TD"]
    lines += [_node(name, state) for name, state in states.items()]
    for name, state in states.items():
        if "Next" in state:
            lines.append(f"    {name} --> {state['Next']}")
        for rule in state.get("Choices", []):
            lines.append(f"    {name} -->|{_choice_label(rule)}| {rule['Next']}")
        if "Default" in state:
            lines.append(f"    {name} -->|otherwise| {state['Default']}")
        for catch in state.get("Catch", []):
            errors = ", ".join(e.removeprefix("States.").removeprefix("DynamoDB.") for e in catch["ErrorEquals"])
            lines.append(f"    {name} -.->|{errors}| {catch['Next']}")
    return "\n".join(lines) + "\n"


def definition_from_graph(graph: dict[str, Any]) -> dict[str, Any]:
    (machine,) = [r for r in graph["resources"] if r["type"] == "aws:sfn/stateMachine:StateMachine"]
    return json.loads(machine["inputs"]["definition"])


def render_readme(readme: str, diagram: str) -> str:
    block = f"{START}\n```mermaid\n{diagram}```\n{END}"
    if START not in readme:
        raise ValueError(f"README has no {START} marker")
    return re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, readme, flags=re.S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", type=Path, default=PROJECT_DIR / "build" / "preview" / "tools.json")
    parser.add_argument("--readme", type=Path, default=PROJECT_DIR / "README.md")
    args = parser.parse_args(argv)
    diagram = mermaid(definition_from_graph(json.loads(args.graph.read_text())))
    args.readme.write_text(render_readme(args.readme.read_text(), diagram))
    print(f"wrote the pipeline diagram ({diagram.count(chr(10))} lines) into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
