"""Publishing a signed artifact from CI: the candidate item, then the files, then the manifest.

Order matters and differs from the naive one on purpose:
1. the candidate item is written first, conditionally (`attribute_not_exists`). If the commit is
   already recorded with another `artifact_sha256`, publishing is refused before anything is
   uploaded, so a refusal changes nothing. If it is recorded with the same hash, this is a retry of
   an interrupted publish and the upload resumes (CI may only `PutItem`; the failed condition
   returns the existing item, so no read permission is needed);
2. the files of `cdk.out` go to `{service}/{commit}/cdk.out/`, each with its SHA-256 checked by S3;
3. the provenance envelope (checked first: signed by the key the manifest verifies with, and describing
   this manifest), then the manifest last: the manifest's `Object Created` event is the
   pipeline's trigger, and by then the item the pipeline reads already exists.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from functions.naming import MANIFEST_NAME, PROVENANCE_NAME, artifact_prefix

from . import metadata
from .errors import AwsError, Finding, InvalidArtifact, PublishConflict
from .manifest import Manifest, canonical_bytes, parse_manifest
from .tree import HashJob, compare_tree, list_files

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec


@dataclass(frozen=True)
class PublishResult:
    prefix: str
    uploaded: int
    resumed: bool
    item: dict[str, Any]


def publish(
    cdk_out: Path,
    manifest_bytes: bytes,
    *,
    bucket: str,
    table: str,
    region: str,
    s3: Any,
    dynamodb: Any,
    provenance_bytes: bytes | None = None,
    public_key: ec.EllipticCurvePublicKey | None = None,
    jobs: int = 4,
    now: datetime | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> PublishResult:
    manifest, problems = parse_manifest(manifest_bytes)
    if manifest is None:
        raise InvalidArtifact(problems)
    if not manifest.signature:
        raise InvalidArtifact([Finding("signature", "signature", "manifest is not signed; run `manifest sign` first")])
    _check_tree(cdk_out, manifest)
    if provenance_bytes is not None:
        _check_provenance(provenance_bytes, manifest, public_key)

    prefix = artifact_prefix(manifest.service, manifest.commit)
    item = metadata.candidate_item(manifest, artifact_url=f"s3://{bucket}/{prefix}", region=region, now=now)
    resumed = _record_candidate(dynamodb, table, item)
    log(f"{'resuming' if resumed else 'recorded'} candidate {manifest.service}@{manifest.commit}")

    files = list(manifest.file_hashes.items())

    def upload(entry: tuple[str, str]) -> None:
        relative, digest = entry
        with open(cdk_out / relative, "rb") as body:
            _put(s3, bucket, f"{prefix}cdk.out/{relative}", body, digest)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(upload, files))
    if provenance_bytes is not None:
        _put_bytes(s3, bucket, prefix + PROVENANCE_NAME, provenance_bytes, "application/json")
    _put_bytes(s3, bucket, prefix + MANIFEST_NAME, manifest_bytes, "application/json")
    log(f"uploaded {len(files)} files to s3://{bucket}/{prefix}, manifest last")
    return PublishResult(prefix=prefix, uploaded=len(files), resumed=resumed, item=item)


def _check_tree(cdk_out: Path, manifest: Manifest) -> None:
    """CI uploads only a tree that is exactly what the manifest lists."""
    present, findings = list_files(cdk_out)
    findings += compare_tree(manifest.file_hashes, present, HashJob(cdk_out, manifest.file_hashes, jobs=4).results())
    if findings:
        raise InvalidArtifact(findings)


def _check_provenance(data: bytes, manifest: Manifest, public_key: ec.EllipticCurvePublicKey | None) -> None:
    """The provenance is uploaded only if it is this manifest's, signed by the key the manifest is."""
    from .provenance import envelope_problems
    from .signing import verify_message

    if public_key is None:
        raise ValueError("publishing a provenance envelope needs the public key to check it with")
    if not verify_message(public_key, canonical_bytes(manifest), manifest.signature or ""):
        detail = "does not verify with the key given to check the provenance (a different signer?)"
        raise InvalidArtifact([Finding("signature", "signature", detail)])
    problems = envelope_problems(data, manifest, public_key)
    if problems:
        raise InvalidArtifact(problems)


def _record_candidate(dynamodb: Any, table: str, item: dict[str, Any]) -> bool:
    """Conditional put; True if the same artifact was already recorded (a retry)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        dynamodb.put_item(
            TableName=table,
            Item=metadata.to_attribute_values(item),
            ConditionExpression="attribute_not_exists(service) AND attribute_not_exists(commit_sha)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise AwsError(f"DynamoDB PutItem on {table} failed: {exc}") from None
        existing = exc.response.get("Item") or {}
        recorded = existing.get("artifact_sha256", {}).get("S")
        if recorded == item["artifact_sha256"]:
            return True
        raise PublishConflict(
            f"{item['service']}@{item['commit_sha']} is already published with artifact_sha256 "
            f"{recorded or '<unknown>'}; this artifact is {item['artifact_sha256']}. Commits are immutable: "
            "nothing was uploaded or changed"
        ) from None
    except BotoCoreError as exc:
        raise AwsError(f"DynamoDB PutItem on {table} failed: {exc}") from None


def _put(s3: Any, bucket: str, key: str, body: Any, sha256_hex: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii"),
        )
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"S3 PutObject s3://{bucket}/{key} failed: {exc}") from None


def _put_bytes(s3: Any, bucket: str, key: str, data: bytes, content_type: str) -> None:
    import hashlib

    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
        )
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"S3 PutObject s3://{bucket}/{key} failed: {exc}") from None


__all__ = ["AwsError", "PublishConflict", "PublishResult", "publish"]
