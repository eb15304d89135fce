"""The service catalog: one schema for the program that writes it and the functions that read it; the
functions read only the bytes the program pinned."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace

import boto3
import pytest

from functions.pipeline.catalog import (
    MAX_CATALOG_BYTES,
    ServiceCatalog,
    catalog_key,
    location,
    read_catalog,
    split_location,
)
from functions.pipeline.settings import FunctionSettings, SettingsError

from .conftest import write_catalog

ORDERS = {"stage": "222222222222", "prod": "333333333333"}
PAYMENTS = {"stage": "444444444444", "prod": "555555555555"}
CATALOG = ServiceCatalog.of({"orders": ORDERS, "payments": PAYMENTS}, without_context_lookups=["payments"])


def test_what_the_program_writes_is_what_the_functions_read() -> None:
    read = ServiceCatalog.from_bytes(CATALOG.to_bytes())
    assert read.services == CATALOG.services
    assert read.account("orders", "prod") == "333333333333" and read.account("payments", "stage") == "444444444444"
    assert "orders" in read and "shipping" not in read
    assert read.context_lookups("orders") and not read.context_lookups("payments")
    assert CATALOG.sha256 == hashlib.sha256(CATALOG.to_bytes()).hexdigest()


def test_the_bytes_are_canonical_whatever_the_order_of_the_config() -> None:
    reordered = ServiceCatalog.of({"payments": PAYMENTS, "orders": dict(reversed(ORDERS.items()))}, ["payments"])
    assert reordered.to_bytes() == CATALOG.to_bytes() and reordered.sha256 == CATALOG.sha256


def test_an_unknown_service_or_environment_is_named() -> None:
    with pytest.raises(SettingsError, match="the service catalog has no prod account for 'shipping'"):
        CATALOG.account("shipping", "prod")
    with pytest.raises(SettingsError, match="has no qa account for 'orders'"):
        CATALOG.account("orders", "qa")


@pytest.mark.parametrize(
    ("accounts", "message"),
    [
        ({"orders": {"stage": "1", "prod": "333333333333"}}, "'orders' needs a 12-digit stage and prod account"),
        ({"orders": {"stage": "222222222222"}}, "'orders' needs a 12-digit stage and prod account"),
        ({"orders": {"stage": 222222222222, "prod": "333333333333"}}, "'orders' needs a 12-digit stage and prod"),
    ],
)
def test_the_program_cannot_write_what_the_functions_would_refuse(accounts: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        ServiceCatalog.of(accounts)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{oops", "not JSON"),
        (b"[]", "expected a JSON object with version 1"),
        (b'{"version": 2, "services": {}}', "expected a JSON object with version 1"),
        (b'{"version": 1}', "expected `services`, a JSON object"),
        (b'{"version": 1, "services": {"orders": "222222222222"}}', "'orders' needs accounts and context_lookups"),
        (
            json.dumps({"version": 1, "services": {"orders": {"accounts": {"stage": "2"}, "context_lookups": True}}}),
            "'orders' needs a 12-digit stage and prod account",
        ),
        (
            json.dumps({"version": 1, "services": {"orders": {"accounts": ORDERS}}}),
            "'orders' needs context_lookups true or false",
        ),
    ],
)
def test_a_bad_catalog_is_refused_naming_its_source(document: bytes | str, message: str) -> None:
    data = document.encode() if isinstance(document, str) else document
    with pytest.raises(SettingsError, match=f"^s3://t/k: .*{re.escape(message)}"):
        ServiceCatalog.from_bytes(data, source="s3://t/k")


def test_the_location_is_an_s3_uri_of_a_key_named_by_the_content() -> None:
    sha = CATALOG.sha256
    assert location("cdkcp-tooling-1-us-east-1", sha) == f"s3://cdkcp-tooling-1-us-east-1/catalog/{sha}.json"
    assert split_location(location("tooling", sha)) == ("tooling", catalog_key(sha))
    with pytest.raises(SettingsError, match="SERVICE_CATALOG_URI='tooling/x': expected s3://bucket/key"):
        split_location("tooling/x")


def test_the_functions_read_the_pinned_catalog(settings: FunctionSettings) -> None:
    uri, sha256 = write_catalog(CATALOG)
    read = read_catalog(uri, sha256, boto3.client("s3", region_name="us-east-1"))
    assert read.services == CATALOG.services and read.source == f"the service catalog {uri}"


def test_a_tampered_catalog_is_refused_naming_the_object_and_both_hashes(settings: FunctionSettings) -> None:
    """Whoever can write the tooling bucket cannot add a service or move its accounts without `pulumi up`."""
    uri, pinned = write_catalog(CATALOG)
    tampered = ServiceCatalog.of({**{"orders": ORDERS, "payments": PAYMENTS}, "evil": ORDERS}, ["payments"])
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket="tooling", Key=catalog_key(pinned), Body=tampered.to_bytes())
    with pytest.raises(SettingsError) as refused:
        read_catalog(uri, pinned, s3)
    assert str(refused.value) == (
        f"the service catalog {uri} is not the one the program wrote: its SHA-256 is {tampered.sha256}, "
        f"SERVICE_CATALOG_SHA256 pins {pinned} (restore it with `pulumi up`)"
    )


def test_a_missing_or_oversized_catalog_is_a_settings_error(settings: FunctionSettings) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="empty")
    with pytest.raises(
        SettingsError, match=f"cannot read the service catalog s3://empty/catalog/{CATALOG.sha256}.json"
    ):
        read_catalog(location("empty", CATALOG.sha256), CATALOG.sha256, s3)
    uri, _ = write_catalog(CATALOG)
    s3.put_object(Bucket="tooling", Key=catalog_key(CATALOG.sha256), Body=b" " * (MAX_CATALOG_BYTES + 1))
    with pytest.raises(SettingsError, match=f"is larger than {MAX_CATALOG_BYTES} bytes"):
        read_catalog(uri, CATALOG.sha256, s3)


def test_the_function_reads_it_once_per_cold_start(settings: FunctionSettings, monkeypatch) -> None:
    from functions.handlers import clients

    uri, sha256 = write_catalog(CATALOG)
    for name, value in replace(settings, service_catalog_uri=uri, service_catalog_sha256=sha256).to_environ().items():
        monkeypatch.setenv(name, value)
    clients.forget()
    try:
        assert clients.catalog().account("orders", "stage") == "222222222222"
        boto3.client("s3", region_name="us-east-1").delete_object(Bucket="tooling", Key=catalog_key(sha256))
        assert clients.catalog() is clients.catalog()  # not read again
    finally:
        clients.forget()


@pytest.mark.parametrize("services", [200, 500])
def test_every_functions_environment_is_one_size_whatever_the_number_of_services(services: int) -> None:
    """Lambda's 4 KB: the environment holds the catalog's location and hash, never the services."""
    from components.pipeline.common import PipelineContract
    from components.pipeline.functions import function_settings
    from functions.naming import ToolsNames

    accounts = {
        f"s{i:03d}-" + "x" * 24: {"stage": f"{2 * 10**11 + i}", "prod": f"{3 * 10**11 + i}"} for i in range(services)
    }
    contract = PipelineContract(
        service_accounts=accounts,
        service_repositories={},
        stack_policies={},
        test_commands={},
        approved_cdk_versions=["2.1148.1"],
        max_rollback_attempts=2,
        services_without_context_lookups=list(accounts)[::2],
    )
    names = ToolsNames("cdkcp", "111111111111", "us-east-1")
    settings = function_settings(names, contract)
    validate = replace(settings, **contract.context_check(names))
    for environment in (settings.to_environ(), validate.to_environ()):
        assert len(json.dumps(environment, separators=(",", ":"))) < 1024
    assert len(ServiceCatalog.from_bytes(contract.catalog().to_bytes()).services) == services


def test_s3_not_answering_for_the_catalog_is_a_transient_error_not_a_settings_error() -> None:
    """Throttled, 5xx or denied (our own misconfiguration): tried again, never "restore it with pulumi up"."""
    from botocore.exceptions import ClientError

    from functions.artifacts.errors import TransientAwsError

    class Throttled:
        def get_object(self, **kwargs: object) -> None:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "GetObject")

    with pytest.raises(TransientAwsError, match="S3 did not answer for the service catalog"):
        read_catalog(location("tooling", CATALOG.sha256), CATALOG.sha256, Throttled())
