"""An artifact's lifecycle and per-environment state, as an operator reads it at a glance."""

from __future__ import annotations

from typing import Any

from .lifecycle import LOCK_RECORD, SERVICE_RECORD, Environment

PIPELINE_RECORD_PREFIX = "_"
assert SERVICE_RECORD.startswith(PIPELINE_RECORD_PREFIX) and LOCK_RECORD.startswith(PIPELINE_RECORD_PREFIX)


def _short(commit: str | None) -> str:
    return (commit or "-")[:12]


def _seconds(value: Any) -> str:
    return f"{float(value):.1f} s" if value is not None else "-"


def environment_line(item: dict[str, Any], environment: str) -> str:
    state = item.get("environment_states", {}).get(environment, {})
    test_word = "smoke" if environment == Environment.PROD else "tests"
    return (
        f"  {environment:<5}  {state.get('status', '-'):<18} {test_word} {state.get('test_status', '-'):<13}"
        f" deploy {_seconds(item.get(f'{environment}_deploy_duration_seconds')):>8}"
        f"   {test_word} {_seconds(item.get(f'{environment}_test_duration_seconds')):>8}"
    )


def describe(item: dict[str, Any], service_record: dict[str, Any] | None = None) -> str:
    lines = [
        f"{item['service']} @ {_short(item['commit_sha'])}  status {item.get('status', '-')}"
        f"  built {item.get('build_time', '-')}  artifact {str(item.get('artifact_sha256', '-'))[:16]}…",
        environment_line(item, Environment.STAGE),
        environment_line(item, Environment.PROD),
    ]
    extras = [f"health {item['global_health_status']}"] if item.get("global_health_status") else []
    if item.get("last_known_good_commit"):
        extras.append(f"last_known_good_commit {_short(item['last_known_good_commit'])}")
    if service_record and service_record.get("last_known_good_commit"):
        extras.append(f"service prod known good {_short(service_record['last_known_good_commit'])}")
    if item.get("rollback_target_commit"):
        attempts = item.get("rollback_attempts", 0)
        extras.append(f"rolled back to {_short(item['rollback_target_commit'])} after {attempts} attempt(s)")
    if item.get("eligibility_revoked"):
        extras.append("eligibility revoked (needs a signed override)")
    if item.get("manual_intervention_required"):
        extras.append("MANUAL INTERVENTION REQUIRED")
    if item.get("execution_status"):
        extras.append(f"last run {item['execution_status']}")
    if extras:
        lines.append("  " + " | ".join(extras))
    return "\n".join(lines)


def summary_line(item: dict[str, Any]) -> str:
    states = item.get("environment_states", {})
    stage, prod = states.get(Environment.STAGE, {}), states.get(Environment.PROD, {})
    return (
        f"{_short(item['commit_sha'])}  {item.get('status', '-'):<18}"
        f" stage {stage.get('status', '-')}/{stage.get('test_status', '-'):<12}"
        f" prod {prod.get('status', '-')}/{prod.get('test_status', '-'):<12} built {item.get('build_time', '-')}"
    )


def service_items(table: Any, service: str) -> list[dict[str, Any]]:
    """Every artifact of the service, newest build first (one Query on the partition key)."""
    from boto3.dynamodb.conditions import Key

    from .store import plain

    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"KeyConditionExpression": Key("service").eq(service)}
    while True:
        page = table.query(**arguments)
        # The pipeline's own records beside the artifacts (`_service`, `_lock#{env}`, `_revoked#<sha256>`)
        # are keyed `_...`; a commit is hex.
        items += [
            plain(i) for i in page.get("Items", []) if not str(i["commit_sha"]).startswith(PIPELINE_RECORD_PREFIX)
        ]
        if "LastEvaluatedKey" not in page:
            break
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(items, key=lambda i: i.get("build_time", ""), reverse=True)
