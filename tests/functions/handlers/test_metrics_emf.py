"""The spec's metrics as the handlers print them (EMF on stdout): each one's name, its unit (the two
latencies in Seconds, every other a Count), the one dimension `service=cdk-control-plane`, and when it is
emitted: a test outcome is a sample of `TestFailureRate` (1 a failure, 0 a pass), `AssetHashMismatch`
counts hash mismatches only (the deployer's in rollback mode too), one `RollbackFailureRate` per failed
rollback attempt. Validate's and promotion's hash mismatches: tests/e2e/test_metrics.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.pipeline import lifecycle as lc
from functions.pipeline.settings import FunctionSettings
from functions.pipeline.store import MetadataTable
from functions.timestamps import utc_iso
from tests.emf import SPEC_UNITS, points, spec_points
from tests.functions.handlers.test_handlers import RUN, _invoke, environment  # noqa: F401 - a fixture
from tests.functions.pipeline.conftest import item_in, seed


def _ago(seconds: int) -> str:
    return utc_iso(datetime.now(UTC) - timedelta(seconds=seconds))


TESTING = {lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"}
ROLLING_BACK = {"status": "rollback_initiated", lc.ROLLBACK_INITIATED_AT: "2026-11-21T10:00:00Z"}
ASSET_MISMATCH = {"Error": lc.ERROR_ASSET_MISMATCH, "Cause": "an object was not the signed content"}
BUILD_FAILED = {"Error": "States.TaskFailed", "Cause": "rollback build failed"}


@pytest.mark.parametrize(
    ("environment_name", "action", "item", "error", "expected"),
    [
        ("stage", "test_failed", TESTING, None, {"TestFailureRate": [1.0]}),
        ("prod", "smoke_failed", {**TESTING, "status": "promoted"}, None, {"TestFailureRate": [1.0]}),
        # the deployer refused an asset in deploy mode: a hash mismatch (nothing deployed)
        ("stage", "asset_mismatch", {}, ASSET_MISMATCH, {"AssetHashMismatch": [1.0]}),
        # an artifact that fails any other check is invalid, but is no hash mismatch
        ("stage", "invalid_artifact", {}, {"Error": "InvalidArtifact", "Cause": "FAIL commit: ..."}, {}),
        # one per failed rollback attempt; the deployer's refusal in rollback mode is a hash mismatch too
        ("prod", "rollback_attempt_failed", ROLLING_BACK, BUILD_FAILED, {"RollbackFailureRate": [1.0]}),
        (
            "prod",
            "rollback_attempt_failed",
            ROLLING_BACK,
            ASSET_MISMATCH,
            {"RollbackFailureRate": [1.0], "AssetHashMismatch": [1.0]},
        ),
        ("prod", "rollback_failed", ROLLING_BACK, BUILD_FAILED, {}),  # the attempts were counted as they failed
    ],
)
def test_each_transition_emits_the_spec_metrics_of_what_happened(
    environment: FunctionSettings,  # noqa: F811 - the fixture
    table: MetadataTable,
    capsys: pytest.CaptureFixture[str],
    environment_name: str,
    action: str,
    item: dict[str, Any],
    error: dict[str, str] | None,
    expected: dict[str, list[float]],
) -> None:
    seed(table, item_in(environment_name, **item))
    result = _invoke("transition", {**RUN, "environment": environment_name, "action": action, "error": error})
    assert result["applied"] is True, result
    assert spec_points(capsys.readouterr().out) == expected


def test_deploy_latency_runs_from_the_candidates_creation_to_prod_success(
    environment: FunctionSettings,  # noqa: F811
    table: MetadataTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Spec: candidate artifact creation -> stage deploy -> prod deploy. The candidate is created when
    intake records it (`recorded_at`), not when CI says it built it."""
    seed(table, item_in("prod", status="promoted", recorded_at=_ago(7200), build_time=_ago(90_000), **TESTING))
    _invoke("transition", {**RUN, "environment": "prod", "action": "prod_succeeded", "error": None})
    emitted = spec_points(capsys.readouterr().out)
    assert set(emitted) == {"DeployLatency", "TestFailureRate"} and emitted["TestFailureRate"] == [0.0]
    (latency,) = emitted["DeployLatency"]
    assert 7200 <= latency < 7260


def test_rollback_latency_runs_from_the_test_failure_to_the_rollback_completion(
    environment: FunctionSettings,  # noqa: F811
    table: MetadataTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(table, item_in("prod", status="rollback_initiated", **{lc.ROLLBACK_INITIATED_AT: _ago(900)}))
    rollback = {"attempt": 1, "max_attempts": 2, "target_commit": "d" * 40}
    _invoke("transition", {**RUN, "environment": "prod", "action": "rollback_succeeded", "rollback": rollback})
    emitted = spec_points(capsys.readouterr().out)
    assert set(emitted) == {"RollbackLatency"} and 900 <= emitted["RollbackLatency"][0] < 960


@pytest.mark.parametrize(("left_running", "corrected"), [(True, [1.0]), (False, [0.0])])
def test_the_finalizer_counts_its_corrections(
    environment: FunctionSettings,  # noqa: F811
    table: MetadataTable,
    capsys: pytest.CaptureFixture[str],
    left_running: bool,
    corrected: list[float],
) -> None:
    """FinalizerCorrected: metadata patched after the run (here: an execution still `running`)."""
    ended = {} if left_running else {"execution_status": "failed", lc.ENV_STATUS: "failed"}
    seed(table, item_in("stage", **ended))
    _invoke("finalizer", {**RUN, "environment": "stage", "outcome": None, "error": None})
    assert spec_points(capsys.readouterr().out) == {"FinalizerCorrected": corrected}


def test_the_shared_sink_gives_every_spec_metric_its_unit_and_only_the_service_dimension(
    environment: FunctionSettings,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What every handler emits through (`observability.metric`), the sweeper's ArtifactNeverPromoted
    included, flushed as Lambda's decorator flushes it."""
    from functions.handlers.observability import metric, metrics

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> None:
        for name in SPEC_UNITS:
            metric(name, 3)

    handler({}, None)
    printed = points(capsys.readouterr().out)
    assert {(p.name, p.unit) for p in printed} == set(SPEC_UNITS.items())
    assert {p.dimensions for p in printed} == {(("service", "cdk-control-plane"),)}
    assert {p.namespace for p in printed} == {"CdkControlPlane"}
