"""Signed operator requests end to end: `artifactctl override request | submit` against the override
function, which acts only through the lifecycle table and the state machine (the program's real ASL in
moto). A manual rollback after `rollback_failed` is a run of the pipeline that restores prod; a requeue
of a parked item runs its next attempt; break-glass needs the flag, and with it runs and alerts."""

from __future__ import annotations

import boto3
import pytest

from devtools.emulator.harness import Harness
from devtools.emulator.overrides import OPERATOR, Operator
from devtools.emulator.sweeps import Sweeper
from functions.audit import store as audit_store
from functions.audit.verify import verify
from functions.naming import execution_name
from tests.e2e.test_scenarios import BAD, GOOD, _good_release_in_prod

EXIT_REFUSED = 5


@pytest.fixture
def operator(pipeline: Harness) -> Operator:
    return Operator(pipeline)


def _arn(pipeline: Harness, name: str) -> str:
    return pipeline.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def _rollback_failed(pipeline: Harness) -> None:
    _good_release_in_prod(pipeline)
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    pipeline.script.outcomes[("rollback", "prod", GOOD)] = "FAILED"
    result = pipeline.run("prod", BAD)
    assert "RecordRollbackFailed" in result["states"] and pipeline.item(BAD)["status"] == "rollback_failed"
    pipeline.events()
    pipeline.alerts()


def test_a_manual_rollback_after_rollback_failed_runs_through_the_state_machine_and_restores_prod(
    pipeline: Harness, operator: Operator
) -> None:
    _rollback_failed(pipeline)
    del pipeline.script.outcomes[("rollback", "prod", GOOD)]  # the cause is fixed: a rollback can succeed now
    deploys_before = len(pipeline.deploys("prod"))
    request = operator.request("manual_rollback", BAD, "--target-commit", GOOD, reason="INC-3: prod is down")
    code, outcome = operator.submit(request)
    assert code == 0 and outcome["applied"], outcome

    result = pipeline.wait(_arn(pipeline, execution_name("orders", BAD, "prod", 2)))
    assert result["states"][:4] == ["Initialize", "LeaseTerms", "ChooseEnvironment", "LeaseManualRollback"]
    assert "PlanRollback" in result["states"] and "RecordRollbackSucceeded" in result["states"]
    assert "DeployProd" not in result["states"] and "Validate" not in result["states"]
    item = pipeline.item(BAD)
    assert (
        item["status"] == "rollback_succeeded" and item["environment_states"]["prod"]["status"] == "rollback_succeeded"
    )
    assert item["rollback_target_commit"] == GOOD and item["global_health_status"] == "healthy"
    assert item["rollback_reason"] == "INC-3: prod is down" and item["manual_override_requested"] is True
    assert item["override_signature"] and "manual_intervention_required" not in item
    # the function deployed nothing: the one new deploy is the state machine's rollback build of GOOD
    (rollback,) = pipeline.deploys("prod")[deploys_before:]
    assert (rollback["mode"], rollback["commit"], rollback["status"]) == ("rollback", GOOD, "SUCCEEDED")
    stacks = pipeline.account_client("cloudformation", "333333333333").describe_stacks()["Stacks"]
    assert all(s["StackStatus"].endswith("_COMPLETE") for s in stacks if s["StackName"].startswith("orders-prod-"))
    types = [e["type"] for e in pipeline.events()]
    assert types[:2] == ["OverrideRequested", "OverrideApplied"] and "RollbackSucceeded" in types
    # the audit chain holds the request, the bound run's lease (by its first step) and the rollback
    entries, head = audit_store.read_chain(boto3.client("dynamodb", region_name="us-east-1"))
    assert verify(entries, head).ok
    run = _arn(pipeline, execution_name("orders", BAD, "prod", 2))
    mine = [e.action for e in entries if e.execution == run]
    assert mine[0] == "override_rollback"  # the override's record on the item names the run it started
    assert mine.index("lease") < mine.index("rollback_planned") < mine.index("rollback_succeeded"), mine
    assert any(e.action == "override:manual_rollback:applied" for e in entries)
    # the same request again is a replay: refused, and nothing runs
    code, again = operator.submit(request)
    assert code == EXIT_REFUSED and "replayed" in again["reason"]


def test_a_run_started_by_hand_cannot_use_a_manual_rollback_it_was_not_given(
    pipeline: Harness, operator: Operator
) -> None:
    """Only the execution the override recorded may take the bound lease: a hand-started run with the same
    trigger is refused by the lease's guard and changes nothing."""
    _rollback_failed(pipeline)
    before = pipeline.item(BAD)
    name = execution_name("orders", BAD, "prod", 7)
    import json

    import boto3

    arn = boto3.client("stepfunctions", region_name="us-east-1").start_execution(
        stateMachineArn=pipeline.state_machine_arn,
        name=name,
        input=json.dumps(
            {
                "service": "orders",
                "commit_sha": BAD,
                "environment": "prod",
                "trigger": {"source": "operator", "action": "manual_rollback"},
            }
        ),
    )["executionArn"]
    result = pipeline.wait(arn)
    assert "LeaseManualRollback" in result["states"] and "PlanRollback" not in result["states"]
    assert "LostRace" in result["states"]
    after = pipeline.item(BAD)
    assert after["status"] == before["status"] == "rollback_failed"
    assert after["execution_id"] == before["execution_id"]


def test_a_requeue_of_a_parked_item_runs_its_next_attempt(
    pipeline: Harness, operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweeper = Sweeper()
    pipeline.publish(GOOD)
    pipeline.script.outcomes[("deploy", "stage", GOOD)] = "FAILED"
    assert pipeline.run("stage", GOOD)["status"] == "FAILED"
    for minutes in (6, 12):
        (run,) = sweeper.started(sweeper(minutes=minutes))
        pipeline.wait(run)
    sweeper(minutes=18)
    assert pipeline.item(GOOD)["sweep_phase"] == "stage_parked"
    del pipeline.script.outcomes[("deploy", "stage", GOOD)]  # fixed

    code, outcome = operator.submit(operator.request("requeue", GOOD, "--environment", "stage"))
    assert code == 0 and outcome["applied"], outcome
    result = pipeline.wait(_arn(pipeline, execution_name("orders", GOOD, "stage", 4)))
    assert result["status"] == "SUCCEEDED" and "LeaseStage" in result["states"]
    item = pipeline.item(GOOD)
    assert item["status"] == "promoted" and item["override_action"] == "requeue"
    assert "manual_intervention_required" not in item


def test_break_glass_without_the_flag_is_refused_and_with_it_runs_and_alerts(
    pipeline: Harness, operator: Operator
) -> None:
    """A newer build is the prod known good; the older release was superseded. allow_older_build is
    break-glass: refused while the flag is off (nothing changes), applied once it is on (alert, and one
    prod run that skips the ordering check)."""
    older, newer = "d" * 40, "e" * 40
    pipeline.publish(older, build_time="2026-11-20T10:00:00Z")
    assert pipeline.run("stage", older)["status"] == "SUCCEEDED"
    pipeline.publish(newer, build_time="2026-11-21T10:00:00Z")
    assert pipeline.run("stage", newer)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", newer)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", older)["status"] == "FAILED"
    assert pipeline.item(older)["environment_states"]["prod"]["status"] == "superseded"
    pipeline.events()
    pipeline.alerts()

    before = pipeline.item(older)
    code, refused = operator.submit(operator.request("allow_older_build", older, reason="INC-5: roll forward"))
    assert code == EXIT_REFUSED and "the break-glass flag is off" in refused["reason"]
    assert pipeline.item(older) == before and pipeline.alerts() == []

    operator.break_glass("on")
    code, outcome = operator.submit(operator.request("allow_older_build", older, reason="INC-5: roll forward"))
    assert code == 0 and outcome["applied"], outcome
    result = pipeline.wait(_arn(pipeline, execution_name("orders", older, "prod", 2)))
    assert result["status"] == "SUCCEEDED" and "LeaseProdOlderBuild" in result["states"], result["states"]
    item = pipeline.item(older)
    assert item["status"] == "deployed" and item["break_glass_justification"] == "INC-5: roll forward"
    assert any(subject.startswith("BREAK-GLASS: allow_older_build on orders") for subject in pipeline.alerts())
    assert item["override_requester"] == OPERATOR


def test_break_glass_allow_drift_lets_exactly_one_prod_run_deploy_on_drift(
    pipeline: Harness, operator: Operator
) -> None:
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"
    pipeline.cloudformation.drifts["orders-prod-data"] = [
        {"LogicalResourceId": "OrdersTable", "ResourceType": "AWS::DynamoDB::Table"}
    ]
    pipeline.publish(BAD, previous=GOOD)
    assert pipeline.run("stage", BAD)["status"] == "SUCCEEDED"
    assert "RecordDriftAborted" in pipeline.run("prod", BAD)["states"]
    pipeline.alerts()
    operator.break_glass("on")

    code, outcome = operator.submit(operator.request("allow_drift", BAD, reason="INC-8: drift is the hotfix"))
    assert code == 0 and outcome["applied"], outcome
    result = pipeline.wait(_arn(pipeline, execution_name("orders", BAD, "prod", 2)))
    assert result["status"] == "SUCCEEDED", result["states"]
    assert "NoDrift" in result["states"] and "DeployProd" in result["states"]
    drift_run = [r for r in pipeline.script.runs if r["mode"] == "drift-check"][-1]
    assert (drift_run["exit_code"], drift_run["outcome"]) == ("0", "clean")  # drifted, allowed for this run
    item = pipeline.item(BAD)
    assert item["status"] == "deployed" and item["drift_allowed_for"] == execution_name("orders", BAD, "prod", 2)
    assert any(subject.startswith("BREAK-GLASS: allow_drift on orders") for subject in pipeline.alerts())
