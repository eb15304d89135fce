"""CloudFormation operations moto 5.2.5 lacks or gets wrong, bridged for tests (never the product,
which follows real CloudFormation):

- `ContinueUpdateRollback` is not implemented: moves a stack from `UPDATE_ROLLBACK_FAILED` to
  `bridge.rollback_outcome` (by default `UPDATE_ROLLBACK_COMPLETE`, as real CloudFormation does when
  every resource rolls back);
- drift detection (`DetectStackDrift`, `DescribeStackDriftDetectionStatus`,
  `DescribeStackResourceDrifts`) is not implemented: served from `bridge.drifts` (stack name ->
  drifted resources), with one `DETECTION_IN_PROGRESS` poll before the detection completes;
- a stack created or updated through a change set gets no Outputs/Exports, and a stack created
  through a change set before any export existed never sees later ones: after `ExecuteChangeSet` the
  stack's outputs are rebuilt from the executed template and its exports registered, and every stack
  resolves `Fn::ImportValue` against the account's current exports;
- `Fn::GetAtt` of a nested stack's `Outputs.<name>` is not implemented: answered from the nested
  stack's outputs.
They go through moto's real request parsing and botocore's response parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CfnBridge:
    """State behind the operations that moto lacks (see the module docstring)."""

    rollback_outcome: str = "UPDATE_ROLLBACK_COMPLETE"
    drifts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failed_detections: dict[str, str] = field(default_factory=dict)  # stack name -> DetectionStatusReason
    detections: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _register_change_set_outputs(monkeypatch: Any) -> None:
    from moto.cloudformation import models

    original = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None
        )
        stack = self.stacks[change_set.stack_id] if change_set is not None else None
        if stack is not None:
            stack.cross_stack_resources = self.exports
            stack.resource_map.cross_stack_resources = self.exports
        original(self, change_set_name, stack_name)
        if stack is not None:
            stack.template_dict = change_set.template_dict
            stack.output_map = stack._create_output_map()
            for export in stack.exports:
                self.exports[export.name] = export

    def get_cfn_attribute(self: Any, attribute: str) -> Any:
        if attribute.startswith("Outputs."):
            return self.output_map[attribute.split(".", 1)[1]].value
        raise AttributeError(attribute)

    monkeypatch.setattr(models.CloudFormationBackend, "execute_change_set", execute_change_set)
    monkeypatch.setattr(models.Stack, "get_cfn_attribute", get_cfn_attribute, raising=False)


def install_cfn_bridges(monkeypatch: Any) -> CfnBridge:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult, EmptyResult

    state = CfnBridge()
    _register_change_set_outputs(monkeypatch)

    def continue_update_rollback(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        state.calls.append(("ContinueUpdateRollback", {"StackName": stack.name, "RoleARN": self._get_param("RoleARN")}))
        if stack.status != "UPDATE_ROLLBACK_FAILED":
            raise ValidationError(stack.stack_id, message=f"Stack {stack.name} is in {stack.status} state")
        stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason="User Initiated")
        stack._add_stack_event(state.rollback_outcome)
        stack.status = state.rollback_outcome
        return EmptyResult()

    def detect_stack_drift(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        detection_id = f"drift-{len(state.detections) + 1}"
        state.detections[detection_id] = {"stack": stack, "polls": 0}
        state.calls.append(("DetectStackDrift", {"StackName": stack.name}))
        return ActionResult({"StackDriftDetectionId": detection_id})

    def describe_stack_drift_detection_status(self: Any) -> Any:
        detection_id = self._get_param("StackDriftDetectionId")
        detection = state.detections[detection_id]
        detection["polls"] += 1
        stack = detection["stack"]
        result: dict[str, Any] = {
            "StackId": stack.stack_id,
            "StackDriftDetectionId": detection_id,
            "DetectionStatus": "DETECTION_IN_PROGRESS",
            "Timestamp": "2026-01-01T00:00:00Z",
        }
        if detection["polls"] > 1:
            drifted = state.drifts.get(stack.name, [])
            result["StackDriftStatus"] = "DRIFTED" if drifted else "IN_SYNC"
            result["DriftedStackResourceCount"] = len(drifted)
            result["DetectionStatus"] = "DETECTION_COMPLETE"
            if stack.name in state.failed_detections:
                result["DetectionStatus"] = "DETECTION_FAILED"
                result["DetectionStatusReason"] = state.failed_detections[stack.name]
        return ActionResult(result)

    def describe_stack_resource_drifts(self: Any) -> Any:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        drifts = [
            {
                "StackId": stack.stack_id,
                "LogicalResourceId": d["LogicalResourceId"],
                "PhysicalResourceId": d.get("PhysicalResourceId", d["LogicalResourceId"]),
                "ResourceType": d["ResourceType"],
                "StackResourceDriftStatus": d.get("StackResourceDriftStatus", "MODIFIED"),
                "PropertyDifferences": d.get("PropertyDifferences", []),
                "Timestamp": "2026-01-01T00:00:00Z",
            }
            for d in state.drifts.get(stack.name, [])
        ]
        return ActionResult({"StackResourceDrifts": drifts})

    for method in (
        continue_update_rollback,
        detect_stack_drift,
        describe_stack_drift_detection_status,
        describe_stack_resource_drifts,
    ):
        monkeypatch.setattr(CloudFormationResponse, method.__name__, method, raising=False)
    return state
