"""What the `DeployArtifactPipeline` definition points at (`definition.build_definition`): pure data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.pipeline import lifecycle as lc


@dataclass(frozen=True)
class PipelineResources:
    """What the definition points at. Values are strings or Pulumi Outputs."""

    table_name: Any
    transition_function: Any
    validate_function: Any
    promote_function: Any
    rollback_plan_function: Any
    finalizer_function: Any
    deploy_projects: dict[str, Any]  # environment -> CodeBuild project name
    test_projects: dict[str, Any]  # environment -> CodeBuild project name (stage tests, prod smoke)
    # function -> its timeout in seconds (`functions.FUNCTION_SPECS`): each Lambda task's own
    function_timeouts: Mapping[str, int]
    max_rollback_attempts: int = lc.DEFAULT_MAX_ROLLBACK_ATTEMPTS

    def timeout(self, function: str) -> int:
        if function not in self.function_timeouts:
            raise ValueError(
                f"no timeout for the {function!r} function (function_timeouts names {sorted(self.function_timeouts)})"
            )
        return int(self.function_timeouts[function])

    def lambda_timeouts(self) -> dict[Any, int]:
        """A Lambda task's Resource -> its function's timeout (an Output is its own key: by identity)."""
        functions = {
            "transition": self.transition_function,
            "validate": self.validate_function,
            "promote": self.promote_function,
            "rollback-plan": self.rollback_plan_function,
            "finalizer": self.finalizer_function,
        }
        return {arn: self.timeout(function) for function, arn in functions.items()}


__all__ = ["PipelineResources"]
