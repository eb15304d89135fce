"""Deploying a service's stacks through change sets, with the states that break naive deployers.

For each stack, in dependency order:

1. inspect it (`DescribeStacks`; missing or `REVIEW_IN_PROGRESS` = new) and repair what may be repaired:
   wait for `*_IN_PROGRESS` to settle; `ROLLBACK_COMPLETE`/`ROLLBACK_FAILED` (a failed create) is deleted
   and created anew in stage, and needs an operator in prod (the prod deploy role has no DeleteStack);
   `UPDATE_ROLLBACK_FAILED` gets `ContinueUpdateRollback`;
2. prod, when asked: `DetectStackDrift` on the stack and its nested stacks; drift aborts unless allowed;
3. `CreateChangeSet` with the execution role, `IncludeNestedStacks`, the tags and parameters of the
   manifest, and the template inline (at most 51,200 bytes) or by the URL of its published asset;
4. a change set that failed because there was nothing to change is success (`unchanged`); otherwise
   the stack policy is applied and the change set executed (an UPDATE: policy first, since policies
   guard updates; a CREATE: right after it completes, there is no stack to attach it to before);
5. the stack must end in `CREATE_COMPLETE`/`UPDATE_COMPLETE`; anything else is `DeployFailed` with the
   first failed resource events.

Every AWS call goes through clients of the given session; waiting uses the injected clock and sleep, and
one deadline (`timeout_seconds`) bounds the whole deploy. This module orders the steps; `repair` (1),
`drift` (2), `change_sets` (3, 4), `stacks` (describing, calling, failed events) and `waiting` do them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.pipeline.lifecycle import Environment

from .assembly import Stack, read_template
from .change_sets import create_change_set, set_stack_policy, wait_change_set
from .drift import detect_drift
from .errors import AssemblyError, DeployerError, DeployFailed
from .repair import prepare
from .stacks import Log, StackClient
from .waiting import Waiter

MAX_TEMPLATE_BODY_BYTES = 51_200
SUCCESS_STATES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE"})
TemplateLoader = Callable[[Stack], bytes]


@dataclass
class StackResult:
    name: str
    action: str  # created | updated | unchanged
    status: str
    change_set_id: str | None
    seconds: float
    stack_id: str | None = None
    recovered_from: str | None = None  # the broken state repaired first, if any
    drift: str | None = None  # IN_SYNC | DRIFTED (allowed by override) | None (not checked)


@dataclass
class DeployResult:
    stacks: list[StackResult] = field(default_factory=list)
    seconds: float = 0.0
    # CreateChangeSet calls made (each counted before it is sent): 0 means nothing was started
    change_sets: int = 0

    @property
    def totals(self) -> dict[str, Any]:
        counts = {
            action: sum(s.action == action for s in self.stacks) for action in ("created", "updated", "unchanged")
        }
        return {"stacks": len(self.stacks), **counts, "seconds": round(self.seconds, 3)}

    def to_dict(self) -> dict[str, Any]:
        return {"stacks": [asdict(s) for s in self.stacks], "totals": self.totals, "change_sets": self.change_sets}


def check_drift(
    session: Any,
    stacks: list[Stack],
    *,
    allow_drift: bool = False,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 3600.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Log = lambda _: None,
) -> dict[str, str]:
    """The prod drift gate on its own: `{stack: IN_SYNC | DRIFTED | NEW}`; raises `DriftDetected`
    unless an override allows drift. Deploys nothing."""
    client = _stack_client(session, poll_seconds, timeout_seconds, clock, sleep, log)
    states: dict[str, str] = {}
    for stack in stacks:
        current = client.describe(stack.name)
        states[stack.name] = (
            "NEW" if current is None else detect_drift(client, stack.name, current["StackId"], allow_drift=allow_drift)
        )
        log(f"{stack.name}: {states[stack.name]}")
    return states


def deploy_stacks(
    session: Any,
    stacks: list[Stack],
    *,
    execution_role_arn: str,
    stack_policy: dict[str, Any] | None,
    environment: str,
    template_loader: TemplateLoader = read_template,
    detect_drift: bool = False,
    allow_drift: bool = False,
    deployment_id: str | None = None,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 3600.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Log = lambda _: None,
) -> DeployResult:
    """Deploy `stacks` in the given order; raise a `DeployerError` (with `.result` so far) to stop."""
    if environment not in set(Environment):
        raise ValueError(f"environment must be one of {[e.value for e in Environment]}, not {environment!r}")
    deployer = _Deployer(
        stacks=_stack_client(session, poll_seconds, timeout_seconds, clock, sleep, log),
        execution_role_arn=execution_role_arn,
        stack_policy=json.dumps(stack_policy, sort_keys=True) if stack_policy is not None else None,
        prod=environment == Environment.PROD,
        detect_drift=detect_drift,
        allow_drift=allow_drift,
        deployment_id=deployment_id or uuid.uuid4().hex,
    )
    result = deployer.result
    started = clock()
    try:
        # Every template is read and sized before the first AWS call: a stack that cannot be sent
        # must not leave its dependencies deployed and itself not.
        templates = {stack.name: _template_argument(stack, template_loader) for stack in stacks}
        if stack_policy is None and environment == "prod":
            log("warning: no stack policy given for a prod deploy")
        if detect_drift and environment != "prod":
            log("drift detection is a prod gate; skipped in stage")
        for stack in stacks:
            if stack.termination_protection:
                # Change sets cannot set it and the deploy role may not call UpdateTerminationProtection.
                log(f"{stack.name}: terminationProtection is requested; the deployer does not change it")
        for stack in stacks:
            result.stacks.append(deployer.deploy(stack, templates[stack.name]))
    except DeployerError as error:
        result.seconds = clock() - started
        error.result = result
        raise
    result.seconds = clock() - started
    return result


def _stack_client(
    session: Any,
    poll_seconds: float,
    timeout_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    log: Log,
) -> StackClient:
    cfn = session.client("cloudformation", config=Config(retries={"mode": "standard", "max_attempts": 10}))
    return StackClient(cfn, Waiter(clock, sleep, poll_seconds, deadline=clock() + timeout_seconds), log)


def _template_argument(stack: Stack, loader: TemplateLoader) -> dict[str, str]:
    body = loader(stack)
    if len(body) <= MAX_TEMPLATE_BODY_BYTES:
        try:
            return {"TemplateBody": body.decode("utf-8")}
        except UnicodeDecodeError:
            raise AssemblyError(f"{stack.name}: template {stack.template_path} is not UTF-8") from None
    if not stack.template_url:
        raise AssemblyError(
            f"{stack.name}: template is {len(body)} bytes, over CloudFormation's {MAX_TEMPLATE_BODY_BYTES}-byte "
            "limit for an inline body, and the manifest has no published template asset "
            "(properties.stackTemplateAssetObjectUrl) to pass as TemplateURL"
        )
    return {"TemplateURL": stack.template_url}


@dataclass(frozen=True)
class _Deployer:
    stacks: StackClient
    execution_role_arn: str
    stack_policy: str | None
    prod: bool
    detect_drift: bool
    allow_drift: bool
    deployment_id: str
    result: DeployResult = field(default_factory=DeployResult)  # what was done so far

    def deploy(self, stack: Stack, template: dict[str, str]) -> StackResult:
        client, name = self.stacks, stack.name
        started = client.waiter.clock()
        try:
            current, recovered_from = prepare(client, name, prod=self.prod, execution_role_arn=self.execution_role_arn)
            drift = None
            if current is not None and self.prod and self.detect_drift:
                drift = detect_drift(client, name, current["StackId"], allow_drift=self.allow_drift)
            change_set_type = "CREATE" if current is None else "UPDATE"
            self.result.change_sets += 1  # from here on the stack may change (a response lost, a retry)
            change_set = create_change_set(
                client,
                stack,
                template,
                change_set_type,
                deployment_id=self.deployment_id,
                execution_role_arn=self.execution_role_arn,
            )
            change_set_id = change_set["Id"]
            described = wait_change_set(client, name, change_set_id)
            if described["Status"] == "FAILED":
                client.call(name, "DeleteChangeSet", client.cfn.delete_change_set, ChangeSetName=change_set_id)
                client.log(f"{name}: no changes; change set deleted")
                set_stack_policy(client, name, change_set["StackId"], self.stack_policy)
                status = current["StackStatus"] if current else "UNKNOWN"
                return self._result(
                    stack, "unchanged", status, change_set_id, started, change_set, recovered_from, drift
                )
            if change_set_type == "UPDATE":
                set_stack_policy(client, name, change_set["StackId"], self.stack_policy)
            client.log(f"{name}: executing change set {change_set_id}")
            client.call(name, "ExecuteChangeSet", client.cfn.execute_change_set, ChangeSetName=change_set_id)
            final = client.wait_settled(name, change_set["StackId"], "the change set to execute")
            status = final["StackStatus"]
            if status not in SUCCESS_STATES:
                events = client.failed_events(change_set["StackId"], since=described.get("CreationTime"))
                reason = final.get("StackStatusReason") or "the change set did not complete"
                raise DeployFailed(name, status, reason, events)
            if change_set_type == "CREATE":
                set_stack_policy(client, name, change_set["StackId"], self.stack_policy)
            action = "created" if change_set_type == "CREATE" else "updated"
            client.log(f"{name}: {status}")
            return self._result(stack, action, status, change_set_id, started, change_set, recovered_from, drift)
        except (ClientError, BotoCoreError) as exc:  # an unexpected AWS error while deploying this stack
            raise DeployFailed(name, None, f"AWS call failed: {exc}") from exc

    def _result(
        self,
        stack: Stack,
        action: str,
        status: str,
        change_set_id: str,
        started: float,
        change_set: dict[str, Any],
        recovered_from: str | None,
        drift: str | None,
    ) -> StackResult:
        return StackResult(
            name=stack.name,
            action=action,
            status=status,
            change_set_id=change_set_id,
            seconds=round(self.stacks.waiter.clock() - started, 3),
            stack_id=change_set.get("StackId"),
            recovered_from=recovered_from,
            drift=drift,
        )
