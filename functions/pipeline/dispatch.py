"""From an artifact upload to a pipeline execution, exactly once per artifact and environment.

Two doors, one rule for starting a run (`start_run`): a manifest in the candidate bucket goes through
intake (`intake.py`: it verifies the manifest and creates the candidate item, then starts the stage
run); a manifest in the release bucket (written by promotion, never by CI) goes to the dispatcher, which
starts the prod run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from functions import naming

from .lifecycle import Environment
from .settings import FunctionSettings

MANIFEST_KEY = re.compile(r"^(?P<service>[a-z][a-z0-9-]*)/(?P<commit>[0-9a-f]{40})/artifact-manifest\.json\Z")


def uploaded_object(event: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) of an S3 `Object Created` event delivered by EventBridge ("" where absent)."""
    detail = event.get("detail") if isinstance(event, dict) else None
    detail = detail if isinstance(detail, dict) else {}
    bucket, obj = detail.get("bucket"), detail.get("object")
    name = bucket.get("name", "") if isinstance(bucket, dict) else ""
    key = obj.get("key", "") if isinstance(obj, dict) else ""
    return (name if isinstance(name, str) else ""), (key if isinstance(key, str) else "")


def start_run(
    *,
    settings: FunctionSettings,
    sfn: Any,
    service: str,
    commit: str,
    environment: Environment,
    bucket: str,
    key: str,
    attempt: int = 1,
    trigger: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Start attempt `attempt` of the environment's run of `service@commit` (intake and the dispatcher
    start attempt 1, the sweeper the next one); a repeated call is the same run, never a second."""
    try:
        name = naming.execution_name(service, commit, environment, attempt)
    except ValueError as exc:  # a service the stack config would refuse (its name is too long)
        return {"started": False, "reason": str(exc)}
    document = {
        "service": service,
        "commit_sha": commit,
        "environment": environment.value,
        # Identical input for every delivery of the same upload: Step Functions then treats a repeated
        # StartExecution as the same execution (or refuses it once closed), never a second run.
        "trigger": dict(trigger) if trigger else {"source": "s3", "bucket": bucket, "key": key},
    }
    try:
        started = sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps(document))
    except sfn.exceptions.ExecutionAlreadyExists:
        return {"started": False, "duplicate": True, "execution_name": name}
    return {"started": True, "execution_arn": started["executionArn"], "execution_name": name}


def dispatch(event: dict[str, Any], *, settings: FunctionSettings, sfn: Any) -> dict[str, Any]:
    """A release manifest (promotion's upload) starts the prod run."""
    bucket, key = uploaded_object(event)
    match = MANIFEST_KEY.match(key)
    if not match:
        return {"started": False, "reason": f"not an artifact manifest: {key!r}"}
    if bucket == settings.candidate_bucket:
        return {"started": False, "reason": f"{bucket!r} is the candidate bucket: its manifests go through intake"}
    if bucket != settings.release_bucket:
        return {"started": False, "reason": f"not a pipeline bucket: {bucket!r}"}
    return start_run(
        settings=settings,
        sfn=sfn,
        service=match["service"],
        commit=match["commit"],
        environment=Environment.PROD,
        bucket=bucket,
        key=key,
    )
