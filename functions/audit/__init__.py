"""The tamper-evident audit log: a SHA-256 hash chain of entries in its own DynamoDB table.

Kept free of imports: `artifactctl`'s parser reads the names below. The model is `entry`, appends and
reads are `store`, checking a chain is `verify`; its external anchors are made by `anchors` (through
`anchor_io`) and checked by `anchor_check`.
"""

from __future__ import annotations

AUDIT_TABLE = "cdk-artifact-audit-log"  # the tools stack's audit table (DESIGN.md: "metadata + audit tables")
CHAIN = "control-plane"  # the one chain: the table's partition key `chain`
HEAD_SEQ = 0  # the chain head's sort key: it holds `head_seq` and `head_hash`
GENESIS_HASH = "0" * 64  # the `previous_log_hash` of the first entry

# The external anchors of the chain (spec: "Audit Logging & Cryptographic Anchoring"): `anchors.py`.
ANCHORS_BUCKET = "cdk-audit-log-anchors"  # made globally unique by `naming.ToolsNames.bucket`
ANCHORS_PREFIX = "audit-log-anchors/"  # the spec's prefix: every anchor object is under it
ANCHOR_TOPIC = "audit-anchor-publish"  # the spec's topic, mailed to `auditEmailAddresses`
ANCHOR_SCHEDULE = "rate(10 minutes)"  # the spec: anchors are published every 10 minutes
