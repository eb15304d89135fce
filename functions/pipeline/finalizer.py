"""The finalizer step at the end of every pipeline path (spec: Metadata Finalizer).

It compares the metadata with the real state of the service's stacks (read through the read-only role
in the service's account) and with how the run ended, and corrects what a crash, a timeout or a lost
step left behind: an execution still `running`, an environment still `deploying` or `test_running`,
`deployed` recorded while a stack is failed. Corrections emit `FinalizerCorrectedMetadata` and the
`FinalizerCorrected` metric.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import vocabulary as v
from .notify import Notifier
from .store import MetadataTable, Update, now_iso

FAILED_STACK = re.compile(r"(_FAILED|^ROLLBACK_COMPLETE|^ROLLBACK_IN_PROGRESS)$")


def stack_names(cloud_assembly: dict[str, Any], service: str, environment: str) -> list[str]:
    """The artifact's stacks for this environment, from its `cdk.out/manifest.json`."""
    names = []
    for artifact_id, artifact in (cloud_assembly.get("artifacts") or {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        name = (artifact.get("properties") or {}).get("stackName") or artifact_id
        if name.startswith(f"{service}-{environment}-"):
            names.append(name)
    return sorted(names)


def stack_statuses(cloudformation: Any, names: list[str]) -> dict[str, str]:
    """Each stack described by name: the read-only role may describe only the service's stacks."""
    from botocore.exceptions import ClientError

    statuses: dict[str, str] = {}
    for name in names:
        try:
            statuses[name] = cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        except ClientError as exc:
            if "does not exist" not in str(exc):
                raise
            statuses[name] = "NOT_FOUND"
    return statuses


def finalize(
    event: dict[str, Any],
    *,
    table: MetadataTable,
    notify: Notifier,
    metric: Callable[[str, float], None],
    cloudformation_for: Callable[[str, str], Any],
    cloud_assembly_for: Callable[[str, str, str], dict[str, Any]],
) -> dict[str, Any]:
    service, commit_sha, environment = event["service"], event["commit_sha"], event["environment"]
    execution_id = event["execution_id"]
    outcome = (event.get("outcome") or {}).get("value") or {}
    if outcome.get("action") == "lease_lost":
        # This run never owned the item: nothing of it to finalize.
        return {"succeeded": bool(outcome.get("succeeded")), "lease_lost": outcome.get("reason"), "corrections": []}
    item = table.get(service, commit_sha)
    if item is None or item.get("execution_id") != execution_id:
        return {"succeeded": False, "corrections": [], "reason": "the item belongs to another execution"}

    env_key = f"environment_states.{environment}"
    env_state = item.get("environment_states", {}).get(environment, {})
    stacks: dict[str, str] = {}
    try:
        names = stack_names(cloud_assembly_for(service, commit_sha, environment), service, environment)
        stacks = stack_statuses(cloudformation_for(service, environment), names)
    except Exception as exc:  # an unreachable account must not stop the metadata from being finalized
        stacks = {"<unavailable>": str(exc)[:200]}

    corrections: list[str] = []
    sets: dict[str, Any] = {}
    error = (event.get("error") or {}).get("Error", "")
    if item.get("execution_status") == v.RUNNING:
        sets["execution_status"] = v.TIMEOUT if error == "States.Timeout" else v.EXECUTION_FAILED
        sets["execution_completed_at"] = now_iso()
        corrections.append(f"execution_status running -> {sets['execution_status']}")
    if env_state.get("status") == v.DEPLOYING:
        sets[f"{env_key}.status"] = v.FAILED
        corrections.append("environment deploying -> failed")
    if env_state.get("test_status") == v.TEST_RUNNING:
        sets[f"{env_key}.test_status"] = v.NOT_TESTED
        corrections.append("test_running -> not_tested")
    broken = [name for name, status in stacks.items() if FAILED_STACK.search(status) or status == "NOT_FOUND"]
    if env_state.get("status") == v.ENV_DEPLOYED and broken:
        sets[f"{env_key}.status"] = v.FAILED
        corrections.append(f"deployed, but stacks failed: {', '.join(broken)}")

    now = now_iso()
    sets.update(
        {
            "finalizer_ran": True,
            "finalizer_ran_at": now,
            "finalizer_correction_applied": bool(corrections),
            f"{env_key}.stacks": stacks,
        }
    )
    if corrections:
        sets.update({"finalizer_corrected": True, "finalizer_corrected_at": now})
    applied = table.update(service, commit_sha, Update(sets=sets, conditions=[("execution_id", "=", execution_id)]))
    if applied and corrections:
        notify.event(
            v.FINALIZER_CORRECTED_METADATA,
            {"service": service, "commit_sha": commit_sha, "environment": environment, "corrections": corrections},
        )
    metric("FinalizerCorrected", 1 if corrections else 0)
    succeeded = bool(outcome.get("succeeded")) and not corrections
    return {"succeeded": succeeded, "corrections": corrections, "stacks": stacks}


__all__ = ["finalize", "stack_names", "stack_statuses"]
