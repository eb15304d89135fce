"""Small constructors for policy documents, and the one list of actions AWS only allows on `*`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

VERSION = "2012-10-17"

# Actions that AWS authorizes only against `"Resource": "*"` (no resource-level permissions), with
# the reason we grant each. A statement may use `"Resource": "*"` only if every action in it is
# listed here; tests/program/test_policy_invariants.py enforces that over every stack's graph.
STAR_ONLY_ACTIONS: Mapping[str, str] = {
    "cloudformation:DescribeStackDriftDetectionStatus": "polling a drift detection run by id (deployer, finalizer)",
    "ecr:GetAuthorizationToken": "docker login before cdk-assets pushes an image (image-publishing role)",
    "ec2:DescribeAvailabilityZones": "CDK context lookup: availability zones",
    "ec2:DescribeVpcs": "CDK context lookup: Vpc.fromLookup",
    "ec2:DescribeSubnets": "CDK context lookup: Vpc.fromLookup subnets",
    "ec2:DescribeRouteTables": "CDK context lookup: Vpc.fromLookup route tables",
    "ec2:DescribeVpnGateways": "CDK context lookup: Vpc.fromLookup VPN gateways",
    "ec2:DescribeSecurityGroups": "CDK context lookup: SecurityGroup.fromLookup",
    "ec2:DescribeImages": "CDK context lookup: MachineImage.lookup",
    "ec2:DescribeKeyPairs": "CDK context lookup: KeyPair.fromKeyPairName lookups",
    "elasticloadbalancing:DescribeLoadBalancers": "CDK context lookup: load balancer lookups",
    "elasticloadbalancing:DescribeListeners": "CDK context lookup: listener lookups",
    "elasticloadbalancing:DescribeTags": "CDK context lookup: load balancer lookups by tag",
    "kms:ListAliases": "CDK context lookup: Key.fromLookup",
    "route53:ListHostedZonesByName": "CDK context lookup: HostedZone.fromLookup",
    "xray:PutTelemetryRecords": "X-Ray tracing of the functions and the state machine",
    "xray:PutTraceSegments": "X-Ray tracing of the functions and the state machine",
    "logs:CreateLogDelivery": "Step Functions execution logging (vended log delivery)",
    "logs:DeleteLogDelivery": "Step Functions execution logging (vended log delivery)",
    "logs:DescribeLogGroups": "Step Functions execution logging (vended log delivery)",
    "logs:DescribeResourcePolicies": "Step Functions execution logging (vended log delivery)",
    "logs:GetLogDelivery": "Step Functions execution logging (vended log delivery)",
    "logs:ListLogDeliveries": "Step Functions execution logging (vended log delivery)",
    "logs:PutResourcePolicy": "Step Functions execution logging (vended log delivery)",
    "logs:UpdateLogDelivery": "Step Functions execution logging (vended log delivery)",
}


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[Any] | Any = None,
    *,
    effect: str = "Allow",
    conditions: Mapping[str, Mapping[str, Any]] | None = None,
    principal: Mapping[str, Any] | str | None = None,
    not_resources: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """One statement; actions are sorted so a reordering in code never shows as a diff."""
    if not actions:
        raise ValueError(f"statement {sid!r} has no actions")
    result: dict[str, Any] = {"Sid": sid, "Effect": effect}
    if principal is not None:
        result["Principal"] = principal
    result["Action"] = sorted(set(actions))
    if not_resources is not None:
        result["NotResource"] = list(not_resources)
    elif resources is not None:
        result["Resource"] = list(resources) if isinstance(resources, list | tuple) else resources
    if conditions:
        result["Condition"] = {op: dict(values) for op, values in conditions.items()}
    return result


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    sids = [s["Sid"] for s in statements]
    if len(sids) != len(set(sids)):
        raise ValueError(f"duplicate Sid in policy: {sids}")
    return {"Version": VERSION, "Statement": list(statements)}


def via(service: str, region: str) -> dict[str, str]:
    """The condition that a KMS key is used only through one AWS service (`s3`, `dynamodb`)."""
    return {"kms:ViaService": f"{service}.{region}.amazonaws.com"}


def deny_insecure_transport(bucket_arn: Any) -> dict[str, Any]:
    """Bucket policy statement: refuse any request that is not over TLS."""
    return statement(
        "DenyInsecureTransport",
        ["s3:*"],
        [bucket_arn, objects(bucket_arn)],
        effect="Deny",
        principal="*",
        conditions={"Bool": {"aws:SecureTransport": "false"}},
    )


def objects(bucket_arn: Any) -> Any:
    """`arn:aws:s3:::bucket/*` for a plain ARN string or a Pulumi Output."""
    if isinstance(bucket_arn, str):
        return f"{bucket_arn}/*"
    import pulumi  # only Output values need the SDK; plain-string callers (tests, linters) do not

    return pulumi.Output.concat(bucket_arn, "/*")


def service_trust(service: str, source_account: str, source_arn: str | None = None) -> dict[str, Any]:
    """Trust an AWS service principal, only on behalf of this account (confused-deputy guard)."""
    conditions: dict[str, dict[str, Any]] = {"StringEquals": {"aws:SourceAccount": source_account}}
    if source_arn is not None:
        conditions["ArnLike"] = {"aws:SourceArn": source_arn}
    return document(
        statement(
            "TrustedService",
            ["sts:AssumeRole"],
            principal={"Service": service},
            conditions=conditions,
        )
    )


def role_trust(principal_arn: Any, external_id: str | None = None, sid: str = "TrustedRole") -> dict[str, Any]:
    """Trust exactly one IAM role, optionally bound to an `sts:ExternalId`."""
    conditions = {"StringEquals": {"sts:ExternalId": external_id}} if external_id else None
    return document(statement(sid, ["sts:AssumeRole"], principal={"AWS": principal_arn}, conditions=conditions))


# What appending to the audit chain takes (`functions/audit/store.append`: one TransactWriteItems,
# authorized per item as the head's UpdateItem and the entry's PutItem, read with GetItem).
AUDIT_APPEND = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
