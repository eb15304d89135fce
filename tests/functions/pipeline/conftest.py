"""The pipeline core against a moto table: items in a chosen state, a run, captured events and metrics."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.emulator.aws import create_metadata_table, use_fake_credentials
from functions.pipeline import lifecycle as lc
from functions.pipeline.catalog import ServiceCatalog, catalog_key, location
from functions.pipeline.settings import FunctionSettings
from functions.pipeline.store import AuditTrail, MetadataTable
from functions.pipeline.transitions import Run

SERVICE = "orders"
COMMIT = "c" * 40
OTHER = "d" * 40
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:cdkcp-DeployArtifactPipeline:orders-cccc-stage-1"
BUILD_TIME = "2026-11-20T10:00:00Z"
ACTOR = "function:cdkcp-test"


def item_in(environment: lc.Environment | str = "stage", **overrides: Any) -> dict[str, Any]:
    """An artifact item as a run of `environment` holds it, deploying; `overrides` by attribute path."""
    item: dict[str, Any] = {
        "service": SERVICE,
        "commit_sha": COMMIT,
        "status": "candidate" if environment == "stage" else "promoted",
        "build_time": BUILD_TIME,
        "artifact_sha256": "e" * 64,
        "execution_id": EXECUTION,
        "execution_status": "running",
        "expire_at": 1_900_000_000,
        "environment_states": {
            "stage": {"status": "deploying", "test_status": "not_tested", "deploy_started_at": "2026-11-20T10:01:00Z"},
            "prod": {"status": "not_deployed", "test_status": "not_tested"},
        },
    }
    if environment == "prod":
        item["environment_states"]["stage"] = {"status": "deployed", "test_status": "test_passed"}
        item["environment_states"]["prod"] = {
            "status": "deploying",
            "test_status": "not_tested",
            "deploy_started_at": "2026-11-21T10:01:00Z",
        }
    for path, value in overrides.items():
        put(item, lc.env_path(path, environment), value)
    return item


def put(item: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        item = item.setdefault(part, {})
    if value is None:
        item.pop(last, None)
    else:
        item[last] = value


def run_of(environment: str = "stage", action: str | None = None, **extra: Any) -> Run:
    return Run.from_event(
        {
            "service": SERVICE,
            "commit_sha": COMMIT,
            "environment": environment,
            "execution_id": EXECUTION,
            **({"action": action} if action else {}),
            **extra,
        }
    )


class Captured:
    """A Notifier and a metric sink that remember what they were given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.alerts: list[str] = []
        self.metrics: list[tuple[str, float]] = []
        self.fail_events = False

    def event(self, detail_type: str, detail: dict[str, Any]) -> None:
        if self.fail_events:
            raise RuntimeError("EventBridge is down")
        self.events.append((detail_type, detail))

    def alert(self, subject: str, detail: dict[str, Any]) -> None:
        self.alerts.append(subject)

    def metric(self, name: str, value: float) -> None:
        self.metrics.append((name, value))

    @property
    def types(self) -> list[str]:
        return [t for t, _ in self.events]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    use_fake_credentials(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def table(aws: None) -> MetadataTable:
    import boto3

    client = boto3.client("dynamodb", region_name="us-east-1")
    create_metadata_table(client, "metadata")
    # Audited, as every function's table is: each change and its audit entry are one transaction.
    return MetadataTable(
        boto3.resource("dynamodb", region_name="us-east-1").Table("metadata"), AuditTrail(client, ACTOR)
    )


@pytest.fixture
def captured() -> Captured:
    return Captured()


def seed(table: MetadataTable, item: dict[str, Any]) -> dict[str, Any]:
    from functions.pipeline.expressions import to_dynamo

    table.table.put_item(Item=to_dynamo(copy.deepcopy(item)))
    return table.get(item["service"], item["commit_sha"]) or {}


def write_catalog(catalog: ServiceCatalog, bucket: str = "tooling") -> tuple[str, str]:
    """What `pulumi up` writes into the tooling bucket: the catalog's object; its location and hash."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=catalog_key(catalog.sha256), Body=catalog.to_bytes())
    return location(bucket, catalog.sha256), catalog.sha256


@pytest.fixture
def settings(table: MetadataTable) -> FunctionSettings:
    """The functions' settings, with an empty candidate and release bucket."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    for bucket in ("candidates", "releases"):
        s3.create_bucket(Bucket=bucket)
    uri, sha256 = write_catalog(ServiceCatalog.of({}))
    return FunctionSettings(
        table_name="metadata",
        name_prefix="cdkcp",
        tools_account_id="123456789012",
        service_catalog_uri=uri,
        service_catalog_sha256=sha256,
        event_bus_name="bus",
        alert_topic_arn="arn:aws:sns:us-east-1:123456789012:alerts",
        candidate_bucket="candidates",
        release_bucket="releases",
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:p",
        approved_cdk_versions=("2.1148.1",),
    )
