"""Intake: the only writer of candidate items. A manifest is recorded only if the S3 prefix, the manifest
and the signing key all name the same configured service; everything else is refused with a reason, an
event, an alert and a metric, and nothing is written or started."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest

from functions.artifacts.errors import InvalidArtifact, SigningError, TransientAwsError
from functions.artifacts.manifest import Manifest, dumps
from functions.artifacts.signing import LocalKeySigner, sign_manifest
from functions.pipeline import intake as intake_module
from functions.pipeline import lifecycle as lc
from functions.pipeline.catalog import ServiceCatalog
from functions.pipeline.intake import IntakeClients, intake
from functions.pipeline.settings import FunctionSettings
from functions.pipeline.store import MetadataTable
from tests.functions.artifact_support import COMMIT, new_signer

from .conftest import Captured, item_in, run_of, seed

ACCOUNTS = {"stage": "222222222222", "prod": "333333333333"}


class Keys:
    """Each service's own key (what `ServiceKeys` reads from KMS); KMS refuses an unknown one."""

    def __init__(self, signers: dict[str, LocalKeySigner]) -> None:
        self.signers = signers

    def public_key(self, service: str) -> Any:
        if service not in self.signers:
            raise SigningError(f"KMS GetPublicKey for alias/cdk-ci-artifact-signer-{service} failed: NotFoundException")
        return self.signers[service].private_key.public_key()


@pytest.fixture
def signers() -> dict[str, LocalKeySigner]:
    return {"orders": new_signer(), "payments": new_signer()}


@pytest.fixture
def world(settings: FunctionSettings, table: MetadataTable, captured: Captured, signers) -> IntakeClients:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(
        name="p",
        definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    configured = replace(settings, state_machine_arn=machine)
    return IntakeClients(
        settings=configured,
        catalog=ServiceCatalog.of({"orders": ACCOUNTS, "payments": ACCOUNTS, "billing": ACCOUNTS}),
        s3=boto3.client("s3", region_name="us-east-1"),
        keys=Keys(signers),
        table=table,
        sfn=sfn,
        notify=captured,
        metric=captured.metric,
    )


def _manifest(artifact_manifest: Manifest, signer: LocalKeySigner, service: str = "orders", **changes: Any) -> Manifest:
    return sign_manifest(replace(artifact_manifest, service=service, commit=COMMIT, **changes), signer)


def _deliver(world: IntakeClients, body: bytes, prefix: str = "orders", bucket: str = "candidates") -> dict:
    key = f"{prefix}/{COMMIT}/artifact-manifest.json"
    world.s3.put_object(Bucket=bucket, Key=key, Body=body)
    return intake({"detail": {"bucket": {"name": bucket}, "object": {"key": key}}}, world)


def _executions(world: IntakeClients) -> list[str]:
    listed = world.sfn.list_executions(stateMachineArn=world.settings.state_machine_arn)["executions"]
    return [e["name"] for e in listed]


def _refused(world: IntakeClients, captured: Captured, result: dict, check: str, service: str = "orders") -> str:
    """Nothing recorded or started; the reason announced (event, alert, metric) and returned."""
    assert result["accepted"] is False and result["started"] is False and result["check"] == check, result
    assert world.table.get(service, COMMIT) is None and _executions(world) == []
    [(detail_type, detail)] = captured.events
    assert detail_type == "InvalidArtifact" and detail["phase"] == "intake" and detail["check"] == check
    assert detail["reason"] == result["reason"] and len(captured.alerts) == 1
    assert captured.metrics == [("ArtifactRefused", 1.0)]
    return result["reason"]


def test_a_signed_manifest_is_recorded_as_a_candidate_and_starts_one_stage_run(
    world: IntakeClients, artifact_manifest: Manifest, signers
) -> None:
    manifest = _manifest(artifact_manifest, signers["orders"])
    result = _deliver(world, dumps(manifest))
    assert result["accepted"] and result["recorded"] and result["started"]
    assert result["execution_name"] == f"orders-{COMMIT}-stage-1"
    item = world.table.get("orders", COMMIT)
    assert item["status"] == "candidate" and item["artifact_sha256"] == manifest.artifact_sha256
    assert item["artifact_url"] == f"s3://candidates/orders/{COMMIT}/"
    assert item["environment_states"]["stage"]["status"] == "pending"


def test_a_duplicate_delivery_writes_nothing_and_is_the_same_run(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    body = dumps(_manifest(artifact_manifest, signers["orders"]))
    first = _deliver(world, body)
    recorded = world.table.get("orders", COMMIT)
    again = _deliver(world, body)
    assert again["accepted"] and again["recorded"] is False
    assert again.get("execution_arn", first["execution_arn"]) == first["execution_arn"]
    assert world.table.get("orders", COMMIT) == recorded
    assert _executions(world) == [f"orders-{COMMIT}-stage-1"] and captured.events == []


def test_another_services_key_cannot_sign_for_payments(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    forged = _manifest(artifact_manifest, signers["orders"], service="payments")
    reason = _refused(world, captured, _deliver(world, dumps(forged), prefix="payments"), "signature", "payments")
    assert "does not verify with the signing key of 'payments' (kms:alias/cdk-ci-artifact-signer-payments)" in reason


def test_an_orders_manifest_under_the_payments_prefix_is_refused(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    manifest = _manifest(artifact_manifest, signers["orders"])
    reason = _refused(world, captured, _deliver(world, dumps(manifest), prefix="payments"), "prefix", "payments")
    assert reason == "manifest service 'orders' but the S3 key names 'payments'"


def test_a_manifest_naming_another_commit_than_its_key_is_refused(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    manifest = sign_manifest(replace(artifact_manifest, service="orders", commit="f" * 40), signers["orders"])
    reason = _refused(world, captured, _deliver(world, dumps(manifest)), "prefix")
    assert reason == f"manifest commit {'f' * 40!r} but the S3 key names {COMMIT!r}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "FAIL structure"),
        (b"[]", "FAIL structure"),
        (b'{"service": 1e400}', "FAIL structure"),
        (b"", "FAIL structure"),
    ],
)
def test_bytes_that_are_no_manifest_are_refused_without_a_traceback(
    world: IntakeClients, captured: Captured, body: bytes, expected: str
) -> None:
    assert expected in _refused(world, captured, _deliver(world, body), "structure")


def test_a_manifest_over_the_size_limit_is_refused_unread(
    world: IntakeClients, captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_module, "MAX_MANIFEST_BYTES", 1024)
    reason = _refused(world, captured, _deliver(world, b" " * 2048), "structure")
    assert reason == "the manifest is 2048 bytes; the limit is 1024"


def test_an_unconfigured_service_is_refused(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    manifest = _manifest(artifact_manifest, signers["orders"], service="shipping")
    reason = _refused(world, captured, _deliver(world, dumps(manifest), prefix="shipping"), "service", "shipping")
    assert reason == "service 'shipping' (from the S3 prefix) is not configured in the service catalog"


def test_kms_refusing_the_services_key_is_a_refusal_with_the_reason(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    manifest = _manifest(artifact_manifest, signers["orders"], service="billing")
    reason = _refused(world, captured, _deliver(world, dumps(manifest), prefix="billing"), "signature", "billing")
    assert reason.startswith("cannot read the signing key of 'billing': KMS GetPublicKey") and "NotFound" in reason


def test_a_missing_manifest_and_a_foreign_bucket_are_refused(world: IntakeClients, captured: Captured) -> None:
    key = f"orders/{COMMIT}/artifact-manifest.json"
    missing = intake({"detail": {"bucket": {"name": "candidates"}, "object": {"key": key}}}, world)
    assert missing["check"] == "read" and "NoSuchKey" in missing["reason"]
    foreign = intake({"detail": {"bucket": {"name": "releases"}, "object": {"key": key}}}, world)
    assert foreign["check"] == "bucket" and _executions(world) == []
    garbage = intake({"detail": "not an object"}, world)
    assert garbage["check"] == "bucket" and len(captured.events) == 3


def test_revoked_content_is_refused_under_a_new_commit(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    manifest = _manifest(artifact_manifest, signers["orders"])
    seed(
        world.table,
        {
            "service": "orders",
            "commit_sha": lc.revoked_content_key(manifest.artifact_sha256),
            lc.REVOKED_COMMIT: "b" * 40,
            lc.REVOKED_REASON: "prod failed and rolled back: smoke",
        },
    )
    reason = _refused(world, captured, _deliver(world, dumps(manifest)), "revoked")
    assert reason == (
        f"artifact_sha256 {manifest.artifact_sha256} was revoked under commit {'b' * 40}: "
        "prod failed and rolled back: smoke"
    )


def test_a_conflicting_republish_of_a_commit_changes_nothing(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    _deliver(world, dumps(_manifest(artifact_manifest, signers["orders"])))
    recorded, runs = world.table.get("orders", COMMIT), _executions(world)
    other = _manifest(artifact_manifest, signers["orders"], artifact_sha256="9" * 64)
    result = _deliver(world, dumps(other))
    assert result["accepted"] is False and result["check"] == "conflict"
    assert f"already recorded with artifact_sha256 {recorded['artifact_sha256']}" in result["reason"]
    assert world.table.get("orders", COMMIT) == recorded and _executions(world) == runs
    assert [t for t, _ in captured.events] == ["InvalidArtifact"] and captured.alerts


def test_a_prod_failure_revokes_the_content_and_validate_refuses_it_under_any_commit(
    table: MetadataTable, captured: Captured, settings: FunctionSettings
) -> None:
    from functions.pipeline.transitions import apply
    from functions.pipeline.validate import validate

    seeded = seed(table, item_in("prod", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"}))
    error = {"Error": "States.TaskFailed", "Cause": "smoke test: 500"}
    apply(run_of("prod", "smoke_failed", error=error), table, captured, captured.metric)
    record = table.revocation("orders", seeded["artifact_sha256"])
    assert record[lc.REVOKED_COMMIT] == seeded["commit_sha"]
    assert record[lc.REVOKED_REASON] == "prod failed and rolled back: States.TaskFailed: smoke test: 500"
    from functions.pipeline.status import service_items

    assert [i["commit_sha"] for i in service_items(table.table, "orders")] == [seeded["commit_sha"]]  # no records

    # The same bytes recorded under another commit before the revocation (a race with intake).
    other = "a" * 40
    seed(table, {**item_in("stage"), "commit_sha": other})
    run = replace(run_of("stage"), commit_sha=other)
    with pytest.raises(InvalidArtifact, match=f"revoked under commit {seeded['commit_sha']}"):
        catalog = ServiceCatalog.of({})
        validate(
            run,
            settings=settings,
            catalog=catalog,
            keys=None,  # type: ignore[arg-type]
            table=table,
            s3=None,
            context_public_key_pem=str,
            metric=captured.metric,
        )
    assert "AssetHashMismatch" not in [name for name, _ in captured.metrics]  # invalid, but no hash mismatch


def test_a_retried_smoke_failure_writes_the_revocation_the_first_attempt_lost(
    table: MetadataTable, captured: Captured
) -> None:
    from functions.pipeline.transitions import apply

    seeded = seed(table, item_in("prod", **{lc.ENV_STATUS: "deployed", lc.ENV_TEST_STATUS: "test_running"}))
    run = run_of("prod", "smoke_failed", error={"Error": "States.TaskFailed", "Cause": "smoke"})
    assert apply(run, table, captured, captured.metric)["applied"]
    key = lc.revoked_content_key(seeded["artifact_sha256"])
    table.table.delete_item(Key={"service": "orders", "commit_sha": key})  # the function died in between

    again = apply(run, table, captured, captured.metric)  # Step Functions retries the task
    assert again["applied"] is False and table.revocation("orders", seeded["artifact_sha256"]) is not None
    another_run = replace(run, execution_id=run.execution_id + "-other")
    table.table.delete_item(Key={"service": "orders", "commit_sha": key})
    apply(another_run, table, captured, captured.metric)  # not this run's transition: nothing written
    assert table.revocation("orders", seeded["artifact_sha256"]) is None


def test_a_build_claiming_a_time_in_the_future_is_refused(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    """Releases are ordered by build_time in prod: a future one would block every later release."""
    future = _manifest(artifact_manifest, signers["orders"], build_time="2999-01-01T00:00:00Z")
    reason = _refused(world, captured, _deliver(world, dumps(future)), "build_time")
    assert "build_time 2999-01-01T00:00:00Z is in the future" in reason


def test_the_recorded_build_time_is_to_the_second_so_that_strings_order_releases(
    world: IntakeClients, artifact_manifest: Manifest, signers
) -> None:
    """`…:00.5Z` would sort before `…:00Z` as a string; the item records whole seconds."""
    manifest = _manifest(artifact_manifest, signers["orders"], build_time="2026-11-20T10:00:00.5Z")
    assert _deliver(world, dumps(manifest))["accepted"]
    assert world.table.get("orders", COMMIT)["build_time"] == "2026-11-20T10:00:00Z"


def _client_error(code: str, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def _endpoint_down() -> Exception:
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")


class FailingS3:
    """The real client, whose `GetObject` fails with `error`."""

    def __init__(self, s3: Any, error: Exception) -> None:
        self.s3, self.error = s3, error

    def get_object(self, **kwargs: Any) -> Any:
        raise self.error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)


def _raised_without_refusing(world: IntakeClients, captured: Captured, body: bytes) -> TransientAwsError:
    """Intake raised (Lambda retries it, then the dead-letter queue): no item, no run, nothing announced."""
    with pytest.raises(TransientAwsError) as raised:
        _deliver(world, body)
    assert world.table.get("orders", COMMIT) is None and _executions(world) == []
    assert captured.events == [] and captured.alerts == [] and captured.metrics == []
    return raised.value


@pytest.mark.parametrize(
    "error",
    [
        _client_error("ThrottlingException", "GetObject"),
        _client_error("SlowDown", "GetObject"),
        _client_error("InternalError", "GetObject"),
        _client_error("AccessDenied", "GetObject"),  # our own bucket denying us: a misconfiguration
        _endpoint_down(),
    ],
    ids=["throttled", "slow-down", "5xx", "access-denied", "endpoint-down"],
)
def test_s3_not_answering_about_the_manifest_raises_for_a_retry_and_refuses_nothing(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured, error: Exception
) -> None:
    body = dumps(_manifest(artifact_manifest, signers["orders"]))
    failing = replace(world, s3=FailingS3(world.s3, error))
    assert "candidates/orders" in str(_raised_without_refusing(failing, captured, body))

    assert _deliver(world, body)["accepted"] is True  # the retry, S3 answering again, records it


class TransientKeys(Keys):
    def public_key(self, service: str) -> Any:
        raise TransientAwsError("KMS GetPublicKey for alias/cdk-ci-artifact-signer-orders got no answer: throttled")


def test_kms_not_answering_about_the_key_raises_for_a_retry_and_refuses_nothing(
    world: IntakeClients, artifact_manifest: Manifest, signers, captured: Captured
) -> None:
    body = dumps(_manifest(artifact_manifest, signers["orders"]))
    _raised_without_refusing(replace(world, keys=TransientKeys(signers)), captured, body)

    assert _deliver(world, body)["accepted"] is True
