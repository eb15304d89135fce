"""The tamper-evident audit log: a SHA-256 hash chain of entries in its own DynamoDB table.

Kept free of imports: `artifactctl`'s parser reads the names below. The model is `entry`, appends and
reads are `store`, checking a chain is `verify`.
"""

from __future__ import annotations

AUDIT_TABLE = "cdk-artifact-audit-log"  # the tools stack's audit table (DESIGN.md: "metadata + audit tables")
CHAIN = "control-plane"  # the one chain: the table's partition key `chain`
HEAD_SEQ = 0  # the chain head's sort key: it holds `head_seq` and `head_hash`
GENESIS_HASH = "0" * 64  # the `previous_log_hash` of the first entry
