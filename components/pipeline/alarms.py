"""The control plane's alarms as plain data: one per spec metric, per function errors and throttles,
the dead-letter queue, the state machine's failed / timed-out / aborted runs, and the sweeper not
running. `alarm_specs` is a pure function (no Pulumi), so every alarm is unit-testable and the
README's operations table can be checked against it; `monitoring.PipelineMonitoring` declares them.

Missing data is chosen per alarm: a metric emitted only when something happens (latencies, failures,
corrections) is `notBreaching` when silent; the sweeper's invocations are `breaching` when silent (no
data is exactly the failure that alarm exists for); the sweeper's gauges are `notBreaching`, because
their silence is the sweeper not running, which its own alarm reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from functions import naming
from functions.naming import ToolsNames
from functions.pipeline.lifecycle import METRICS_NAMESPACE, Metric
from stack_config.alarms import AlarmThresholds

# Powertools' default dimension (functions/handlers/observability.py): the only one the metrics carry.
SERVICE_DIMENSIONS: Mapping[str, str] = {"service": "cdk-control-plane"}
SWEEPER = "sweeper"
FIVE_MINUTES, HOUR, DAY, WEEK = 300, 3600, 86400, 7 * 86400
SWEEPER_SILENCE_SECONDS = 600  # the sweeper runs every 2 minutes: 10 minutes without a run is 5 missed
ANCHOR = "anchor"
ANCHOR_SILENCE_SECONDS = 1800  # the anchor runs every 10 minutes: 30 minutes without a run is 3 missed

AT_LEAST = "GreaterThanOrEqualToThreshold"
ABOVE = "GreaterThanThreshold"
BELOW = "LessThanThreshold"
SILENT_IS_FINE = "notBreaching"
SILENT_IS_FAILURE = "breaching"


@dataclass(frozen=True)
class AlarmSpec:
    kind: str  # the alarm is named `policies.monitoring.alarm_name(names, kind)`
    summary: str  # what fired, for the description and the README
    action: str  # what the on-call engineer does
    threshold: float
    comparison: str
    period: int
    missing_data: str
    namespace: str | None = None
    metric: str | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)
    statistic: str | None = None  # Sum, Maximum, ... or a percentile such as p90 (extended statistic)
    queries: Sequence[Mapping[str, Any]] = ()  # metric math instead of a single metric
    notify_ok: bool = False  # also tell the topic when it recovers (state alarms, not event counts)

    @property
    def description(self) -> str:
        return f"{self.summary}. On call: {self.action}"[:1024]


def _custom(metric: Metric, statistic: str, **spec: Any) -> AlarmSpec:
    return AlarmSpec(
        namespace=METRICS_NAMESPACE, metric=metric.value, dimensions=SERVICE_DIMENSIONS, statistic=statistic, **spec
    )


def failure_rate_queries(min_tests: int) -> list[dict[str, Any]]:
    """TestFailureRate is 1 per failed and 0 per passed test: SUM / SAMPLE_COUNT over one 7-day period
    is the trailing 7-day failure rate. An alarm may look back 7 days (Period x EvaluationPeriods at
    most 604,800 s, periods of an hour or more), so one 7-day period is the exact trailing window, not
    an approximation. Below `min_tests` tests the rate is reported as 0: two tests, one failed, is no
    trend."""

    def metric(query_id: str, stat: str) -> dict[str, Any]:
        return {
            "id": query_id,
            "return_data": False,
            "metric": {
                "namespace": METRICS_NAMESPACE,
                "metric_name": Metric.TEST_FAILURE_RATE.value,
                "dimensions": dict(SERVICE_DIMENSIONS),
                "period": WEEK,
                "stat": stat,
            },
        }

    return [
        metric("failures", "Sum"),
        metric("tests", "SampleCount"),
        {
            "id": "rate",
            "expression": f"IF(tests >= {min_tests}, failures / tests, 0)",
            "label": "TestFailureRate, trailing 7 days",
            "return_data": True,
        },
    ]


def _spec_metric_alarms(t: AlarmThresholds) -> list[AlarmSpec]:
    return [
        _custom(
            Metric.DEPLOY_LATENCY,
            "p90",
            kind="deploy-latency",
            summary=f"DeployLatency p90 over a day above {t.deploy_latency_p90_seconds} s (candidate built to prod)",
            action="look for runs waiting on the lock or the prod ordering, slow stage tests, and retried attempts "
            "(SweeperCorrections); the dashboard's executions by status shows where runs stop",
            threshold=t.deploy_latency_p90_seconds,
            comparison=ABOVE,
            period=DAY,
            missing_data=SILENT_IS_FINE,
            notify_ok=True,
        ),
        _custom(
            Metric.ROLLBACK_LATENCY,
            "Maximum",
            kind="rollback-latency",
            summary=f"a rollback took more than {t.rollback_latency_seconds} s from the test failure",
            action="open the run's execution and the deployer's rollback build log; check the service's prod stacks "
            "are on the last known good commit",
            threshold=t.rollback_latency_seconds,
            comparison=ABOVE,
            period=HOUR,
            missing_data=SILENT_IS_FINE,
            notify_ok=True,
        ),
        _custom(
            Metric.FINALIZER_CORRECTED,
            "Sum",
            kind="finalizer-corrected",
            summary=f"the finalizer patched metadata {t.finalizer_corrections_per_hour} times or more in an hour",
            action="read the FinalizerCorrectedMetadata events in the event log (README, Operations: the events "
            "of the bus): a recurring correction is a step that does not record its outcome (a bug or a permission), "
            "fix it",
            threshold=t.finalizer_corrections_per_hour,
            comparison=AT_LEAST,
            period=HOUR,
            missing_data=SILENT_IS_FINE,
        ),
        _custom(
            Metric.ARTIFACT_NEVER_PROMOTED,
            "Maximum",
            kind="artifact-never-promoted",
            summary=f"more than {t.artifacts_never_promoted} candidates older than the configured days never promoted",
            action="a backlog, not an event: list the stage_parked items (README, Operations: parked items), rerun "
            "those worth it, fix forward the others with a new commit; it clears when parked candidates leave "
            "(a rerun, or their TTL at build time + 90 days), so it may stay in ALARM for weeks",
            threshold=t.artifacts_never_promoted,
            comparison=ABOVE,
            period=HOUR,
            missing_data=SILENT_IS_FINE,
            notify_ok=True,
        ),
        AlarmSpec(
            kind="test-failure-rate",
            summary=f"more than {t.test_failure_rate:.0%} of stage and prod tests failed over the trailing 7 days "
            f"(once {t.test_failure_rate_min_tests} tests ran)",
            action="find the services whose TestFailed / SmokeTestFailed events dominate (the event log) and tell "
            "their owners; "
            "check the test runners (CodeBuild) are healthy",
            threshold=t.test_failure_rate,
            comparison=ABOVE,
            period=WEEK,
            missing_data=SILENT_IS_FINE,
            queries=failure_rate_queries(t.test_failure_rate_min_tests),
            notify_ok=True,
        ),
    ]


def _spec_failure_alarms(t: AlarmThresholds) -> list[AlarmSpec]:
    return [
        _custom(
            Metric.ROLLBACK_FAILURE_RATE,
            "Sum",
            kind="rollback-attempt-failed",
            summary="a prod rollback attempt failed (RollbackFailureRate is 1 for every failed attempt, also one "
            "that a retry then fixes)",
            action="an attempt failed and a retry follows while attempts remain (maxRollbackAttempts): watch the "
            "run; act on the RollbackFailed alert, which comes only once every attempt failed",
            threshold=t.rollback_failures,
            comparison=AT_LEAST,
            period=FIVE_MINUTES,
            missing_data=SILENT_IS_FINE,
        ),
        _custom(
            Metric.ASSET_HASH_MISMATCH,
            "Sum",
            kind="asset-hash-mismatch",
            summary="an artifact's assets did not match their signed hashes before a deploy",
            action="treat as tampering until proven otherwise: read the DeployFailed / InvalidArtifact event, "
            "compare the bucket's object versions with the manifest, involve security",
            threshold=t.asset_hash_mismatches,
            comparison=AT_LEAST,
            period=FIVE_MINUTES,
            missing_data=SILENT_IS_FINE,
        ),
    ]


def _function_alarms(names: ToolsNames, t: AlarmThresholds, functions: Sequence[str]) -> list[AlarmSpec]:
    alarms = []
    for function in functions:
        dimensions = {"FunctionName": names.function_name(function)}
        failures = "sweeper failures" if function == SWEEPER else f"{function} errors"
        log = f"/aws/lambda/{names.function_name(function)}"
        retried = {
            SWEEPER: "no retry and no dead letter: the next sweep (2 minutes) is the retry",
            ANCHOR: "the error names the destination(s) that refused the anchor (bucket, topic, CloudTrail); no "
            "retry and no dead letter: the next anchor (10 minutes) is the retry",
        }.get(function, "failed asynchronous invocations also land in the dead-letter queue")
        for metric, threshold, summary, action in (
            ("Errors", t.function_errors, failures, f"read {log}; {retried}"),
            (
                "Throttles",
                t.function_throttles,
                f"{function} throttled",
                "check the account's concurrency and the "
                "function's reserved concurrency; throttled starts are retried, lasting throttling delays deploys",
            ),
        ):
            alarms.append(
                AlarmSpec(
                    kind=f"{function}-{metric.lower()}",
                    summary=f"{summary}: {threshold} or more in 5 minutes",
                    action=action,
                    threshold=threshold,
                    comparison=AT_LEAST,
                    period=FIVE_MINUTES,
                    missing_data=SILENT_IS_FINE,
                    namespace="AWS/Lambda",
                    metric=metric,
                    dimensions=dimensions,
                    statistic="Sum",
                )
            )
    if ANCHOR in functions:
        alarms.append(_anchor_silence(names))
    if SWEEPER in functions:
        alarms.append(
            AlarmSpec(
                kind="sweeper-not-running",
                summary=f"the sweeper did not run for {SWEEPER_SILENCE_SECONDS // 60} minutes",
                action="check its EventBridge Scheduler schedule (enabled, role) and the function's reserved "
                "concurrency; until it runs, dropped triggers and stuck runs are not recovered",
                threshold=1,
                comparison=BELOW,
                period=SWEEPER_SILENCE_SECONDS,
                missing_data=SILENT_IS_FAILURE,
                namespace="AWS/Lambda",
                metric="Invocations",
                dimensions={"FunctionName": names.function_name(SWEEPER)},
                statistic="Sum",
                notify_ok=True,
            )
        )
    return alarms


def _anchor_silence(names: ToolsNames) -> AlarmSpec:
    """The spec's silent inbox, seen from inside: no anchor run for 30 minutes."""
    return AlarmSpec(
        kind="anchor-not-running",
        summary=f"the audit anchor function did not run for {ANCHOR_SILENCE_SECONDS // 60} minutes",
        action="check its EventBridge Scheduler schedule (enabled, role) and the function; until it runs, no "
        "anchor reaches the bucket, the audit inbox or CloudTrail Lake, and a rewritten chain goes unseen",
        threshold=1,
        comparison=BELOW,
        period=ANCHOR_SILENCE_SECONDS,
        missing_data=SILENT_IS_FAILURE,
        namespace="AWS/Lambda",
        metric="Invocations",
        dimensions={"FunctionName": names.function_name(ANCHOR)},
        statistic="Sum",
        notify_ok=True,
    )


def _infrastructure_alarms(names: ToolsNames, t: AlarmThresholds) -> list[AlarmSpec]:
    machine = {"StateMachineArn": names.state_machine_arn}

    def executions(metric: str, threshold: int, period: int, summary: str, action: str) -> AlarmSpec:
        return AlarmSpec(
            kind=f"executions-{metric.removeprefix('Executions').lower()}",
            summary=summary,
            action=action,
            threshold=threshold,
            comparison=AT_LEAST,
            period=period,
            missing_data=SILENT_IS_FINE,
            namespace="AWS/States",
            metric=metric,
            dimensions=machine,
            statistic="Sum",
        )

    return [
        AlarmSpec(
            kind="dead-letters",
            summary=f"{t.dead_letters} or more failed invocations or trigger events in the dead-letter queue",
            action="read the messages (requestPayload, the error); fix the cause, then re-invoke the function "
            "with the payload or let the sweeper pick the artifacts up, and delete the message (README, "
            "Operations: dead letters)",
            threshold=t.dead_letters,
            comparison=AT_LEAST,
            period=FIVE_MINUTES,
            missing_data=SILENT_IS_FINE,
            namespace="AWS/SQS",
            metric="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": names.dead_letter_queue_name},
            statistic="Maximum",
            notify_ok=True,
        ),
        executions(
            "ExecutionsFailed",
            t.failed_executions_per_hour,
            HOUR,
            f"{t.failed_executions_per_hour} or more pipeline runs failed in an hour",
            "a failed deploy or test fails its run; many at once is systemic: look for a common error "
            "(a role, a quota, the deployer image) in the executions",
        ),
        executions(
            "ExecutionsTimedOut",
            t.timed_out_executions,
            FIVE_MINUTES,
            "a pipeline run reached the state machine's timeout",
            "the finalizer records it; find the step that hung in the execution history",
        ),
        executions(
            "ExecutionsAborted",
            t.aborted_executions,
            FIVE_MINUTES,
            "a pipeline run was stopped (by the watchdog or by hand)",
            "a StuckPipelineTerminated event (alert, event log) says the watchdog stopped it (requeued, or a "
            "rollback that was not); otherwise ask who stopped it (CloudTrail StopExecution)",
        ),
    ]


def _parked_alarms() -> list[AlarmSpec]:
    """What waits for a person in prod (the sweeper's gauge): a release parked there may have left prod half
    on it, whatever the single best-effort message said."""
    return [
        _custom(
            Metric.PROD_PARKED,
            "Maximum",
            kind="prod-parked",
            summary="a release is parked in prod for a person (attempts exhausted, a run that ended without proof "
            "of what it deployed, or stopped by hand)",
            action="prod may be half on the release: list the prod_parked items (README, Operations: parked "
            "items), read each one's failure_reason, check the service's prod stacks, then start its next attempt "
            "or ship a fix as a new commit; it clears when no release is parked",
            threshold=1,
            comparison=AT_LEAST,
            period=FIVE_MINUTES,
            missing_data=SILENT_IS_FINE,
            notify_ok=True,
        ),
    ]


def alarm_specs(
    names: ToolsNames, thresholds: AlarmThresholds, functions: Sequence[str] = naming.FUNCTIONS
) -> list[AlarmSpec]:
    return [
        *_spec_metric_alarms(thresholds),
        *_spec_failure_alarms(thresholds),
        *_parked_alarms(),
        *_function_alarms(names, thresholds, functions),
        *_infrastructure_alarms(names, thresholds),
    ]
