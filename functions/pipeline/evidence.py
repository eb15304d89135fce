"""What really happened to a run's deploy, read from AWS, for the finalizer's reconciliation
(`lifecycle.repairs`): the run's deploy build (its execution history names it; CodeBuild says how it
ended) and the service's stacks (status, and whether they changed after the deploy started).

Nothing here decides from the absence of an answer: an unreadable history or an unknown build is
`None`, and `finding` then finds nothing (the generic repairs apply)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.deployer.request import Mode
from functions.timestamps import parse_iso

from . import lifecycle as lc

FAILED_STACK = re.compile(r"(_FAILED|^ROLLBACK_COMPLETE|^ROLLBACK_IN_PROGRESS)$")
NOT_FOUND = "NOT_FOUND"
# CodeBuild's buildStatus values of a build that has not ended: it may still change a stack.
BUILD_RUNNING = frozenset({"IN_PROGRESS"})
_TASK_RESULTS = {
    "TaskSubmitted": ("taskSubmittedEventDetails", "output"),
    "TaskSucceeded": ("taskSucceededEventDetails", "output"),
    "TaskFailed": ("taskFailedEventDetails", "cause"),
    "TaskTimedOut": ("taskTimedOutEventDetails", "cause"),
}


@dataclass(frozen=True)
class DeployBuild:
    """The run's deploy build, as its execution history and CodeBuild know it. `build_id` None: the
    run never scheduled one (or Step Functions never learned its id)."""

    build_id: str | None
    status: str | None  # CodeBuild's buildStatus (BatchGetBuilds, else the history's last word)


@dataclass(frozen=True)
class StackState:
    status: str
    changed_at: datetime | None  # LastUpdatedTime, else CreationTime; None when the stack does not exist


def _mode(parameters: Any) -> str | None:
    try:
        document = json.loads(parameters) if isinstance(parameters, str) else parameters
        overrides = document.get("EnvironmentVariablesOverride") or []
    except (ValueError, AttributeError):
        return None
    return next((o.get("Value") for o in overrides if isinstance(o, Mapping) and o.get("Name") == "MODE"), None)


def _build_of(text: Any) -> Mapping[str, Any]:
    try:
        document = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    # Step Functions' CodeBuild integration writes the Build in PascalCase; CodeBuild's own API in camelCase.
    build = (document.get("Build") or document.get("build")) if isinstance(document, Mapping) else None
    if not isinstance(build, Mapping):
        return {}
    status = build.get("BuildStatus") or build.get("buildStatus")
    return {"Id": build.get("Id") or build.get("id"), "BuildStatus": status}


def deploy_build_in(events: Iterable[Mapping[str, Any]]) -> DeployBuild:
    """The last deploy build (`MODE=deploy`: not a drift check, a test or a rollback) the history shows:
    its id from the task's submission or result, and the status its result reported."""
    build_id = status = None
    in_deploy = False
    for event in sorted(events, key=lambda e: int(e.get("id", 0))):
        kind = event.get("type")
        if kind == "TaskScheduled":
            details = event.get("taskScheduledEventDetails") or {}
            in_deploy = details.get("resourceType") == "codebuild" and _mode(details.get("parameters")) == Mode.DEPLOY
            if in_deploy:
                build_id = status = None  # a retried deploy: the latest attempt is the one that counts
        elif in_deploy and kind in _TASK_RESULTS:
            key, field = _TASK_RESULTS[kind]
            build = _build_of((event.get(key) or {}).get(field))
            build_id = build.get("Id") or build_id
            status = build.get("BuildStatus") or ("TIMED_OUT" if kind == "TaskTimedOut" else status)
    return DeployBuild(build_id, status)


def execution_history(stepfunctions: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution (a run's history is a few hundred events at most)."""
    events: list[dict[str, Any]] = []
    request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000, "reverseOrder": True}
    while True:
        page = stepfunctions.get_execution_history(**request)
        events.extend(page.get("events") or [])
        if not page.get("nextToken"):
            return events
        request["nextToken"] = page["nextToken"]


def deploy_build(stepfunctions: Any, codebuild: Any, execution_arn: str) -> DeployBuild:
    """The run's deploy build, with CodeBuild's own status when it knows the build."""
    found = deploy_build_in(execution_history(stepfunctions, execution_arn))
    if not found.build_id:
        return found
    builds = codebuild.batch_get_builds(ids=[found.build_id]).get("builds") or []
    status = next((b.get("buildStatus") for b in builds if b.get("id") == found.build_id), None)
    return DeployBuild(found.build_id, status or found.status)


def stack_states(cloudformation: Any, names: list[str]) -> dict[str, StackState]:
    """Each stack described by name: the read-only role may describe only the service's stacks."""
    from botocore.exceptions import ClientError

    states: dict[str, StackState] = {}
    for name in names:
        try:
            stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        except ClientError as exc:
            if "does not exist" not in str(exc):
                raise
            states[name] = StackState(NOT_FOUND, None)
            continue
        states[name] = StackState(stack["StackStatus"], stack.get("LastUpdatedTime") or stack.get("CreationTime"))
    return states


def finding(
    build: DeployBuild | None, stacks: Mapping[str, StackState] | None, deploy_started_at: str | None
) -> lc.Finding | None:
    """What the real state says about an environment left `deploying`; None when it cannot tell."""
    if build is None or stacks is None or not deploy_started_at:
        return None
    started = parse_iso(deploy_started_at)
    changed = [name for name, s in stacks.items() if s.changed_at is not None and s.changed_at >= started]
    failed = [name for name, s in stacks.items() if FAILED_STACK.search(s.status)]
    if build.status == "SUCCEEDED" and build.build_id and changed and not failed:
        return lc.Finding.DEPLOYED
    ended = build.build_id is None or (build.status is not None and build.status not in BUILD_RUNNING)
    if not changed and ended:
        return lc.Finding.NOTHING_DEPLOYED
    return None
