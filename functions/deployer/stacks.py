"""One stack's view of CloudFormation: describe it, call an operation on it, wait for it to settle and
read why it failed. Shared by the change sets, the repairs and the drift gate."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import DeployFailed
from .waiting import Waiter

CANCELLED = re.compile(r"resource (creation|update|deletion) cancelled", re.IGNORECASE)
MAX_FAILED_EVENTS = 5

Log = Callable[[str], None]


@dataclass(frozen=True)
class StackClient:
    cfn: Any
    waiter: Waiter
    log: Log

    def describe(self, name_or_id: str) -> dict[str, Any] | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=name_or_id)["Stacks"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
                return None
            raise
        return stacks[0] if stacks else None

    def call(self, name: str, operation: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        """`method(**kwargs)`; an AWS error is `DeployFailed` naming the stack and the operation."""
        try:
            return method(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise DeployFailed(name, None, f"{operation} failed: {error.get('Code')}: {error.get('Message')}") from exc

    def wait_settled(self, name: str, stack_id: str, what: str) -> dict[str, Any]:
        """The stack once no operation is in progress (by id: a deleted stack is still described)."""
        last: dict[str, Any] = {}

        def probe() -> dict[str, Any] | None:
            current = self.describe(stack_id)
            if current is None:
                return {"StackId": stack_id, "StackName": name, "StackStatus": "DELETE_COMPLETE"}
            last["status"] = current["StackStatus"]
            return None if current["StackStatus"].endswith("_IN_PROGRESS") else current

        return self.waiter.wait(name, what, probe, last)

    def failed_events(self, stack_id: str, since: datetime | None) -> list[dict[str, Any]]:
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
