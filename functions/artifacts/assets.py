"""CDK assets declared by a cloud assembly: every `*.assets.json`, files and container images."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .errors import Finding, InvalidArtifact

# CDK names a destination "<account>-<region>" and, in newer versions, "<account>-<region>-<hash>".
_ENV_DESTINATION = re.compile(r"^(\d{12})-([a-z]{2}(?:-gov)?-[a-z]+-\d)(?:-[0-9a-f]+)?\Z")


def _destination(kind: str, destination_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    region = spec.get("region")
    match = _ENV_DESTINATION.match(destination_id)
    account = match.group(1) if match else None
    result: dict[str, Any] = {"id": destination_id, "region": region, "account": account}
    if kind == "file":
        result["s3Uri"] = f"s3://{spec['bucketName']}/{spec['objectKey']}"
    else:
        registry = f"{account}.dkr.ecr.{region}.amazonaws.com" if account and region else "<registry>"
        result["ecrUri"] = f"{registry}/{spec['repositoryName']}:{spec['imageTag']}"
    if spec.get("assumeRoleArn"):
        result["assumeRoleArn"] = spec["assumeRoleArn"]
    return result


def collect_assets(cdk_out: Path, relative_paths: list[str]) -> dict[str, dict[str, Any]]:
    """`{asset id: {type, hash, source, destinations: [...]}}` merged over all asset manifests.

    CDK names an asset by the hash of its source, so the same asset built for stage and prod appears
    once here with the destinations of both environments.
    """
    assets: dict[str, dict[str, Any]] = {}
    for relative in relative_paths:
        if not relative.endswith(".assets.json"):
            continue
        try:
            document = json.loads((cdk_out / relative).read_text(encoding="utf-8"))
            sections = (("file", document.get("files", {})), ("docker", document.get("dockerImages", {})))
            for kind, entries in sections:
                for asset_id, entry in entries.items():
                    source = entry.get("source", {})
                    record = assets.setdefault(
                        asset_id,
                        {
                            "type": kind,
                            "hash": asset_id,
                            "source": source.get("path") or source.get("directory") or source.get("executable"),
                            "destinations": [],
                        },
                    )
                    if kind == "file" and source.get("packaging"):
                        record["packaging"] = source["packaging"]
                    for destination_id, spec in sorted(entry.get("destinations", {}).items()):
                        destination = _destination(kind, destination_id, spec)
                        if destination not in record["destinations"]:
                            record["destinations"].append(destination)
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
            raise InvalidArtifact([Finding("assets", relative, f"unreadable asset manifest: {exc}")]) from None
    for record in assets.values():
        record["destinations"].sort(key=lambda d: (d["id"], d.get("s3Uri") or d.get("ecrUri")))
    return dict(sorted(assets.items()))


def library_versions(cdk_out: Path) -> dict[str, str]:
    """Versions of the construct libraries the app was built with, from `tree.json`."""
    tree = cdk_out / "tree.json"
    if not tree.is_file():
        return {}
    versions: dict[str, str] = {}
    stack = [json.loads(tree.read_text(encoding="utf-8")).get("tree", {})]
    while stack:
        node = stack.pop()
        info = node.get("constructInfo") or {}
        fqn, version = info.get("fqn"), info.get("version")
        if fqn and version and "." in fqn:
            # "aws-cdk-lib.Stack" -> aws-cdk-lib; "@aws-cdk/x-alpha.Y" -> @aws-cdk/x-alpha
            versions.setdefault(fqn.split(".", 1)[0], version)
        stack.extend((node.get("children") or {}).values())
    return dict(sorted(versions.items()))
