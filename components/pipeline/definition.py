"""The `DeployArtifactPipeline` state machine (Amazon States Language) as plain data.

`build_definition` is pure: no Pulumi, no AWS. The component hands it Pulumi Outputs for the ARNs and
serializes it with `Output.json_dumps`; tests hand it strings, render it, and execute it in moto.

    LeaseTerms -> Lease{Stage,Prod} (one transaction: the artifact's lease, the environment's lock, in prod
      not older than the known good; cancelled -> LostRace: lock busy -> WaitForLock and lease again, up to
      the budget, then RecordLockWaitTimedOut) -> Validate -> [prod: DriftGate -> DriftCheckOutcome: clean, or
      RecordDriftAborted, or RecordDriftCheckFailed (prod pending again)] -> Deploy -> DeployOutcome:
      RecordDeployed, or RecordAssetMismatch (an asset was not the signed content; nothing deployed), or
      RecordNotStarted (stopped before any change set, not the artifact's fault; so does Validate failing
      other than InvalidArtifact: nothing deployed, retryable, prod pending again)
      -> Test -> stage: Promote            | prod: RecordProdSucceeded
         on failure  stage: RecordTestFailed | prod: RecordSmokeFailed -> PlanRollback -> RollbackWait
                                              -> RollbackDeploy -> RecordRollbackSucceeded, or
                                              RecordRollbackAttemptFailed (a failed build, or its
                                              asset_mismatch) -> (retry | RecordRollbackFailed)
    every path -> Finalize -> Completed | PipelineFailed

Every Task has `TimeoutSeconds` (a build: the spec's 60-minute phase; a function: its own timeout and a
margin; the lease: one SDK call), a `Catch`, and a `Retry` for throttling; the machine's own timeout is
its longest legitimate run (`budget.py`). State names are constants: tests, the diagram and the harness
use them.
"""

from __future__ import annotations

from typing import Any

from components.pipeline import budget, lease, override_leases
from components.pipeline.resources import PipelineResources
from components.pipeline.shapes import (
    SDK_CALL_TIMEOUT_SECONDS,
    build_task,
    by_environment,
    catch_to,
    is_true,
    lambda_task,
    retry_on,
    whole_build,
)
from functions.deployer.errors import ASSET_MISMATCH, DRIFT_CLEAN, DRIFT_FOUND, NOT_STARTED
from functions.deployer.request import Mode
from functions.pipeline import lifecycle as lc

STAGE, PROD = lc.Environment.STAGE, lc.Environment.PROD

# --- state names -------------------------------------------------------------------------------------

INITIALIZE = "Initialize"
LEASE_TERMS = "LeaseTerms"
CHOOSE_LEASE = "ChooseEnvironment"
LEASE_STAGE = "LeaseStage"
LEASE_PROD = "LeaseProd"
LOST_RACE = "LostRace"
CHOOSE_LOCK_BUSY, COUNT_LOCK_WAIT, CHOOSE_LOCK_WAIT, WAIT_FOR_LOCK = lease.LOCK_WAIT_STATES
RECORD_LOCK_WAIT_TIMED_OUT = "RecordLockWaitTimedOut"
VALIDATE = "Validate"
CHOOSE_DRIFT_GATE = "ChooseDriftGate"
DRIFT_GATE = "DriftGate"
CHOOSE_DRIFT_OUTCOME = "DriftCheckOutcome"
DRIFT_CLEAN_STATE = "NoDrift"
DRIFT_FOUND_STATE = "DriftFound"
DRIFT_UNANSWERED = "DriftCheckUnanswered"
DEPLOY = "Deploy"
CHOOSE_DEPLOY_OUTCOME = "DeployOutcome"
DEPLOY_DONE = "DeployDone"
ASSET_MISMATCH_FOUND = "AssetMismatchFound"
ASSET_MISMATCH_REASON = "AssetMismatchReason"
RECORD_ASSET_MISMATCH = "RecordAssetMismatch"
NOT_STARTED_FOUND = "DeployNotStarted"
NOT_STARTED_REASON = "DeployNotStartedReason"
RECORD_NOT_STARTED = "RecordNotStarted"
RECORD_DEPLOYED = "RecordDeployed"
TEST = "Test"
CHOOSE_TEST = "TestChoice"
CHOOSE_AFTER_TEST = "ChooseAfterTest"
CHOOSE_TEST_FAILURE = "ChooseTestFailure"
PROMOTE = "Promote"
RECORD_PROD_SUCCEEDED = "RecordProdSucceeded"
RECORD_TEST_FAILED = "RecordTestFailed"
RECORD_SMOKE_FAILED = "RecordSmokeFailed"
PLAN_ROLLBACK = "PlanRollback"
CHOOSE_ROLLBACK = "ChooseRollbackPossible"
ROLLBACK_WAIT = "RollbackWait"
ROLLBACK_DEPLOY = "RollbackDeploy"
CHOOSE_ROLLBACK_OUTCOME = "RollbackOutcome"
ROLLBACK_DONE = "RollbackDone"
ROLLBACK_ASSET_MISMATCH_FOUND = "RollbackAssetMismatchFound"
ROLLBACK_ASSET_MISMATCH_REASON = "RollbackAssetMismatchReason"
RECORD_ROLLBACK_SUCCEEDED = "RecordRollbackSucceeded"
RECORD_ROLLBACK_ATTEMPT_FAILED = "RecordRollbackAttemptFailed"
CHOOSE_ROLLBACK_RETRY = "ChooseRollbackRetry"
RECORD_ROLLBACK_FAILED = "RecordRollbackFailed"
RECORD_INVALID = "RecordInvalidArtifact"
RECORD_DRIFT = "RecordDriftAborted"
RECORD_DRIFT_CHECK_FAILED = "RecordDriftCheckFailed"
RECORD_DEPLOY_FAILED = "RecordDeployFailed"
RECORD_PROD_DEPLOY_FAILED = "RecordProdDeployFailed"
RECORD_TIMED_OUT = "RecordTimedOut"
RECORD_FAILED = "RecordFailed"
FINALIZE = "Finalize"
CHOOSE_END = "ChooseEnd"
COMPLETED = "Completed"
PIPELINE_FAILED = "PipelineFailed"


# --- shapes -------------------------------------------------------------------------------------------


def _transition(
    resources: PipelineResources, action: lc.Action, next_state: str, on_error: str = FINALIZE
) -> dict[str, Any]:
    """A guarded metadata transition (and its events); its result is the run's outcome so far. If the
    recording itself fails, the run still goes where it must (`on_error`): a failed smoke test still
    rolls back, a failed rollback attempt still ends in the critical alert."""
    return lambda_task(
        resources.transition_function,
        next_state,
        function_timeout=resources.timeout("transition"),
        payload={"action": action.value, "error.$": "$.error", "deploy.$": "$.deploy", "rollback.$": "$.rollback"},
        result_path="$.outcome",
        # Keep the phase's own error in $.error: the finalizer decides from it (timeout or failure).
        catch=catch_to((["States.ALL"], on_error), result_path="$.recording_error"),
    )


def _lease(resources: PipelineResources, environment: lc.Environment) -> dict[str, Any]:
    """Take the environment for this execution in one transaction (`lease.transaction`), or learn why
    not (`LostRace`). Either all of it is written or nothing is."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
        "Parameters": {"TransactItems": lease.transaction(resources.table_name, environment)},
        "ResultPath": None,
        "TimeoutSeconds": SDK_CALL_TIMEOUT_SECONDS,
        "Retry": retry_on(lease.DYNAMODB_RETRYABLE),
        # The refusal is kept apart from $.error: a run that waits and then leases carries no stale error.
        "Catch": [
            *catch_to(([lc.ERROR_LEASE_REFUSED], LOST_RACE), result_path="$.lease_refusal"),
            *catch_to((["States.ALL"], RECORD_FAILED)),
        ],
        "Next": VALIDATE,
    }


# --- the machine --------------------------------------------------------------------------------------


ON_FAILURE = catch_to((["States.Timeout"], RECORD_TIMED_OUT), (["States.ALL"], RECORD_FAILED))


def _start(r: PipelineResources) -> dict[str, Any]:
    """Lease, validate, and in prod the drift gate."""
    return {
        # What the lease writes that the state machine cannot compute: when the lock expires, and the
        # artifact's build time for the prod ordering check.
        LEASE_TERMS: lambda_task(
            r.transition_function,
            CHOOSE_LEASE,
            function_timeout=r.timeout("transition"),
            payload={"action": lc.Action.LEASE_TERMS.value},
            result_path="$.lease",
            catch=catch_to((["States.ALL"], RECORD_FAILED)),
        ),
        # a run a signed override started for a manual rollback or an older build takes its bound lease
        CHOOSE_LEASE: override_leases.choose_lease(prod=LEASE_PROD, stage=LEASE_STAGE),
        LEASE_STAGE: _lease(r, STAGE),
        LEASE_PROD: _lease(r, PROD),
        **override_leases.bound_leases(
            r.table_name,
            lost_race=LOST_RACE,
            failed=RECORD_FAILED,
            after={override_leases.LEASE_MANUAL_ROLLBACK: PLAN_ROLLBACK, override_leases.LEASE_OLDER_BUILD: VALIDATE},
        ),
        # The lease's transaction was cancelled: say why (the lock is busy: wait; a duplicate; a refusal).
        LOST_RACE: _transition(r, lc.Action.LEASE_LOST, CHOOSE_LOCK_BUSY),
        **lease.lock_wait(lease_again=CHOOSE_LEASE, timed_out=RECORD_LOCK_WAIT_TIMED_OUT, otherwise=FINALIZE),
        RECORD_LOCK_WAIT_TIMED_OUT: _transition(r, lc.Action.LOCK_WAIT_TIMED_OUT, FINALIZE),
        VALIDATE: lambda_task(
            r.validate_function,
            CHOOSE_DRIFT_GATE,
            function_timeout=r.timeout("validate"),
            # three retries of attempts up to 15 minutes stay within the 60-minute phase (`budget.py`)
            retries=3,
            result_path="$.validation",
            # Any other failure (KMS, S3 or the catalog not answering, a timeout) is not the artifact's:
            # nothing was deployed, the release stays retryable (in prod, `pending` again).
            catch=catch_to(([lc.ERROR_INVALID_ARTIFACT], RECORD_INVALID), (["States.ALL"], RECORD_NOT_STARTED)),
        ),
        CHOOSE_DRIFT_GATE: by_environment(DRIFT_GATE, f"{DEPLOY}{STAGE.title()}"),
        **_drift_gate(r),
    }


# Where the drift check's build says what it found: `DEPLOYER_OUTCOME`, the deploy buildspec's only
# exported variable (buildspecs/deploy.yml).
DRIFT_OUTCOME = "$.drift_check.Build.ExportedEnvironmentVariables[0].Value"


def _answer(outcome: str, next_state: str) -> dict[str, Any]:
    return {"Type": "Pass", "Result": {"outcome": outcome}, "ResultPath": "$.drift_check", "Next": next_state}


def _drift_gate(r: PipelineResources) -> dict[str, Any]:
    """The prod drift check, and where its answer leads.

    `startBuild.sync` fails the task (States.TaskFailed, the Build as the Cause) for any failed build, so
    a failure cannot say "drift". The deployer's buildspec therefore ends a drift check that could tell
    as a succeeded build and exports `DEPLOYER_OUTCOME` (`clean` or `drift_detected`); a succeeded
    build's exported variables are in the task's output (`Build.ExportedEnvironmentVariables`). A
    failed or timed-out build (the deploy role not assumable, an AWS error, no answer in 60 minutes)
    found nothing against the release: it is recorded as retryable, prod goes back to `pending`.
    """
    gate = build_task(
        r.deploy_projects[PROD],
        CHOOSE_DRIFT_OUTCOME,
        Mode.DRIFT_CHECK,
        catch_to((["States.ALL"], RECORD_DRIFT_CHECK_FAILED)),
    )
    # The whole Build: a ResultSelector naming a field the build lacks would be a States.Runtime error,
    # which no Catch takes; the Choice tests for presence first.
    del gate["ResultSelector"]
    return {
        DRIFT_GATE: {**gate, "ResultPath": "$.drift_check"},
        CHOOSE_DRIFT_OUTCOME: {
            "Type": "Choice",
            "Choices": [
                {"Variable": DRIFT_OUTCOME, "IsPresent": False, "Next": DRIFT_UNANSWERED},
                {"Variable": DRIFT_OUTCOME, "StringEquals": DRIFT_FOUND, "Next": DRIFT_FOUND_STATE},
                {"Variable": DRIFT_OUTCOME, "StringEquals": DRIFT_CLEAN, "Next": DRIFT_CLEAN_STATE},
            ],
            # An answer this definition does not know is no permission to deploy.
            "Default": DRIFT_UNANSWERED,
        },
        # The answer replaces the whole Build (its environment, phases and logs would otherwise ride in the
        # execution's state until the end, towards Step Functions' 256 KiB limit, which no Catch takes).
        DRIFT_CLEAN_STATE: _answer(DRIFT_CLEAN, f"{DEPLOY}{PROD.title()}"),
        DRIFT_FOUND_STATE: _answer(DRIFT_FOUND, RECORD_DRIFT),
        DRIFT_UNANSWERED: _answer("unanswered", RECORD_DRIFT_CHECK_FAILED),
    }


# What a succeeded deploy build says it did (`DEPLOYER_OUTCOME`): deployed, or refused before any
# change set because an asset was not the signed content (`asset_mismatch`), or stopped before any
# change set for a reason that is not the artifact's (`not_started`: nothing deployed, retryable).
DEPLOY_OUTCOME = "$.deploy.Build.ExportedEnvironmentVariables[0].Value"
ASSET_MISMATCH_CAUSE = "an object CloudFormation reads was not the signed content; nothing was deployed (see the log)"
NOT_STARTED_CAUSE = "the deploy build stopped before its first change set; nothing was deployed (see the log)"
# outcome -> (its summary state, the state that names the reason, the error, the cause, the transition)
_REFUSALS = {
    ASSET_MISMATCH: (
        ASSET_MISMATCH_FOUND,
        ASSET_MISMATCH_REASON,
        lc.ERROR_ASSET_MISMATCH,
        ASSET_MISMATCH_CAUSE,
        RECORD_ASSET_MISMATCH,
    ),
    NOT_STARTED: (NOT_STARTED_FOUND, NOT_STARTED_REASON, "DeployNotStarted", NOT_STARTED_CAUSE, RECORD_NOT_STARTED),
}


def _deploy_outcome(r: PipelineResources) -> dict[str, Any]:
    """Where a succeeded deploy build leads; its Build is replaced by id and status (as in the drift gate)."""
    summary = {"Type": "Pass", "ResultPath": "$.deploy"}
    summary["Parameters"] = {"build_id.$": "$.deploy.Build.Id", "status.$": "$.deploy.Build.BuildStatus"}
    absent = {"Variable": DEPLOY_OUTCOME, "IsPresent": False, "Next": DEPLOY_DONE}
    found = [{"Variable": DEPLOY_OUTCOME, "StringEquals": k, "Next": v[0]} for k, v in _REFUSALS.items()]
    states: dict[str, Any] = {
        CHOOSE_DEPLOY_OUTCOME: {"Type": "Choice", "Choices": [absent, *found], "Default": DEPLOY_DONE},
        DEPLOY_DONE: {**summary, "Next": RECORD_DEPLOYED},
        RECORD_ASSET_MISMATCH: _transition(r, lc.Action.ASSET_MISMATCH, FINALIZE),
    }
    for found_state, reason_state, error, cause, record in _REFUSALS.values():
        states[found_state] = {**summary, "Next": reason_state}
        reason = {"Type": "Pass", "Result": {"Error": error, "Cause": cause}, "ResultPath": "$.error"}
        states[reason_state] = {**reason, "Next": record}
    return states


def _deploy_and_test(r: PipelineResources) -> dict[str, Any]:
    deploys = {
        # A failed or timed-out prod deploy may leave some stacks on the new release: prod rolls back to
        # the last known good; a failed stage deploy just fails.
        PROD: catch_to((["States.ALL"], RECORD_PROD_DEPLOY_FAILED)),
        STAGE: catch_to((["States.Timeout"], RECORD_TIMED_OUT), (["States.ALL"], RECORD_DEPLOY_FAILED)),
    }
    builds = {
        env: build_task(r.deploy_projects[env], CHOOSE_DEPLOY_OUTCOME, Mode.DEPLOY, deploys[env]) for env in deploys
    }
    for build in builds.values():
        del build["ResultSelector"]  # the Choice tests for the outcome's presence first (see the drift gate)
    return {
        **{f"{DEPLOY}{env.title()}": {**build, "ResultPath": "$.deploy"} for env, build in builds.items()},
        **_deploy_outcome(r),
        RECORD_DEPLOYED: _transition(r, lc.Action.DEPLOYED, CHOOSE_TEST),
        CHOOSE_TEST: by_environment(f"{TEST}{PROD.title()}", f"{TEST}{STAGE.title()}"),
        **{
            f"{TEST}{env.title()}": build_task(
                r.test_projects[env],
                CHOOSE_AFTER_TEST,
                Mode.TEST,
                catch_to((["States.Timeout"], RECORD_TIMED_OUT), (["States.ALL"], CHOOSE_TEST_FAILURE)),
            )
            for env in lc.Environment
        },
        CHOOSE_AFTER_TEST: by_environment(RECORD_PROD_SUCCEEDED, PROMOTE),
        CHOOSE_TEST_FAILURE: by_environment(RECORD_SMOKE_FAILED, RECORD_TEST_FAILED),
        PROMOTE: lambda_task(
            r.promote_function,
            FINALIZE,
            function_timeout=r.timeout("promote"),
            result_path="$.outcome",
            catch=ON_FAILURE,
        ),
        RECORD_PROD_SUCCEEDED: _transition(r, lc.Action.PROD_SUCCEEDED, FINALIZE),
        RECORD_TEST_FAILED: _transition(r, lc.Action.TEST_FAILED, FINALIZE),
    }


def _rollback(r: PipelineResources) -> dict[str, Any]:
    """A failed smoke test or prod deploy: plan, wait, redeploy the last known good; retry or give up."""
    return {
        RECORD_SMOKE_FAILED: _transition(r, lc.Action.SMOKE_FAILED, PLAN_ROLLBACK, on_error=PLAN_ROLLBACK),
        RECORD_PROD_DEPLOY_FAILED: _transition(r, lc.Action.PROD_DEPLOY_FAILED, PLAN_ROLLBACK, on_error=PLAN_ROLLBACK),
        PLAN_ROLLBACK: lambda_task(
            r.rollback_plan_function,
            CHOOSE_ROLLBACK,
            function_timeout=r.timeout("rollback-plan"),
            payload={"max_attempts": r.max_rollback_attempts, "rollback.$": "$.rollback"},
            result_path="$.rollback",
            catch=catch_to((["States.ALL"], RECORD_ROLLBACK_FAILED)),
        ),
        CHOOSE_ROLLBACK: is_true("$.rollback.possible", ROLLBACK_WAIT, RECORD_ROLLBACK_FAILED),
        ROLLBACK_WAIT: {"Type": "Wait", "SecondsPath": "$.rollback.wait_seconds", "Next": ROLLBACK_DEPLOY},
        ROLLBACK_DEPLOY: whole_build(
            build_task(
                r.deploy_projects[PROD],
                CHOOSE_ROLLBACK_OUTCOME,
                Mode.ROLLBACK,
                catch_to((["States.ALL"], RECORD_ROLLBACK_ATTEMPT_FAILED)),
                commit_path="$.rollback.target_commit",
            )
        ),
        **_rollback_outcome(),
        RECORD_ROLLBACK_SUCCEEDED: _transition(r, lc.Action.ROLLBACK_SUCCEEDED, FINALIZE),
        RECORD_ROLLBACK_ATTEMPT_FAILED: _transition(
            r, lc.Action.ROLLBACK_ATTEMPT_FAILED, CHOOSE_ROLLBACK_RETRY, on_error=RECORD_ROLLBACK_FAILED
        ),
        CHOOSE_ROLLBACK_RETRY: is_true("$.outcome.retry", PLAN_ROLLBACK, RECORD_ROLLBACK_FAILED),
        RECORD_ROLLBACK_FAILED: _transition(r, lc.Action.ROLLBACK_FAILED, FINALIZE),
    }


def _rollback_outcome() -> dict[str, Any]:
    """A succeeded rollback build redeployed the known good, or (`asset_mismatch`) refused before any
    change set because an object was not the signed content: a failed attempt (retried) that counts as
    an asset hash mismatch (`lifecycle`: `rollback_attempt_failed`)."""
    summary = {"Type": "Pass", "ResultPath": "$.deploy"}
    summary["Parameters"] = {"build_id.$": "$.deploy.Build.Id", "status.$": "$.deploy.Build.BuildStatus"}
    absent = {"Variable": DEPLOY_OUTCOME, "IsPresent": False, "Next": ROLLBACK_DONE}
    mismatch = {"Variable": DEPLOY_OUTCOME, "StringEquals": ASSET_MISMATCH, "Next": ROLLBACK_ASSET_MISMATCH_FOUND}
    reason = {"Error": lc.ERROR_ASSET_MISMATCH, "Cause": ASSET_MISMATCH_CAUSE}
    return {
        CHOOSE_ROLLBACK_OUTCOME: {"Type": "Choice", "Choices": [absent, mismatch], "Default": ROLLBACK_DONE},
        ROLLBACK_DONE: {**summary, "Next": RECORD_ROLLBACK_SUCCEEDED},
        ROLLBACK_ASSET_MISMATCH_FOUND: {**summary, "Next": ROLLBACK_ASSET_MISMATCH_REASON},
        ROLLBACK_ASSET_MISMATCH_REASON: {
            "Type": "Pass",
            "Result": reason,
            "ResultPath": "$.error",
            "Next": RECORD_ROLLBACK_ATTEMPT_FAILED,
        },
    }


def _endings(r: PipelineResources) -> dict[str, Any]:
    """The failures each phase records, and the finalizer every path ends in."""
    return {
        RECORD_INVALID: _transition(r, lc.Action.INVALID_ARTIFACT, FINALIZE),
        RECORD_DRIFT: _transition(r, lc.Action.DRIFT_DETECTED, FINALIZE),
        RECORD_DRIFT_CHECK_FAILED: _transition(r, lc.Action.DRIFT_CHECK_FAILED, FINALIZE),
        RECORD_NOT_STARTED: _transition(r, lc.Action.NOT_STARTED, FINALIZE),
        RECORD_DEPLOY_FAILED: _transition(r, lc.Action.DEPLOY_FAILED, FINALIZE),
        RECORD_TIMED_OUT: _transition(r, lc.Action.TIMED_OUT, FINALIZE),
        RECORD_FAILED: _transition(r, lc.Action.FAILED, FINALIZE),
        FINALIZE: lambda_task(
            r.finalizer_function,
            CHOOSE_END,
            function_timeout=r.timeout("finalizer"),
            payload={"outcome.$": "$.outcome", "error.$": "$.error"},
            result_path="$.final",
            catch=catch_to((["States.ALL"], PIPELINE_FAILED)),
        ),
        CHOOSE_END: is_true("$.final.succeeded", COMPLETED, PIPELINE_FAILED),
        COMPLETED: {"Type": "Succeed"},
        PIPELINE_FAILED: {"Type": "Fail", "Error": "PipelineFailed", "Cause": "see the artifact's metadata item"},
    }


def build_definition(resources: PipelineResources) -> dict[str, Any]:
    initialize = {
        "Type": "Pass",
        # Every optional document starts as null, so each function receives plain documents.
        "Parameters": {
            "service.$": "$.service",
            "commit_sha.$": "$.commit_sha",
            "environment.$": "$.environment",
            "trigger.$": "$.trigger",
            "error": None,
            "deploy": None,
            "rollback": None,
            "outcome": None,
            "lock_wait": {"count": 0},
        },
        "Next": LEASE_TERMS,
    }
    document: dict[str, Any] = {
        "Comment": "DeployArtifactPipeline: artifact -> stage -> tests -> promote -> prod -> smoke (+ rollback)",
        "StartAt": INITIALIZE,
        "States": {
            INITIALIZE: initialize,
            **_start(resources),
            **_deploy_and_test(resources),
            **_rollback(resources),
            **_endings(resources),
        },
    }
    # The longest legitimate run, retries and every rollback attempt included: never cut short by the
    # machine's own timeout, never longer than the lock it took (`budget.execution_timeout`).
    attempts = resources.max_rollback_attempts
    loops = {WAIT_FOR_LOCK: lc.LOCK_WAIT_ATTEMPTS, PLAN_ROLLBACK: attempts, ROLLBACK_WAIT: attempts}
    document["TimeoutSeconds"] = budget.execution_timeout(
        document,
        loops=loops,
        waits={ROLLBACK_WAIT: lc.rollback_wait_seconds},
        lambda_timeouts=resources.lambda_timeouts(),
    )
    return document
