"""The sweeper as the program declares it: its function (reserved concurrency 1), its least-privilege
role (every statement, no other action), its EventBridge Scheduler schedule and that schedule's role,
and the state machine's inability to invoke it."""

from __future__ import annotations

from typing import Any

from .graph import as_list, inline_policies, of_type, role, statements, trust

TOOLS = "111111111111"
REGION = "us-east-1"
SWEEPER = f"arn:aws:lambda:{REGION}:{TOOLS}:function:cdkcp-sweeper"
TABLE = f"arn:aws:dynamodb:{REGION}:{TOOLS}:table/cdk-artifact-metadata"
MACHINE = f"arn:aws:states:{REGION}:{TOOLS}:stateMachine:cdkcp-DeployArtifactPipeline"


def _policy(graph: dict[str, Any], role_name: str) -> dict[str, dict[str, Any]]:
    (document,) = inline_policies(graph, role(graph, role_name)).values()
    return {s["Sid"]: s for s in statements(document)}


def test_the_sweeper_runs_one_at_a_time_with_its_configured_limits(graphs: dict) -> None:
    (function,) = [
        r["inputs"]
        for r in of_type(graphs["tools"], "aws:lambda/function:Function")
        if r["inputs"]["name"] == "cdkcp-sweeper"
    ]
    assert function["handler"] == "functions.handlers.sweeper.handler"
    assert function["reservedConcurrentExecutions"] == 1 and function["timeout"] == 120
    variables = function["environment"]["variables"]
    # Pulumi.tools.yaml: maxAttempts {stage: 3, prod: 3}, artifactNeverPromotedDays 7
    assert (variables["MAX_ATTEMPTS_STAGE"], variables["MAX_ATTEMPTS_PROD"]) == ("3", "3")
    assert variables["NEVER_PROMOTED_DAYS"] == "7"


def test_the_sweepers_role_may_do_exactly_what_a_sweep_needs(graphs: dict) -> None:
    policy = _policy(graphs["tools"], "cdkcp-fn-sweeper")
    granted = {
        sid: (sorted(as_list(s["Action"])), sorted(map(str, as_list(s["Resource"])))) for sid, s in policy.items()
    }
    executions = f"arn:aws:states:{REGION}:{TOOLS}:execution:cdkcp-DeployArtifactPipeline:*"
    buckets = [f"arn:aws:s3:::cdk-artifacts-{kind}-{TOOLS}-{REGION}" for kind in ("candidate", "release")]
    assert granted.pop("QuerySweepIndex") == (["dynamodb:Query"], [f"{TABLE}/index/sweep-by-age"])
    assert granted.pop("MetadataItems") == (["dynamodb:GetItem", "dynamodb:UpdateItem"], [TABLE])
    # each change's audit entry, in the change's transaction: the head's update and the entry's put
    audit = f"arn:aws:dynamodb:{REGION}:{TOOLS}:table/cdk-artifact-audit-log"
    assert granted.pop("AuditAppends") == (["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [audit])
    actions, keys = granted.pop("MetadataEncryption")
    assert actions == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"] and len(keys) == 1
    assert granted.pop("ListArtifactBuckets") == (["s3:ListBucket"], sorted(buckets))
    assert granted.pop("HeadManifests") == (["s3:GetObject"], sorted(f"{b}/*/artifact-manifest.json" for b in buckets))
    assert granted.pop("StartNextAttempts") == (["states:StartExecution"], [MACHINE])
    assert granted.pop("FinalizeEndedRuns") == (
        ["lambda:InvokeFunction"],
        [f"arn:aws:lambda:{REGION}:{TOOLS}:function:cdkcp-finalizer"],
    )
    assert granted.pop("WatchExecutions") == (
        ["states:DescribeExecution", "states:GetExecutionHistory", "states:StopExecution"],
        [executions],
    )
    assert granted.pop("PublishEvents") == (
        ["events:PutEvents"],
        [f"arn:aws:events:{REGION}:{TOOLS}:event-bus/cdk-control-plane"],
    )
    assert granted.pop("CriticalAlerts") == (["sns:Publish"], [f"arn:aws:sns:{REGION}:{TOOLS}:cdkcp-critical-alerts"])
    # the alert topic's customer-managed key, through SNS only (components/policies/pipeline.py: publish_alerts)
    actions, alert_keys = granted.pop("CriticalAlertsEncryption")
    assert actions == ["kms:Decrypt", "kms:GenerateDataKey"] and len(alert_keys) == 1
    # every function's: its own logs, tracing; not the dead-letter queue (no failure destination: the next
    # sweep is the retry)
    assert set(granted) == {"WriteOwnLogs", "Tracing"}
    assert not any(
        a.startswith(("dynamodb:Scan", "s3:Put", "s3:Delete")) for s in policy.values() for a in as_list(s["Action"])
    )


def test_the_schedule_invokes_the_sweeper_every_two_minutes_through_its_own_role(graphs: dict) -> None:
    graph = graphs["tools"]
    (schedule,) = [
        r["inputs"]
        for r in of_type(graph, "aws:scheduler/schedule:Schedule")
        if r["inputs"].get("name") == "cdkcp-sweeper"
    ]
    assert schedule["scheduleExpression"] == "rate(2 minutes)"
    assert schedule["flexibleTimeWindow"] == {"mode": "OFF"}
    assert schedule["target"]["arn"] == SWEEPER
    assert schedule["target"]["roleArn"] == f"arn:aws:iam::{TOOLS}:role/cdkcp-sweeper-schedule"
    invoker = role(graph, "cdkcp-sweeper-schedule")
    (trusted,) = statements(trust(invoker))
    assert trusted["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trusted["Condition"]["StringEquals"] == {"aws:SourceAccount": TOOLS}
    policy = _policy(graph, "cdkcp-sweeper-schedule")
    assert {sid: (s["Action"], s["Resource"]) for sid, s in policy.items()} == {
        "InvokeSweeper": (["lambda:InvokeFunction"], [SWEEPER])
    }


def test_the_state_machine_cannot_invoke_the_sweeper(graphs: dict) -> None:
    policy = _policy(graphs["tools"], "cdkcp-pipeline")
    invokable = [
        r for s in policy.values() if "lambda:InvokeFunction" in as_list(s["Action"]) for r in as_list(s["Resource"])
    ]
    assert invokable and not [r for r in invokable if "cdkcp-sweeper" in r]
