"""Publishing a signed artifact from CI: the files, then the provenance, then the manifest.

CI writes nothing in the metadata table (it has no DynamoDB permission): the manifest's arrival starts
intake in the tools account (`functions.pipeline.intake`), which verifies it with the service's own key
and creates the candidate item. Order matters:
1. the files of `cdk.out` go to `{service}/{commit}/cdk.out/`, each with its SHA-256 checked by S3;
2. the provenance envelope (checked first: signed by the key the manifest verifies with, and describing
   this manifest);
3. the manifest last: its `Object Created` event is intake's trigger, and by then every file is there.

Retries: publishing the same artifact again simply uploads the same bytes again (intake sees the same
`artifact_sha256` already recorded: a duplicate, the same stage run). A different artifact under a commit
already recorded is refused by intake (an `InvalidArtifact` event and alert, check `conflict`): the
recorded item and its run are unchanged, though CI's upload overwrote the candidate objects (the bucket
is versioned, and Validate checks the bytes against the recorded `artifact_sha256`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from functions.naming import MANIFEST_NAME, PROVENANCE_NAME, artifact_prefix

from .errors import AwsError, Finding, InvalidArtifact
from .manifest import Manifest, canonical_bytes, parse_manifest
from .tree import HashJob, compare_tree, list_files

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec


@dataclass(frozen=True)
class PublishResult:
    prefix: str
    uploaded: int


def publish(
    cdk_out: Path,
    manifest_bytes: bytes,
    *,
    bucket: str,
    s3: Any,
    provenance_bytes: bytes | None = None,
    public_key: ec.EllipticCurvePublicKey | None = None,
    jobs: int = 4,
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
    return PublishResult(prefix=prefix, uploaded=len(files))


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


__all__ = ["AwsError", "PublishResult", "publish"]
