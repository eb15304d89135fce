"""The service catalog: what the pipeline's functions know of each configured service (its stage and prod
accounts, whether its synth makes context lookups), one rule for the program that writes it and the
functions that read it.

Why an object and not the environment: Lambda allows 4 KB of environment variables per function, about
58 services' accounts. The tools stack writes the catalog as one JSON object (`catalog_key(sha256)`) into the
tooling bucket (KMS-encrypted with the tooling key); every function gets only its location and its SHA-256
(`SERVICE_CATALOG_URI`, `SERVICE_CATALOG_SHA256`), reads it once per cold start, and refuses bytes that
differ from the pinned hash: whoever can write the bucket cannot change the catalog without a `pulumi up`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .lifecycle import Environment
from .settings import SettingsError

# Content-addressed: a new catalog is a new object, created before the functions are pointed at it and
# the old one deleted after (Pulumi replaces create-before-delete), so no cold start in between reads
# bytes its environment does not pin.
CATALOG_PREFIX = "catalog/"
VERSION = 1
# The functions that read it (`clients.catalog()`): intake (is the service configured), Validate (does it
# make context lookups), the finalizer (its accounts' read-only roles). Only they may read the object.
READERS = ("finalizer", "intake", "validate")
MAX_CATALOG_BYTES = 1024 * 1024  # ~2 KB a service: far beyond 500 services
ACCOUNT = re.compile(r"^\d{12}\Z")
SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
_LOCATION = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>\S+)\Z")


def check_accounts(service: str, accounts: Any, where: str) -> None:
    """A service needs a 12-digit account for each environment (the catalog and the builds' SERVICE_ACCOUNTS)."""
    if not isinstance(accounts, Mapping) or any(
        not isinstance(accounts.get(e), str) or not ACCOUNT.match(accounts[e]) for e in Environment
    ):
        raise SettingsError(f"{where}: {service!r} needs a 12-digit stage and prod account")


@dataclass(frozen=True)
class ServiceEntry:
    accounts: Mapping[str, str]  # environment -> account
    context_lookups: bool


@dataclass(frozen=True)
class ServiceCatalog:
    services: Mapping[str, ServiceEntry]
    source: str = "the service catalog"  # named in every error

    @classmethod
    def of(
        cls, accounts: Mapping[str, Mapping[str, str]], without_context_lookups: Iterable[str] = ()
    ) -> ServiceCatalog:
        """The program's view: every configured service's accounts, and who makes no context lookups."""
        without = set(without_context_lookups)
        catalog = cls(
            {
                service: ServiceEntry({str(e): own[e] for e in own}, service not in without)
                for service, own in accounts.items()
            }
        )
        catalog.check()
        return catalog

    def check(self) -> None:
        for service, entry in self.services.items():
            if not isinstance(service, str) or not service:
                raise SettingsError(f"{self.source}: a service needs a name")
            check_accounts(service, entry.accounts, self.source)
            if not isinstance(entry.context_lookups, bool):
                raise SettingsError(f"{self.source}: {service!r} needs context_lookups true or false")

    def document(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "services": {
                service: {
                    "accounts": {str(e): entry.accounts[e] for e in Environment},
                    "context_lookups": entry.context_lookups,
                }
                for service, entry in sorted(self.services.items())
            },
        }

    def to_bytes(self) -> bytes:
        """The object's bytes: one canonical form, so that its hash changes only when the catalog does."""
        return json.dumps(self.document(), sort_keys=True, separators=(",", ":")).encode() + b"\n"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "the service catalog") -> ServiceCatalog:
        """Parse and check: the same rules as the program's (`check`), naming `source` in every error."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SettingsError(f"{source}: not JSON ({exc})") from None
        if not isinstance(document, dict) or document.get("version") != VERSION:
            raise SettingsError(f"{source}: expected a JSON object with version {VERSION}")
        services = document.get("services")
        if not isinstance(services, dict):
            raise SettingsError(f"{source}: expected `services`, a JSON object")
        entries = {}
        for service, entry in services.items():
            if not isinstance(entry, dict):
                raise SettingsError(f"{source}: {service!r} needs accounts and context_lookups")
            entries[service] = ServiceEntry(entry.get("accounts"), entry.get("context_lookups"))  # type: ignore[arg-type]
        catalog = cls(entries, source)
        catalog.check()
        return catalog

    def __contains__(self, service: object) -> bool:
        return service in self.services

    def account(self, service: str, environment: Environment | str) -> str:
        try:
            return self.services[service].accounts[Environment(environment)]
        except (KeyError, ValueError):
            raise SettingsError(f"{self.source} has no {environment} account for {service!r}") from None

    def context_lookups(self, service: str) -> bool:
        """Whether the service's synth reads context (Validate's check 6); an unknown service does."""
        entry = self.services.get(service)
        return entry is None or entry.context_lookups


def catalog_key(sha256: str) -> str:
    return f"{CATALOG_PREFIX}{sha256}.json"


def location(bucket: str, sha256: str) -> str:
    return f"s3://{bucket}/{catalog_key(sha256)}"


def split_location(uri: str) -> tuple[str, str]:
    match = _LOCATION.match(uri)
    if not match:
        raise SettingsError(f"environment variable SERVICE_CATALOG_URI={uri!r}: expected s3://bucket/key")
    return match["bucket"], match["key"]


def check_pin(uri: str, sha256: str) -> None:
    split_location(uri)
    if not SHA256.match(sha256):
        raise SettingsError(f"environment variable SERVICE_CATALOG_SHA256={sha256!r}: expected 64 lowercase hex digits")


def read_catalog(uri: str, sha256: str, s3: Any) -> ServiceCatalog:
    """The catalog at `uri`, only if its bytes are the ones the program pinned (`sha256`)."""
    bucket, key = split_location(uri)
    from functions.artifacts.errors import raise_if_transient

    try:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read(MAX_CATALOG_BYTES + 1)
    except Exception as exc:  # botocore's ClientError or BotoCoreError
        raise_if_transient(exc, f"S3 did not answer for the service catalog {uri}: {exc}")
        # a permanent answer (no such object): the program's pin names a catalog that is gone
        raise SettingsError(f"cannot read the service catalog {uri}: {exc}") from exc
    if len(data) > MAX_CATALOG_BYTES:
        raise SettingsError(f"the service catalog {uri} is larger than {MAX_CATALOG_BYTES} bytes")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise SettingsError(
            f"the service catalog {uri} is not the one the program wrote: its SHA-256 is {actual}, "
            f"SERVICE_CATALOG_SHA256 pins {sha256} (restore it with `pulumi up`)"
        )
    return ServiceCatalog.from_bytes(data, source=f"the service catalog {uri}")
