"""Names the state machine, the functions and the metadata share: one spelling for each.

Imported by `components/` (the ASL builder) and by the functions; no imports of its own.
"""

from __future__ import annotations

# Lifecycle (`status`) of an artifact.
CANDIDATE = "candidate"
PROMOTED = "promoted"
DEPLOYED = "deployed"
REJECTED = "rejected"
ROLLBACK_INITIATED = "rollback_initiated"
ROLLBACK_SUCCEEDED = "rollback_succeeded"
ROLLBACK_FAILED = "rollback_failed"

# environment_states.{stage,prod}.status
NOT_DEPLOYED = "not_deployed"
PENDING = "pending"
DEPLOYING = "deploying"
ENV_DEPLOYED = "deployed"
FAILED = "failed"

# environment_states.{env}.test_status
NOT_TESTED = "not_tested"
TEST_RUNNING = "test_running"
TEST_PASSED = "test_passed"
TEST_FAILED = "test_failed"

# execution_status
RUNNING = "running"
SUCCEEDED = "succeeded"
EXECUTION_FAILED = "failed"
TIMEOUT = "timeout"
KILLED = "killed"

STAGE, PROD = "stage", "prod"
ENVIRONMENTS = (STAGE, PROD)

# EventBridge detail-types (spec names), source "cdk-control-plane".
EVENT_SOURCE = "cdk-control-plane"
ARTIFACT_PROMOTED = "ArtifactPromoted"
DEPLOY_SUCCEEDED = "DeploySucceeded"
DEPLOY_FAILED = "DeployFailed"
INVALID_ARTIFACT = "InvalidArtifact"
TEST_FAILED_EVENT = "TestFailed"
SMOKE_TEST_FAILED = "SmokeTestFailed"
ROLLBACK_INITIATED_EVENT = "RollbackInitiated"
ROLLBACK_SUCCEEDED_EVENT = "RollbackSucceeded"
ROLLBACK_FAILED_EVENT = "RollbackFailed"
FINALIZER_CORRECTED_METADATA = "FinalizerCorrectedMetadata"
OVERRIDE_REQUESTED = "OverrideRequested"
OVERRIDE_APPLIED = "OverrideApplied"
SWEEPER_TRIGGERED = "SweeperTriggered"
SWEEPER_CORRECTED = "SweeperCorrected"
STUCK_PIPELINE_TERMINATED = "StuckPipelineTerminated"

# CloudWatch metrics (one namespace, spec names).
METRICS_NAMESPACE = "CdkControlPlane"

# Errors the functions raise and the state machine catches by name.
ERROR_INVALID_ARTIFACT = "InvalidArtifact"
ERROR_LOST_RACE = "DynamoDB.ConditionalCheckFailedException"

DEFAULT_MAX_ROLLBACK_ATTEMPTS = 2
ROLLBACK_BASE_DELAY_SECONDS = 60
PHASE_TIMEOUT_SECONDS = 3600

# The service-level record beside the artifacts (same table): the prod last known good commit.
SERVICE_RECORD = "_service"


def execution_name(service: str, commit_sha: str, environment: str, attempt: int = 1) -> str:
    """Deterministic, so a duplicated trigger cannot start a second run (Step Functions refuses a
    name already used in the last 90 days)."""
    return f"{service}-{commit_sha[:12]}-{environment}-{attempt}"
