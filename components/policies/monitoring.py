"""Who may use the critical-alerts topic and its customer-managed key: the control plane's CloudWatch
alarms and its alert rules on the custom event bus publish to it; the functions publish through their
own IAM policies (`pipeline.publish_alerts`), which the key allows for this account through SNS only.

AWS's pattern for an encrypted topic fed by AWS services (SNS developer guide, "Enable compatibility
between event sources from AWS services and encrypted topics"): the service principal gets
`kms:GenerateDataKey*` and `kms:Decrypt` on the key, bound to the topic by the encryption context SNS
sets (`kms:EncryptionContext:aws:sns:topicArn`). The same guide says that `aws:SourceAccount` and
`aws:SourceArn` in the key policy are not supported for EventBridge-to-encrypted-topic delivery (the
KMS request carries neither), so EventBridge's key statement is bound by the topic's encryption context
alone; the topic policy still confines EventBridge to this stack's alert rules by `aws:SourceArn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.naming import ToolsNames

from .common import document, statement, via
from .service_account import KEY_ADMINISTRATION_ACTIONS

ALARMS_PRINCIPAL = "cloudwatch.amazonaws.com"
RULES_PRINCIPAL = "events.amazonaws.com"
SERVICE_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
TOPIC_CONTEXT = "kms:EncryptionContext:aws:sns:topicArn"


def alerts_key_alias(names: ToolsNames) -> str:
    return f"alias/{names.prefix}-critical-alerts"


def alarm_name(names: ToolsNames, kind: str) -> str:
    """`{prefix}-{kind}`: every alarm of the control plane, so that one ARN pattern names them all."""
    return f"{names.prefix}-{kind}"


def alarm_arn_pattern(names: ToolsNames) -> str:
    return f"arn:aws:cloudwatch:{names.region}:{names.account}:alarm:{alarm_name(names, '*')}"


def alerts_key_policy(names: ToolsNames) -> dict[str, Any]:
    """The topic's key: administered by the account, used by this account's principals through SNS
    only, and by CloudWatch alarms and EventBridge for this topic only."""
    topic = {TOPIC_CONTEXT: names.alert_topic_arn}
    return document(
        statement("AccountAdministersKey", KEY_ADMINISTRATION_ACTIONS, "*", principal={"AWS": names.root_arn}),
        statement(
            "AccountPublishesThroughSns",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            "*",
            principal={"AWS": names.root_arn},
            conditions={"StringEquals": {**via("sns", names.region), "kms:CallerAccount": names.account, **topic}},
        ),
        statement(
            "AlarmsEncryptAlerts",
            SERVICE_KEY_ACTIONS,
            "*",
            principal={"Service": ALARMS_PRINCIPAL},
            conditions={
                "StringEquals": {"aws:SourceAccount": names.account, **topic},
                "ArnLike": {"aws:SourceArn": alarm_arn_pattern(names)},
            },
        ),
        statement(
            "AlertRulesEncryptAlerts",
            SERVICE_KEY_ACTIONS,
            "*",
            principal={"Service": RULES_PRINCIPAL},
            conditions={"StringEquals": topic},
        ),
    )


def alert_topic_policy(names: ToolsNames, topic_arn: Any, rule_arns: Sequence[Any]) -> dict[str, Any]:
    """CloudWatch publishes for this stack's alarms, EventBridge for its alert rules; the functions
    publish through their IAM policies (same account: the topic policy need not name them)."""
    return document(
        statement(
            "AlarmsPublish",
            ["sns:Publish"],
            [topic_arn],
            principal={"Service": ALARMS_PRINCIPAL},
            conditions={
                "StringEquals": {"aws:SourceAccount": names.account},
                "ArnLike": {"aws:SourceArn": alarm_arn_pattern(names)},
            },
        ),
        statement(
            "AlertRulesPublish",
            ["sns:Publish"],
            [topic_arn],
            principal={"Service": RULES_PRINCIPAL},
            conditions={
                "StringEquals": {"aws:SourceAccount": names.account},
                "ArnEquals": {"aws:SourceArn": list(rule_arns)},
            },
        ),
    )
