"""The override function's wiring (spec: the control matrix's CLI rows and break-glass): only the
operator principals may invoke it, no role of the program may change the break-glass flag, and the
function's own role is least privilege (it reads the flag and denies itself every write of it)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from components.policies.overrides import SSM_WRITES, break_glass_parameter_arn
from functions import naming
from tests.program.graph import all_policies, as_list, by_sid, inline_policies, named, of_type, role, statements

NAMES = naming.ToolsNames("cdkcp", "111111111111", "us-east-1")
OPERATOR = "arn:aws:iam::111111111111:role/oncall-operator"  # Pulumi.tools.yaml
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"


def test_the_override_function_is_declared_with_its_own_role(graphs: dict) -> None:
    (function,) = [r for r in of_type(graphs["tools"], FUNCTION) if r["inputs"]["name"] == "cdkcp-override"]
    assert function["inputs"]["handler"] == "functions.handlers.override.handler"
    assert role(graphs["tools"], NAMES.function_role("override"))


def test_only_the_operator_principals_may_invoke_it(graphs: dict) -> None:
    permissions = [p["inputs"] for p in of_type(graphs["tools"], PERMISSION) if "operator" in p["name"]]
    assert [(p["principal"], p["action"]) for p in permissions] == [(OPERATOR, "lambda:InvokeFunction")]
    # and no role of the program may invoke it (the state machine invokes only a run's functions)
    override_arn = NAMES.function_arn("override")
    for graph in graphs.values():
        for policy in all_policies(graph):
            for s in statements(policy.document):
                if s["Effect"] != "Allow" or not any(
                    fnmatchcase("lambda:InvokeFunction", a) for a in as_list(s["Action"])
                ):
                    continue
                assert not any(fnmatchcase(override_arn, r) for r in as_list(s.get("Resource", []))), policy.where()


def test_the_break_glass_flag_is_declared_off_and_left_to_the_operators(graphs: dict) -> None:
    flag = named(graphs["tools"], "deploy-pipeline-break-glass")["inputs"]
    assert flag["name"] == "/cdkcp/break-glass/enabled" and flag["insecureValue"] == "off" and flag["type"] == "String"
    arn = break_glass_parameter_arn(NAMES)
    for graph in graphs.values():
        for policy in all_policies(graph):
            if policy.kind != "identity":
                continue
            for s in statements(policy.document):
                writes = [a for a in as_list(s["Action"]) for w in SSM_WRITES if fnmatchcase(w, a)]
                reaches = any(fnmatchcase(arn, r) for r in as_list(s.get("Resource", [])))
                assert s["Effect"] == "Deny" or not (writes and reaches), f"{policy.where()} may change the flag"


def test_the_override_role_reads_the_flag_and_denies_itself_every_write(graphs: dict) -> None:
    policy: dict[str, Any] = inline_policies(graphs["tools"], role(graphs["tools"], NAMES.function_role("override")))[
        "function"
    ]
    arn = break_glass_parameter_arn(NAMES)
    assert by_sid(policy, "ReadBreakGlassFlag")["Resource"] == [arn]
    deny = by_sid(policy, "NeverChangesBreakGlassFlag")
    assert deny["Effect"] == "Deny" and set(deny["Action"]) == set(SSM_WRITES) and deny["Resource"] == [arn]
    key = by_sid(policy, "ReadOverrideSignerPublicKey")
    assert key["Condition"] == {"StringEquals": {"kms:RequestAlias": naming.OVERRIDE_SIGNER_KEY_ALIAS}}
    actions = {a for s in statements(policy) if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert not {"lambda:InvokeFunction", "sts:AssumeRole", "codebuild:StartBuild", "dynamodb:DeleteItem"} & actions
    assert by_sid(policy, "StartOverrideRuns")["Resource"] == [NAMES.state_machine_arn]
