"""Change sets: named after the deployment, created with the execution role and the manifest's tags
and parameters, waited for, and recognised as "nothing to change"; and the stack policy they need."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from botocore.exceptions import ClientError

from .assembly import Stack
from .errors import DeployFailed
from .stacks import StackClient

CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
NO_CHANGES = re.compile(r"didn.t contain changes|no updates are to be performed", re.IGNORECASE)


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


def create_change_set(
    stacks: StackClient,
    stack: Stack,
    template: dict[str, str],
    change_set_type: str,
    *,
    deployment_id: str,
    execution_role_arn: str,
) -> dict[str, Any]:
    cs_name = change_set_name(stack.name, deployment_id)
    arguments: dict[str, Any] = {
        "StackName": stack.name,
        "ChangeSetName": cs_name,
        "ChangeSetType": change_set_type,
        "RoleARN": execution_role_arn,
        "Capabilities": list(CAPABILITIES),
        "IncludeNestedStacks": True,
        "Description": f"cdkcp deployment {deployment_id}"[:1024],
        **template,
    }
    if stack.tags:
        arguments["Tags"] = [{"Key": k, "Value": v} for k, v in stack.tags.items()]
    if stack.parameters:
        arguments["Parameters"] = [{"ParameterKey": k, "ParameterValue": v} for k, v in stack.parameters.items()]
    how = "inline template" if "TemplateBody" in template else f"template {template['TemplateURL']}"
    stacks.log(f"{stack.name}: creating {change_set_type} change set {cs_name} ({how})")
    try:
        return stacks.cfn.create_change_set(**arguments)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "AlreadyExistsException":
            raise
    # A retry of this deployment: its earlier change set was never executed (CloudFormation deletes
    # a stack's change sets once one is executed). Replace it; the template may have been re-read.
    stacks.log(f"{stack.name}: change set {cs_name} exists from an earlier attempt; replacing it")
    stacks.cfn.delete_change_set(StackName=stack.name, ChangeSetName=cs_name)
    return stacks.cfn.create_change_set(**arguments)


def wait_change_set(stacks: StackClient, name: str, change_set_id: str) -> dict[str, Any]:
    """The described change set once it is executable, or FAILED with no changes."""

    def probe() -> dict[str, Any] | None:
        described = stacks.cfn.describe_change_set(ChangeSetName=change_set_id)
        status = described["Status"]
        if status == "CREATE_COMPLETE" and described.get("ExecutionStatus") == "AVAILABLE":
            return described
        if status == "FAILED":
            return described
        if status in ("DELETE_COMPLETE", "DELETE_FAILED"):
            raise DeployFailed(name, status, f"change set {change_set_id} was deleted before it could execute")
        return None  # CREATE_PENDING, CREATE_IN_PROGRESS, or not yet AVAILABLE (nested change sets)

    described = stacks.waiter.wait(name, "the change set to be created", probe)
    if described["Status"] == "FAILED" and not NO_CHANGES.search(described.get("StatusReason") or ""):
        raise DeployFailed(name, "FAILED", f"change set failed: {described.get('StatusReason') or 'no reason given'}")
    return described


def set_stack_policy(stacks: StackClient, name: str, stack_id: str, policy: str | None) -> None:
    if policy is None:
        return
    stacks.log(f"{name}: applying the stack policy")
    stacks.call(name, "SetStackPolicy", stacks.cfn.set_stack_policy, StackName=stack_id, StackPolicyBody=policy)
