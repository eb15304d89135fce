"""The metrics a handler printed, read back from its EMF lines (Powertools Metrics writes one JSON document
per flush: `_aws.CloudWatchMetrics[0]` names the namespace, the dimension sets and each metric's name and
unit; the dimension values and the metric values are top-level keys)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from functions.pipeline import lifecycle as lc

# The spec's seven metrics, each with the unit CloudWatch must store it in.
SPEC_UNITS = {
    lc.Metric.DEPLOY_LATENCY.value: "Seconds",
    lc.Metric.ROLLBACK_LATENCY.value: "Seconds",
    lc.Metric.FINALIZER_CORRECTED.value: "Count",
    lc.Metric.ARTIFACT_NEVER_PROMOTED.value: "Count",
    lc.Metric.TEST_FAILURE_RATE.value: "Count",
    lc.Metric.ROLLBACK_FAILURE_RATE.value: "Count",
    lc.Metric.ASSET_HASH_MISMATCH.value: "Count",
}
DIMENSIONS = {"service": "cdk-control-plane"}


@dataclass(frozen=True)
class Point:
    name: str
    unit: str
    value: float
    namespace: str
    dimensions: tuple[tuple[str, str], ...]


def points(stdout: str) -> list[Point]:
    """Every data point of every EMF document in `stdout`, in order."""
    found = []
    for line in stdout.splitlines():
        if not (line.startswith("{") and '"_aws"' in line):
            continue
        document: dict[str, Any] = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        names = [name for dimension_set in directive["Dimensions"] for name in dimension_set]
        dimensions = tuple((name, document[name]) for name in names)
        for metric in directive["Metrics"]:
            values = document[metric["Name"]]
            for value in values if isinstance(values, list) else [values]:
                found.append(Point(metric["Name"], metric["Unit"], value, directive["Namespace"], dimensions))
    return found


def spec_points(stdout: str) -> dict[str, list[float]]:
    """The spec's metrics in `stdout` (name -> values), each checked to be in the namespace, with the one
    dimension `service=cdk-control-plane` and in its unit."""
    emitted: dict[str, list[float]] = {}
    for point in points(stdout):
        assert point.namespace == lc.METRICS_NAMESPACE, point
        assert dict(point.dimensions) == DIMENSIONS, point
        if point.name in SPEC_UNITS:
            assert point.unit == SPEC_UNITS[point.name], point
            emitted.setdefault(point.name, []).append(point.value)
    return emitted
