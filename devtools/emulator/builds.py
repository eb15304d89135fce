"""CodeBuild in the emulator: moto's Step Functions interpreter fails `codebuild` tasks with
States.Runtime, so `codebuild_service` evaluates them itself, runs the build (`BuildScript`) in-process
and answers like `startBuild.sync` does (`Build.Id`, `Build.BuildStatus`, and for deployer builds
`Build.ExportedEnvironmentVariables` with `DEPLOYER_OUTCOME`; a failed build is the task error
States.TaskFailed with the Build as its Cause, a timed-out one States.Timeout).

A deployer build is what `buildspecs/deploy.yml` makes of the deployer's exit code: its last command
(`functions.deployer.codebuild.build_outcome`) decides the exported outcome and whether the build
succeeded, so a drift check that found drift is a succeeded build exporting `drift_detected`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from functions.deployer.codebuild import build_outcome
from functions.deployer.errors import OUTCOME_VARIABLE
from functions.deployer.request import Mode


@dataclass
class BuildScript:
    """What each CodeBuild run does. Deployer projects run our deployer (`functions.deployer.codebuild`)
    with the project's environment from the program graph plus the state machine's overrides; test and
    smoke projects are scripted (a service's own tests are not ours to run). `outcomes` forces a status
    for (mode, environment, commit) where a scenario needs a failure the emulator cannot produce; the
    mode is a `Mode` value (deploy, drift-check, rollback, test), `"*"` stands for any commit."""

    outcomes: dict[tuple[str, str, str], str] = field(default_factory=dict)
    runs: list[dict[str, str]] = field(default_factory=list)
    deployer: Callable[[str, dict[str, str]], int] | None = None

    def run(self, project: str, variables: dict[str, str]) -> dict[str, Any]:
        """The build's record: status, and for a deployer build its exit code and exported outcome."""
        mode = Mode(variables["MODE"])
        environment, commit = variables["ENVIRONMENT"], variables["COMMIT_SHA"]
        status = self.outcomes.get((mode, environment, commit), self.outcomes.get((mode, environment, "*")))
        record = {"project": project, "mode": mode.value, "environment": environment, "commit": commit}
        started = time.monotonic()
        if status is None and mode is not Mode.TEST and self.deployer is not None:
            exit_code = self.deployer(project, variables)
            outcome, build_exit = build_outcome(mode, exit_code)
            record.update(exit_code=str(exit_code), outcome=outcome)
            status = "SUCCEEDED" if build_exit == 0 else "FAILED"
        record["status"] = status or "SUCCEEDED"
        # When the build ran (monotonic seconds), to show which builds overlapped.
        record.update(started=started, ended=time.monotonic())
        self.runs.append(record)
        return record


def codebuild_service(script: BuildScript):
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    class BuildFailed(Exception):
        def __init__(self, build: dict[str, Any], error: str) -> None:
            super().__init__(json.dumps(build))
            self.build = build
            self.error = error

    class CodeBuildService(StateTaskService):
        def _get_supported_parameters(self):
            return {"ProjectName", "EnvironmentVariablesOverride", "SourceVersion"}

        def _from_error(self, env, ex):
            if isinstance(ex, BuildFailed):
                return FailureEvent(
                    env=env,
                    error_name=StatesErrorName(
                        typ=StatesErrorNameType.StatesTimeout
                        if ex.error == "States.Timeout"
                        else StatesErrorNameType.StatesTaskFailed
                    ),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            error=ex.error,
                            cause=json.dumps({"Build": ex.build}),
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                        )
                    ),
                )
            return super()._from_error(env=env, ex=ex)

        def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
            variables = {o["Name"]: o["Value"] for o in normalised_parameters.get("EnvironmentVariablesOverride", [])}
            project = normalised_parameters["ProjectName"]
            record = script.run(project, variables)
            status = record["status"]
            build = {"Id": f"{project}:{len(script.runs)}", "BuildStatus": status, "ProjectName": project}
            # The deploy buildspec's exported variable. Only a succeeded build's: whether CodeBuild also
            # reports a failed build's is not documented, and nothing may depend on it.
            if "outcome" in record and status == "SUCCEEDED":
                build["ExportedEnvironmentVariables"] = [{"Name": OUTCOME_VARIABLE, "Value": record["outcome"]}]
            if status == "TIMED_OUT":
                raise BuildFailed(build, "States.Timeout")
            if status != "SUCCEEDED":
                raise BuildFailed(build, "States.TaskFailed")
            env.stack.append({"Build": build})

    return CodeBuildService
