"""Fixtures of the function tests (moto): those of the artifact-integrity tests, and `aws`."""

from __future__ import annotations

from .artifact_support import artifact, artifact_manifest, aws, key_files, other_signer, signer

__all__ = ["artifact", "artifact_manifest", "aws", "key_files", "other_signer", "signer"]
