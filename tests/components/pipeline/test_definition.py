"""The state machine definition: structure and the invariants every state must hold."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.pipeline import definition as d
from functions.pipeline import lifecycle as lc


def definition_kwargs() -> dict[str, Any]:
    def function(name: str) -> str:
        return f"arn:aws:lambda:us-east-1:111111111111:function:cdkcp-{name}"

    return dict(
        table_name="cdk-artifact-metadata",
        transition_function=function("transition"),
        validate_function=function("validate"),
        promote_function=function("promote"),
        rollback_plan_function=function("rollback-plan"),
        finalizer_function=function("finalizer"),
        deploy_projects={"stage": "cdkcp-deployer-stage", "prod": "cdkcp-deployer-prod"},
        test_projects={"stage": "cdkcp-tests-stage", "prod": "cdkcp-smoke-prod"},
    )


def definition() -> dict[str, Any]:
    return d.build_definition(d.PipelineResources(**definition_kwargs()))


def task_states(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in document["States"].items() if s["Type"] == "Task"}


def test_every_task_has_a_catch_and_the_phase_timeout() -> None:
    tasks = task_states(definition())
    assert len(tasks) > 20
    for name, state in tasks.items():
        assert state.get("TimeoutSeconds") == lc.PHASE_TIMEOUT_SECONDS == 3600, name
        assert state.get("Catch"), name
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name


def test_sdk_and_lambda_tasks_retry_throttling() -> None:
    for name, state in task_states(definition()).items():
        errors = {e for retry in state.get("Retry", []) for e in retry["ErrorEquals"]}
        if state["Resource"].startswith("arn:aws:lambda:"):
            assert "Lambda.TooManyRequestsException" in errors, name
        if "dynamodb" in state["Resource"]:
            assert "DynamoDB.ThrottlingException" in errors, name


def test_every_transition_target_exists_and_every_state_is_reachable() -> None:
    document = definition()
    states = document["States"]
    targets = {document["StartAt"]}
    for state in states.values():
        targets |= {state[k] for k in ("Next", "Default") if k in state}
        targets |= {c["Next"] for c in state.get("Catch", []) + state.get("Choices", [])}
    assert targets <= set(states), targets - set(states)
    assert set(states) - targets == set(), set(states) - targets


def test_every_path_ends_in_the_finalizer() -> None:
    states = definition()["States"]
    terminal = {name for name, s in states.items() if s["Type"] in ("Succeed", "Fail") or s.get("End")}
    assert terminal == {d.COMPLETED, d.PIPELINE_FAILED}
    finalizer_successors = {states[d.FINALIZE]["Next"]} | {c["Next"] for c in states[d.FINALIZE]["Catch"]}
    assert finalizer_successors == {d.CHOOSE_END, d.PIPELINE_FAILED}
    # Nothing but the finalizer (and its choice) leads to a terminal state.
    for name, state in states.items():
        following = {state.get("Next"), state.get("Default")} | {
            c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])
        }
        if following & terminal:
            assert name in (d.FINALIZE, d.CHOOSE_END), name


def test_codebuild_phases_run_synchronously() -> None:
    builds = [s for s in task_states(definition()).values() if "codebuild" in s["Resource"]]
    assert len(builds) == 6  # drift gate, deploy x2, test x2, rollback deploy
    assert all(s["Resource"] == "arn:aws:states:::codebuild:startBuild.sync" for s in builds)


def test_leases_are_conditional_writes_that_lose_races_gracefully() -> None:
    states = definition()["States"]
    for name in (d.LEASE_STAGE, d.LEASE_PROD):
        lease = states[name]
        assert lease["Resource"] == "arn:aws:states:::dynamodb:updateItem"
        assert lease["Catch"][0] == {"ErrorEquals": [lc.ERROR_LOST_RACE], "Next": d.LOST_RACE, "ResultPath": "$.error"}


def readable(parameters: dict[str, Any], expression: str) -> str:
    """An expression with its name and value placeholders filled in."""
    names, values = parameters["ExpressionAttributeNames"], parameters["ExpressionAttributeValues"]
    text = re.sub(r"#n\d+", lambda m: names[m.group()], parameters[expression])
    return re.sub(r":v\d+", lambda m: repr(next(iter(values[m.group()].values()))), text)


@pytest.mark.parametrize(
    ("state", "condition"),
    [
        (
            d.LEASE_STAGE,
            "status = 'candidate' AND environment_states.stage.status IN ('pending', 'failed')"
            " AND attribute_not_exists(eligibility_revoked)",
        ),
        (
            d.LEASE_PROD,
            "status = 'promoted' AND environment_states.prod.status = 'pending'"
            " AND attribute_not_exists(eligibility_revoked)",
        ),
    ],
)
def test_the_lease_is_the_lifecycle_tables_guard(state: str, condition: str) -> None:
    parameters = definition()["States"][state]["Parameters"]
    assert readable(parameters, "ConditionExpression") == condition
    update = readable(parameters, "UpdateExpression")
    environment = "stage" if state == d.LEASE_STAGE else "prod"
    assert f"environment_states.{environment}.status = 'deploying'" in update
    assert "execution_id = '$$.Execution.Id'" in update and update.endswith("REMOVE sweep_phase")


def test_functions_get_plain_documents() -> None:
    """Every function is invoked by its ARN: its input is `Parameters`, its result is what it returns."""
    document = definition()
    for name, state in task_states(document).items():
        if state["Resource"].startswith("arn:aws:lambda:"):
            assert "ResultSelector" not in state and "Payload" not in state["Parameters"], name
    choices = [c["Variable"] for s in document["States"].values() for c in s.get("Choices", [])]
    assert not [c for c in choices if ".value." in c]


@pytest.mark.parametrize("attempts", [1, 2, 5])
def test_rollback_attempts_come_from_config(attempts: int) -> None:
    resources = d.PipelineResources(**{**definition_kwargs(), "max_rollback_attempts": attempts})
    plan = d.build_definition(resources)["States"][d.PLAN_ROLLBACK]
    assert plan["Parameters"]["max_attempts"] == attempts


def test_the_drift_gate_records_drift_only_when_the_build_says_so() -> None:
    states = definition()["States"]
    gate = states[d.DRIFT_GATE]
    # Any failed build (a refused deploy role, an AWS error, a timeout) is a retryable drift-check failure.
    assert [(c["ErrorEquals"], c["Next"]) for c in gate["Catch"]] == [(["States.ALL"], d.RECORD_DRIFT_CHECK_FAILED)]
    assert gate["Next"] == d.CHOOSE_DRIFT_OUTCOME and "ResultSelector" not in gate
    choice = states[d.CHOOSE_DRIFT_OUTCOME]

    def leads_to(state: str) -> tuple[str, Any]:
        """Through the Pass that replaces the Build with the answer alone."""
        answer = states[state]
        assert answer["Type"] == "Pass" and answer["ResultPath"] == "$.drift_check", state
        return answer["Next"], answer["Result"]["outcome"]

    routes = [(rule.get("IsPresent", rule.get("StringEquals")), leads_to(rule["Next"])) for rule in choice["Choices"]]
    assert routes == [
        (False, (d.RECORD_DRIFT_CHECK_FAILED, "unanswered")),  # first: an absent path is an uncatchable error
        ("drift_detected", (d.RECORD_DRIFT, "drift_detected")),
        ("clean", ("DeployProd", "clean")),
    ]
    assert {rule["Variable"] for rule in choice["Choices"]} == {
        "$.drift_check.Build.ExportedEnvironmentVariables[0].Value"
    }
    assert leads_to(choice["Default"]) == (d.RECORD_DRIFT_CHECK_FAILED, "unanswered")
    assert states[d.RECORD_DRIFT_CHECK_FAILED]["Parameters"]["action"] == "drift_check_failed"
