"""The artifact lifecycle: one vocabulary and one table of transitions (spec: Metadata Tracking,
Stage Deployment + Testing, Production Deployment + Smoke Testing, Configurable Rollback Retry Policy).

Everything that writes an item's state is rendered from here: the state machine's lease (its
`ConditionExpression`), the transition Lambda, promotion's claim, rollback and the finalizer. A rule is
written once, in `TRANSITIONS`; `tests/functions/pipeline/test_lifecycle.py` walks the table against
the spec's lifecycle.

Pure: no AWS, no Pulumi. `components/` imports it to build the ASL.
"""

from __future__ import annotations

from enum import StrEnum


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


EVENT_SOURCE = "cdk-control-plane"
METRICS_NAMESPACE = "CdkControlPlane"
SECONDS_METRICS = frozenset({Metric.DEPLOY_LATENCY, Metric.ROLLBACK_LATENCY})

DEFAULT_MAX_ROLLBACK_ATTEMPTS = 2
ROLLBACK_BASE_DELAY_SECONDS = 60
PHASE_TIMEOUT_SECONDS = 3600
