"""Thresholds of the control plane's alarms (`alarms:` in the tools stack), each with its default.

The defaults are the values the README's operations table documents; every bound below refuses a
threshold that would make its alarm fire on every run or never at all. No Pulumi import: used by the
program, the offline preview and the tests.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DAY_SECONDS = 24 * 3600


class AlarmThresholds(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True)

    deploy_latency_p90_seconds: int = Field(
        default=4 * 3600,
        ge=600,
        le=7 * DAY_SECONDS,
        description="DeployLatency (candidate built to deployed in prod): p90 over a day above this",
    )
    rollback_latency_seconds: int = Field(
        default=1800,
        ge=60,
        le=DAY_SECONDS,
        description="RollbackLatency: a rollback slower than this, from the failed test to the rollback done",
    )
    finalizer_corrections_per_hour: int = Field(
        default=3, ge=1, le=1000, description="FinalizerCorrected: this many corrections or more in an hour"
    )
    artifacts_never_promoted: int = Field(
        default=10, ge=1, le=100_000, description="ArtifactNeverPromoted: more candidates than this never promoted"
    )
    test_failure_rate: float = Field(
        default=0.2, gt=0, lt=1, description="TestFailureRate: share of failed tests over the trailing 7 days"
    )
    test_failure_rate_min_tests: int = Field(
        default=5, ge=1, le=10_000, description="the 7-day rate is judged only once this many tests ran"
    )
    rollback_failures: int = Field(default=1, ge=1, le=100, description="RollbackFailureRate: per 5 minutes")
    asset_hash_mismatches: int = Field(default=1, ge=1, le=100, description="AssetHashMismatch: per 5 minutes")
    function_errors: int = Field(default=1, ge=1, le=10_000, description="Lambda Errors of one function per 5 minutes")
    function_throttles: int = Field(
        default=1, ge=1, le=10_000, description="Lambda Throttles of one function per 5 minutes"
    )
    dead_letters: int = Field(default=1, ge=1, le=10_000, description="messages waiting in the dead-letter queue")
    failed_executions_per_hour: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Step Functions ExecutionsFailed per hour (a failed deploy or test fails its run: one is normal)",
    )
    timed_out_executions: int = Field(default=1, ge=1, le=1000, description="ExecutionsTimedOut per 5 minutes")
    aborted_executions: int = Field(default=1, ge=1, le=1000, description="ExecutionsAborted per 5 minutes")
