"""The state machine definition: structure and the invariants every state must hold."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.pipeline import definition as d
from components.pipeline.functions import FUNCTION_SPECS
from components.pipeline.shapes import CODEBUILD_BUILD_RESOURCE, LAMBDA_TIMEOUT_MARGIN_SECONDS, SDK_CALL_TIMEOUT_SECONDS
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
        function_timeouts={name: spec.timeout for name, spec in FUNCTION_SPECS.items()},
    )


def definition() -> dict[str, Any]:
    return d.build_definition(d.PipelineResources(**definition_kwargs()))


def task_states(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in document["States"].items() if s["Type"] == "Task"}


def test_every_task_has_a_catch_and_a_timeout_of_what_it_waits_for() -> None:
    """A build: the spec's 60-minute phase; a function: its own timeout and a margin; the lease's
    DynamoDB transaction: one SDK call."""
    kwargs = definition_kwargs()
    invoked = ("transition", "validate", "promote", "rollback-plan", "finalizer")
    function_of = {kwargs[f"{name.replace('-', '_')}_function"]: name for name in invoked}
    tasks = task_states(definition())
    assert len(tasks) > 20
    for name, state in tasks.items():
        resource = state["Resource"]
        if resource == CODEBUILD_BUILD_RESOURCE:
            expected = lc.PHASE_TIMEOUT_SECONDS
        elif resource in function_of:
            expected = FUNCTION_SPECS[function_of[resource]].timeout + LAMBDA_TIMEOUT_MARGIN_SECONDS
        else:
            assert "dynamodb" in resource, name
            expected = SDK_CALL_TIMEOUT_SECONDS
        assert state.get("TimeoutSeconds") == expected, name
        assert state.get("Catch"), name
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name


def test_sdk_and_lambda_tasks_retry_throttling() -> None:
    for name, state in task_states(definition()).items():
        errors = {e for retry in state.get("Retry", []) for e in retry["ErrorEquals"]}
        if state["Resource"].startswith("arn:aws:lambda:"):
            assert "Lambda.TooManyRequestsException" in errors, name
            # an AWS service our function called did not answer: tried again, never a verdict on the artifact
            assert lc.ERROR_TRANSIENT_AWS in errors, name
        if "dynamodb" in state["Resource"]:
            assert "DynamoDb.ThrottlingException" in errors, name  # an AWS SDK integration's name


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


def test_leases_are_one_transaction_with_the_lock_and_refusals_are_explained() -> None:
    states = definition()["States"]
    for name, environment in ((d.LEASE_STAGE, "stage"), (d.LEASE_PROD, "prod")):
        lease = states[name]
        assert lease["Resource"] == "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems"
        assert lease["Catch"][0] == {
            "ErrorEquals": ["DynamoDb.TransactionCanceledException"],
            "Next": d.LOST_RACE,
            "ResultPath": "$.lease_refusal",  # not $.error: a run that waits and then leases has no stale error
        }
        items = lease["Parameters"]["TransactItems"]
        keys = [(kind, item["Key"]["commit_sha"]) for entry in items for kind, item in entry.items()]
        assert keys == [
            ("Update", {"S.$": "$.commit_sha"}),
            ("Update", {"S": f"_lock#{environment}"}),
            *([("ConditionCheck", {"S": "_service"})] if environment == "prod" else []),
        ]
        assert all(item["TableName"] == "cdk-artifact-metadata" for e in items for item in e.values())
    assert states[d.LEASE_TERMS]["Next"] == d.CHOOSE_LEASE and states[d.INITIALIZE]["Next"] == d.LEASE_TERMS
    assert states[d.LEASE_TERMS]["ResultPath"] == "$.lease"


def test_a_busy_lock_is_waited_for_within_a_budget_then_the_run_ends_retryable() -> None:
    states = definition()["States"]
    assert states[d.LOST_RACE]["Next"] == d.CHOOSE_LOCK_BUSY
    busy = states[d.CHOOSE_LOCK_BUSY]
    assert busy["Choices"][0]["Next"] == d.COUNT_LOCK_WAIT and busy["Default"] == d.FINALIZE
    assert {"Variable": "$.outcome.outcome", "StringEquals": lc.LOCK_BUSY} in busy["Choices"][0]["And"]
    assert states[d.COUNT_LOCK_WAIT]["Parameters"] == {"count.$": "States.MathAdd($.lock_wait.count, 1)"}
    assert states[d.INITIALIZE]["Parameters"]["lock_wait"] == {"count": 0}
    budget = states[d.CHOOSE_LOCK_WAIT]
    assert budget["Choices"] == [
        {"Variable": "$.lock_wait.count", "NumericLessThanEquals": lc.LOCK_WAIT_ATTEMPTS, "Next": d.WAIT_FOR_LOCK}
    ]
    assert budget["Default"] == d.RECORD_LOCK_WAIT_TIMED_OUT
    assert states[d.WAIT_FOR_LOCK] == {"Type": "Wait", "Seconds": lc.LOCK_WAIT_SECONDS, "Next": d.CHOOSE_LEASE}
    assert states[d.RECORD_LOCK_WAIT_TIMED_OUT]["Parameters"]["action"] == "lock_wait_timed_out"
    # waiting is short against a run: the watchdog (65 minutes in flight) never stops a waiting run
    assert lc.LOCK_WAIT_SECONDS * lc.LOCK_WAIT_ATTEMPTS <= 10 * 60


def test_no_execution_outlives_the_lock_it_took() -> None:
    # the machine's timeout is its longest run (tests/components/pipeline/test_budget.py)
    assert lc.WATCHDOG_SECONDS < definition()["TimeoutSeconds"] <= lc.LOCK_EXPIRY_SECONDS


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
            "status = 'candidate' AND environment_states.stage.status IN ('pending', 'failed', 'deployed')"
            " AND (environment_states.stage.status IN ('pending', 'failed')"
            " OR environment_states.stage.test_status = 'not_tested')"
            " AND attribute_not_exists(eligibility_revoked)",
        ),
        (
            d.LEASE_PROD,
            "status = 'promoted' AND environment_states.prod.status IN ('pending', 'deployed')"
            " AND (environment_states.prod.status = 'pending' OR environment_states.prod.test_status = 'not_tested')"
            " AND attribute_not_exists(eligibility_revoked)",
        ),
    ],
)
def test_the_lease_is_the_lifecycle_tables_guard(state: str, condition: str) -> None:
    items = definition()["States"][state]["Parameters"]["TransactItems"]
    parameters = items[0]["Update"]
    assert readable(parameters, "ConditionExpression") == condition
    update = readable(parameters, "UpdateExpression")
    environment = "stage" if state == d.LEASE_STAGE else "prod"
    assert f"environment_states.{environment}.status = 'deploying'" in update
    assert "execution_id = '$$.Execution.Id'" in update and update.endswith(
        "sweep_phase = 'running', sweep_since = '$$.Execution.StartTime'"
        f" ADD {environment}_leased_attempts '1' REMOVE manual_intervention_required"
    )
    assert parameters["ExpressionAttributeValues"][
        re.search(r"ADD #n\d+ (:v\d+)", parameters["UpdateExpression"])[1]
    ] == {"N": "1"}
    lock = items[1]["Update"]
    assert readable(lock, "ConditionExpression") == (
        "(attribute_not_exists(holder_execution_id) OR holder_execution_id = '$$.Execution.Id'"
        " OR expires_at < '$$.State.EnteredTime')"
    )
    assert "expires_at = '$.lease.expires_at'" in readable(lock, "UpdateExpression")
    if environment == "prod":
        assert readable(items[2]["ConditionCheck"], "ConditionExpression") == (
            "(attribute_not_exists(last_known_good_build_time) OR last_known_good_build_time <= '$.lease.build_time')"
        )


def test_functions_get_plain_documents() -> None:
    """Every function is invoked by its ARN: its input is `Parameters`, its result is what it returns."""
    document = definition()
    for name, state in task_states(document).items():
        if state["Resource"].startswith("arn:aws:lambda:"):
            assert "ResultSelector" not in state and "Payload" not in state["Parameters"], name
    rules = [c for s in document["States"].values() for c in s.get("Choices", [])]
    choices = [r["Variable"] for c in rules for r in c.get("And", [c])]
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


def test_validate_refuses_only_an_invalid_artifact_and_any_other_failure_deploys_nothing_retryably() -> None:
    states = definition()["States"]
    catches = [(c["ErrorEquals"], c["Next"], c["ResultPath"]) for c in states[d.VALIDATE]["Catch"]]
    # KMS, S3 or the catalog not answering, or a timeout, is not the artifact's fault: not started (in
    # prod `pending` again, never the `failed` no prod lease takes); the timeout is told apart by the row.
    assert catches == [
        ([lc.ERROR_INVALID_ARTIFACT], d.RECORD_INVALID, "$.error"),
        (["States.ALL"], d.RECORD_NOT_STARTED, "$.error"),
    ]
    assert states[d.RECORD_NOT_STARTED]["Parameters"]["action"] == lc.Action.NOT_STARTED.value
    assert states[d.RECORD_NOT_STARTED]["Next"] == d.FINALIZE


def test_the_deploy_outcome_routes_a_deploy_not_started_away_from_the_rollback() -> None:
    states = definition()["States"]
    choice = states[d.CHOOSE_DEPLOY_OUTCOME]

    def path(state: str) -> list[str]:
        seen = [state]
        while states[seen[-1]]["Type"] == "Pass":
            seen.append(states[seen[-1]]["Next"])
        return seen

    routes = {rule.get("StringEquals", "absent"): path(rule["Next"]) for rule in choice["Choices"]}
    assert routes == {
        "absent": [d.DEPLOY_DONE, d.RECORD_DEPLOYED],
        "asset_mismatch": [d.ASSET_MISMATCH_FOUND, d.ASSET_MISMATCH_REASON, d.RECORD_ASSET_MISMATCH],
        "not_started": [d.NOT_STARTED_FOUND, d.NOT_STARTED_REASON, d.RECORD_NOT_STARTED],
    }
    reason = states[d.NOT_STARTED_REASON]
    assert reason["ResultPath"] == "$.error" and reason["Result"]["Error"] == "DeployNotStarted"
    # the Build is replaced by its id and status (the transition reads the deploy build's id, and its phase)
    assert states[d.NOT_STARTED_FOUND]["ResultPath"] == "$.deploy"
    for env in ("Stage", "Prod"):
        assert states[f"{d.DEPLOY}{env}"]["Next"] == d.CHOOSE_DEPLOY_OUTCOME
