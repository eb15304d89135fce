"""The policy of a service's CDK asset bucket: what CloudFormation reads from it changes only through the
deployer's publish-and-check (`functions/deployer/signed_assets.py`)."""

from __future__ import annotations

from typing import Any

from .common import objects, statement
from .service_account import ServiceAccountContext

# Object writes: new objects and versions (PutObject also covers copies and multipart uploads), deletes
# (deleting the current version would make an older, unchecked one current) and replication.
OBJECT_WRITES = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObject",
    "s3:ReplicateDelete",
    "s3:ReplicateObject",
    "s3:RestoreObject",
)


def asset_bucket_statements(ctx: ServiceAccountContext, bucket_arn: Any) -> list[dict[str, Any]]:
    """The asset bucket accepts object writes from the file-publishing role only (which only the deployer
    assumes): what CloudFormation reads changes only through the deployer's publish-and-check."""
    return [
        statement(
            "OnlyTheFilePublishingRoleWritesObjects",
            OBJECT_WRITES,
            [objects(bucket_arn)],
            effect="Deny",
            principal="*",
            conditions={"ArnNotEquals": {"aws:PrincipalArn": ctx.role_arn(ctx.bootstrap.file_publishing_role)}},
        )
    ]
