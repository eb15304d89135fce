"""Validate's check 6, failing closed: the context an artifact was synthesized with must be its service's
blessed context (the signed `{service}/latest.context.json` the context generator published), never what
CI itself declared. A service configured with `contextLookups: false` reads no context: its manifest's
`cdk_context_hash` must be null, and no blessed context is read.

One rule for both environments: a service's app synthesizes its stage and prod stacks in one `cdk synth`
from one context file, so stage and prod runs compare with the same blessed file, as it is when they
validate (a context regenerated between stage and prod makes the artifact stale: rebuild it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from functions.artifacts.contexts import ContextUnavailable, MissingContext, blessed_context, blessed_key
from functions.artifacts.errors import ContextError, Finding, InvalidArtifact
from functions.artifacts.signing import load_public_key
from functions.artifacts.verify import ExpectedContext

from .catalog import ServiceCatalog
from .settings import FunctionSettings, SettingsError

NO_LOOKUPS_SOURCE = "services[].contextLookups is false for {service}"


def expected_context(
    service: str,
    *,
    settings: FunctionSettings,
    catalog: ServiceCatalog,
    s3: Any,
    context_public_key_pem: Callable[[], str],
) -> ExpectedContext:
    """What the manifest's `cdk_context_hash` must be; `InvalidArtifact` naming the S3 key when the
    blessed context is missing or cannot be trusted. `context_public_key_pem` is called only for a
    service with lookups (the context signer's public half, one KMS call per cold start)."""
    if not catalog.context_lookups(service):
        return ExpectedContext(None, NO_LOOKUPS_SOURCE.format(service=service))
    if not settings.contexts_bucket:
        raise SettingsError(f"environment variable CONTEXTS_BUCKET is required: {service} makes context lookups")
    key = blessed_key(service)
    where = f"s3://{settings.contexts_bucket}/{key}"
    public_key = load_public_key(context_public_key_pem().encode(), "the context signer public key")
    try:
        _, digest = blessed_context(service, bucket=settings.contexts_bucket, public_key=public_key, s3=s3)
    except MissingContext as missing:
        raise InvalidArtifact(
            [
                Finding(
                    "cdk_context_hash",
                    missing.key,
                    f"no blessed context for {service} at s3://{settings.contexts_bucket}/{missing.key} (publish "
                    "one with `artifactctl context publish`, or set services[].contextLookups: false if the "
                    "app makes no lookups)",
                )
            ]
        ) from None
    except ContextUnavailable:
        raise  # S3 refused or failed: not the artifact's fault; the task fails and may be retried
    except ContextError as untrusted:
        finding = Finding("cdk_context_hash", key, f"the blessed context is not trusted: {untrusted}")
        raise InvalidArtifact([finding]) from None
    return ExpectedContext(digest, f"the blessed context {where}")
