"""Benchmark: what one sweep reads, against the size of the metadata table.

    make bench-sweeper        (or: python bench/sweeper_bench.py [--sizes 1000,10000,100000])

For each size, a moto table of that many artifact items (deployed, rejected, promoted releases: none
of them waiting, so none in the sparse `sweep-by-age` index), plus STUCK runs leased long ago whose
executions are RUNNING with no progress and IN_FLIGHT runs leased a minute ago; then one sweep. Items
read per sweep = index entries returned by Query + items read with GetItem (the in-flight and
never-promoted counts are COUNT queries, which return no item). Target: at most 2 x (stuck + in flight),
the same at every size (the sweeper never scans).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STUCK = 10
IN_FLIGHT = 5
REGION = "us-east-1"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:cdkcp-DeployArtifactPipeline"


def _item(service: str, commit: str, status: str) -> dict:
    return {
        "service": service,
        "commit_sha": commit,
        "status": status,
        "build_time": "2026-01-01T00:00:00Z",
        "environment_states": {"stage": {"status": "deployed", "test_status": "test_passed"}},
    }


def _leased(sfn, service: str, commit: str, since: str) -> dict:
    from functions import naming

    name = naming.execution_name(service, commit, "stage", 1)
    arn = sfn.start_execution(stateMachineArn=MACHINE, name=name, input="{}")["executionArn"]
    item = _item(service, commit, "candidate")
    item["environment_states"]["stage"] = {"status": "deploying", "test_status": "not_tested", "deployment_id": name}
    item.update(
        execution_id=arn,
        deployment_id=name,
        execution_started_at=since,
        execution_status="running",
        sweep_phase="running",
        sweep_since=since,
    )
    return item


def one_size(size: int) -> dict:
    import boto3
    from moto import mock_aws

    from devtools.emulator.aws import create_metadata_table
    from functions.pipeline.settings import FunctionSettings
    from functions.pipeline.store import MetadataTable
    from functions.pipeline.sweeper import SweeperClients, sweep
    from functions.timestamps import utc_iso

    now = datetime.now(UTC)
    with mock_aws():
        create_metadata_table(boto3.client("dynamodb", region_name=REGION), "metadata")
        table = boto3.resource("dynamodb", region_name=REGION).Table("metadata")
        sfn = boto3.client("stepfunctions", region_name=REGION)
        sfn.create_state_machine(
            name="cdkcp-DeployArtifactPipeline",
            definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/pipeline",
        )
        leased = [_leased(sfn, "orders", f"{i:040x}", "2026-01-01T00:00:00Z") for i in range(STUCK)]
        fresh = utc_iso(now - timedelta(minutes=1))
        leased += [_leased(sfn, "payments", f"{i:040x}", fresh) for i in range(IN_FLIGHT)]
        with table.batch_writer() as batch:
            for item in leased:
                batch.put_item(Item=item)
            for i in range(size - len(leased)):
                status = ("deployed", "rejected", "promoted")[i % 3]
                batch.put_item(Item=_item(f"svc{i % 50}", f"{i + 1_000_000:040x}", status))
        settings = FunctionSettings(
            table_name="metadata",
            name_prefix="cdkcp",
            tools_account_id="123456789012",
            service_catalog_uri="s3://tooling/catalog/" + "0" * 64 + ".json",
            service_catalog_sha256="0" * 64,
            event_bus_name="bus",
            alert_topic_arn="arn:aws:sns:us-east-1:123456789012:alerts",
            candidate_bucket="candidates",
            release_bucket="releases",
            state_machine_arn=MACHINE,
            approved_cdk_versions=("2.1148.1",),
        )
        boto3.client("events", region_name=REGION).create_event_bus(Name="bus")

        class Quiet:
            def event(self, *_: object) -> None: ...

            def alert(self, *_: object) -> None: ...

        clients = SweeperClients(
            settings=settings,
            table=MetadataTable(table),
            sfn=sfn,
            s3=boto3.client("s3", region_name=REGION),
            notify=Quiet(),
            metric=lambda *_: None,
        )
        started = time.perf_counter()
        report = sweep(clients, now=now)
        seconds = time.perf_counter() - started
    return {"size": size, "seconds": seconds, **report}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args(argv)
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": REGION}.items():
        os.environ[name] = value
    results = [one_size(int(s)) for s in args.sizes.split(",")]
    print(f"{'items in table':>15} {'read per sweep':>15} {'stuck':>6} {'in flight after':>16} {'sweep s':>8}")
    for r in results:
        print(f"{r['size']:>15,} {r['items_read']:>15} {r['stuck']:>6} {r['in_flight']:>16} {r['seconds']:>8.2f}")
    bound = 2 * (STUCK + IN_FLIGHT)
    reads = {r["items_read"] for r in results}
    ok = all(r["items_read"] <= bound and r["stuck"] == STUCK for r in results) and len(reads) == 1
    print(f"bound 2 x (stuck {STUCK} + in flight {IN_FLIGHT}) = {bound}; the same at every size: {len(reads) == 1}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
