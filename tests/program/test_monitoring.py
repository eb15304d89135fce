"""Alarms, alert routing, the alert topic's key and the dashboard, as the tools stack declares them
(offline preview of Pulumi.tools.yaml, whose `alarms:` sets non-default thresholds)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.pipeline.alarms import SWEEPER, alarm_specs
from components.pipeline.dashboard import dashboard_body
from components.pipeline.monitoring import ALERT_RULES
from functions import naming
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import TRANSITIONS, Metric
from stack_config import load_stack_config
from stack_config.alarms import AlarmThresholds
from tests.conftest import PROJECT_DIR, stack_bag

from .graph import KMS_KEY, by_sid, inline_policies, named, of_type, role, statements

TOOLS, REGION = "111111111111", "us-east-1"
NAMES = ToolsNames("cdkcp", TOOLS, REGION)
TOPIC = f"arn:aws:sns:{REGION}:{TOOLS}:cdkcp-critical-alerts"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
SERVICE = {"service": "cdk-control-plane"}
SPEC_METRICS = {m.value for m in Metric} - {Metric.ARTIFACT_REFUSED.value}


def alarms(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["name"]: r["inputs"] for r in of_type(graph, ALARM)}


def alert_key(graph: dict[str, Any]) -> dict[str, Any]:
    (alias,) = [
        r for r in of_type(graph, "aws:kms/alias:Alias") if r["inputs"]["name"] == "alias/cdkcp-critical-alerts"
    ]
    (key,) = [r for r in of_type(graph, KMS_KEY) if r["name"] == alias["name"].removesuffix("-alias") + "-key"]
    return {**key, "arn": f"arn:aws:kms:{REGION}:{TOOLS}:key/{alias['inputs']['targetKeyId']}"}


def test_example_thresholds_differ_from_the_defaults_so_the_graph_proves_they_are_read() -> None:
    configured = load_stack_config(stack_bag("tools")).alarms
    assert configured.deploy_latency_p90_seconds != AlarmThresholds().deploy_latency_p90_seconds
    assert configured.test_failure_rate != AlarmThresholds().test_failure_rate
    assert configured.failed_executions_per_hour != AlarmThresholds().failed_executions_per_hour


def test_one_alarm_per_spec_metric_on_the_powertools_dimension_with_configured_thresholds(graphs: dict) -> None:
    declared = alarms(graphs["tools"])
    expected = {
        "cdkcp-deploy-latency": ("DeployLatency", "p90", 10800, "GreaterThanThreshold", 86400),
        "cdkcp-rollback-latency": ("RollbackLatency", "Maximum", 1800, "GreaterThanThreshold", 3600),
        "cdkcp-finalizer-corrected": ("FinalizerCorrected", "Sum", 3, "GreaterThanOrEqualToThreshold", 3600),
        "cdkcp-artifact-never-promoted": ("ArtifactNeverPromoted", "Maximum", 10, "GreaterThanThreshold", 3600),
        "cdkcp-rollback-attempt-failed": ("RollbackFailureRate", "Sum", 1, "GreaterThanOrEqualToThreshold", 300),
        "cdkcp-asset-hash-mismatch": ("AssetHashMismatch", "Sum", 1, "GreaterThanOrEqualToThreshold", 300),
    }
    for name, (metric, statistic, threshold, comparison, period) in expected.items():
        alarm = declared[name]
        assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == ("CdkControlPlane", metric, SERVICE)
        assert alarm.get("extendedStatistic", alarm.get("statistic")) == statistic, name
        assert (alarm["threshold"], alarm["comparisonOperator"], alarm["period"]) == (threshold, comparison, period)
        assert alarm["treatMissingData"] == "notBreaching", name
    assert "statistic" not in declared["cdkcp-deploy-latency"]  # a percentile is an extended statistic


def test_test_failure_rate_is_the_trailing_seven_day_sum_over_sample_count(graphs: dict) -> None:
    alarm = alarms(graphs["tools"])["cdkcp-test-failure-rate"]
    assert alarm["threshold"] == 0.25 and alarm["comparisonOperator"] == "GreaterThanThreshold"
    assert "metricName" not in alarm and "period" not in alarm
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    for query_id, stat in (("failures", "Sum"), ("tests", "SampleCount")):
        metric = queries[query_id]["metric"]
        assert (metric["metricName"], metric["stat"], metric["dimensions"]) == ("TestFailureRate", stat, SERVICE)
        assert metric["period"] == 7 * 86400 and queries[query_id]["returnData"] is False
    assert queries["rate"]["expression"] == "IF(tests >= 5, failures / tests, 0)"
    assert queries["rate"]["returnData"] is True
    assert int(alarm["evaluationPeriods"]) * 7 * 86400 <= 604_800  # CloudWatch's longest look-back


@pytest.mark.parametrize("function", naming.FUNCTIONS)
def test_every_function_has_an_errors_and_a_throttles_alarm(graphs: dict, function: str) -> None:
    declared = alarms(graphs["tools"])
    for metric in ("Errors", "Throttles"):
        alarm = declared[f"cdkcp-{function}-{metric.lower()}"]
        assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == ("AWS/Lambda", metric, "Sum")
        assert alarm["dimensions"] == {"FunctionName": f"cdkcp-{function}"}
        assert alarm["threshold"] == 1 and alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_dead_letters_and_state_machine_runs_are_alarmed(graphs: dict) -> None:
    declared = alarms(graphs["tools"])
    dlq = declared["cdkcp-dead-letters"]
    assert (dlq["namespace"], dlq["metricName"], dlq["statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert dlq["dimensions"] == {"QueueName": "cdkcp-functions-dlq"} and dlq["threshold"] == 1
    machine = {"StateMachineArn": f"arn:aws:states:{REGION}:{TOOLS}:stateMachine:cdkcp-DeployArtifactPipeline"}
    for name, metric, threshold in (
        ("cdkcp-executions-failed", "ExecutionsFailed", 5),  # configured: failedExecutionsPerHour
        ("cdkcp-executions-timedout", "ExecutionsTimedOut", 1),
        ("cdkcp-executions-aborted", "ExecutionsAborted", 1),
    ):
        alarm = declared[name]
        assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == ("AWS/States", metric, machine)
        assert alarm["threshold"] == threshold


def test_every_alarm_notifies_the_alert_topic_and_is_named_under_the_key_policy_pattern(graphs: dict) -> None:
    declared = alarms(graphs["tools"])
    specs = alarm_specs(NAMES, load_stack_config(stack_bag("tools")).alarms)
    assert set(declared) == {f"cdkcp-{s.kind}" for s in specs}
    for name, alarm in declared.items():
        assert alarm["alarmActions"] == [TOPIC], name
        assert alarm.get("okActions", []) in ([], [TOPIC]), name
        assert re.fullmatch(r"cdkcp-[a-z0-9-]+", name)
        assert "On call:" in alarm["alarmDescription"]
    assert declared["cdkcp-dead-letters"]["okActions"] == [TOPIC]  # a backlog clearing is news
    assert not declared["cdkcp-asset-hash-mismatch"].get("okActions")  # an event count recovering is not
    # the latency alarms both tell when they recover (README: alarms on a state notify on OK)
    for latency in ("cdkcp-deploy-latency", "cdkcp-rollback-latency"):
        assert declared[latency]["okActions"] == [TOPIC], latency


def test_a_failed_rollback_attempt_is_not_worded_as_prod_broken(graphs: dict) -> None:
    declared = alarms(graphs["tools"])
    assert "cdkcp-rollback-failed" not in declared  # the alarm counts attempts, the RollbackFailed alert outcomes
    description = declared["cdkcp-rollback-attempt-failed"]["alarmDescription"]
    assert "a retry follows" in description and "RollbackFailed alert" in description
    assert "prod may be broken" not in description and "override" not in description


def test_the_sweeper_gets_its_failures_and_not_running_alarms_once_it_exists() -> None:
    specs = {s.kind: s for s in alarm_specs(NAMES, AlarmThresholds(), (*naming.FUNCTIONS, SWEEPER))}
    silent = specs["sweeper-not-running"]
    assert (silent.namespace, silent.metric, silent.statistic) == ("AWS/Lambda", "Invocations", "Sum")
    assert silent.dimensions == {"FunctionName": "cdkcp-sweeper"}
    assert (silent.comparison, silent.threshold, silent.period) == ("LessThanThreshold", 1, 600)
    assert silent.missing_data == "breaching"  # no invocation data at all is the sweeper not running
    assert specs["sweeper-errors"].summary.startswith("sweeper failures")
    assert "the next sweep (2 minutes) is the retry" in specs["sweeper-errors"].action  # no dead letters
    assert "dead-letter queue" in specs["transition-errors"].action
    without = {s.kind for s in alarm_specs(NAMES, AlarmThresholds(), ("transition",))}
    assert not any(kind.startswith("sweeper") for kind in without)


def test_the_alert_topic_is_encrypted_with_its_own_rotating_key(graphs: dict) -> None:
    graph = graphs["tools"]
    key = alert_key(graph)
    assert key["inputs"]["enableKeyRotation"] is True
    assert key["inputs"]["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert named(graph, "deploy-pipeline-alerts")["inputs"]["kmsMasterKeyId"] == key["arn"]


def test_the_key_lets_cloudwatch_and_eventbridge_use_it_for_this_topic_only(graphs: dict) -> None:
    policy = json.loads(alert_key(graphs["tools"])["inputs"]["policy"])
    topic_only = {"kms:EncryptionContext:aws:sns:topicArn": TOPIC}
    alarms_statement = by_sid(policy, "AlarmsEncryptAlerts")
    assert alarms_statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms_statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms_statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": TOOLS, **topic_only},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{TOOLS}:alarm:cdkcp-*"},
    }
    rules_statement = by_sid(policy, "AlertRulesEncryptAlerts")
    assert rules_statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert rules_statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    # AWS: aws:SourceAccount / aws:SourceArn are not supported for EventBridge-to-encrypted-topic delivery.
    assert rules_statement["Condition"] == {"StringEquals": topic_only}
    for s in statements(policy):
        uses = {"kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:Encrypt"} & set(s["Action"])
        if uses:  # every use of the key is bound to this topic
            assert s["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"] == TOPIC, s["Sid"]
    account = by_sid(policy, "AccountPublishesThroughSns")["Condition"]["StringEquals"]
    assert account["kms:ViaService"] == f"sns.{REGION}.amazonaws.com" and account["kms:CallerAccount"] == TOOLS


@pytest.mark.parametrize("function", naming.FUNCTIONS)
def test_only_the_publishing_functions_may_use_the_alert_key_and_only_through_sns(graphs: dict, function: str) -> None:
    graph = graphs["tools"]
    policy = inline_policies(graph, role(graph, NAMES.function_role(function)))["function"]
    sids = {s["Sid"] for s in statements(policy)}
    if function not in ("transition", "intake", "promote", "finalizer", "sweeper", "override"):
        assert not sids & {"CriticalAlerts", "CriticalAlertsEncryption"}
        return
    assert by_sid(policy, "CriticalAlerts")["Resource"] == [TOPIC]
    encryption = by_sid(policy, "CriticalAlertsEncryption")
    assert encryption["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert encryption["Resource"] == [alert_key(graph)["arn"]]
    assert encryption["Condition"] == {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}}


def _alert_rules(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in of_type(graph, RULE) if r["name"].startswith("deploy-pipeline-alert-")}


def _rendered(template: str, values: dict[str, Any]) -> dict[str, Any]:
    """The message EventBridge sends: each `<variable>` replaced by its JSON value."""
    return json.loads(re.sub(r"<(\w+)>", lambda m: json.dumps(values[m.group(1)]), template))


def test_alert_rules_send_the_paging_events_from_the_custom_bus_to_the_topic(graphs: dict) -> None:
    graph = graphs["tools"]
    rules = _alert_rules(graph)
    patterns = {
        name.removeprefix("deploy-pipeline-alert-"): json.loads(r["inputs"]["eventPattern"])
        for name, r in rules.items()
    }
    prod = {"environment": ["prod"]}
    assert {kind: (p["detail-type"], p.get("detail")) for kind, p in patterns.items()} == {
        "invalid-artifact": (["InvalidArtifact"], None),
        "rollback-failed": (["RollbackFailed"], None),
        "stuck-pipeline": (["StuckPipelineTerminated"], None),
        # a failure that may roll back (no `retryable` in its detail); a retryable one, not a wait for the lock
        # (a release queued behind a long run would page every 10 minutes); the prod ordering's refusal (not a
        # parking for a person, which sends its own message and has the prod-parked alarm)
        "prod-deploy-failed": (["DeployFailed"], {**prod, "retryable": [{"exists": False}]}),
        "prod-deploy-retrying": (
            ["DeployFailed"],
            {**prod, "retryable": [True], "phase": [{"anything-but": ["lock_wait"]}]},
        ),
        "prod-deploy-superseded": (["DeployFailed"], {**prod, "retryable": [False], "phase": ["prod_ordering"]}),
    }
    for name, rule in rules.items():
        assert rule["inputs"]["eventBusName"] == "cdk-control-plane"
        assert json.loads(rule["inputs"]["eventPattern"])["source"] == ["cdk-control-plane"]
        target = named(graph, f"{name}-target")["inputs"]
        assert (target["arn"], target["eventBusName"]) == (TOPIC, "cdk-control-plane")
        transformer = target["inputTransformer"]
        paths = transformer["inputPaths"]
        assert {k: paths[k] for k in ("alert", "time", "detail")} == {
            "alert": "$.detail-type",
            "time": "$.time",
            "detail": "$.detail",
        }
        message = _rendered(transformer["inputTemplate"], {k: f"value of {k}" for k in paths})
        assert set(message) == set(paths) | {"onCall"}, name
        for extra in set(paths) - {"alert", "time", "detail"}:
            assert paths[extra] == f"$.detail.{extra}"  # each rule's pattern guarantees the field is there


def test_each_prod_deploy_failure_tells_its_phase_and_what_to_do(graphs: dict) -> None:
    graph = graphs["tools"]
    targets = {
        name.removeprefix("deploy-pipeline-alert-"): named(graph, f"{name}-target")["inputs"]["inputTransformer"]
        for name in _alert_rules(graph)
    }
    for kind in ("prod-deploy-retrying", "prod-deploy-superseded"):
        assert {"phase", "retryable"} <= set(targets[kind]["inputPaths"]), kind
    on_call = {
        kind: _rendered(t["inputTemplate"], dict.fromkeys(t["inputPaths"]))["onCall"] for kind, t in targets.items()
    }
    assert "the rollback follows" not in on_call["prod-deploy-failed"]
    assert "roll nothing back" in on_call["prod-deploy-failed"]
    assert "sweeper starts the next attempt" in on_call["prod-deploy-retrying"]
    assert "prod_ordering" in on_call["prod-deploy-superseded"]
    stuck = targets["stuck-pipeline"]
    assert stuck["inputPaths"]["requeued"] == "$.detail.requeued"
    assert "requeued true" in on_call["stuck-pipeline"] and "requeued false" in on_call["stuck-pipeline"]


def test_the_topic_policy_lets_only_these_alarms_and_alert_rules_publish(graphs: dict) -> None:
    graph = graphs["tools"]
    topic_policy = named(graph, "deploy-pipeline-alerts-policy")["inputs"]
    assert topic_policy["arn"] == TOPIC
    policy = json.loads(topic_policy["policy"])
    assert {s["Sid"] for s in statements(policy)} == {"AlarmsPublish", "AlertRulesPublish"}
    alarms_statement = by_sid(policy, "AlarmsPublish")
    assert (alarms_statement["Principal"], alarms_statement["Action"], alarms_statement["Resource"]) == (
        {"Service": "cloudwatch.amazonaws.com"},
        ["sns:Publish"],
        [TOPIC],
    )
    assert alarms_statement["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{TOOLS}:alarm:cdkcp-*"
    }
    rules_statement = by_sid(policy, "AlertRulesPublish")
    assert rules_statement["Principal"] == {"Service": "events.amazonaws.com"}
    # the preview's rule ARN is `rule/<physical name>`, the name each target points at
    targets = [named(graph, f"{name}-target")["inputs"]["rule"] for name in _alert_rules(graph)]
    assert len(targets) == 6
    assert sorted(rules_statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:{REGION}:{TOOLS}:rule/{rule}" for rule in targets
    )
    assert rules_statement["Condition"]["StringEquals"] == {"aws:SourceAccount": TOOLS}


def _dashboard_metrics(body: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):  # a Logs Insights widget has a query instead
            if isinstance(row[0], str):
                found.add((row[0], row[1]))
    return found


def test_the_dashboard_names_every_metric(graphs: dict) -> None:
    (dashboard,) = of_type(graphs["tools"], "aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(dashboard["inputs"]["dashboardBody"])
    assert body == json.loads(json.dumps(dashboard_body(NAMES)))
    metrics = _dashboard_metrics(body)
    assert {name for namespace, name in metrics if namespace == "CdkControlPlane"} == SPEC_METRICS
    assert {name for namespace, name in metrics if namespace == "AWS/States"} == {
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
    }
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics


def test_the_dashboard_shows_test_failure_rate_as_its_seven_day_rate() -> None:
    (widget,) = [w for w in dashboard_body(NAMES)["widgets"] if "TestFailureRate" in w["properties"]["title"]]
    properties = widget["properties"]
    (expression,) = [row[0] for row in properties["metrics"] if isinstance(row[0], dict)]
    stats = {row[-1]["id"]: row[-1]["stat"] for row in properties["metrics"] if isinstance(row[0], str)}
    assert expression["expression"] == "IF(tests > 0, failures / tests, 0)"
    assert stats == {"failures": "Sum", "tests": "SampleCount"}
    assert (properties["start"], properties["period"], properties["setPeriodToTimeRange"]) == ("-P7D", 604800, True)
    assert "end" not in properties  # relative to now; CloudWatch has no "P0D" end
    widgets = dashboard_body(NAMES)["widgets"]
    assert len({(w["x"], w["y"]) for w in widgets}) == len(widgets)  # no widget hides another


def test_the_readme_operations_table_names_every_alarm_and_paging_event() -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    operations = readme[readme.index("## Operations") : readme.index("## Where things are")]
    for spec in alarm_specs(NAMES, AlarmThresholds(), (*naming.FUNCTIONS, SWEEPER)):
        function_row = re.sub(
            rf"^({'|'.join(map(re.escape, (*naming.FUNCTIONS, SWEEPER)))})-", "{function}-", spec.kind
        )
        assert f"`{{prefix}}-{spec.kind}`" in operations or f"`{{prefix}}-{function_row}`" in operations, spec.kind
    for kind, rule in ALERT_RULES.items():
        assert f"| `{kind}` | `{rule.event.value}`" in operations, kind
    # every subject a function publishes straight to the topic (the lifecycle table's alerts, intake's)
    subjects = {t.alert.replace("{service}", "<service>") for t in TRANSITIONS.values() if t.alert}
    for subject in (*subjects, "Artifact refused at intake: <service or key>: <check>"):
        assert f"| `{subject}` (" in operations, subject
    assert f"`{{function}}` is each of the {len(naming.FUNCTIONS)} functions" in operations
    assert all(f"`{function}`" in operations for function in (*naming.FUNCTIONS, SWEEPER))


def test_every_event_of_the_bus_is_kept_in_its_own_log_group(graphs: dict) -> None:
    graph = graphs["tools"]
    group_name = "/aws/events/cdkcp-control-plane"  # EventBridge writes only to /aws/events/ groups
    group = named(graph, "deploy-pipeline-event-log-group")
    assert group["type"] == "aws:cloudwatch/logGroup:LogGroup" and group["inputs"]["name"] == group_name
    function_group = named(graph, "deploy-pipeline-sweeper-logs")["inputs"]
    for setting in ("retentionInDays", "kmsKeyId"):  # as every other group of the pipeline
        assert group["inputs"][setting] == function_group[setting], setting
    (rule,) = [r for r in of_type(graph, RULE) if r["name"] == "deploy-pipeline-event-log"]
    assert rule["inputs"]["eventBusName"] == "cdk-control-plane"
    assert json.loads(rule["inputs"]["eventPattern"]) == {"source": ["cdk-control-plane"]}
    target = named(graph, "deploy-pipeline-event-log-target")["inputs"]
    group_arn = f"arn:aws:logs:{REGION}:{TOOLS}:log-group:{group_name}"
    assert target["rule"].startswith("deploy-pipeline-event-log-") and target["eventBusName"] == "cdk-control-plane"
    assert target["arn"] == group_arn
    (policy,) = of_type(graph, "aws:cloudwatch/logResourcePolicy:LogResourcePolicy")
    (statement,) = statements(json.loads(policy["inputs"]["policyDocument"]))
    assert statement["Principal"] == {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]}
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == [f"{group_arn}:*"]  # this group only
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": f"arn:aws:events:{REGION}:{TOOLS}:rule/{target['rule']}"}
    }
