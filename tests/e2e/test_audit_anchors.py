"""The audit anchors end to end: after a real pipeline run, the anchor function (invoked through Lambda,
as its schedule does) anchors the chain in the bucket, the inbox and CloudTrail Lake, and
`artifactctl audit verify` agrees with every anchor; a rewrite of the chain after that is caught."""

from __future__ import annotations

import json

import boto3

from devtools.emulator.harness import Harness
from functions.audit import store
from tests.artifactctl.test_cli import run
from tests.functions.audit.test_verify import items, put, rehashed, set_head

GOOD = "a" * 40


def invoke_anchor() -> dict:
    answer = boto3.client("lambda", region_name="us-east-1").invoke(FunctionName="cdkcp-anchor", Payload=b"{}")
    payload = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, payload
    return payload


def test_a_pipeline_run_is_anchored_and_audit_verify_agrees_until_the_chain_is_rewritten(
    pipeline: Harness, capsys
) -> None:
    pipeline.publish(GOOD)
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    depth = (store.read_head(dynamodb) or store.Head(0, "")).seq  # the run's own entries, where they are written
    first = invoke_anchor()
    assert first["depth"] == depth and set(first["delivered"]) == {"s3", "sns", "cloudtrail"}

    # one more entry, as an operator's override would append it, then the next scheduled anchor
    store.append(
        dynamodb,
        {"actor": "arn:aws:iam::123456789012:role/oncall", "action": "override_applied", "service": "orders"},
    )
    second = invoke_anchor()
    assert second["depth"] == depth + 1
    inbox = [json.loads(m) for m in pipeline.anchors.inbox()]
    assert [m["depth"] for m in inbox] == [depth, depth + 1]
    assert inbox[1]["high_privilege_actions"]["by_action"] == {"override_applied": 1}
    assert len(pipeline.anchors.lake.events(pipeline.anchors.channel_arn)) == 2

    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0, out
    assert "OK: 2 anchor(s) in s3://cdk-audit-log-anchors-123456789012-us-east-1 agree with the chain" in out

    # the override's entry rewritten, with its hash and the head redone: consistent, but not anchored
    chain = items(dynamodb)
    forged = rehashed(chain[depth + 1], reason="nothing to see here")
    put(dynamodb, forged)
    set_head(dynamodb, depth + 1, forged["log_hash"])
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 1 and out.startswith(f"FAIL audit chain seq {depth + 1} rewritten: seq {depth + 1} does not")
