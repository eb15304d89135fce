"""The two ways a run reaches the finalizer: the state machine's `Finalize` state (the run is still
running; its payload carries the run's outcome and error), and EventBridge's "Step Functions Execution
Status Change" for a run that ended FAILED, TIMED_OUT or ABORTED without it (stopped from outside, timed
out as a whole, or failed in `Finalize` itself).

An event is believed only as far as Step Functions confirms it: the execution must be one of this state
machine's, and `DescribeExecution` must say it has ended (a late or forged event for a running execution
changes nothing); the run's artifact is read from the execution's own input."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import lifecycle as lc
from .transitions import Run

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"


class Refused(ValueError):
    """An event the finalizer does not act on, and why (foreign, malformed, or not an ending)."""


@dataclass(frozen=True)
class Ending:
    run: Run
    outcome: Mapping[str, Any] = field(default_factory=dict)
    # How the execution ended (Step Functions' status): None from `Finalize`, where it is still running.
    status: str | None = None
    source: str = "state-machine"

    @property
    def execution_status(self) -> lc.ExecutionStatus | None:
        return lc.EXECUTION_ENDED.get(self.status) if self.status else None


def status_change(state_machine_arn: str, execution_arn: str, status: str) -> dict[str, Any]:
    """A "Step Functions Execution Status Change" event, as the finalizer reads it: what the rule delivers
    (Step Functions adds more), and what the sweeper sends for a run it found ended without its finalizer
    (an event that never arrived). Nothing in it is believed beyond the execution's ARN."""
    return {
        "source": SOURCE,
        "detail-type": DETAIL_TYPE,
        "resources": [execution_arn],
        "detail": {"executionArn": execution_arn, "stateMachineArn": state_machine_arn, "status": status},
    }


def is_status_change(event: Mapping[str, Any]) -> bool:
    return event.get("source") == SOURCE or event.get("detail-type") == DETAIL_TYPE


def ending_of(event: Any, *, state_machine_arn: str, stepfunctions: Any) -> Ending:
    """The run an event is about. Raises `Refused` for anything but this pipeline's runs."""
    if not isinstance(event, Mapping):
        raise Refused(f"the finalizer takes a JSON object, not {type(event).__name__}")
    if not is_status_change(event):
        if not event.get("execution_id"):
            raise Refused(
                "the finalizer takes the state machine's Finalize payload (service, commit_sha, environment, "
                f"execution_id) or a '{DETAIL_TYPE}' event; got keys {sorted(event)[:10]}"
            )
        outcome = event.get("outcome") or {}
        try:
            run = Run.from_event(event)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        return Ending(run, outcome if isinstance(outcome, Mapping) else {})
    return _from_status_change(event, state_machine_arn, stepfunctions)


def _from_status_change(event: Mapping[str, Any], state_machine_arn: str, stepfunctions: Any) -> Ending:
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise Refused(f"not a '{DETAIL_TYPE}' event from {SOURCE}: {event.get('source')} / {event.get('detail-type')}")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise Refused("the event has no detail object")
    if detail.get("stateMachineArn") != state_machine_arn:
        raise Refused(f"the event is about another state machine: {detail.get('stateMachineArn')!r}")
    execution_arn = detail.get("executionArn")
    expected = state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"
    if not isinstance(execution_arn, str) or not execution_arn.startswith(expected):
        raise Refused(f"the event names no execution of {state_machine_arn}: {execution_arn!r}")
    # The rule delivers FAILED, TIMED_OUT and ABORTED; the sweeper any run that ended without clearing its
    # item (SUCCEEDED too). Either way only DescribeExecution's answer is believed.
    if detail.get("status") not in lc.EXECUTION_ENDED:
        raise Refused(f"status {detail.get('status')!r} is not an ending the finalizer handles")
    described = _describe(stepfunctions, execution_arn)
    return Ending(
        _run_of(detail.get("input"), described, execution_arn),
        status=described["status"],
        source="eventbridge",
    )


def _describe(stepfunctions: Any, execution_arn: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        return stepfunctions.describe_execution(executionArn=execution_arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            raise Refused(f"no such execution: {execution_arn}") from None
        raise


def _run_of(detail_input: Any, described: Mapping[str, Any], execution_arn: str) -> Run:
    """The run from the execution's input (the event's copy, or DescribeExecution's when the event
    left it out for its size) and its start."""
    raw = detail_input if isinstance(detail_input, str) and detail_input else described.get("input")
    try:
        document = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        document = None
    if not isinstance(document, Mapping):
        raise Refused(f"the execution's input is not a JSON object: {str(raw)[:200]!r}")
    started = described.get("startDate")
    error = {"Error": described.get("error") or described["status"], "Cause": described.get("cause") or ""}
    try:
        return Run.from_event(
            {
                **{k: document.get(k) for k in ("service", "commit_sha", "environment")},
                "execution_id": execution_arn,
                "execution_started_at": started.isoformat() if hasattr(started, "isoformat") else started,
                "error": error,
            }
        )
    except ValueError as exc:
        raise Refused(f"the execution's input: {exc}") from None
