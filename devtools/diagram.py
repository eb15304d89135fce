"""The README's generated parts: a Mermaid flowchart of the state machine from its ASL, and the
resource counts of each stack.

    python -m devtools.diagram [--previews build/preview] [--readme README.md]

Reads what the program declares (the offline previews of the three stacks) and rewrites the blocks
between the README's `pipeline-diagram` and `preview-counts` markers; a test fails when they are stale.
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
COUNTS_START, COUNTS_END = "<!-- preview-counts:start -->", "<!-- preview-counts:end -->"
STACKS = ("tools", "stage", "prod")


def _choice_label(rule: dict[str, Any]) -> str:
    if "And" in rule:  # presence checks guard the comparison that says what the rule means
        return " and ".join(_choice_label(r) for r in rule["And"] if "IsPresent" not in r)
    variable = rule.get("Variable", "").removeprefix("$.").removesuffix(".possible")
    if rule.get("IsPresent") is False:
        return f"no {variable.split('.')[-1]}"
    operators = {"StringEquals": "=", "BooleanEquals": "=", "NumericLessThan": "<", "NumericLessThanEquals": "<="}
    for operator, sign in operators.items():
        if operator in rule:
            value = rule[operator]
            return f"{variable.split('.')[-1]} {sign} {str(value).lower() if isinstance(value, bool) else value}"
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
            errors = ", ".join(e.split(".", 1)[-1] for e in catch["ErrorEquals"])  # States., DynamoDb., ...
            lines.append(f"    {name} -.->|{errors}| {catch['Next']}")
    return "\n".join(lines) + "\n"


def definition_from_graph(graph: dict[str, Any]) -> dict[str, Any]:
    (machine,) = [r for r in graph["resources"] if r["type"] == "aws:sfn/stateMachine:StateMachine"]
    return json.loads(machine["inputs"]["definition"])


def counts(graphs: dict[str, dict[str, Any]]) -> str:
    """How many resources each stack declares (providers included, components not)."""
    declared = {
        stack: sum(1 for r in graphs[stack]["resources"] if not r["type"].startswith("cdk-control-plane:"))
        for stack in STACKS
    }
    return (
        f"With the example configuration the preview declares {declared['tools']} resources in tools, "
        f"{declared['stage']} in stage and {declared['prod']} in prod (providers included, components not)."
    )


def _replace(readme: str, start: str, end: str, block: str) -> str:
    if start not in readme:
        raise ValueError(f"README has no {start} marker")
    return re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: f"{start}\n{block}{end}", readme, flags=re.S)


def render_readme(readme: str, graphs: dict[str, dict[str, Any]]) -> str:
    diagram = mermaid(definition_from_graph(graphs["tools"]))
    readme = _replace(readme, START, END, f"```mermaid\n{diagram}```\n")
    return _replace(readme, COUNTS_START, COUNTS_END, counts(graphs) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--previews", type=Path, default=PROJECT_DIR / "build" / "preview")
    parser.add_argument("--readme", type=Path, default=PROJECT_DIR / "README.md")
    args = parser.parse_args(argv)
    graphs = {stack: json.loads((args.previews / f"{stack}.json").read_text()) for stack in STACKS}
    args.readme.write_text(render_readme(args.readme.read_text(), graphs))
    print(f"wrote the pipeline diagram and the resource counts into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
