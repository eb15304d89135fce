"""What CloudFormation reads is what was signed: the deployer publishes the assets itself, then checks.

CloudFormation does not read the verified `cdk.out`: it reads nested templates, templates over the
51,200-byte inline limit (`TemplateURL`) and Lambda code from the service's asset bucket, and images
from its repository. Whoever can write there between CI's signature and the change set decides what
is deployed. So before the first change set (deploys and rollbacks alike), for the selected stacks:

1. `plan_assets` reads each stack's asset manifest (`*.assets.json`, a file of the verified tree):
   every file asset's source (`file`, or a directory to `zip`) and destinations (bucket, key, the
   destination's file-publishing role), every container image's repository and tag. A destination
   outside the target account, or a `TemplateURL` that no asset of the stack publishes, is refused;
2. `publish_files` uploads each file asset from the verified tree (directories zipped reproducibly)
   through the destination's file-publishing role, assumed with the service's external id (as
   `cdk-assets` does, but from the deployer, which that role trusts; CI does not publish files), with
   `ChecksumSHA256` (S3 refuses a body whose checksum differs: BadDigest);
3. `check_files` then reads each object's `ChecksumSHA256` (`HeadObject`, `ChecksumMode=ENABLED`) and
   raises `AssetMismatch` naming the object if any is not the signed content's;
4. `check_images`: each image's digest in the repository (`DescribeImages` with the deploy role) must
   equal the digest the signed manifest records for it (`assets.<id>.digest`); an image without a
   recorded digest is refused (`AssemblyError`, saying how to record it). ECR tags are immutable.

The bucket policy lets only the file-publishing role write objects, and that role trusts only the
deployer of its environment: after step 3 nothing else can change what CloudFormation reads.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.deterministic_zip import zip_bytes

from .assembly import Stack, read_manifest, substitute
from .errors import AssemblyError, AssetMismatch, DeployFailed
from .request import role_account

ASSET_MANIFEST_TYPE = "cdk:asset-manifest"
RECORD_DIGESTS = (
    "record the digest of every image CI pushed in the signed manifest: "
    "`artifactctl manifest build ... --image-digests FILE` (FILE: a JSON object of asset id to sha256:... digest)"
)
SessionFor = Callable[[str], Any]  # file-publishing role ARN -> a boto3 session of that role


@dataclass(frozen=True)
class FileAsset:
    asset_id: str
    source: Path  # inside the verified cdk.out
    packaging: str  # file | zip
    bucket: str
    key: str
    role_arn: str  # the destination's file-publishing role

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ImageAsset:
    asset_id: str
    repository: str
    tag: str

    @property
    def location(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class AssetPlan:
    files: tuple[FileAsset, ...]
    images: tuple[ImageAsset, ...]


def sha256_base64(body: bytes) -> str:
    """The form S3 reports `ChecksumSHA256` in."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def plan_assets(cdk_out: Path, stacks: list[Stack], *, account: str, region: str) -> AssetPlan:
    """Every file and image asset of `stacks`, from their asset manifests in the verified tree."""
    cdk_out = Path(cdk_out)
    artifacts = read_manifest(cdk_out).get("artifacts") or {}
    files: dict[str, FileAsset] = {}
    images: dict[str, ImageAsset] = {}
    for stack in stacks:
        published: set[str] = set()
        _refuse_legacy_assets(stack, artifacts.get(stack.artifact_id) or {})
        for dependency in artifacts.get(stack.artifact_id, {}).get("dependencies") or []:
            artifact = artifacts.get(dependency)
            if not isinstance(artifact, dict) or artifact.get("type") != ASSET_MANIFEST_TYPE:
                continue
            document = _asset_manifest(cdk_out, stack, (artifact.get("properties") or {}).get("file"))
            for asset in _files(cdk_out, document, account=account, region=region):
                earlier = files.setdefault(asset.location, asset)
                if (earlier.source, earlier.packaging) != (asset.source, asset.packaging):
                    raise AssemblyError(f"assets {earlier.asset_id} and {asset.asset_id} both publish {asset.location}")
                published.add(asset.location)
            for image in _images(document, account=account, region=region):
                images.setdefault(image.location, image)
        if stack.template_s3_url and stack.template_s3_url not in published:
            raise AssemblyError(
                f"{stack.name}: its template URL {stack.template_s3_url} is not published by any asset of the "
                "stack, so the deployer cannot make it the signed template"
            )
    return AssetPlan(tuple(files.values()), tuple(images.values()))


def _refuse_legacy_assets(stack: Stack, artifact: dict[str, Any]) -> None:
    """Assets of the legacy synthesizer (`aws:cdk:asset` metadata, locations passed as parameters) are
    in no asset manifest: the deployer could not make them the signed bytes."""
    entries = [e for es in (artifact.get("metadata") or {}).values() if isinstance(es, list) for e in es]
    if any(isinstance(e, dict) and e.get("type") == "aws:cdk:asset" for e in entries):
        raise AssemblyError(
            f"{stack.name}: assets of the legacy stack synthesizer (aws:cdk:asset metadata) cannot be published "
            "by the deployer; synthesize with DefaultStackSynthesizer"
        )


def _asset_manifest(cdk_out: Path, stack: Stack, file: Any) -> dict[str, Any]:
    path = (cdk_out / str(file)).resolve() if isinstance(file, str) and file else None
    if path is None or not path.is_relative_to(cdk_out.resolve()):
        raise AssemblyError(f"{stack.name}: asset manifest {file!r} is not a file of the cloud assembly")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AssemblyError(f"{stack.name}: cannot read asset manifest {file}: {exc}") from None
    if not isinstance(document, dict):
        raise AssemblyError(f"{stack.name}: asset manifest {file} is not a JSON object")
    return document


def _files(cdk_out: Path, document: dict[str, Any], *, account: str, region: str) -> list[FileAsset]:
    found = []
    for asset_id, entry in sorted((document.get("files") or {}).items()):
        try:
            source, packaging = entry["source"]["path"], entry["source"].get("packaging", "file")
            destinations = entry["destinations"].items()
        except (KeyError, TypeError, AttributeError):
            raise AssemblyError(f"file asset {asset_id}: no source path or destinations") from None
        path = (cdk_out / str(source)).resolve()
        exists = {"file": path.is_file, "zip": path.is_dir}.get(packaging, lambda: False)()
        if not path.is_relative_to(cdk_out.resolve()) or not exists:
            raise AssemblyError(
                f"file asset {asset_id}: source {source!r} is not a {'directory' if packaging == 'zip' else 'file'} "
                f"of the assembly (packaging {packaging!r}: file or zip)"
            )
        for destination_id, spec in sorted(destinations):
            values = {k: substitute(str(spec.get(k, "")), account=account, region=region) for k in _FILE_KEYS}
            if role_account(values["assumeRoleArn"]) != account or not values["bucketName"] or not values["objectKey"]:
                raise AssemblyError(
                    f"file asset {asset_id}: destination {destination_id} is not a bucket and key published "
                    f"through a role of the target account {account}"
                )
            found.append(
                FileAsset(asset_id, path, packaging, values["bucketName"], values["objectKey"], values["assumeRoleArn"])
            )
    return found


_FILE_KEYS = ("bucketName", "objectKey", "assumeRoleArn")


def _images(document: dict[str, Any], *, account: str, region: str) -> list[ImageAsset]:
    found = []
    for asset_id, entry in sorted((document.get("dockerImages") or {}).items()):
        for destination_id, spec in sorted(((entry or {}).get("destinations") or {}).items()):
            repository = substitute(str(spec.get("repositoryName", "")), account=account, region=region)
            tag = str(spec.get("imageTag", ""))
            if not repository or not tag:
                raise AssemblyError(f"image asset {asset_id}: destination {destination_id} has no repository or tag")
            found.append(ImageAsset(asset_id, repository, tag))
    return found


def publish_files(files: tuple[FileAsset, ...], session_for: SessionFor, log: Callable[[str], None]) -> dict[str, str]:
    """Upload each file asset from the verified tree; `{location: ChecksumSHA256}` of what was sent."""
    sent: dict[str, str] = {}
    for asset in files:
        body = zip_bytes(asset.source) if asset.packaging == "zip" else asset.source.read_bytes()
        checksum = sha256_base64(body)
        try:
            session_for(asset.role_arn).client("s3").put_object(
                Bucket=asset.bucket,
                Key=asset.key,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        except (ClientError, BotoCoreError) as exc:
            raise DeployFailed(asset.location, None, f"publishing asset {asset.asset_id} failed: {exc}") from exc
        sent[asset.location] = checksum
        log(f"published {asset.location} ({len(body)} bytes, sha256 {checksum})")
    return sent


def check_files(files: tuple[FileAsset, ...], sent: Mapping[str, str], session_for: SessionFor) -> None:
    """Every object holds what was published: its S3 `ChecksumSHA256` is the signed content's."""
    for asset in files:
        try:
            head = (
                session_for(asset.role_arn)
                .client("s3")
                .head_object(Bucket=asset.bucket, Key=asset.key, ChecksumMode="ENABLED")
            )
        except (ClientError, BotoCoreError) as exc:
            raise DeployFailed(asset.location, None, f"checking asset {asset.asset_id} failed: {exc}") from exc
        if head.get("ChecksumSHA256") != sent[asset.location]:
            raise AssetMismatch(asset.location, asset.asset_id, sent[asset.location], head.get("ChecksumSHA256"))


def check_images(images: tuple[ImageAsset, ...], digests: Mapping[str, str], ecr: Any) -> None:
    """Each image in the repository has the digest the signed manifest records."""
    for image in images:
        expected = digests.get(image.asset_id)
        if not expected:
            where = f"image asset {image.asset_id} ({image.location})"
            raise AssemblyError(f"{where} has no recorded digest: {RECORD_DIGESTS}")
        try:
            described = ecr.describe_images(repositoryName=image.repository, imageIds=[{"imageTag": image.tag}])
            found = (described.get("imageDetails") or [{}])[0].get("imageDigest")
        except ecr.exceptions.ImageNotFoundException:
            found = None
        except (ClientError, BotoCoreError) as exc:
            raise DeployFailed(image.location, None, f"checking image {image.asset_id} failed: {exc}") from exc
        if found != expected:
            raise AssetMismatch(image.location, image.asset_id, expected, found)


def make_signed(
    plan: AssetPlan,
    *,
    session_for: SessionFor,
    deploy_session: Any,
    image_digests: Mapping[str, str],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Steps 2 to 4; the report's `assets` section (what was published and checked)."""
    if plan.images:
        # Images first: a missing digest refuses the deploy before anything is written.
        check_images(plan.images, image_digests, deploy_session.client("ecr"))
    sent = publish_files(plan.files, session_for, log)
    check_files(plan.files, sent, session_for)
    log(f"assets: {len(plan.files)} object(s) published and checked, {len(plan.images)} image digest(s) checked")
    return {
        "files": [{"asset_id": a.asset_id, "location": a.location, "sha256": sent[a.location]} for a in plan.files],
        "images": [
            {"asset_id": i.asset_id, "location": i.location, "digest": image_digests[i.asset_id]} for i in plan.images
        ],
        "verified": True,
    }
