"""The service catalog end to end: the harness writes the object the program declares (tooling bucket,
the program's bytes), the functions read it from there; a catalog changed in the bucket, not by
`pulumi up`, is refused, naming the object and both hashes, and nothing is recorded or started."""

from __future__ import annotations

import hashlib

import boto3
import pytest

from devtools.emulator.harness import Harness
from functions.pipeline.catalog import ServiceCatalog, split_location
from functions.pipeline.settings import SettingsError

COMMIT = "a" * 40


def test_the_functions_read_the_catalog_the_program_wrote(pipeline: Harness) -> None:
    uri = pipeline.program.environment["SERVICE_CATALOG_URI"]
    bucket, key = split_location(uri)
    stored = boto3.client("s3", region_name="us-east-1").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert stored == pipeline.program.catalog_bytes
    assert hashlib.sha256(stored).hexdigest() == pipeline.program.environment["SERVICE_CATALOG_SHA256"]
    assert pipeline.catalog.account("orders", "prod") == "333333333333"


def test_a_catalog_rewritten_in_the_bucket_is_refused(pipeline: Harness) -> None:
    """Whoever can write the tooling bucket points orders' prod at an account of their own."""
    uri = pipeline.program.environment["SERVICE_CATALOG_URI"]
    bucket, key = split_location(uri)
    forged = ServiceCatalog.of({"orders": {"stage": "222222222222", "prod": "999999999999"}})
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key=key, Body=forged.to_bytes())

    pipeline.publish(COMMIT)
    with pytest.raises(SettingsError) as refused:
        pipeline.trigger(pipeline.candidate_bucket, COMMIT)
    pinned = pipeline.program.environment["SERVICE_CATALOG_SHA256"]
    assert str(refused.value) == (
        f"the service catalog {uri} is not the one the program wrote: its SHA-256 is {forged.sha256}, "
        f"SERVICE_CATALOG_SHA256 pins {pinned} (restore it with `pulumi up`)"
    )
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    assert sfn.list_executions(stateMachineArn=pipeline.state_machine_arn)["executions"] == []
    assert pipeline.item(COMMIT) == {}
