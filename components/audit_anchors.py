"""Where the audit chain's anchors go, in the tools account (spec: "Audit Logging & Cryptographic
Anchoring", "Mandatory Anchor Publication Policy"); the anchor function is the pipeline's (`anchor`).

- the anchors bucket `cdk-audit-log-anchors-<account>-<region>`: SecureBucket (versioned, SSE-KMS under its
  own key, public access blocked, TLS only) with Object Lock default retention from
  `auditAnchorRetention`; only the anchor function writes, nobody deletes an object or a version, nobody
  changes or bypasses a retention;
- the SNS topic `audit-anchor-publish` under its own customer-managed key (rotating yearly), published
  to by the anchor function alone, with one email subscription per `auditEmailAddresses` entry (named
  from the address, so removing one inbox never renames the others' resources);
- CloudTrail Lake: an event data store of custom (`ActivityAuditLog`) events and the channel the function
  puts them on. pulumi-aws has no CloudTrail channel resource (nor has the Terraform provider it bridges,
  hashicorp/terraform-provider-aws#35704): the channel is declared through the Cloud Control API
  (`aws.cloudcontrol.Resource`, type `AWS::CloudTrail::Channel`), whose `ChannelArn` the function's
  role and environment name. Only with `auditAnchorCloudTrailLake` (default true): AWS closed CloudTrail
  Lake to new customers on 31 May 2026, and in an account that never used it creating the store fails, so
  such an account leaves the Lake out (no store, no channel) and the anchors go to the bucket and the inbox.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.kms import kms_key
from components.policies import audit_anchors as policies
from components.secure_bucket import SecureBucket, SecureBucketArgs
from functions.audit import ANCHOR_TOPIC
from functions.naming import ToolsNames

TYPE = "cdk-control-plane:tools:AuditAnchors"
CUSTOM_EVENTS = "ActivityAuditLog"  # CloudTrail Lake's category of events from outside AWS
EVENT_STORE_MIN_DAYS = 7


def inbox_resource_suffix(address: str) -> str:
    """A subscription's resource name part from its address: readable, and unique (a hash of the exact
    address) where two addresses read alike."""
    readable = re.sub(r"[^a-z0-9]+", "-", address.lower()).strip("-")[:40]
    return f"{readable}-{hashlib.sha256(address.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class AuditAnchorsArgs:
    names: ToolsNames
    email_addresses: Sequence[str]  # `auditEmailAddresses`: the external inboxes
    retention: tuple[str, int]  # (GOVERNANCE|COMPLIANCE, days) of every anchor
    protect: bool  # the bucket, the keys and the event data store are protected from deletion
    cloudtrail_lake: bool = True  # `auditAnchorCloudTrailLake`: declare the event data store and the channel


class AuditAnchors(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_key_arn: pulumi.Output[str]
    topic_arn: pulumi.Output[str]
    topic_key_arn: pulumi.Output[str]
    event_data_store_arn: pulumi.Output[str] | None  # None: CloudTrail Lake left out
    channel_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: AuditAnchorsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        names = args.names
        bucket_key = kms_key(
            f"{name}-bucket",
            alias=policies.anchor_key_alias("bucket"),
            description="the audit chain's anchors bucket",
            policy=policies.anchors_bucket_key_policy(names),
            parent=self,
            protect=args.protect,
        )
        bucket_name = policies.anchors_bucket(names)
        bucket = SecureBucket(
            f"{name}-bucket",
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=bucket_key.arn,
                extra_policy_statements=policies.anchors_bucket_statements(names, f"arn:aws:s3:::{bucket_name}"),
                protect=args.protect,
                object_lock=args.retention,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        topic_key, topic = self._topic(name, args)
        self.event_data_store_arn = self.channel_arn = None
        if args.cloudtrail_lake:
            store, channel = self._cloudtrail_lake(name, args)
            self.event_data_store_arn = store.arn
            self.channel_arn = channel.properties.apply(lambda text: json.loads(text)["ChannelArn"])

        self.bucket_name = bucket.name
        self.bucket_key_arn = bucket_key.arn
        self.topic_arn = topic.arn
        self.topic_key_arn = topic_key.arn
        lake = {"event_data_store_arn": self.event_data_store_arn, "channel_arn": self.channel_arn}
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "topic_arn": self.topic_arn,
                **{key: value for key, value in lake.items() if value is not None},
            }
        )

    def _topic(self, name: str, args: AuditAnchorsArgs) -> tuple[aws.kms.Key, aws.sns.Topic]:
        names, child = args.names, pulumi.ResourceOptions(parent=self)
        key = kms_key(
            f"{name}-topic",
            alias=policies.anchor_key_alias("topic"),
            description=f"the {ANCHOR_TOPIC} topic",
            policy=policies.anchor_topic_key_policy(names),
            parent=self,
            protect=args.protect,
        )
        topic = aws.sns.Topic(f"{name}-topic", name=ANCHOR_TOPIC, kms_master_key_id=key.arn, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.json_dumps(policies.anchor_topic_policy(names, topic.arn)),
            opts=child,
        )
        for address in args.email_addresses:
            aws.sns.TopicSubscription(
                f"{name}-inbox-{inbox_resource_suffix(address)}",
                topic=topic.arn,
                protocol="email",
                endpoint=address,
                opts=child,
            )
        return key, topic

    def _cloudtrail_lake(
        self, name: str, args: AuditAnchorsArgs
    ) -> tuple[aws.cloudtrail.EventDataStore, aws.cloudcontrol.Resource]:
        names, child = args.names, pulumi.ResourceOptions(parent=self)
        store = aws.cloudtrail.EventDataStore(
            f"{name}-event-store",
            name=f"{names.prefix}-audit-anchors",
            advanced_event_selectors=[
                aws.cloudtrail.EventDataStoreAdvancedEventSelectorArgs(
                    name="audit chain anchors (custom events)",
                    field_selectors=[
                        aws.cloudtrail.EventDataStoreAdvancedEventSelectorFieldSelectorArgs(
                            field="eventCategory", equals=[CUSTOM_EVENTS]
                        )
                    ],
                )
            ],
            multi_region_enabled=False,
            organization_enabled=False,
            retention_period=max(args.retention[1], EVENT_STORE_MIN_DAYS),
            termination_protection_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        channel = aws.cloudcontrol.Resource(
            f"{name}-channel",
            type_name="AWS::CloudTrail::Channel",
            desired_state=pulumi.Output.json_dumps(
                {
                    "Name": f"{names.prefix}-audit-anchors",
                    "Source": "Custom",
                    "Destinations": [{"Type": "EVENT_DATA_STORE", "Location": store.arn}],
                }
            ),
            opts=child,
        )
        return store, channel
