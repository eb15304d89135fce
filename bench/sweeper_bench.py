"""Benchmark: what one sweep reads, against the size of the metadata table.

    make bench-sweeper        (or: python bench/sweeper_bench.py [--sizes 1000,10000,100000])

For each size, a moto table of that many artifact items (deployed, rejected, promoted releases: none
of them waiting, so none in the sparse `sweep-by-age` index), plus what the index holds: STUCK runs
leased long ago whose executions are RUNNING with no progress, IN_FLIGHT runs leased a minute ago,
WAITING artifacts (stage and prod) due for the sweep whose attempt is in flight, and parked ones (stage
parked for longer than the never-promoted days, stage parked recently, prod parked); then one sweep.

Items read per sweep = index entries returned by Query + items read with GetItem + index entries a COUNT
query reads (DynamoDB reads every entry it counts: `ScannedCount`). Expected, exactly:
2 x waiting + 2 x stuck + in flight (the count after the watchdog requeued the stuck) + stage parked
past the never-promoted days + parked in prod (ProdReleasesParked). It grows with those, never with the
size of the table (the sweeper never scans); recently parked stage artifacts are never read.
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
WAITING = {"stage": 3, "prod": 3}
PARKED = {"old stage": 4, "recent stage": 4, "prod": 2}
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


def _waiting(sfn, s3, environment: str, commit: str, since: str) -> dict:
    """Due for the sweep, its attempt 1 in flight (started, never leased yet): read, never started twice."""
    from functions import naming

    name = naming.execution_name("billing", commit, environment, 1)
    sfn.start_execution(stateMachineArn=MACHINE, name=name, input="{}")
    bucket = "candidates" if environment == "stage" else "releases"
    s3.put_object(Bucket=bucket, Key=naming.artifact_prefix("billing", commit) + naming.MANIFEST_NAME, Body=b"{}")
    item = _item("billing", commit, "candidate" if environment == "stage" else "promoted")
    item["environment_states"][environment] = {"status": "pending", "test_status": "not_tested"}
    item.update(sweep_phase=environment, sweep_since=since)
    return item


def _parked(kind: str, commit: str, now: datetime) -> dict:
    from functions.timestamps import utc_iso

    item = _item("ledger", commit, "candidate" if "stage" in kind else "promoted")
    since = "2026-01-01T00:00:00Z" if kind != "recent stage" else utc_iso(now - timedelta(days=1))
    item.update(sweep_phase="prod_parked" if kind == "prod" else "stage_parked", sweep_since=since)
    item["manual_intervention_required"] = True
    return item


def expected_reads() -> int:
    return 2 * sum(WAITING.values()) + 2 * STUCK + IN_FLIGHT + PARKED["old stage"] + PARKED["prod"]


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
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in ("candidates", "releases"):
            s3.create_bucket(Bucket=bucket)
        due = utc_iso(now - timedelta(minutes=10))
        for environment, count in WAITING.items():
            offset = 0 if environment == "stage" else 100
            leased += [_waiting(sfn, s3, environment, f"{i + offset:040x}", due) for i in range(count)]
        for index, (kind, count) in enumerate(PARKED.items()):
            leased += [_parked(kind, f"{index * 100 + i:040x}", now) for i in range(count)]
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
    header = ("items in table", "read per sweep", "waiting", "stuck", "in flight after", "never promoted", "sweep s")
    print(" ".join(f"{h:>15}" for h in header))
    for r in results:
        row = (f"{r['size']:,}", r["items_read"], r["waiting"], r["stuck"], r["in_flight"], r["never_promoted"])
        print(" ".join(f"{v:>15}" for v in row) + f" {r['seconds']:>15.2f}")
    expected = expected_reads()
    reads = {r["items_read"] for r in results}
    ok = reads == {expected} and all(r["stuck"] == STUCK for r in results)
    print(
        f"expected 2 x waiting {sum(WAITING.values())} + 2 x stuck {STUCK} + in flight {IN_FLIGHT} "
        f"+ stage parked past the days {PARKED['old stage']} + parked in prod {PARKED['prod']} (ProdReleasesParked) "
        f"= {expected}, at every size; not read: {PARKED['recent stage']} recently parked in stage"
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
