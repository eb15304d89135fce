"""Fixtures of the `artifactctl` tests: the artifact-integrity ones (keys, moto with faithful KMS)."""

from __future__ import annotations

from tests.functions.artifact_support import aws, key_files, signer

__all__ = ["aws", "key_files", "signer"]
