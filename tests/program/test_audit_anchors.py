"""The audit anchors as the tools stack declares them: the bucket (Object Lock from config, versioned,
public access blocked, TLS only, nobody deletes, only the anchor function writes), the topic (its own
rotating key, exactly the configured inboxes), CloudTrail Lake (custom events, the channel), the anchor
function (every 10 minutes, one at a time) and its role, statement by statement."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from stack_config import load_stack_config
from tests.conftest import stack_bag

from .graph import as_list, by_sid, inline_policies, named, of_type, role, statements, trust

TOOLS = "111111111111"
REGION = "us-east-1"
BUCKET = f"cdk-audit-log-anchors-{TOOLS}-{REGION}"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
TOPIC = f"arn:aws:sns:{REGION}:{TOOLS}:audit-anchor-publish"
ANCHOR_ROLE = f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-anchor"
ANCHOR = f"arn:aws:lambda:{REGION}:{TOOLS}:function:cdkcp-anchor"


def _inputs(graph: dict[str, Any], name: str) -> dict[str, Any]:
    return named(graph, name)["inputs"]


def _channel_properties(graph: dict[str, Any]) -> str:
    """What the offline preview's mock answers for the channel (desired state and its ARN)."""
    from devtools.preview_offline import _GraphMocks

    channel = _inputs(graph, "audit-anchors-channel")
    mocks = _GraphMocks(REGION, TOOLS, default_provider_disabled=False)
    kind = "aws:cloudcontrol/resource:Resource"
    digest = hashlib.sha256(f"{kind}:audit-anchors-channel".encode()).hexdigest()
    computed = mocks._computed(kind, channel, TOOLS, digest, "channel")
    return computed["properties"]


def test_the_bucket_is_versioned_locked_private_and_tls_only(graphs: dict) -> None:
    tools = graphs["tools"]
    assert _inputs(tools, "audit-anchors-bucket-bucket") == {"bucket": BUCKET, "objectLockEnabled": True}
    assert named(tools, "audit-anchors-bucket-bucket")["inputs"]["objectLockEnabled"] is True
    lock = _inputs(tools, "audit-anchors-bucket-object-lock")["rule"]["defaultRetention"]
    configured = load_stack_config(stack_bag("tools")).audit_anchor_retention
    assert lock == {"mode": configured.mode, "days": configured.days} == {"mode": "GOVERNANCE", "days": 365}
    versioning = _inputs(tools, "audit-anchors-bucket-versioning")["versioningConfiguration"]
    assert versioning == {"status": "Enabled"}
    public = _inputs(tools, "audit-anchors-bucket-public-access")
    assert {k: public[k] for k in public if k != "bucket"} == dict.fromkeys(
        ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
    )
    encryption = _inputs(tools, "audit-anchors-bucket-encryption")["rules"][0]
    assert encryption["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert encryption["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] != _inputs(
        tools, "audit-anchors-topic-key"
    ).get("arn")


def test_nobody_deletes_an_anchor_and_only_the_anchor_function_writes(graphs: dict) -> None:
    policy = json.loads(_inputs(graphs["tools"], "audit-anchors-bucket-policy")["policy"])
    objects = [f"{BUCKET_ARN}/*"]
    assert by_sid(policy, "DenyInsecureTransport") == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:*"],
        "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert by_sid(policy, "OnlyTheAnchorFunctionWrites") == {
        "Sid": "OnlyTheAnchorFunctionWrites",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging"],
        "Resource": objects,
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": ANCHOR_ROLE}},
    }
    deletes = by_sid(policy, "NobodyDeletesAnchors")
    assert deletes["Effect"] == "Deny" and deletes["Principal"] == {"AWS": "*"} and "Condition" not in deletes
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(deletes["Action"]) and deletes["Resource"] == objects
    retention = by_sid(policy, "NobodyChangesRetention")
    assert retention["Action"] == ["s3:BypassGovernanceRetention", "s3:PutObjectLegalHold", "s3:PutObjectRetention"]
    assert "Condition" not in retention and retention["Effect"] == "Deny"
    assert len(statements(policy)) == 4


def test_the_topic_has_its_own_rotating_key_and_exactly_the_configured_inboxes(graphs: dict) -> None:
    tools = graphs["tools"]
    topic = _inputs(tools, "audit-anchors-topic")
    assert topic["name"] == "audit-anchor-publish"
    key = _inputs(tools, "audit-anchors-topic-key")
    assert key["enableKeyRotation"] is True and key["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert topic["kmsMasterKeyId"].startswith(f"arn:aws:kms:{REGION}:{TOOLS}:key/")
    alert_topic = _inputs(tools, "deploy-pipeline-alerts")
    assert topic["kmsMasterKeyId"] != alert_topic["kmsMasterKeyId"]  # its own key, not the alerts'
    subscriptions = [
        r for r in of_type(tools, "aws:sns/topicSubscription:TopicSubscription") if r["inputs"]["topic"] == TOPIC
    ]
    addresses = load_stack_config(stack_bag("tools")).audit_email_addresses
    assert sorted(s["inputs"]["endpoint"] for s in subscriptions) == sorted(addresses)
    assert {s["inputs"]["protocol"] for s in subscriptions} == {"email"}
    for subscription in subscriptions:  # named from the address, not a list position
        readable = subscription["inputs"]["endpoint"].replace("@", "-").replace(".", "-")
        assert subscription["name"].startswith(f"audit-anchors-inbox-{readable}-"), subscription["name"]
    key_policy = json.loads(key["policy"])
    sns = by_sid(key_policy, "AccountPublishesAnchorsThroughSns")
    assert sns["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"] == TOPIC
    publish = by_sid(
        json.loads(_inputs(tools, "audit-anchors-topic-policy")["policy"]), "OnlyTheAnchorFunctionPublishes"
    )
    # the anchors, and each break-glass use (the override function), reach the external inbox; nobody else
    override_role = ANCHOR_ROLE.replace("-fn-anchor", "-fn-override")
    assert publish["Effect"] == "Deny"
    assert publish["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [ANCHOR_ROLE, override_role]}}


def test_inbox_resource_names_do_not_depend_on_the_list_order() -> None:
    from components.audit_anchors import inbox_resource_suffix

    first, second = "security-audit@acme.example", "audit.copy@other.example"
    assert inbox_resource_suffix(first) != inbox_resource_suffix(second)
    assert inbox_resource_suffix("a.b@x.example") != inbox_resource_suffix("a-b@x.example")


def test_cloudtrail_lake_keeps_the_custom_events_of_the_channel(graphs: dict) -> None:
    tools = graphs["tools"]
    store = _inputs(tools, "audit-anchors-event-store")
    assert store["advancedEventSelectors"] == [
        {
            "name": "audit chain anchors (custom events)",
            "fieldSelectors": [{"field": "eventCategory", "equals": ["ActivityAuditLog"]}],
        }
    ]
    assert (store["multiRegionEnabled"], store["organizationEnabled"]) == (False, False)
    assert store["terminationProtectionEnabled"] is True and store["retentionPeriod"] == 365
    channel = _inputs(tools, "audit-anchors-channel")
    assert channel["typeName"] == "AWS::CloudTrail::Channel"
    state = json.loads(channel["desiredState"])
    assert state["Source"] == "Custom"
    assert state["Destinations"] == [
        {"Type": "EVENT_DATA_STORE", "Location": state["Destinations"][0]["Location"]}
    ] and state["Destinations"][0]["Location"].startswith(f"arn:aws:cloudtrail:{REGION}:{TOOLS}:eventdatastore/")


def test_the_anchor_function_runs_every_ten_minutes_one_at_a_time(graphs: dict) -> None:
    tools = graphs["tools"]
    (function,) = [r["inputs"] for r in of_type(tools, "aws:lambda/function:Function") if "anchor" in r["name"]]
    assert function["handler"] == "functions.handlers.anchor.handler"
    assert function["reservedConcurrentExecutions"] == 1
    variables = function["environment"]["variables"]
    assert (variables["ANCHOR_BUCKET"], variables["ANCHOR_TOPIC_ARN"]) == (BUCKET, TOPIC)
    assert variables["ANCHOR_CHANNEL_ARN"].startswith(f"arn:aws:cloudtrail:{REGION}:{TOOLS}:channel/")
    schedule = _inputs(tools, "deploy-pipeline-audit-anchor")
    assert schedule["scheduleExpression"] == "rate(10 minutes)"
    assert schedule["target"]["arn"] == ANCHOR and schedule["target"]["retryPolicy"]["maximumRetryAttempts"] == 0
    schedule_role = role(tools, "cdkcp-anchor-schedule")
    assert trust(schedule_role)["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    (invoke,) = inline_policies(tools, schedule_role).values()
    assert statements(invoke) == [
        {"Sid": "InvokeAnchor", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [ANCHOR]}
    ]
    (machine,) = inline_policies(tools, role(tools, "cdkcp-pipeline")).values()
    invokes = by_sid(machine, "InvokePipelineFunctions")["Resource"]
    assert ANCHOR not in invokes and f"{ANCHOR}:*" not in invokes  # the state machine never invokes it


def test_the_anchor_functions_role_may_do_exactly_what_an_anchor_needs(graphs: dict) -> None:
    tools = graphs["tools"]
    (document,) = inline_policies(tools, role(tools, "cdkcp-fn-anchor")).values()
    granted = {s["Sid"]: (sorted(as_list(s["Action"])), as_list(s["Resource"])) for s in statements(document)}
    for statement in statements(document):
        assert statement["Effect"] == "Allow" and all("*" not in a for a in as_list(statement["Action"]))
    anchors = f"{BUCKET_ARN}/audit-log-anchors/*"
    # the declared channel's ARN (Cloud Control reads it back), the one the function's environment names
    channel_arn = json.loads(_channel_properties(tools))["ChannelArn"]
    (function,) = [r for r in of_type(tools, "aws:lambda/function:Function") if r["inputs"]["name"] == "cdkcp-anchor"]
    assert function["inputs"]["environment"]["variables"]["ANCHOR_CHANNEL_ARN"] == channel_arn
    expected = {
        "WriteOwnLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [
                f"arn:aws:logs:{REGION}:{TOOLS}:log-group:/aws/lambda/cdkcp-anchor",
                f"arn:aws:logs:{REGION}:{TOOLS}:log-group:/aws/lambda/cdkcp-anchor:*",
            ],
        ),
        "Tracing": (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"]),
        "ReadAuditChain": (
            ["dynamodb:GetItem", "dynamodb:Query"],
            [f"arn:aws:dynamodb:{REGION}:{TOOLS}:table/cdk-artifact-audit-log"],
        ),
        "ListAnchors": (["s3:ListBucket"], [BUCKET_ARN]),
        "ReadAnchors": (["s3:GetObject"], [anchors]),
        "WriteAnchors": (["s3:PutObject"], [anchors]),
        "PublishAnchors": (["sns:Publish"], [TOPIC]),
        "AnchorsToCloudTrail": (["cloudtrail-data:PutAuditEvents"], [channel_arn]),
    }
    keys = {sid: granted.pop(sid) for sid in ("AuditChainDecryption", "AnchorsEncryption", "AnchorTopicEncryption")}
    assert granted == expected
    metadata_key = _inputs(tools, "audit-log-table")["serverSideEncryption"]["kmsKeyArn"]
    assert keys["AuditChainDecryption"] == (["kms:Decrypt"], [metadata_key])
    assert keys["AnchorsEncryption"][0] == keys["AnchorTopicEncryption"][0] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert keys["AnchorsEncryption"][1] != keys["AnchorTopicEncryption"][1]
    conditions = {s["Sid"]: s.get("Condition") for s in statements(document)}
    assert conditions["ListAnchors"] == {"StringLike": {"s3:prefix": ["audit-log-anchors/*"]}}
    assert conditions["AnchorTopicEncryption"] == {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}}
    assert conditions["AnchorsEncryption"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}


@pytest.mark.parametrize("stack", ["stage", "prod"])
def test_anchor_retention_is_refused_outside_the_tools_stack(stack: str) -> None:
    from stack_config import ConfigError

    bag = {**stack_bag(stack), "cdk-control-plane:auditAnchorRetention": {"mode": "COMPLIANCE", "days": 30}}
    with pytest.raises(ConfigError, match="auditAnchorRetention: only the tools stack reads it"):
        load_stack_config(bag)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"mode": "FOREVER", "days": 30}, "mode"),
        ({"mode": "COMPLIANCE", "days": 0}, "days"),
        ({"mode": "COMPLIANCE", "days": 3654}, "days"),
        ({"mode": "COMPLIANCE", "days": 30, "years": 1}, "years"),
    ],
)
def test_a_bad_anchor_retention_is_refused_naming_the_key(value: dict, message: str) -> None:
    from stack_config import ConfigError

    bag = {**stack_bag("tools"), "cdk-control-plane:auditAnchorRetention": value}
    with pytest.raises(ConfigError, match=f"auditAnchorRetention.*{message}"):
        load_stack_config(bag)


def test_the_audit_dashboard_shows_deployments_overrides_rollbacks_and_the_anchors_health(graphs: dict) -> None:
    (dashboard,) = of_type(graphs["tools"], "aws:cloudwatch/dashboard:Dashboard")
    widgets = {w["properties"]["title"]: w for w in json.loads(dashboard["inputs"]["dashboardBody"])["widgets"]}
    history = widgets["Audit: deployment history (event log)"]["properties"]["query"]
    overrides = widgets["Audit: overrides, rollbacks, corrections"]["properties"]["query"]
    for query in (history, overrides):
        assert query.startswith("SOURCE '/aws/events/cdkcp-control-plane' | fields @timestamp")
        assert query.endswith("| sort @timestamp desc | limit 100")
    assert '"DeploySucceeded"' in history and '"ArtifactPromoted"' in history and "Override" not in history
    for event in ("OverrideRequested", "OverrideApplied", "RollbackInitiated", "RollbackFailed", "SweeperCorrected"):
        assert f'"{event}"' in overrides, event
    health = widgets["Audit anchors: runs (3 per 30 minutes), failures"]["properties"]
    assert {(m[1], m[3]) for m in health["metrics"]} == {
        (metric, "cdkcp-anchor") for metric in ("Invocations", "Errors", "Throttles")
    }
    assert health["period"] == 1800
