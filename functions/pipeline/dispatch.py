"""From an artifact upload to a pipeline execution, exactly once per artifact and environment."""

from __future__ import annotations

import json
import re
from typing import Any

from functions import naming

from .lifecycle import Environment
from .settings import FunctionSettings

MANIFEST_KEY = re.compile(r"^(?P<service>[a-z][a-z0-9-]*)/(?P<commit>[0-9a-f]{40})/artifact-manifest\.json\Z")


def dispatch(event: dict[str, Any], *, settings: FunctionSettings, sfn: Any) -> dict[str, Any]:
    detail = event.get("detail") or {}
    bucket = (detail.get("bucket") or {}).get("name", "")
    key = (detail.get("object") or {}).get("key", "")
    match = MANIFEST_KEY.match(key)
    if not match:
        return {"started": False, "reason": f"not an artifact manifest: {key!r}"}
    if bucket == settings.candidate_bucket:
        environment = Environment.STAGE
    elif bucket == settings.release_bucket:
        environment = Environment.PROD
    else:
        return {"started": False, "reason": f"not a pipeline bucket: {bucket!r}"}
    service, commit = match["service"], match["commit"]
    try:
        name = naming.execution_name(service, commit, environment)
    except ValueError as exc:  # a service the stack config would refuse (its name is too long)
        return {"started": False, "reason": str(exc)}
    document = {
        "service": service,
        "commit_sha": commit,
        "environment": environment.value,
        # Identical input for every delivery of the same upload: Step Functions then treats a repeated
        # StartExecution as the same execution (or refuses it once closed), never a second run.
        "trigger": {"source": "s3", "bucket": bucket, "key": key},
    }
    try:
        started = sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps(document))
    except sfn.exceptions.ExecutionAlreadyExists:
        return {"started": False, "duplicate": True, "execution_name": name}
    return {"started": True, "execution_arn": started["executionArn"], "execution_name": name}
