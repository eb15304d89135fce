"""Runs that end badly, in the emulator: a deploy build that blocks until released (so that a run can be
stopped from outside while it deploys), a transition function that fails for one action (a lost
recording), the service's stacks unreadable (`UnreadableStacks`: the read-only role denied), and the
"Step Functions Execution Status Change" event the program's rule delivers to the finalizer.

What this bridges (never the product):
- StopExecution while a task runs: Step Functions ends the execution ABORTED at once, whatever the task
  does afterwards; moto marks it stopped, then lets the running task's Catch try to move on, fails that
  with States.Runtime and reports the execution FAILED. `stop_like_step_functions` keeps a stopped
  execution stopped (ABORTED, with its ExecutionAborted event);
- moto emits no EventBridge event when an execution ends; Step Functions does, on the default bus.
  `deliver_ending` builds it from DescribeExecution as Step Functions does, checks it against the
  program's own pattern (`components.pipeline.endings.execution_ended`) with moto's EventBridge
  pattern matcher (moto does not implement TestEventPattern), and invokes the finalizer's handler with
  it, as the rule's target would;
- CodeBuild knows every build StartBuild started, and BatchGetBuilds reports its status; the emulator's
  builds run in-process (`builds.py`) and moto's CodeBuild knows none of them (for those it does know, it
  answers SUCCEEDED whatever happened): `report_emulated_builds` answers from the emulator's record.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import boto3

from devtools.emulator.lambdas import LambdaContext
from devtools.emulator.program import PREFIX, REGION


def stop_like_step_functions(monkeypatch: Any) -> None:
    """Real Step Functions: StopExecution makes the execution ABORTED at once, with the error and cause
    given, and nothing the stopped run's task does afterwards changes that or runs another state. moto
    only flags its interpreter, which notices at its next state; a task that fails after the stop (the
    stopped build) is caught and the execution ends FAILED. Bridge: the status, error and cause are set
    at the stop and kept when moto's worker ends, and no error of a task still running overrides it."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend import execution as execution_module

    set_error = Environment.set_error
    original_stop = execution_module.Execution.stop
    original_reflect = execution_module.BaseExecutionWorkerCommunication._reflect_execution_status

    def unless_stopped(env: Any, error: Any) -> None:
        if not isinstance(env._program_state, ProgramStopped):
            set_error(env, error)

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        original_stop(self, stop_date, error, cause)
        self.exec_status, self.stop_date, self.error, self.cause = ExecutionStatus.ABORTED, stop_date, error, cause

    def reflect(self: Any) -> None:
        if self.execution.exec_status != ExecutionStatus.ABORTED:
            original_reflect(self)

    monkeypatch.setattr(Environment, "set_error", unless_stopped)
    monkeypatch.setattr(execution_module.Execution, "stop", stop)
    monkeypatch.setattr(execution_module.BaseExecutionWorkerCommunication, "_reflect_execution_status", reflect)


class BlockingDeploys:
    """Deploy builds (MODE=deploy) wait for `release()` before the deployer runs: `started` is set
    once one is waiting. A released build then fails, as a build stopped from outside does (Step
    Functions stops the build of a `.sync` task when its execution is stopped)."""

    def __init__(self, harness: Any, monkeypatch: Any) -> None:
        stop_like_step_functions(monkeypatch)
        self.harness = harness
        self.started = threading.Event()
        self._released = threading.Event()
        self._deployer = harness.script.deployer
        harness.script.deployer = self._run

    def _run(self, project: str, overrides: dict[str, str]) -> int:
        if overrides.get("MODE") != "deploy":
            return self._deployer(project, overrides)
        self.started.set()
        if not self._released.wait(timeout=60):
            raise TimeoutError("a blocked deploy build was never released")
        return 1  # stopped: it deployed nothing

    def release(self) -> None:
        self._released.set()


class UnreadableStacks:
    """The service's stacks cannot be read (the read-only role denied, the account unreachable) while
    `on`: nothing proves what the run changed, so only the generic repairs apply."""

    def __init__(self, monkeypatch: Any) -> None:
        from functions.handlers import clients

        self.on = True
        readable = clients.read_only_cloudformation

        def read_only_cloudformation(service: str, environment: str) -> Any:
            if self.on:
                raise RuntimeError(f"AccessDenied: cannot assume the read-only role of {service} in {environment}")
            return readable(service, environment)

        monkeypatch.setattr(clients, "read_only_cloudformation", read_only_cloudformation)


def fail_transition(monkeypatch: Any, action: str) -> list[dict[str, Any]]:
    """The transition function fails (a Lambda error) whenever it is asked to record `action`; returns
    the payloads it refused."""
    from moto.awslambda.models import LambdaFunction

    invoke = LambdaFunction._invoke_lambda  # the harness's in-process invoke
    refused: list[dict[str, Any]] = []

    def failing(function: Any, event: Any = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str) else (event or {})
        if function.function_name == f"{PREFIX}-transition" and payload.get("action") == action:
            refused.append(payload)
            error = {"errorType": "ServiceUnavailable", "errorMessage": f"the recording of {action} was lost"}
            return json.dumps(error), True, ""
        return invoke(function, event)

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", failing)
    return refused


def report_emulated_builds(monkeypatch: Any, harness: Any) -> None:
    """BatchGetBuilds answers for the emulator's builds (ids `{project}:{n}`, `builds.py`)."""
    from moto.codebuild.models import CodeBuildBackend

    def batch_get_builds(backend: Any, ids: list[str]) -> list[dict[str, Any]]:
        builds = []
        for build_id in ids:
            project, _, number = build_id.rpartition(":")
            runs = harness.script.runs
            if number.isdigit() and 0 < int(number) <= len(runs):
                builds.append({"id": build_id, "projectName": project, "buildStatus": runs[int(number) - 1]["status"]})
        return builds

    monkeypatch.setattr(CodeBuildBackend, "batch_get_builds", batch_get_builds)


def _epoch_millis(moment: Any) -> int | None:
    return int(moment.timestamp() * 1000) if isinstance(moment, datetime) else None


def status_change(execution_arn: str) -> dict[str, Any]:
    """The event Step Functions puts on the default bus when the execution's status changes."""
    described = boto3.client("stepfunctions", region_name=REGION).describe_execution(executionArn=execution_arn)
    account = execution_arn.split(":")[4]
    return {
        "version": "0",
        "id": f"status-change-{described['name']}",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account,
        "time": datetime.now().astimezone().isoformat(),
        "region": REGION,
        "resources": [execution_arn],
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": _epoch_millis(described.get("startDate")),
            "stopDate": _epoch_millis(described.get("stopDate")),
            "input": described.get("input"),
            "inputDetails": {"included": True},
            "output": described.get("output"),
            "error": described.get("error"),
            "cause": described.get("cause"),
        },
    }


def deliver_ending(harness: Any, execution_arn: str) -> dict[str, Any] | None:
    """What the program's rule does with the execution's status change: the finalizer's handler is
    invoked with it if it matches the rule's pattern (None if it does not)."""
    from moto.events.models import EventPattern

    from components.pipeline.endings import execution_ended
    from functions.handlers import finalizer

    event = status_change(execution_arn)
    pattern = execution_ended(harness.state_machine_arn)
    if not EventPattern.load(json.dumps(pattern)).matches_event(event):
        return None
    return finalizer.handler(event, LambdaContext(f"{PREFIX}-finalizer"))
