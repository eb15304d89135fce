"""The lifecycle's vocabulary: statuses, actions, events, metrics, environments and the item's attribute
paths. One spelling for each, shared by the functions, the ASL builder and artifactctl."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Environment(StrEnum):
    STAGE = "stage"
    PROD = "prod"


class Status(StrEnum):
    """The item's single lifecycle attribute `status` (the spec's `lifecycle_status`)."""

    CANDIDATE = "candidate"
    PROMOTED = "promoted"
    DEPLOYED = "deployed"
    REJECTED = "rejected"
    ROLLBACK_INITIATED = "rollback_initiated"
    ROLLBACK_SUCCEEDED = "rollback_succeeded"
    ROLLBACK_FAILED = "rollback_failed"


class EnvStatus(StrEnum):
    """`environment_states.{env}.status`."""

    NOT_DEPLOYED = "not_deployed"
    PENDING = "pending"
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    FAILED = "failed"
    ROLLBACK_SUCCEEDED = "rollback_succeeded"
    ROLLBACK_FAILED = "rollback_failed"
    # prod only: an older build than the service's prod known good is never deployed over it
    SUPERSEDED = "superseded"


class TestStatus(StrEnum):
    """`environment_states.{env}.test_status`."""

    __test__ = False  # not a pytest class

    NOT_TESTED = "not_tested"
    RUNNING = "test_running"
    PASSED = "test_passed"
    FAILED = "test_failed"


class ExecutionStatus(StrEnum):
    """`execution_status`: how the run that last held the item ended."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    KILLED = "killed"


class SweepPhase(StrEnum):
    """`sweep_phase`, the partition key of the sparse index the sweeper queries (`sweep-by-age`, sort key
    `sweep_since`); an item carries it only while the sweeper has something to watch."""

    STAGE = "stage"  # waiting for its next stage attempt since `sweep_since`
    PROD = "prod"  # waiting for its next prod attempt since `sweep_since`
    RUNNING = "running"  # leased: a run holds it (since its lease); the watchdog looks here
    STAGE_PARKED = "stage_parked"  # stage attempts exhausted: manual intervention (since: its build time)
    PROD_PARKED = "prod_parked"  # prod attempts exhausted: manual intervention (since: when parked)


class Event(StrEnum):
    """EventBridge detail-types (the spec's names), source `EVENT_SOURCE`."""

    ARTIFACT_PROMOTED = "ArtifactPromoted"
    DEPLOY_SUCCEEDED = "DeploySucceeded"
    DEPLOY_FAILED = "DeployFailed"
    INVALID_ARTIFACT = "InvalidArtifact"
    TEST_FAILED = "TestFailed"
    SMOKE_TEST_FAILED = "SmokeTestFailed"
    ROLLBACK_INITIATED = "RollbackInitiated"
    ROLLBACK_SUCCEEDED = "RollbackSucceeded"
    ROLLBACK_FAILED = "RollbackFailed"
    FINALIZER_CORRECTED_METADATA = "FinalizerCorrectedMetadata"
    OVERRIDE_REQUESTED = "OverrideRequested"
    OVERRIDE_APPLIED = "OverrideApplied"
    OVERRIDE_REFUSED = "OverrideRefused"  # a signed operator request the orchestrator refused (and why)
    SWEEPER_TRIGGERED = "SweeperTriggered"
    SWEEPER_CORRECTED = "SweeperCorrected"
    STUCK_PIPELINE_TERMINATED = "StuckPipelineTerminated"


class Metric(StrEnum):
    """CloudWatch metrics (one namespace, the spec's names)."""

    DEPLOY_LATENCY = "DeployLatency"
    ROLLBACK_LATENCY = "RollbackLatency"
    TEST_FAILURE_RATE = "TestFailureRate"
    ROLLBACK_FAILURE_RATE = "RollbackFailureRate"
    ASSET_HASH_MISMATCH = "AssetHashMismatch"
    FINALIZER_CORRECTED = "FinalizerCorrected"
    # Manifests intake refused (another service's key or prefix, revoked content, a conflicting
    # re-publish, ...): not asset hash failures, which `AssetHashMismatch` counts.
    ARTIFACT_REFUSED = "ArtifactRefused"
    # spec: candidates older than a configured number of days that were never promoted
    ARTIFACT_NEVER_PROMOTED = "ArtifactNeverPromoted"
    # the sweeper's view of the runs, for the dashboard: leased items, and those the watchdog stopped
    EXECUTIONS_IN_FLIGHT = "ExecutionsInFlight"
    EXECUTIONS_STUCK = "ExecutionsStuck"
    SWEEPER_CORRECTIONS = "SweeperCorrections"  # attempts the sweeper started, runs it stopped or requeued
    # gauge: releases parked in prod for a person (`prod_parked`: attempts exhausted, or a prod run that
    # ended without proof of what it deployed, or stopped by hand)
    PROD_PARKED = "ProdReleasesParked"


EVENT_SOURCE = "cdk-control-plane"
METRICS_NAMESPACE = "CdkControlPlane"
SECONDS_METRICS = frozenset({Metric.DEPLOY_LATENCY, Metric.ROLLBACK_LATENCY})

DEFAULT_MAX_ROLLBACK_ATTEMPTS = 2
ROLLBACK_BASE_DELAY_SECONDS = 60
# Exponential backoff, capped: attempt 10 would otherwise wait 8.5 hours, one silent Wait state far past
# the watchdog's 65 minutes (`components/pipeline/budget.py`).
ROLLBACK_MAX_DELAY_SECONDS = 15 * 60


def rollback_wait_seconds(attempt: int, base: int = ROLLBACK_BASE_DELAY_SECONDS) -> int:
    """How long the rollback planner waits before attempt `attempt` (1-based): base, doubling, capped."""
    return min(base * 2 ** (attempt - 1), ROLLBACK_MAX_DELAY_SECONDS)


PHASE_TIMEOUT_SECONDS = 3600
# The sweeper (every 2 minutes): an item waiting this long for its next attempt is started again; a run
# that made no progress this long (no event in its execution history) is stuck, stopped and requeued.
SWEEP_AFTER_SECONDS = 5 * 60
WATCHDOG_SECONDS = 65 * 60
SWEEP_SCHEDULE = "rate(2 minutes)"
DEFAULT_MAX_ATTEMPTS = 3  # per environment, configurable (`maxAttempts`)
DEFAULT_NEVER_PROMOTED_DAYS = 7  # `ArtifactNeverPromoted` (`artifactNeverPromotedDays`)
MANUAL_INTERVENTION = "manual_intervention_required"
# Runs that took the lease in an environment (the lease adds 1): what `maxAttempts` counts. A run that
# only waited for the lock is not an attempt (its execution name's number still increases).
LEASED_ATTEMPTS = "{env}_leased_attempts"


class Action(StrEnum):
    """Every transition of an item (and of the service record); the wire names the ASL passes."""

    LEASE = "lease"
    LEASE_TERMS = "lease_terms"  # what the lease writes that only a function can compute (no write)
    LEASE_LOST = "lease_lost"  # the lease's transaction was cancelled: why (no write, but for `superseded`)
    LOCK = "lock"  # the environment's lock, taken in the lease's transaction
    UNLOCK = "unlock"  # released by the finalizer, only by its holder
    LOCK_WAIT_TIMED_OUT = "lock_wait_timed_out"
    SUPERSEDED = "superseded"
    VALIDATED = "validated"
    DEPLOYED = "deployed"
    TEST_FAILED = "test_failed"
    PROMOTED = "promoted"
    PROD_SUCCEEDED = "prod_succeeded"
    KNOWN_GOOD = "known_good"
    CONTENT_REVOKED = "content_revoked"
    SMOKE_FAILED = "smoke_failed"
    PROD_DEPLOY_FAILED = "prod_deploy_failed"
    ROLLBACK_PLANNED = "rollback_planned"
    ROLLBACK_ATTEMPT_FAILED = "rollback_attempt_failed"
    ROLLBACK_SUCCEEDED = "rollback_succeeded"
    ROLLBACK_FAILED = "rollback_failed"
    INVALID_ARTIFACT = "invalid_artifact"
    DEPLOY_FAILED = "deploy_failed"
    DRIFT_DETECTED = "drift_detected"
    DRIFT_CHECK_FAILED = "drift_check_failed"
    NOT_STARTED = "not_started"  # Validate or the deploy build failed before anything was deployed
    ASSET_MISMATCH = "asset_mismatch"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    FINALIZED = "finalized"
    # the sweeper and its watchdog
    REQUEUED = "requeued"  # the watchdog stopped a stuck run: the item waits for its next attempt
    ROLLBACK_INTERRUPTED = "rollback_interrupted"  # the watchdog stopped a stuck rollback: never requeued
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  # the last allowed attempt ended: manual intervention
    # signed operator requests (`functions/overrides/`, rows in `overrides.py`)
    OVERRIDE_NONCE = "override_nonce"  # the request's nonce, used once (`_override#<nonce>`)
    OVERRIDE_REQUEUE = "override_requeue"  # a waiting or parked item: its next attempt is started
    OVERRIDE_PROMOTION = "override_promotion"  # a tested release pending in prod: its prod run is started
    OVERRIDE_ROLLBACK = "override_rollback"  # after rollback_failed: a rollback run to a named release
    OVERRIDE_ROLLBACK_LEASE = "override_rollback_lease"  # that run's lease (the state machine's transaction)
    OVERRIDE_ALLOW_DRIFT = "override_allow_drift"  # a drift-aborted release: one prod run may deploy on drift
    OVERRIDE_ALLOW_OLDER = "override_allow_older"  # a superseded release: one prod run skips the ordering
    OVERRIDE_OLDER_LEASE = "override_older_lease"  # that run's lease, without the ordering check
    OVERRIDE_LIFT_REVOCATION = "override_lift_revocation"  # a rolled-back release is eligible again
    OVERRIDE_LIFT_CONTENT = "override_lift_content"  # ... and its content (`_revoked#<sha>`) too
    OVERRIDE_UNLOCK = "override_unlock"  # a stuck lock released (its holder's run has ended)


# --- the item's attribute paths ("{env}" is the transition's environment) -----------------------------

STATUS = "status"
EXECUTION_ID = "execution_id"
EXECUTION_STATUS = "execution_status"
EXECUTION_STARTED_AT = "execution_started_at"
EXECUTION_COMPLETED_AT = "execution_completed_at"
DEPLOYMENT_ID = "deployment_id"
DEPLOY_BUILD_ID = "deploy_build_id"
# True once the deployer checked every object CloudFormation reads against the signed bytes; False when
# that check refused the deploy (the spec's `asset_verification_passed`; Validate does not set it).
ASSET_VERIFICATION_PASSED = "asset_verification_passed"
# The version of the manifest object Validate verified in this environment's bucket (promotion copies it).
MANIFEST_VERSION_ID = "environment_states.{env}.manifest_version_id"
HEALTH = "global_health_status"
ELIGIBILITY_REVOKED = "eligibility_revoked"
ELIGIBILITY_REVOKED_REASON = "eligibility_revoked_reason"
EXPIRE_AT = "expire_at"
SWEEP_PHASE = "sweep_phase"
SWEEP_SINCE = "sweep_since"
LAST_KNOWN_GOOD = "last_known_good_commit"
ROLLBACK_ATTEMPTS = "rollback_attempts"
ROLLBACK_TARGET = "rollback_target_commit"
ROLLBACK_FAILURE_REASON = "rollback_failure_reason"
ROLLBACK_INITIATED_AT = "rollback_initiated_at"
BUILD_TIME = "build_time"
RECORDED_AT = "recorded_at"  # when intake created the candidate item
ENV_STATUS = "environment_states.{env}.status"
ENV_TEST_STATUS = "environment_states.{env}.test_status"
ENV_DEPLOY_STARTED_AT = "environment_states.{env}.deploy_started_at"
ENV_TEST_STARTED_AT = "environment_states.{env}.test_started_at"
ENV_TEST_COMPLETED_AT = "environment_states.{env}.test_completed_at"
ENV_FAILURE_REASON = "environment_states.{env}.failure_reason"
ENV_STACKS = "environment_states.{env}.stacks"

# The service-level record beside the artifacts (same table, a key no CI principal can write).
SERVICE_RECORD = "_service"
KNOWN_GOOD_BUILD_TIME = "last_known_good_build_time"
# Revoked content: one record per revoked `artifact_sha256` of a service, so intake and Validate refuse
# those bytes under any commit with one GetItem (never a Scan). Written by the pipeline's transitions only.
REVOKED_CONTENT_RECORD = "_revoked#{artifact_sha256}"
REVOKED_COMMIT = "revoked_commit"
REVOKED_REASON = "revoked_reason"


def revoked_content_key(artifact_sha256: str) -> str:
    return REVOKED_CONTENT_RECORD.format(artifact_sha256=artifact_sha256)


# The lock of a service and environment: one record per environment beside the artifacts (a key no CI
# principal can write, like `_service`), taken in the same transaction as the lease, held through tests
# and rollback, released by the finalizer (or, once expired, taken over by the next run or broken by the
# watchdog of the self-healing issue).
LOCK_RECORD = "_lock#{env}"
LOCK_HOLDER = "holder_execution_id"
LOCK_HOLDER_NAME = "holder_deployment_id"
LOCK_COMMIT = "holder_commit_sha"
LOCK_TAKEN_AT = "taken_at"
# ISO 8601 like every time here (not the table's TTL attribute `expire_at`: TTL never deletes a lock).
LOCK_EXPIRES_AT = "expires_at"
# A lock expires this long after its execution started: at least the state machine's own timeout, which
# is its longest legitimate run (`components/pipeline/budget.py`: the lock wait, every phase with all of
# its retries, every rollback attempt with its backoff, for up to 10 rollback attempts, the most the
# stack config allows), so no execution outlives its lock. A last resort: the finalizer releases the lock
# at every ending, and the watchdog releases a stuck run's (no history event for 65 minutes) long
# before; an expired lock means its run is gone, and the next run takes it over.
LOCK_EXPIRY_SECONDS = 26 * 3600
# A run that finds the lock held waits its turn: LOCK_WAIT_SECONDS between attempts, at most
# LOCK_WAIT_ATTEMPTS times (10 minutes), then ends leaving the artifact retryable for the sweeper. Short
# against a run, so that waiting never eats the watchdog's 65 minutes.
LOCK_WAIT_SECONDS = 30
LOCK_WAIT_ATTEMPTS = 20


def env_path(path: str, environment: Environment | str) -> str:
    return path.replace("{env}", str(environment))


def record_key(record: str, environment: Environment | str, artifact_sha256: str | None) -> str:
    """The sort key of a record beside the artifacts (`_service`, `_lock#{env}`,
    `_revoked#{artifact_sha256}`) for one environment and artifact content."""
    return env_path(record, environment).replace("{artifact_sha256}", str(artifact_sha256))


def read(item: Mapping[str, Any], path: str, environment: Environment | str) -> Any:
    """The value at an attribute path of a plain item (None where any part is missing)."""
    value: Any = item
    for part in env_path(path, environment).split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


# Errors the functions raise and the state machine catches by name.
ERROR_INVALID_ARTIFACT = "InvalidArtifact"
# An AWS service did not answer (throttled, 5xx, unreachable, or denied us): `TransientAwsError` of
# `functions/artifacts/errors.py`; the state machine retries the function, never blames the artifact.
ERROR_TRANSIENT_AWS = "TransientAwsError"
ERROR_LOST_RACE = "DynamoDB.ConditionalCheckFailedException"
# A deploy or rollback build the deployer refused before any change set: an object CloudFormation reads
# was not the signed content (the build's `asset_mismatch`); the state machine records it under this name.
ERROR_ASSET_MISMATCH = "AssetMismatch"
# The lease's TransactWriteItems (an AWS SDK integration: `DynamoDb.`, Step Functions' PascalCase of the
# service, and the exception's name) cancelled: a condition failed (the lease's guard, the lock, or the
# prod ordering) or a concurrent transaction conflicted. `LostRace` re-reads and tells which.
ERROR_LEASE_REFUSED = "DynamoDb.TransactionCanceledException"
# What the lease's explanation answers when the lock is held: wait and try again.
LOCK_BUSY = "lock_busy"

__all__ = [
    "LOCK_WAIT_SECONDS",
    "LOCK_WAIT_ATTEMPTS",
    "LOCK_TAKEN_AT",
    "LOCK_RECORD",
    "LOCK_HOLDER_NAME",
    "LOCK_HOLDER",
    "LOCK_EXPIRY_SECONDS",
    "LOCK_EXPIRES_AT",
    "LOCK_COMMIT",
    "LOCK_BUSY",
    "ERROR_LEASE_REFUSED",
    "Action",
    "BUILD_TIME",
    "RECORDED_AT",
    "DEFAULT_MAX_ROLLBACK_ATTEMPTS",
    "DEPLOYMENT_ID",
    "DEPLOY_BUILD_ID",
    "ASSET_VERIFICATION_PASSED",
    "MANIFEST_VERSION_ID",
    "ELIGIBILITY_REVOKED",
    "ELIGIBILITY_REVOKED_REASON",
    "ENV_DEPLOY_STARTED_AT",
    "ENV_FAILURE_REASON",
    "ENV_STACKS",
    "ENV_STATUS",
    "ENV_TEST_COMPLETED_AT",
    "ENV_TEST_STARTED_AT",
    "ENV_TEST_STATUS",
    "ERROR_INVALID_ARTIFACT",
    "ERROR_ASSET_MISMATCH",
    "ERROR_TRANSIENT_AWS",
    "ERROR_LOST_RACE",
    "EVENT_SOURCE",
    "EXECUTION_COMPLETED_AT",
    "EXECUTION_ID",
    "EXECUTION_STARTED_AT",
    "EXECUTION_STATUS",
    "EXPIRE_AT",
    "EnvStatus",
    "Environment",
    "Event",
    "ExecutionStatus",
    "HEALTH",
    "KNOWN_GOOD_BUILD_TIME",
    "LAST_KNOWN_GOOD",
    "METRICS_NAMESPACE",
    "Metric",
    "PHASE_TIMEOUT_SECONDS",
    "ROLLBACK_ATTEMPTS",
    "ROLLBACK_BASE_DELAY_SECONDS",
    "ROLLBACK_MAX_DELAY_SECONDS",
    "rollback_wait_seconds",
    "ROLLBACK_FAILURE_REASON",
    "ROLLBACK_INITIATED_AT",
    "REVOKED_COMMIT",
    "REVOKED_CONTENT_RECORD",
    "REVOKED_REASON",
    "ROLLBACK_TARGET",
    "SECONDS_METRICS",
    "SERVICE_RECORD",
    "STATUS",
    "SWEEP_PHASE",
    "SweepPhase",
    "SWEEP_AFTER_SECONDS",
    "WATCHDOG_SECONDS",
    "SWEEP_SCHEDULE",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_NEVER_PROMOTED_DAYS",
    "MANUAL_INTERVENTION",
    "LEASED_ATTEMPTS",
    "SWEEP_SINCE",
    "Status",
    "TestStatus",
    "env_path",
    "record_key",
    "read",
    "revoked_content_key",
]
