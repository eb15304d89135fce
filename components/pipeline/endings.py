"""The finalizer on every ending: an EventBridge rule (default bus) on this state machine's executions
that ended FAILED, TIMED_OUT or ABORTED, targeting the finalizer function. A run stopped from outside, or
timed out as a whole, never reaches its `Finalize` state; the event does (spec: Stuck Execution Handling
& Metadata Consistency). The finalizer confirms each event with DescribeExecution, so a late or forged
one changes nothing; a run finalized twice (`Finalize`, then its FAILED event) is corrected once."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.pipeline.common import rule_invokes_function
from functions.pipeline.endings import DETAIL_TYPE, SOURCE
from functions.pipeline.lifecycle import UNFINISHED_ENDINGS

# EventBridge retries a failed delivery for up to a day; the finalizer is idempotent, so retrying is safe.
MAXIMUM_EVENT_AGE_SECONDS = 24 * 3600
MAXIMUM_RETRY_ATTEMPTS = 20


def execution_ended(state_machine_arn: Any) -> dict[str, Any]:
    """The event pattern: this state machine's executions that ended without succeeding."""
    return {
        "source": [SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {"stateMachineArn": [state_machine_arn], "status": list(UNFINISHED_ENDINGS)},
    }


def finalizer_on_endings(
    name: str,
    *,
    state_machine_arn: pulumi.Input[str],
    finalizer_arn: pulumi.Input[str],
    finalizer_name: pulumi.Input[str],
    dead_letter_queue_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.EventRule:
    """The rule, its target (retried, undeliverable events to the dead-letter queue) and the finalizer's
    permission for this rule only. Returns the rule (the dead-letter queue's policy names it)."""
    rule = aws.cloudwatch.EventRule(
        f"{name}-finalizer-endings",
        description="pipeline executions that ended FAILED, TIMED_OUT or ABORTED: the finalizer reconciles them",
        event_pattern=pulumi.Output.json_dumps(execution_ended(state_machine_arn)),
        opts=opts,
    )
    rule_invokes_function(
        f"{name}-finalizer-endings",
        rule,
        function_arn=finalizer_arn,
        function_name=finalizer_name,
        dead_letter_queue_arn=dead_letter_queue_arn,
        maximum_event_age_seconds=MAXIMUM_EVENT_AGE_SECONDS,
        maximum_retry_attempts=MAXIMUM_RETRY_ATTEMPTS,
        opts=opts,
    )
    return rule
