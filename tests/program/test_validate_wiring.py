"""What Validate's check 6 needs, as the tools stack declares it: where the blessed contexts are, who
signs them, which services make no lookups, and the permissions to read and verify them."""

from __future__ import annotations

from functions import naming
from functions.pipeline.catalog import CATALOG_PREFIX, ServiceCatalog
from functions.pipeline.settings import FunctionSettings

from .graph import by_sid, inline_policies, of_type, role

TOOLS = "111111111111"
REGION = "us-east-1"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"


def _environments(graph: dict) -> dict[str, FunctionSettings]:
    return {
        r["inputs"]["name"]: FunctionSettings.from_environ(r["inputs"]["environment"]["variables"])
        for r in of_type(graph, "aws:lambda/function:Function")
    }


def test_only_validate_is_told_about_blessed_contexts(graphs: dict) -> None:
    settings = _environments(graphs["tools"])
    validate = settings.pop("cdkcp-validate")
    assert validate.contexts_bucket == f"cdk-contexts-{TOOLS}-{REGION}"
    assert validate.context_signer_key_id == naming.CONTEXT_SIGNER_KEY_ALIAS
    for name, other in settings.items():
        assert (other.contexts_bucket, other.context_signer_key_id) == (None, None), name


def test_the_catalog_says_which_services_make_no_lookups(graphs: dict) -> None:
    """The example config: orders makes lookups (contextLookups: true), payments none."""
    (written,) = [o for o in of_type(graphs["tools"], OBJECT) if o["inputs"]["key"].startswith(CATALOG_PREFIX)]
    catalog = ServiceCatalog.from_bytes(written["inputs"]["content"].encode())
    assert catalog.context_lookups("orders") and not catalog.context_lookups("payments")


def test_validate_may_read_and_verify_the_blessed_contexts_and_nothing_more(graphs: dict) -> None:
    graph = graphs["tools"]
    (policy,) = inline_policies(graph, role(graph, "cdkcp-fn-validate")).values()
    bucket = f"arn:aws:s3:::cdk-contexts-{TOOLS}-{REGION}"
    assert by_sid(policy, "ListBlessedContexts")["Resource"] == [bucket]
    assert by_sid(policy, "ReadBlessedContexts")["Action"] == ["s3:GetObject"]
    assert by_sid(policy, "ReadBlessedContexts")["Resource"] == [f"{bucket}/*"]
    decrypt = by_sid(policy, "DecryptBlessedContexts")
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
    assert decrypt["Resource"] == [_key_arn(graph, naming.CONTEXTS_BUCKET_KEY_ALIAS)]
    public_key = by_sid(policy, "ReadContextSignerPublicKey")
    assert public_key["Action"] == ["kms:GetPublicKey"]
    assert public_key["Resource"] == [_key_arn(graph, naming.CONTEXT_SIGNER_KEY_ALIAS)]


def _key_arn(graph: dict, alias: str) -> str:
    (key_id,) = [
        r["inputs"]["targetKeyId"] for r in of_type(graph, "aws:kms/alias:Alias") if r["inputs"]["name"] == alias
    ]
    return f"arn:aws:kms:{REGION}:{TOOLS}:key/{key_id}"
