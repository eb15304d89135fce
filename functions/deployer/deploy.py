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
one deadline (`timeout_seconds`) bounds the whole deploy.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .assembly import Stack, read_template
from .errors import (
    AssemblyError,
    DeployerError,
    DeployFailed,
    DeployTimeout,
    DriftDetected,
    ManualInterventionRequired,
)

MAX_TEMPLATE_BODY_BYTES = 51_200
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
SUCCESS_STATES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE"})
# States an existing stack may be updated from.
UPDATABLE_STATES = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
        "CREATE_FAILED",  # only reachable with rollback disabled; CloudFormation accepts an update
        "UPDATE_FAILED",  # idem
    }
)
FAILED_CREATE_STATES = frozenset({"ROLLBACK_COMPLETE", "ROLLBACK_FAILED"})
NO_CHANGES = re.compile(r"didn.t contain changes|no updates are to be performed", re.IGNORECASE)
CANCELLED = re.compile(r"resource (creation|update|deletion) cancelled", re.IGNORECASE)
MAX_FAILED_EVENTS = 5
ENVIRONMENTS = ("stage", "prod")

Log = Callable[[str], None]
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

    @property
    def totals(self) -> dict[str, Any]:
        counts = {
            action: sum(s.action == action for s in self.stacks) for action in ("created", "updated", "unchanged")
        }
        return {"stacks": len(self.stacks), **counts, "seconds": round(self.seconds, 3)}

    def to_dict(self) -> dict[str, Any]:
        return {"stacks": [asdict(s) for s in self.stacks], "totals": self.totals}


def change_set_name(stack: str, deployment_id: str) -> str:
    """`{stack}-{deployment_id}` made valid (`[a-zA-Z][-a-zA-Z0-9]*`, at most 128 characters).

    Deterministic for one deployment (a retry finds its own change set) and unique across
    deployments: when truncation would cut into the deployment id, a digest of the full name is kept."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", f"{stack}-{deployment_id}").strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name[:1].isalpha():
        name = f"cs-{name}"
    if len(name) > 128:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = f"{name[: 128 - 17].rstrip('-')}-{digest}"
    return name


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
    deployer = _Deployer(
        cfn=session.client("cloudformation", config=Config(retries={"mode": "standard", "max_attempts": 10})),
        execution_role_arn="",
        stack_policy=None,
        prod=True,
        detect_drift=True,
        allow_drift=allow_drift,
        deployment_id="drift-check",
        poll_seconds=poll_seconds,
        clock=clock,
        sleep=sleep,
        deadline=clock() + timeout_seconds,
        log=log,
    )
    states: dict[str, str] = {}
    for stack in stacks:
        current = deployer._describe(stack.name)
        states[stack.name] = "NEW" if current is None else deployer._check_drift(stack.name, current["StackId"])
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
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, not {environment!r}")
    deployer = _Deployer(
        cfn=session.client("cloudformation", config=Config(retries={"mode": "standard", "max_attempts": 10})),
        execution_role_arn=execution_role_arn,
        stack_policy=json.dumps(stack_policy, sort_keys=True) if stack_policy is not None else None,
        prod=environment == "prod",
        detect_drift=detect_drift,
        allow_drift=allow_drift,
        deployment_id=deployment_id or uuid.uuid4().hex,
        poll_seconds=poll_seconds,
        clock=clock,
        sleep=sleep,
        deadline=clock() + timeout_seconds,
        log=log,
    )
    result = DeployResult()
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


@dataclass
class _Deployer:
    cfn: Any
    execution_role_arn: str
    stack_policy: str | None
    prod: bool
    detect_drift: bool
    allow_drift: bool
    deployment_id: str
    poll_seconds: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    deadline: float
    log: Log

    def deploy(self, stack: Stack, template: dict[str, str]) -> StackResult:
        started = self.clock()
        name = stack.name
        try:
            current, recovered_from = self._prepare(name)
            drift = None
            if current is not None and self.prod and self.detect_drift:
                drift = self._check_drift(name, current["StackId"])
            change_set_type = "CREATE" if current is None else "UPDATE"
            change_set = self._create_change_set(stack, template, change_set_type)
            change_set_id = change_set["Id"]
            described = self._wait_change_set(name, change_set_id)
            if described["Status"] == "FAILED":
                self._call(name, "DeleteChangeSet", self.cfn.delete_change_set, ChangeSetName=change_set_id)
                self.log(f"{name}: no changes; change set deleted")
                self._set_stack_policy(name, change_set["StackId"])
                status = current["StackStatus"] if current else "UNKNOWN"
                return self._result(
                    stack, "unchanged", status, change_set_id, started, change_set, recovered_from, drift
                )
            if change_set_type == "UPDATE":
                self._set_stack_policy(name, change_set["StackId"])
            self.log(f"{name}: executing change set {change_set_id}")
            self._call(name, "ExecuteChangeSet", self.cfn.execute_change_set, ChangeSetName=change_set_id)
            final = self._wait_settled(name, change_set["StackId"], "the change set to execute")
            status = final["StackStatus"]
            if status not in SUCCESS_STATES:
                events = self._failed_events(change_set["StackId"], since=described.get("CreationTime"))
                reason = final.get("StackStatusReason") or "the change set did not complete"
                raise DeployFailed(name, status, reason, events)
            if change_set_type == "CREATE":
                self._set_stack_policy(name, change_set["StackId"])
            action = "created" if change_set_type == "CREATE" else "updated"
            self.log(f"{name}: {status}")
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
            seconds=round(self.clock() - started, 3),
            stack_id=change_set.get("StackId"),
            recovered_from=recovered_from,
            drift=drift,
        )

    # --- state of the stack -----------------------------------------------------------------------

    def _describe(self, name_or_id: str) -> dict[str, Any] | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=name_or_id)["Stacks"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
                return None
            raise
        return stacks[0] if stacks else None

    def _prepare(self, name: str) -> tuple[dict[str, Any] | None, str | None]:
        """The stack to update (None: create it), after repairing what may be repaired."""
        recovered_from: str | None = None
        continued_rollback = False
        while True:
            current = self._describe(name)
            status = current["StackStatus"] if current else None
            if current is None or status == "DELETE_COMPLETE":
                self.log(f"{name}: new stack")
                return None, recovered_from
            if status == "REVIEW_IN_PROGRESS":
                # Created by a CREATE change set that was never executed: no resources; CloudFormation
                # accepts a new CREATE change set for it.
                self.log(f"{name}: REVIEW_IN_PROGRESS (never executed); creating it")
                return None, recovered_from
            if status.endswith("_IN_PROGRESS"):
                self.log(f"{name}: {status}; waiting for it to settle")
                self._wait_settled(name, current["StackId"], f"{status} to settle")
                continue
            if status in UPDATABLE_STATES:
                self.log(f"{name}: {status}; updating")
                return current, recovered_from
            if status in FAILED_CREATE_STATES:
                self._delete_failed_create(name, current)
                recovered_from = status
                continue
            if status == "UPDATE_ROLLBACK_FAILED" and not continued_rollback:
                self._continue_update_rollback(name, current)
                continued_rollback = True
                recovered_from = status
                continue
            if status == "UPDATE_ROLLBACK_FAILED":
                raise ManualInterventionRequired(
                    name,
                    status,
                    "ContinueUpdateRollback did not complete the rollback; an operator must continue it "
                    "with --resources-to-skip for the resources that cannot roll back",
                )
            raise ManualInterventionRequired(
                name, status, current.get("StackStatusReason") or "the deployer cannot repair this state"
            )

    def _delete_failed_create(self, name: str, current: dict[str, Any]) -> None:
        status = current["StackStatus"]
        if self.prod:
            raise ManualInterventionRequired(
                name,
                status,
                "the stack's first create failed and it must be deleted before it can be created again; "
                "the prod deploy role may not delete stacks, so an operator must delete it",
            )
        self.log(f"{name}: {status} after a failed create; deleting it to create it anew")
        self._call(
            name, "DeleteStack", self.cfn.delete_stack, StackName=current["StackId"], RoleARN=self.execution_role_arn
        )
        final = self._wait_settled(name, current["StackId"], "the failed stack to be deleted")
        if final["StackStatus"] != "DELETE_COMPLETE":
            raise ManualInterventionRequired(
                name,
                final["StackStatus"],
                final.get("StackStatusReason") or "deleting the failed stack did not complete",
            )

    def _continue_update_rollback(self, name: str, current: dict[str, Any]) -> None:
        self.log(f"{name}: UPDATE_ROLLBACK_FAILED; continuing the rollback")
        self._call(
            name,
            "ContinueUpdateRollback",
            self.cfn.continue_update_rollback,
            StackName=current["StackId"],
            RoleARN=self.execution_role_arn,
        )
        final = self._wait_settled(name, current["StackId"], "the rollback to complete")
        self.log(f"{name}: rollback ended in {final['StackStatus']}")

    # --- drift ------------------------------------------------------------------------------------

    def _check_drift(self, name: str, stack_id: str) -> str:
        """IN_SYNC, or DRIFTED when an override allows it; raises `DriftDetected` otherwise.

        CloudFormation does not follow nested stacks when detecting drift, so each nested stack is
        checked as well."""
        drifts: list[dict[str, Any]] = []
        failures: list[str] = []
        for checked_id, label in self._stack_and_nested(name, stack_id):
            self.log(f"{name}: detecting drift of {label}")
            detection = self._call(name, "DetectStackDrift", self.cfn.detect_stack_drift, StackName=checked_id)
            detection_id = detection["StackDriftDetectionId"]

            def probe(detection_id: str = detection_id) -> dict[str, Any] | None:
                status = self.cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
                return None if status["DetectionStatus"] == "DETECTION_IN_PROGRESS" else status

            status = self._wait(name, f"drift detection of {label}", probe)
            if status["DetectionStatus"] == "DETECTION_FAILED" and status.get("StackDriftStatus") != "DRIFTED":
                failures.append(f"{label}: {status.get('DetectionStatusReason') or 'detection failed'}")
            if status.get("StackDriftStatus") == "DRIFTED":
                drifts += [{**d, "stack": label} for d in self._drifted_resources(checked_id)]
        if not drifts and not failures:
            self.log(f"{name}: IN_SYNC")
            return "IN_SYNC"
        reason = "; ".join(([f"{len(drifts)} drifted resource(s)"] if drifts else []) + failures)
        if not self.allow_drift:
            raise DriftDetected(name, drifts, reason)
        self.log(f"{name}: drift allowed by override: {reason}")
        return "DRIFTED"

    def _stack_and_nested(self, name: str, stack_id: str) -> list[tuple[str, str]]:
        found = [(stack_id, name)]
        queue = [stack_id]
        while queue:
            resources = self._call(
                name, "DescribeStackResources", self.cfn.describe_stack_resources, StackName=queue.pop(0)
            )["StackResources"]
            for resource in resources:
                physical = resource.get("PhysicalResourceId")
                if resource["ResourceType"] == "AWS::CloudFormation::Stack" and physical:
                    if resource.get("ResourceStatus", "").startswith("DELETE"):
                        continue
                    found.append((physical, f"{name}/{resource['LogicalResourceId']}"))
                    queue.append(physical)
        return found

    def _drifted_resources(self, stack_id: str) -> list[dict[str, Any]]:
        drifts: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StackName": stack_id, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]}
        while True:
            page = self.cfn.describe_stack_resource_drifts(**kwargs)
            for drift in page.get("StackResourceDrifts", []):
                drifts.append(
                    {
                        "logical_resource_id": drift["LogicalResourceId"],
                        "physical_resource_id": drift.get("PhysicalResourceId"),
                        "resource_type": drift["ResourceType"],
                        "status": drift["StackResourceDriftStatus"],
                        "differences": [
                            {
                                "path": d.get("PropertyPath"),
                                "expected": d.get("ExpectedValue"),
                                "actual": d.get("ActualValue"),
                                "type": d.get("DifferenceType"),
                            }
                            for d in drift.get("PropertyDifferences", [])
                        ],
                    }
                )
            if not page.get("NextToken"):
                return drifts
            kwargs["NextToken"] = page["NextToken"]

    # --- change sets --------------------------------------------------------------------------------

    def _create_change_set(self, stack: Stack, template: dict[str, str], change_set_type: str) -> dict[str, Any]:
        cs_name = change_set_name(stack.name, self.deployment_id)
        arguments: dict[str, Any] = {
            "StackName": stack.name,
            "ChangeSetName": cs_name,
            "ChangeSetType": change_set_type,
            "RoleARN": self.execution_role_arn,
            "Capabilities": list(CAPABILITIES),
            "IncludeNestedStacks": True,
            "Description": f"cdkcp deployment {self.deployment_id}"[:1024],
            **template,
        }
        if stack.tags:
            arguments["Tags"] = [{"Key": k, "Value": v} for k, v in stack.tags.items()]
        if stack.parameters:
            arguments["Parameters"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in stack.parameters.items()]
        how = "inline template" if "TemplateBody" in template else f"template {template['TemplateURL']}"
        self.log(f"{stack.name}: creating {change_set_type} change set {cs_name} ({how})")
        try:
            return self.cfn.create_change_set(**arguments)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "AlreadyExistsException":
                raise
        # A retry of this deployment: its earlier change set was never executed (CloudFormation deletes
        # a stack's change sets once one is executed). Replace it; the template may have been re-read.
        self.log(f"{stack.name}: change set {cs_name} exists from an earlier attempt; replacing it")
        self.cfn.delete_change_set(StackName=stack.name, ChangeSetName=cs_name)
        return self.cfn.create_change_set(**arguments)

    def _wait_change_set(self, name: str, change_set_id: str) -> dict[str, Any]:
        """The described change set once it is executable, or FAILED with no changes."""

        def probe() -> dict[str, Any] | None:
            described = self.cfn.describe_change_set(ChangeSetName=change_set_id)
            status = described["Status"]
            if status == "CREATE_COMPLETE" and described.get("ExecutionStatus") == "AVAILABLE":
                return described
            if status == "FAILED":
                return described
            if status in ("DELETE_COMPLETE", "DELETE_FAILED"):
                raise DeployFailed(name, status, f"change set {change_set_id} was deleted before it could execute")
            return None  # CREATE_PENDING, CREATE_IN_PROGRESS, or not yet AVAILABLE (nested change sets)

        described = self._wait(name, "the change set to be created", probe)
        if described["Status"] == "FAILED" and not NO_CHANGES.search(described.get("StatusReason") or ""):
            raise DeployFailed(
                name, "FAILED", f"change set failed: {described.get('StatusReason') or 'no reason given'}"
            )
        return described

    def _set_stack_policy(self, name: str, stack_id: str) -> None:
        if self.stack_policy is None:
            return
        self.log(f"{name}: applying the stack policy")
        self._call(
            name, "SetStackPolicy", self.cfn.set_stack_policy, StackName=stack_id, StackPolicyBody=self.stack_policy
        )

    # --- waiting ------------------------------------------------------------------------------------

    def _wait_settled(self, name: str, stack_id: str, what: str) -> dict[str, Any]:
        """The stack once no operation is in progress (by id: a deleted stack is still described)."""
        last: dict[str, Any] = {}

        def probe() -> dict[str, Any] | None:
            current = self._describe(stack_id)
            if current is None:
                return {"StackId": stack_id, "StackName": name, "StackStatus": "DELETE_COMPLETE"}
            last["status"] = current["StackStatus"]
            return None if current["StackStatus"].endswith("_IN_PROGRESS") else current

        return self._wait(name, what, probe, last)

    def _wait(
        self,
        name: str,
        what: str,
        probe: Callable[[], dict[str, Any] | None],
        last: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        while True:
            value = probe()
            if value is not None:
                return value
            if self.clock() + self.poll_seconds > self.deadline:
                status = (last or {}).get("status")
                raise DeployTimeout(
                    name,
                    status,
                    f"deadline reached while waiting for {what}; CloudFormation continues server-side, "
                    "so inspect the stack before deploying again",
                )
            self.sleep(self.poll_seconds)

    def _failed_events(self, stack_id: str, since: datetime | None) -> list[dict[str, Any]]:
        """The first failed resource events of this operation, root causes before cancellations."""
        failed: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StackName": stack_id}
        try:
            more = True
            while more:
                page = self.cfn.describe_stack_events(**kwargs)
                for event in page.get("StackEvents", []):  # newest first
                    if since is not None and event["Timestamp"] < since:
                        more = False  # older than this deployment's change set
                        break
                    if event.get("ResourceStatus", "").endswith("_FAILED"):
                        failed.append(event)
                if more and page.get("NextToken"):
                    kwargs["NextToken"] = page["NextToken"]
                else:
                    more = False
        except (ClientError, BotoCoreError) as exc:
            self.log(f"could not read the stack events: {exc}")
        failed.reverse()  # oldest first: the first failure is the cause
        failed.sort(key=lambda e: bool(CANCELLED.search(e.get("ResourceStatusReason") or "")))
        return [
            {
                "logical_resource_id": e.get("LogicalResourceId"),
                "resource_type": e.get("ResourceType"),
                "status": e.get("ResourceStatus"),
                "reason": e.get("ResourceStatusReason") or "",
                "timestamp": e["Timestamp"].isoformat() if isinstance(e.get("Timestamp"), datetime) else None,
            }
            for e in failed[:MAX_FAILED_EVENTS]
        ]

    def _call(self, name: str, operation: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise DeployFailed(name, None, f"{operation} failed: {error.get('Code')}: {error.get('Message')}") from exc
