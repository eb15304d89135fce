"""`artifactctl publish` (CI uploads the artifact; intake records the candidate) and `artifactctl status` (operators
read an artifact's lifecycle)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import EXIT_OK, UsageError, aws_client, read_file, read_key_file, read_manifest, region_of

MAX_PROVENANCE_BYTES = 64 * 1024 * 1024  # one subject per file: about twice the manifest's size limit


def cmd_publish(args: argparse.Namespace) -> int:
    from functions.artifacts.publish import publish
    from functions.naming import PROVENANCE_NAME

    manifest_bytes = read_manifest(args.manifest)
    provenance_path = args.provenance or args.manifest.with_name(PROVENANCE_NAME)
    provenance_bytes = None
    if args.provenance is not None or provenance_path.exists():
        provenance_bytes = read_file(provenance_path, "--provenance", limit=MAX_PROVENANCE_BYTES)
    region = region_of(args)
    public_key = _provenance_key(args, manifest_bytes, region) if provenance_bytes is not None else None
    result = publish(
        args.cdk_out,
        manifest_bytes,
        bucket=args.bucket,
        s3=aws_client("s3", region),
        provenance_bytes=provenance_bytes,
        public_key=public_key,
        jobs=args.jobs,
        log=lambda line: print(line, file=sys.stderr),
    )
    document = {"prefix": f"s3://{args.bucket}/{result.prefix}", "files": result.uploaded}
    print(json.dumps(document) if args.json else f"published {document['files']} files to {document['prefix']}")
    return EXIT_OK


def _provenance_key(args: argparse.Namespace, manifest_bytes: bytes, region: str) -> Any:
    """The key the provenance (and the manifest) must verify with: `--public-key`, `--kms-key-id`, or
    the KMS key the manifest names as its signer. None if the manifest is invalid (publish says why)."""
    from functions.artifacts.manifest import parse_manifest
    from functions.artifacts.signing import kms_public_key_pem, load_public_key

    if args.public_key:
        return load_public_key(read_key_file(args.public_key, "--public-key"), str(args.public_key))
    manifest, _ = parse_manifest(manifest_bytes)
    identity = manifest.signing_identity if manifest is not None else None
    key_id = args.kms_key_id or (identity[len("kms:") :] if identity and identity.startswith("kms:") else None)
    if key_id:
        return load_public_key(kms_public_key_pem(key_id, aws_client("kms", region)), key_id)
    if manifest is None:
        return None  # publish reports the manifest's findings
    raise UsageError(
        f"--public-key is required to check the provenance of a manifest signed by {identity or 'an unnamed key'} "
        "(or publish without a provenance file)"
    )


def cmd_status(args: argparse.Namespace) -> int:
    import boto3

    from functions.pipeline import status
    from functions.pipeline.store import MetadataTable

    table = boto3.resource("dynamodb", region_name=region_of(args)).Table(args.table)
    if args.commit:
        metadata = MetadataTable(table)
        item = metadata.get(args.service, args.commit)
        if item is None:
            raise UsageError(f"no artifact {args.service}@{args.commit} in {args.table}")
        if args.json:
            print(json.dumps(item, indent=2, sort_keys=True, default=str))
        else:
            print(status.describe(item, metadata.service_record(args.service)))
        return EXIT_OK
    items = status.service_items(table, args.service)
    if args.json:
        print(json.dumps(items, indent=2, sort_keys=True, default=str))
    elif not items:
        print(f"no artifacts of {args.service} in {args.table}")
    else:
        print("\n".join(status.summary_line(i) for i in items))
    return EXIT_OK
