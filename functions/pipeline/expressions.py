"""DynamoDB update and condition expressions, rendered from a lifecycle transition.

One renderer, two encodings of values: plain Python values for boto3 (the functions), and DynamoDB's
typed JSON with context paths (`{"S.$": "$$.Execution.Id"}`) for the state machine's
`dynamodb:updateItem` task. Pure: no AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from .lifecycle import Absent, AbsentOrAtMost, AnyOf, Before, Clause, Environment, Is, Ref, Transition, env_path

Encode = Callable[[Any], Any]


class Expression:
    def __init__(self, encode: Encode) -> None:
        self.encode = encode
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, path: str) -> str:
        aliases = []
        for part in path.split("."):
            alias = next((a for a, n in self.names.items() if n == part), f"#n{len(self.names)}")
            self.names[alias] = part
            aliases.append(alias)
        return ".".join(aliases)

    def value(self, raw: Any) -> str:
        alias = f":v{len(self.values)}"
        self.values[alias] = self.encode(raw)
        return alias

    def clause(self, clause: Clause, environment: Environment | str) -> str:
        if isinstance(clause, AnyOf):
            return "(" + " OR ".join(self.clause(c, environment) for c in clause.clauses) + ")"
        path = self.name(env_path(clause.path, environment))
        if isinstance(clause, Before):
            return f"{path} < {self.value(clause.value)}"
        if isinstance(clause, Absent):
            return f"attribute_not_exists({path})"
        if isinstance(clause, AbsentOrAtMost):
            return f"(attribute_not_exists({path}) OR {path} <= {self.value(clause.value)})"
        if isinstance(clause, Is) and len(clause.values) == 1:
            return f"{path} = {self.value(clause.values[0])}"
        return f"{path} IN ({', '.join(self.value(v) for v in clause.values)})"


def render(
    environment: Environment | str,
    *,
    guard: Sequence[Clause],
    sets: Mapping[str, Any],
    adds: Mapping[str, Any] | None = None,
    removes: Sequence[str] = (),
    encode: Encode,
) -> dict[str, Any]:
    """`UpdateExpression`, `ConditionExpression` and their names and values; paths may hold `{env}`."""
    expression = Expression(encode)
    clauses = []
    if sets:
        assignments = (f"{expression.name(env_path(p, environment))} = {expression.value(x)}" for p, x in sets.items())
        clauses.append("SET " + ", ".join(assignments))
    if adds:
        additions = (f"{expression.name(env_path(p, environment))} {expression.value(x)}" for p, x in adds.items())
        clauses.append("ADD " + ", ".join(additions))
    if removes:
        clauses.append("REMOVE " + ", ".join(expression.name(env_path(p, environment)) for p in removes))
    condition = " AND ".join(expression.clause(c, environment) for c in guard)
    rendered: dict[str, Any] = {"UpdateExpression": " ".join(clauses), "ExpressionAttributeNames": expression.names}
    if expression.values:
        rendered["ExpressionAttributeValues"] = expression.values
    if condition:
        rendered["ConditionExpression"] = condition
    return rendered


def to_dynamo(value: Any) -> Any:
    """A plain value as boto3's resource layer takes it: floats as Decimals, enums as their strings."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {k: to_dynamo(x) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(x) for x in value]
    return value


# What the state machine knows when it takes the lease: its execution's context object.
# and the lease's terms (`$.lease`, computed by the transition function's `lease_terms` before the lease).
_CONTEXT_PATHS = {
    Ref.EXECUTION_ID: "$$.Execution.Id",
    Ref.EXECUTION_NAME: "$$.Execution.Name",
    Ref.EXECUTION_START: "$$.Execution.StartTime",
    Ref.NOW: "$$.State.EnteredTime",
    Ref.COMMIT_SHA: "$.commit_sha",
    Ref.LOCK_EXPIRES_AT: "$.lease.expires_at",
    Ref.BUILD_TIME: "$.lease.build_time",
}


def asl_value(raw: Any) -> dict[str, Any]:
    """DynamoDB's typed JSON of a constant, or a context path for what only the execution knows."""
    if isinstance(raw, Ref):
        if raw not in _CONTEXT_PATHS:
            raise ValueError(f"the state machine cannot write {raw.value!r}: only a function knows it")
        return {"S.$": _CONTEXT_PATHS[raw]}
    if isinstance(raw, bool):
        return {"BOOL": raw}
    if isinstance(raw, int | float | Decimal):
        return {"N": str(raw)}
    if isinstance(raw, str):
        return {"S": str(raw.value if isinstance(raw, Enum) else raw)}
    raise ValueError(f"no DynamoDB type for {raw!r} in a state machine task")


def asl_update(transition: Transition) -> dict[str, Any]:
    """The `Update` parameters (but the key and table) of a transition the ASL takes."""
    return render(
        transition.environment,
        guard=transition.guard,
        sets=transition.sets,
        adds=transition.adds,
        removes=transition.removes,
        encode=asl_value,
    )


def asl_condition(transition: Transition) -> dict[str, Any]:
    """A transaction's `ConditionCheck` parameters (but the key and table): the transition's guard alone."""
    rendered = render(transition.environment, guard=transition.guard, sets={}, encode=asl_value)
    del rendered["UpdateExpression"]
    return rendered
