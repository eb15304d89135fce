"""The finalizer on every ending, as the program declares it: the EventBridge rule on this state
machine's FAILED / TIMED_OUT / ABORTED executions, its target and permission, and the finalizer's reads."""

from __future__ import annotations

import json

from .graph import as_list, by_sid, inline_policies, named, of_type, role, statements

TOOLS = "111111111111"
REGION = "us-east-1"
MACHINE = f"arn:aws:states:{REGION}:{TOOLS}:stateMachine:cdkcp-DeployArtifactPipeline"
FINALIZER = f"arn:aws:lambda:{REGION}:{TOOLS}:function:cdkcp-finalizer"


def test_runs_that_ended_without_succeeding_go_to_the_finalizer(graphs: dict) -> None:
    graph = graphs["tools"]
    rule = named(graph, "deploy-pipeline-finalizer-endings")["inputs"]
    assert "eventBusName" not in rule  # Step Functions' status changes are on the default bus
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": [MACHINE], "status": ["FAILED", "TIMED_OUT", "ABORTED"]},
    }
    target = named(graph, "deploy-pipeline-finalizer-endings-target")["inputs"]
    assert target["arn"] == FINALIZER
    assert target["retryPolicy"]["maximumRetryAttempts"] > 0
    assert target["deadLetterConfig"]["arn"] == f"arn:aws:sqs:{REGION}:{TOOLS}:cdkcp-functions-dlq"
    permission = named(graph, "deploy-pipeline-finalizer-endings-invoke")["inputs"]
    assert permission["function"] == "cdkcp-finalizer"
    assert permission["principal"] == "events.amazonaws.com"
    # scoped to this rule (auto-named: `<resource name>-<suffix>`)
    assert permission["sourceArn"].startswith(
        f"arn:aws:events:{REGION}:{TOOLS}:rule/deploy-pipeline-finalizer-endings-"
    )


def test_the_dead_letter_queue_accepts_the_endings_rule(graphs: dict) -> None:
    (policy,) = of_type(graphs["tools"], "aws:sqs/queuePolicy:QueuePolicy")
    (only,) = statements(json.loads(policy["inputs"]["policy"]))
    sources = only["Condition"]["ArnLike"]["aws:SourceArn"]
    endings = [s for s in sources if ":rule/deploy-pipeline-finalizer-endings-" in s]
    assert len(sources) == 3 and len(endings) == 1


def test_the_finalizer_reads_only_this_machines_runs_and_the_deploy_builds(graphs: dict) -> None:
    (policy,) = inline_policies(graphs["tools"], role(graphs["tools"], "cdkcp-finalizer")).values()
    executions = f"arn:aws:states:{REGION}:{TOOLS}:execution:cdkcp-DeployArtifactPipeline:*"
    histories = by_sid(policy, "ReadRunHistories")
    assert as_list(histories["Action"]) == ["states:GetExecutionHistory"]
    assert as_list(histories["Resource"]) == [executions]
    described = by_sid(policy, "DescribeRuns")
    assert as_list(described["Action"]) == ["states:DescribeExecution"]
    express = f"arn:aws:states:{REGION}:{TOOLS}:express:cdkcp-DeployArtifactPipeline:*:*"
    assert as_list(described["Resource"]) == [executions, express]
    builds = by_sid(policy, "ReadDeployBuilds")
    assert as_list(builds["Action"]) == ["codebuild:BatchGetBuilds"]
    assert sorted(as_list(builds["Resource"])) == [
        f"arn:aws:codebuild:{REGION}:{TOOLS}:project/cdkcp-deployer-{env}" for env in ("prod", "stage")
    ]
    allowed = {a for s in statements(policy) for a in as_list(s["Action"])}
    # it reads runs; it never starts, stops or redrives one, nor starts or stops a build
    assert not {a for a in allowed if a.startswith(("states:", "codebuild:"))} - {
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "codebuild:BatchGetBuilds",
    }
