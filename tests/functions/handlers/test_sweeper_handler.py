"""The sweeper's entry point as EventBridge Scheduler calls it: the program's environment, the schedule's
event, the gauges read back from the EMF lines (namespace, the one dimension, Count units)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from functions.pipeline.settings import FunctionSettings
from functions.pipeline.store import MetadataTable
from tests.functions.handlers.test_handlers import _invoke, environment  # noqa: F401 - fixture
from tests.functions.pipeline.conftest import COMMIT, SERVICE, item_in, seed

SCHEDULED = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}


def _emf(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_a_scheduled_sweep_starts_a_dropped_run_and_emits_its_gauges(
    environment: FunctionSettings,  # noqa: F811
    table: MetadataTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    item = item_in("stage", execution_id=None, execution_status=None, **{"environment_states.{env}.status": "pending"})
    item.update(sweep_phase="stage", sweep_since="2026-01-01T00:00:00Z")
    seed(table, item)
    key = f"{SERVICE}/{COMMIT}/artifact-manifest.json"
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=environment.candidate_bucket, Key=key, Body=b"{}")

    result = _invoke("sweeper", SCHEDULED)
    assert [c["reason"] for c in result["corrections"]] == ["dropped_event"]
    listed = boto3.client("stepfunctions", region_name="us-east-1").list_executions(
        stateMachineArn=environment.state_machine_arn
    )["executions"]
    assert [e["name"] for e in listed] == [f"{SERVICE}-{COMMIT}-stage-1"]

    (document,) = _emf(capsys.readouterr().out)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "CdkControlPlane" and directive["Dimensions"] == [["service"]]
    assert document["service"] == "cdk-control-plane"
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {
        "ArtifactNeverPromoted": "Count",
        "ExecutionsInFlight": "Count",
        "ExecutionsStuck": "Count",
        "ProdReleasesParked": "Count",
        "SweeperCorrections": "Count",
    }
    assert document["SweeperCorrections"] == [1.0] and document["ExecutionsStuck"] == [0.0]
    assert document["ProdReleasesParked"] == [0.0]
