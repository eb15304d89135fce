"""The service catalog as the tools stack writes it: one object in the tooling bucket (encrypted with the
tooling key, as the bucket is), whose location and SHA-256 are every function's environment, readable by
exactly the functions that read it (`catalog.READERS`) through two constant-size statements."""

from __future__ import annotations

import hashlib
import json
import re

from functions.naming import FUNCTIONS
from functions.pipeline import catalog
from functions.pipeline.catalog import CATALOG_PREFIX, ServiceCatalog, catalog_key
from functions.pipeline.settings import FunctionSettings

from .graph import by_sid, inline_policies, named, of_type, role, statements

TOOLS = "111111111111"
REGION = "us-east-1"
TOOLING = f"cdkcp-tooling-{TOOLS}-{REGION}"
HANDLERS = "functions/handlers"


def _written(graph: dict) -> dict:
    return named(graph, "deploy-pipeline-service-catalog")["inputs"]


def test_the_catalog_is_one_object_in_the_tooling_bucket_with_every_service(graphs: dict) -> None:
    written = _written(graphs["tools"])
    read = ServiceCatalog.from_bytes(written["content"].encode())
    # content-addressed: a new catalog is a new object, the functions' old one kept until they move
    assert (written["bucket"], written["key"]) == (TOOLING, catalog_key(read.sha256))
    assert read.account("orders", "prod") == "333333333333" and read.account("payments", "stage") == "444444444444"
    # Encrypted as the bundle is: the tooling bucket's default encryption, its key.
    encryption = named(graphs["tools"], "artifact-store-tooling-encryption")["inputs"]["rules"][0]
    assert encryption["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"


def test_every_function_pins_the_bytes_written(graphs: dict) -> None:
    written = _written(graphs["tools"])
    digest = hashlib.sha256(written["content"].encode()).hexdigest()
    functions = of_type(graphs["tools"], "aws:lambda/function:Function")
    assert len(functions) == len(FUNCTIONS)
    for function in functions:
        variables = function["inputs"]["environment"]["variables"]
        settings = FunctionSettings.from_environ(variables)
        assert settings.service_catalog_uri == f"s3://{TOOLING}/{catalog_key(digest)}"
        assert settings.service_catalog_sha256 == digest, function["inputs"]["name"]
        assert not {"SERVICE_ACCOUNTS", "SERVICES_WITHOUT_CONTEXT_LOOKUPS"} & set(variables)


def test_exactly_the_readers_may_read_the_catalog_and_decrypt_it_through_s3(graphs: dict) -> None:
    graph = graphs["tools"]
    tooling_key = named(graph, "artifact-store-tooling-encryption")["inputs"]["rules"][0]
    key = tooling_key["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    for function in FUNCTIONS:
        own = "cdkcp-finalizer" if function == "finalizer" else f"cdkcp-fn-{function}"
        (policy,) = inline_policies(graph, role(graph, own)).values()
        sids = {s.get("Sid") for s in statements(policy)}
        if function not in catalog.READERS:
            assert not {"ReadServiceCatalog", "DecryptServiceCatalog"} & sids, function
            continue
        read = by_sid(policy, "ReadServiceCatalog")
        assert (read["Action"], read["Resource"]) == (["s3:GetObject"], [f"arn:aws:s3:::{TOOLING}/{CATALOG_PREFIX}*"])
        decrypt = by_sid(policy, "DecryptServiceCatalog")
        assert decrypt["Resource"] == [key]
        assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}


def test_the_readers_are_the_handlers_that_read_the_catalog() -> None:
    """A handler reads the catalog through `clients.catalog()` (the finalizer through
    `clients.read_only_cloudformation`): each of them, and only they, are `catalog.READERS`."""
    from tests.conftest import PROJECT_DIR

    modules = {"rollback_plan": "rollback-plan"}
    readers = set()
    for path in sorted((PROJECT_DIR / HANDLERS).glob("*.py")):
        if re.search(r"clients\.(catalog\(\)|read_only_cloudformation)", path.read_text()):
            readers.add(modules.get(path.stem, path.stem))
    assert readers == set(catalog.READERS)


def test_the_catalog_object_is_what_the_program_writes_for_its_config(graphs: dict) -> None:
    content = _written(graphs["tools"])["content"]
    assert json.loads(content)["version"] == catalog.VERSION
    assert content.encode() == ServiceCatalog.from_bytes(content.encode()).to_bytes()  # canonical
