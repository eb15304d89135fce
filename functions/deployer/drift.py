"""The prod drift gate: `DetectStackDrift` on a stack and each of its nested stacks (CloudFormation
does not follow nested stacks when detecting drift). Drift, or a detection that failed, aborts the
deploy with `DriftDetected` unless a signed override allows it."""

from __future__ import annotations

from typing import Any

from .errors import DeployFailed, DriftDetected
from .stacks import StackClient


def detect_drift(stacks: StackClient, name: str, stack_id: str, *, allow_drift: bool) -> str:
    """IN_SYNC, or DRIFTED when an override allows it; raises `DriftDetected` otherwise."""
    drifts: list[dict[str, Any]] = []
    failures: list[str] = []
    for checked_id, label in _stack_and_nested(stacks, name, stack_id):
        stacks.log(f"{name}: detecting drift of {label}")
        detection = stacks.call(name, "DetectStackDrift", stacks.cfn.detect_stack_drift, StackName=checked_id)
        detection_id = detection["StackDriftDetectionId"]

        def probe(detection_id: str = detection_id) -> dict[str, Any] | None:
            status = stacks.cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection_id)
            return None if status["DetectionStatus"] == "DETECTION_IN_PROGRESS" else status

        status = stacks.waiter.wait(name, f"drift detection of {label}", probe)
        if status["DetectionStatus"] == "DETECTION_FAILED" and status.get("StackDriftStatus") != "DRIFTED":
            failures.append(f"{label}: {status.get('DetectionStatusReason') or 'detection failed'}")
        if status.get("StackDriftStatus") == "DRIFTED":
            drifts += [{**d, "stack": label} for d in _drifted_resources(stacks, checked_id)]
    if not drifts and not failures:
        stacks.log(f"{name}: IN_SYNC")
        return "IN_SYNC"
    reason = "; ".join(([f"{len(drifts)} drifted resource(s)"] if drifts else []) + failures)
    if not drifts:  # detection that did not finish found nothing against the release: not drift
        raise DeployFailed(name, None, f"drift detection did not finish: {reason}")
    if not allow_drift:
        raise DriftDetected(name, drifts, reason)
    stacks.log(f"{name}: drift allowed by override: {reason}")
    return "DRIFTED"


def _stack_and_nested(stacks: StackClient, name: str, stack_id: str) -> list[tuple[str, str]]:
    found = [(stack_id, name)]
    queue = [stack_id]
    while queue:
        resources = stacks.call(
            name, "DescribeStackResources", stacks.cfn.describe_stack_resources, StackName=queue.pop(0)
        )["StackResources"]
        for resource in resources:
            physical = resource.get("PhysicalResourceId")
            if resource["ResourceType"] == "AWS::CloudFormation::Stack" and physical:
                if resource.get("ResourceStatus", "").startswith("DELETE"):
                    continue
                found.append((physical, f"{name}/{resource['LogicalResourceId']}"))
                queue.append(physical)
    return found


def _drifted_resources(stacks: StackClient, stack_id: str) -> list[dict[str, Any]]:
    drifts: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StackName": stack_id, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]}
    while True:
        page = stacks.cfn.describe_stack_resource_drifts(**kwargs)
        drifts += [_drift(drift) for drift in page.get("StackResourceDrifts", [])]
        if not page.get("NextToken"):
            return drifts
        kwargs["NextToken"] = page["NextToken"]


def _drift(drift: dict[str, Any]) -> dict[str, Any]:
    return {
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
