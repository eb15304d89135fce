"""The spec's metrics as the pipeline's functions print them (EMF on stdout) along real runs, and the TTL
of what those runs leave: a release never expires, a rejected candidate does."""

from __future__ import annotations

import boto3
import pytest

from devtools.emulator.harness import Harness
from functions.artifacts.metadata import expire_at
from tests.emf import spec_points

GOOD = "a" * 40
BAD = "b" * 40


def test_a_release_samples_its_test_outcomes_measures_its_latency_and_never_expires(
    pipeline: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.publish(GOOD)
    capsys.readouterr()
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    stage = spec_points(capsys.readouterr().out)
    assert stage["TestFailureRate"] == [0.0]  # stage's tests passed: one sample of the rate
    assert set(stage) <= {"TestFailureRate", "FinalizerCorrected"} and sum(stage.get("FinalizerCorrected", [])) == 0
    promoted = pipeline.item(GOOD)
    assert promoted["status"] == "promoted" and "expire_at" not in promoted

    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"
    prod = spec_points(capsys.readouterr().out)
    assert prod["TestFailureRate"] == [0.0] and set(prod) <= {"TestFailureRate", "DeployLatency", "FinalizerCorrected"}
    (latency,) = prod["DeployLatency"]  # from the candidate's creation, seconds ago, to prod success
    assert 0 < latency < 600
    deployed = pipeline.item(GOOD)
    assert deployed["status"] == "deployed" and "expire_at" not in deployed
    for record in ("_service", "_lock#stage", "_lock#prod"):  # the known good and the locks
        assert pipeline.item(record) and "expire_at" not in pipeline.item(record), record

    pipeline.publish(BAD, previous=GOOD)
    pipeline.script.outcomes[("test", "stage", BAD)] = "FAILED"
    capsys.readouterr()
    assert pipeline.run("stage", BAD)["status"] == "FAILED"
    assert spec_points(capsys.readouterr().out)["TestFailureRate"] == [1.0]
    rejected = pipeline.item(BAD)
    assert rejected["status"] == "rejected" and rejected["expire_at"] == expire_at(rejected["build_time"])


def test_a_file_changed_after_signing_is_an_asset_hash_mismatch_at_validate(
    pipeline: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.publish(GOOD)
    key = f"orders/{GOOD}/cdk.out/orders-stage-api.template.json"
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=pipeline.candidate_bucket, Key=key, Body=b'{"Resources": {}}'
    )
    capsys.readouterr()
    result = pipeline.run("stage", GOOD)

    assert result["status"] == "FAILED" and "RecordInvalidArtifact" in result["states"]
    assert "does not match the manifest's" in pipeline.item(GOOD)["environment_states"]["stage"]["failure_reason"]
    assert spec_points(capsys.readouterr().out).get("AssetHashMismatch") == [1.0]
