"""AWS clients and settings, created once per cold start (module scope)."""

from __future__ import annotations

from functools import cache
from typing import Any

from functions import naming
from functions.pipeline.catalog import ServiceCatalog, read_catalog
from functions.pipeline.notify import Notifier
from functions.pipeline.settings import FunctionSettings
from functions.pipeline.signers import ServiceKeys
from functions.pipeline.store import AuditTrail, MetadataTable


@cache
def settings() -> FunctionSettings:
    return FunctionSettings.from_environ()


@cache
def catalog() -> ServiceCatalog:
    """The service catalog from the tooling bucket, read once per cold start, only if its bytes are the
    ones the program pinned (SERVICE_CATALOG_SHA256)."""
    config = settings()
    return read_catalog(config.service_catalog_uri, config.service_catalog_sha256, client("s3"))


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service, region_name=settings().region)


@cache
def table(function_name: str) -> MetadataTable:
    """The metadata table, whose every change is audited in its own transaction as this function
    (`function:<name>`, from the invocation's context)."""
    import boto3

    resource = boto3.resource("dynamodb", region_name=settings().region).Table(settings().table_name)
    return MetadataTable(
        resource, AuditTrail(client("dynamodb"), f"function:{function_name}", settings().audit_table_name)
    )


@cache
def service_keys() -> ServiceKeys:
    """The services' signing keys, each read from KMS at most once per cold start."""
    return ServiceKeys(client("kms"))


@cache
def context_public_key_pem() -> str:
    """The context signer's public half, read from KMS once per cold start (Validate, check 6)."""
    from functions.artifacts.signing import kms_public_key_pem
    from functions.pipeline.settings import SettingsError

    key_id = settings().context_signer_key_id
    if not key_id:
        raise SettingsError("environment variable CONTEXT_SIGNER_KEY_ID is required: blessed contexts are verified")
    return kms_public_key_pem(key_id, client("kms")).decode()


@cache
def override_public_key() -> Any:
    """The override signer's public half (`alias/cdk-override-signer`), read from KMS once per cold start,
    as the services' keys are (`ServiceKeys`): requests are then verified offline."""
    from functions.artifacts.signing import kms_public_key_pem, load_public_key

    alias = naming.OVERRIDE_SIGNER_KEY_ALIAS
    return load_public_key(kms_public_key_pem(alias, client("kms")), alias)


def notifier() -> Notifier:
    return Notifier(client("events"), client("sns"), settings().event_bus_name, settings().alert_topic_arn)


def cloud_assembly(service: str, commit_sha: str, environment: str) -> dict[str, Any]:
    """The artifact's `cdk.out/manifest.json` from the bucket its environment deploys from."""
    import json

    key = naming.artifact_prefix(service, commit_sha) + "cdk.out/manifest.json"
    return json.loads(client("s3").get_object(Bucket=settings().bucket_of(environment), Key=key)["Body"].read())


def read_only_cloudformation(service: str, environment: str) -> Any:
    """CloudFormation in the service's account through its read-only role (short session)."""
    from functions.sessions import assume_role_session, session_name

    config = settings()
    account = catalog().account(service, environment)
    role = naming.role_arn(account, naming.ServiceNames(config.name_prefix, service, environment).read_only_role)
    session = assume_role_session(
        role,
        external_id=naming.external_id(config.name_prefix, config.tools_account_id, service, environment),
        region=config.region,
        role_session_name=session_name("finalizer", service, environment),
    )
    return session.client("cloudformation", region_name=config.region)


def forget() -> None:
    """Forget what this cold start read (tests and the emulator run many cold starts in one process)."""
    for cached in (settings, catalog, client, table, service_keys, context_public_key_pem, override_public_key):
        cached.cache_clear()
