"""`artifactctl publish` (CI records the candidate and uploads it) and `artifactctl status` (operators
read an artifact's lifecycle)."""

from __future__ import annotations

import argparse
import json
import sys

from .common import EXIT_OK, UsageError, aws_client, read_file, read_manifest, region_of


def cmd_publish(args: argparse.Namespace) -> int:
    from functions.artifacts.publish import publish
    from functions.naming import PROVENANCE_NAME

    manifest_bytes = read_manifest(args.manifest)
    provenance_path = args.provenance or args.manifest.with_name(PROVENANCE_NAME)
    provenance_bytes = read_file(provenance_path, "--provenance") if provenance_path.is_file() else None
    region = region_of(args)
    result = publish(
        args.cdk_out,
        manifest_bytes,
        bucket=args.bucket,
        table=args.table,
        region=region,
        s3=aws_client("s3", region),
        dynamodb=aws_client("dynamodb", region),
        provenance_bytes=provenance_bytes,
        jobs=args.jobs,
        log=lambda line: print(line, file=sys.stderr),
    )
    document = {"prefix": f"s3://{args.bucket}/{result.prefix}", "files": result.uploaded, "resumed": result.resumed}
    print(json.dumps(document) if args.json else f"published {document['files']} files to {document['prefix']}")
    return EXIT_OK


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
