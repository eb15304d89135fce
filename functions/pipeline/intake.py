"""Intake: the only way a candidate enters the metadata table (spec: "only the orchestrator may mutate
metadata"; CI has no DynamoDB permission at all).

Started by the manifest's `Object Created` event in the candidate bucket (CI uploads it last), intake:
1. reads the manifest (at most `MAX_MANIFEST_BYTES`) and parses it strictly;
2. checks that the S3 key's service and commit, the manifest's `service` and `commit` agree, and that the
   service is configured (in the service catalog, `catalog.ServiceCatalog`);
3. verifies the signature with the key of the service the S3 prefix names (`signers.ServiceKeys`): a
   `payments` manifest signed with the `orders` key, or an `orders` manifest under `payments/`, fails;
4. refuses content whose `artifact_sha256` was revoked, under whatever commit it comes back;
5. creates the candidate item on `attribute_not_exists`. The same `artifact_sha256` already recorded is a
   duplicate delivery or CI's retry (nothing written); a different one is a conflicting re-publish of an
   immutable commit (refused, nothing changed);
6. starts the stage run (`dispatch.start_run`: a repeated start is the same run, never a second).

Whatever is refused gets a reason, an `InvalidArtifact` event (`phase: intake`), a critical alert and the
`ArtifactRefused` metric, and no item. Never a traceback: bad bytes are a refusal, not an error. A
failure of the pipeline's own services (DynamoDB, Step Functions, and S3 or KMS unless they answered
about the manifest or the key: `is_permanent_aws_error`) is raised instead (`TransientAwsError`), so
that Lambda's asynchronous retries and then the dead-letter queue take the event: a retry is safe (the
item is created once, the run started once). Only a permanent answer is a refusal: the manifest object
is gone (`NoSuchKey`), or the service has no usable signing key (none behind its alias, disabled,
pending deletion, not a P-256 signing key). A throttled, failing or unreachable S3 or KMS, or one that
denies us (a misconfiguration of ours, to alarm on), never refuses a release.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.artifacts.errors import SigningError, raise_if_transient
from functions.artifacts.manifest import MAX_MANIFEST_BYTES, Manifest, canonical_bytes, parse_manifest
from functions.artifacts.metadata import candidate_item
from functions.artifacts.signing import verify_message
from functions.timestamps import parse_iso, utc_iso

from . import lifecycle as lc
from .catalog import ServiceCatalog
from .dispatch import MANIFEST_KEY, start_run, uploaded_object
from .settings import FunctionSettings
from .signers import ServiceKeys
from .store import MetadataTable, revoked_because

MetricSink = Callable[[str, float], None]


class Refused(Exception):
    """Intake will not record this manifest; `check` names what failed, the message says why."""

    def __init__(self, check: str, reason: str) -> None:
        self.check = check
        self.reason = reason
        super().__init__(f"{check}: {reason}")


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    service: str
    commit: str


@dataclass(frozen=True)
class IntakeClients:
    settings: FunctionSettings
    catalog: ServiceCatalog
    s3: Any
    keys: ServiceKeys
    table: MetadataTable
    sfn: Any
    notify: Any  # a Notifier (events and alerts)
    metric: MetricSink


def intake(event: dict[str, Any], clients: IntakeClients) -> dict[str, Any]:
    bucket, key = uploaded_object(event)
    try:
        upload = _upload(bucket, key, clients.settings, clients.catalog)
        manifest = _verified_manifest(upload, clients)
        recorded = _record(upload, manifest, clients)
    except Refused as refused:
        return _refuse(refused, bucket, key, clients)
    run = start_run(
        settings=clients.settings,
        sfn=clients.sfn,
        service=upload.service,
        commit=upload.commit,
        environment=lc.Environment.STAGE,
        bucket=bucket,
        key=key,
    )
    return {"accepted": True, "recorded": recorded, "artifact_sha256": manifest.artifact_sha256, **run}


def _upload(bucket: str, key: str, settings: FunctionSettings, catalog: ServiceCatalog) -> Upload:
    if bucket != settings.candidate_bucket:
        raise Refused("bucket", f"{bucket!r} is not the candidate bucket {settings.candidate_bucket!r}")
    match = MANIFEST_KEY.match(key)
    if not match:
        raise Refused("key", f"{key!r} is not {{service}}/{{40-hex commit}}/artifact-manifest.json")
    service = match["service"]
    if service not in catalog:
        raise Refused("service", f"service {service!r} (from the S3 prefix) is not configured in the service catalog")
    return Upload(bucket, key, service, match["commit"])


def _verified_manifest(upload: Upload, clients: IntakeClients) -> Manifest:
    manifest, findings = parse_manifest(_read(upload, clients.s3))
    if manifest is None:
        raise Refused("structure", "; ".join(f.line() for f in findings) or "the manifest does not parse")
    mismatched = [
        f"manifest {field} {claimed!r} but the S3 key names {expected!r}"
        for field, claimed, expected in (
            ("service", manifest.service, upload.service),
            ("commit", manifest.commit, upload.commit),
        )
        if claimed != expected
    ]
    if mismatched:
        raise Refused("prefix", "; ".join(mismatched))
    alias = ServiceKeys.signing_identity(upload.service)
    try:
        public_key = clients.keys.public_key(upload.service)
    except SigningError as exc:  # permanent: no usable key; TransientAwsError is raised (Lambda retries)
        raise Refused("signature", f"cannot read the signing key of {upload.service!r}: {exc}") from None
    if not manifest.signature or not verify_message(public_key, canonical_bytes(manifest), manifest.signature):
        raise Refused(
            "signature",
            f"the manifest's signature does not verify with the signing key of {upload.service!r} ({alias}); "
            f"it claims to be signed by {manifest.signing_identity or 'nobody'}",
        )
    revoked = clients.table.revocation(upload.service, manifest.artifact_sha256)
    if revoked is not None:
        raise Refused("revoked", f"artifact_sha256 {manifest.artifact_sha256} was {revoked_because(revoked)}")
    _refuse_future_build(manifest.build_time)
    return manifest


# Prod never deploys a build older than its known good, ordered by the signed `build_time`: a build
# claiming a time in the future would block every later release until an override. CI's clock may run a
# little ahead of ours, no more.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _refuse_future_build(build_time: str) -> None:
    now = datetime.now(UTC)
    if parse_iso(build_time) > now + MAX_CLOCK_SKEW:
        raise Refused(
            "build_time",
            f"build_time {build_time} is in the future (now {utc_iso(now)}, allowed skew "
            f"{int(MAX_CLOCK_SKEW.total_seconds())} s): releases are ordered by it",
        )


def _read(upload: Upload, s3: Any) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = s3.get_object(Bucket=upload.bucket, Key=upload.key)
        size = int(response.get("ContentLength") or 0)
        if size > MAX_MANIFEST_BYTES:
            response["Body"].close()
            raise Refused("structure", f"the manifest is {size} bytes; the limit is {MAX_MANIFEST_BYTES}")
        data = response["Body"].read(MAX_MANIFEST_BYTES + 1)
    except (ClientError, BotoCoreError) as exc:
        raise_if_transient(exc, f"S3 GetObject s3://{upload.bucket}/{upload.key} failed: {exc}")
        raise Refused("read", f"cannot read s3://{upload.bucket}/{upload.key}: {exc}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise Refused("structure", f"the manifest is over the limit of {MAX_MANIFEST_BYTES} bytes")
    return data


def _record(upload: Upload, manifest: Manifest, clients: IntakeClients) -> bool:
    """True if this delivery created the item; False if the same artifact was already recorded."""
    prefix = f"s3://{upload.bucket}/{upload.service}/{upload.commit}/"
    item = candidate_item(manifest, artifact_url=prefix, region=clients.settings.region)
    audit = {
        "action": "recorded",
        "service": upload.service,
        "commit": upload.commit,
        "environment": lc.Environment.STAGE.value,
        "after_status": f"{lc.Status.CANDIDATE.value} / stage {lc.EnvStatus.PENDING.value}",
        "reason": f"intake verified s3://{upload.bucket}/{upload.key} (artifact_sha256 {manifest.artifact_sha256})",
    }
    existing = clients.table.create(item, audit=audit)
    if existing is None:
        return True
    if existing.get("artifact_sha256") == manifest.artifact_sha256:
        return False
    raise Refused(
        "conflict",
        f"{upload.service}@{upload.commit} is already recorded with artifact_sha256 "
        f"{existing.get('artifact_sha256') or '<none>'}; this manifest is {manifest.artifact_sha256}. "
        "Commits are immutable: nothing was changed",
    )


def _refuse(refused: Refused, bucket: str, key: str, clients: IntakeClients) -> dict[str, Any]:
    """Announce a refusal (best effort: a refusal is never turned into a retry because EventBridge or SNS
    failed) and answer with the reason."""
    match = MANIFEST_KEY.match(key)
    detail = {
        "phase": "intake",
        "check": refused.check,
        "reason": refused.reason,
        "bucket": bucket,
        "key": key,
        "service": match["service"] if match else None,
        "commit_sha": match["commit"] if match else None,
    }
    failures = []
    subject = f"Artifact refused at intake: {detail['service'] or key}: {refused.check}"
    for send in (
        lambda: clients.notify.event(lc.Event.INVALID_ARTIFACT.value, detail),
        lambda: clients.notify.alert(subject, detail),
    ):
        try:
            send()
        except Exception as exc:  # EventBridge or SNS throttled or down
            failures.append(str(exc))
    clients.metric(lc.Metric.ARTIFACT_REFUSED.value, 1)
    result = {"accepted": False, "started": False, "check": refused.check, "reason": refused.reason}
    return {**result, **({"notification_failures": failures} if failures else {})}
