"""The repeated shapes of the pipeline's states: a Lambda task, a CodeBuild task, their Retry/Catch and
Timeout, and the two Choices every branch uses. Pure data, as `definition` is."""

from __future__ import annotations

from typing import Any

from functions.deployer.request import Mode
from functions.pipeline import lifecycle as lc

LAMBDA_RETRYABLE = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
    # our functions' own: an AWS service they call did not answer (functions/artifacts/errors.py)
    lc.ERROR_TRANSIENT_AWS,
]
# StartBuild's answers (`startBuild.sync` polls the build itself): the build never started, so a retried
# attempt lasts one API call, not a build (`budget.py` counts it so).
CODEBUILD_RETRYABLE = ["CodeBuild.AccountLimitExceededException", "CodeBuild.CodeBuildException"]
CODEBUILD_BUILD_RESOURCE = "arn:aws:states:::codebuild:startBuild.sync"
RETRIES = 5
# A Lambda task's TimeoutSeconds: its function's own timeout and this margin (the invoke, a cold start),
# so the task never gives up on an invocation Lambda still runs, and never waits long past it.
LAMBDA_TIMEOUT_MARGIN_SECONDS = 30
# An AWS SDK integration's single call (the lease's TransactWriteItems answers in milliseconds).
SDK_CALL_TIMEOUT_SECONDS = 60


def retry_on(errors: list[str], max_attempts: int = RETRIES) -> list[dict[str, Any]]:
    return [{"ErrorEquals": errors, "IntervalSeconds": 2, "BackoffRate": 2.0, "MaxAttempts": max_attempts}]


def catch_to(*routes: tuple[list[str], str], result_path: str = "$.error") -> list[dict[str, Any]]:
    return [{"ErrorEquals": errors, "Next": target, "ResultPath": result_path} for errors, target in routes]


def task_context() -> dict[str, Any]:
    """What every function receives besides its own arguments."""
    return {
        "service.$": "$.service",
        "commit_sha.$": "$.commit_sha",
        "environment.$": "$.environment",
        "execution_id.$": "$$.Execution.Id",
        "execution_started_at.$": "$$.Execution.StartTime",
    }


def lambda_task(
    function: Any,
    next_state: str | None,
    *,
    function_timeout: int,
    payload: dict[str, Any] | None = None,
    result_path: str | None = None,
    catch: list[dict[str, Any]],
    retries: int = RETRIES,
) -> dict[str, Any]:
    """The function invoked by its ARN: it receives exactly `Parameters` and its result is exactly what it
    returns, so handlers read and write plain documents (no `Payload` envelope to unwrap). The task
    waits for the function's own timeout (`function_timeout`, seconds) and a margin."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": function,
        "Parameters": {**task_context(), **(payload or {})},
        "ResultPath": result_path,
        "TimeoutSeconds": function_timeout + LAMBDA_TIMEOUT_MARGIN_SECONDS,
        "Retry": retry_on(LAMBDA_RETRYABLE, retries),
        "Catch": catch,
    }
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def build_task(
    project: Any, next_state: str, mode: Mode, catch: list[dict[str, Any]], commit_path: str = "$.commit_sha"
) -> dict[str, Any]:
    """CodeBuild, synchronously; the build's own timeout is 60 minutes too. The run's variables: what to
    deploy (or test) and how (`MODE`)."""
    variables = {
        "SERVICE": "$.service",
        "COMMIT_SHA": commit_path,
        "ENVIRONMENT": "$.environment",
        "DEPLOYMENT_ID": "$$.Execution.Name",
    }
    overrides = [{"Name": name, "Type": "PLAINTEXT", "Value.$": path} for name, path in variables.items()]
    overrides.append({"Name": "MODE", "Type": "PLAINTEXT", "Value": mode.value})
    return {
        "Type": "Task",
        "Resource": CODEBUILD_BUILD_RESOURCE,
        "Parameters": {"ProjectName": project, "EnvironmentVariablesOverride": overrides},
        "ResultSelector": {"build_id.$": "$.Build.Id", "status.$": "$.Build.BuildStatus"},
        "ResultPath": "$.build",
        "TimeoutSeconds": lc.PHASE_TIMEOUT_SECONDS,
        "Retry": retry_on(CODEBUILD_RETRYABLE),
        "Catch": catch,
        "Next": next_state,
    }


def whole_build(build: dict[str, Any]) -> dict[str, Any]:
    """The whole Build in $.deploy: the Choice after it tests for the exported outcome's presence first (a
    ResultSelector naming a field the build lacks would be a States.Runtime error, which no Catch takes)."""
    return {**{k: v for k, v in build.items() if k != "ResultSelector"}, "ResultPath": "$.deploy"}


def by_environment(prod: str, stage: str) -> dict[str, Any]:
    return {
        "Type": "Choice",
        "Choices": [{"Variable": "$.environment", "StringEquals": lc.Environment.PROD.value, "Next": prod}],
        "Default": stage,
    }


def is_true(variable: str, then: str, otherwise: str) -> dict[str, Any]:
    return {
        "Type": "Choice",
        "Choices": [{"Variable": variable, "BooleanEquals": True, "Next": then}],
        "Default": otherwise,
    }
