"""Only signed bytes deploy: what CloudFormation reads from the service's asset bucket (a nested template,
a template over the 51,200-byte inline limit, a Lambda zip) is what was signed, whoever wrote there.

The attacker here can write to the stage or prod asset bucket (in AWS the bucket policy refuses every
writer but the file-publishing role, which only the deployer may assume; moto enforces neither, so these
scenarios show what the deployer does on its own). Each scenario ends with the stack in moto holding the
signed content, or with the run refused as an asset-hash mismatch and nothing deployed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from devtools.emulator.harness import Harness
from functions.deployer import signed_assets
from functions.deterministic_zip import zip_bytes

GOOD = "a" * 40
NEXT = "c" * 40
ACCOUNTS = {"stage": "222222222222", "prod": "333333333333"}
BUCKET = "cdk-hnb659fds-assets-{account}-us-east-1"
EVIL_TEMPLATE = {"Resources": {"Evil": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "evil"}}}}


def pad_api_templates(cdk_out: Path) -> None:
    """CI's synth of an app whose api stack is over CloudFormation's inline limit (a large Metadata
    value): the deployer must pass it by TemplateURL, and the copy in the asset bucket is what deploys."""
    for environment in ACCOUNTS:
        path = cdk_out / f"orders-{environment}-api.template.json"
        template = json.loads(path.read_text())
        template["Metadata"] = {"Padding": "signed " * 9000}
        path.write_text(json.dumps(template, indent=1))
        assert path.stat().st_size > 51_200


def signed_assets_of(cdk_out: Path, environment: str) -> dict[str, bytes]:
    """object key -> the signed bytes CloudFormation must read, for the api stack of `environment`."""
    document = json.loads((cdk_out / f"orders-{environment}-api.assets.json").read_text())
    found = {}
    for asset in document["files"].values():
        source = cdk_out / asset["source"]["path"]
        body = zip_bytes(source) if asset["source"]["packaging"] == "zip" else source.read_bytes()
        for destination in asset["destinations"].values():
            found[destination["objectKey"]] = body
    return found


def swap(pipeline: Harness, environment: str, keys: list[str]) -> None:
    """The attacker's objects under the signed keys: a template with another resource, a zip with other code."""
    account = ACCOUNTS[environment]
    s3 = pipeline.account_client("s3", account)
    for key in keys:
        evil = b"PK\x05\x06evil-code" if key.endswith(".zip") else json.dumps(EVIL_TEMPLATE).encode()
        s3.put_object(Bucket=BUCKET.format(account=account), Key=key, Body=evil)


def stored(pipeline: Harness, environment: str, key: str) -> bytes:
    account = ACCOUNTS[environment]
    s3 = pipeline.account_client("s3", account)
    return s3.get_object(Bucket=BUCKET.format(account=account), Key=key)["Body"].read()


def deployed_templates(pipeline: Harness, environment: str) -> dict[str, Any]:
    """Stack name (the nested stack as `nested`) -> the template CloudFormation holds for it."""
    cfn = pipeline.account_client("cloudformation", ACCOUNTS[environment])
    templates = {}
    for stack in cfn.describe_stacks()["Stacks"]:
        body = cfn.get_template(StackName=stack["StackName"])["TemplateBody"]
        name = "nested" if "-Events" in stack["StackName"] else stack["StackName"]
        templates[name] = body if isinstance(body, dict) else json.loads(body)
    return templates


def lambda_code_sha256(pipeline: Harness, environment: str) -> str:
    client = pipeline.account_client("lambda", ACCOUNTS[environment])
    (function,) = client.list_functions()["Functions"]
    return function["CodeSha256"]


def kind_of(key: str, body: bytes) -> str:
    if key.endswith(".zip"):
        return "lambda-zip"
    return "large-template" if len(body) > 51_200 else "nested-template"


@pytest.mark.parametrize("swapped", ["nested-template", "large-template", "lambda-zip", "all"])
def test_objects_swapped_after_signing_are_never_deployed(pipeline: Harness, swapped: str) -> None:
    pipeline.publish(GOOD, prepare=pad_api_templates)
    cdk_out = pipeline.cdk_out(GOOD)
    signed = signed_assets_of(cdk_out, "stage")
    # The nested template, the api template (over 51,200 bytes: passed by TemplateURL) and the Lambda zip.
    assert sorted(kind_of(k, b) for k, b in signed.items()) == ["lambda-zip", "large-template", "nested-template"]
    swap(pipeline, "stage", [k for k, b in signed.items() if swapped in ("all", kind_of(k, b))])

    result = pipeline.run("stage", GOOD)

    assert result["status"] == "SUCCEEDED", result
    assert "RecordDeployed" in result["states"] and "RecordAssetMismatch" not in result["states"]
    for key, body in signed.items():
        assert stored(pipeline, "stage", key) == body, key  # the deployer published the signed bytes again
    templates = deployed_templates(pipeline, "stage")
    assert templates["orders-stage-api"] == json.loads((cdk_out / "orders-stage-api.template.json").read_text())
    assert templates["nested"] == json.loads(
        (cdk_out / "ordersstageapiEvents5C25CA5C.nested.template.json").read_text()
    )
    assert "Evil" not in json.dumps(templates)
    (zip_body,) = [body for key, body in signed.items() if key.endswith(".zip")]
    assert lambda_code_sha256(pipeline, "stage") == base64.b64encode(hashlib.sha256(zip_body).digest()).decode()
    item = pipeline.item(GOOD)
    assert item["asset_verification_passed"] is True and item["status"] == "promoted"


def test_an_object_overwritten_between_publish_and_check_refuses_the_deploy(
    pipeline: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attacker wins the race against the upload: the check after it sees the object is not the signed
    one, and the deploy stops before any change set, as an asset-hash mismatch."""
    pipeline.publish(GOOD, prepare=pad_api_templates)
    signed = signed_assets_of(pipeline.cdk_out(GOOD), "stage")
    (nested_key,) = [key for key, body in signed.items() if b"AWS::SQS::Queue" in body and len(body) < 51_200]
    check_files = signed_assets.check_files

    def overwritten_first(*args: Any, **kwargs: Any) -> None:
        swap(pipeline, "stage", [nested_key])
        check_files(*args, **kwargs)

    monkeypatch.setattr(signed_assets, "check_files", overwritten_first)
    result = pipeline.run("stage", GOOD)

    assert result["status"] == "FAILED"
    assert "RecordAssetMismatch" in result["states"] and "RecordDeployed" not in result["states"]
    item = pipeline.item(GOOD)
    assert item["asset_verification_passed"] is False and item["integrity_verified"] is True
    assert item["status"] == "candidate"  # the artifact verified; the bucket was tampered with
    stage = item["environment_states"]["stage"]
    assert stage["status"] == "failed" and stage["failure_reason"].startswith("AssetMismatch: ")
    (deploy,) = pipeline.deploys("stage")
    assert (deploy["exit_code"], deploy["outcome"]) == ("6", "asset_mismatch")
    cfn = pipeline.account_client("cloudformation", ACCOUNTS["stage"])
    assert cfn.describe_stacks()["Stacks"] == []  # no change set was created, nothing deployed
    assert [e["type"] for e in pipeline.events()] == ["DeployFailed"]


def pad_with(text: str) -> Any:
    def prepare(cdk_out: Path) -> None:
        pad_api_templates(cdk_out)
        for environment in ACCOUNTS:
            path = cdk_out / f"orders-{environment}-api.template.json"
            template = json.loads(path.read_text())
            template["Metadata"]["Padding"] = f"{text} " * 9000
            path.write_text(json.dumps(template, indent=1))

    return prepare


def test_a_rollback_republishes_the_known_good_releases_own_signed_bytes(pipeline: Harness) -> None:
    """Both releases publish their large api template under the same object key (CDK names the asset
    from the synthesizer's hash, the Metadata differs): after the newer release, the object is its
    template, and an attacker overwrites everything before the rollback. The rollback deploys the known
    good release's own signed template, published again from its verified release artifact."""
    pipeline.publish(GOOD, prepare=pad_with("good"))
    assert pipeline.run("stage", GOOD)["status"] == "SUCCEEDED"
    assert pipeline.run("prod", GOOD)["status"] == "SUCCEEDED"
    pipeline.publish(NEXT, previous=GOOD, prepare=pad_with("next"))
    assert pipeline.run("stage", NEXT)["status"] == "SUCCEEDED"
    good = signed_assets_of(pipeline.cdk_out(GOOD), "prod")
    deploy = pipeline.script.deployer

    def attacked_before_rollback(project: str, variables: dict[str, str]) -> int:
        if variables["MODE"] == "rollback":
            swap(pipeline, "prod", list(good))
        return deploy(project, variables)

    pipeline.script.deployer = attacked_before_rollback
    pipeline.script.outcomes[("test", "prod", NEXT)] = "FAILED"
    result = pipeline.run("prod", NEXT)

    assert "RecordRollbackSucceeded" in result["states"], result["states"]
    assert pipeline.item(NEXT)["rollback_target_commit"] == GOOD
    for key, body in good.items():
        assert stored(pipeline, "prod", key) == body, key
    api = deployed_templates(pipeline, "prod")["orders-prod-api"]
    assert api == json.loads((pipeline.cdk_out(GOOD) / "orders-prod-api.template.json").read_text())
    assert api["Metadata"]["Padding"].startswith("good ")


def test_objects_overwritten_in_the_candidate_bucket_during_stage_tests_never_reach_prod(
    pipeline: Harness,
) -> None:
    """Stage verified and deployed the candidate; while its tests run, the candidate's objects and its
    manifest are overwritten. Promotion re-verifies its copy against the manifest version stage verified:
    the overwritten template is not those bytes, so the stage run fails naming it, the manifest is never
    released and no prod run starts. The item stays a candidate, never promoted."""
    import boto3

    pipeline.publish(GOOD)
    s3 = boto3.client("s3", region_name="us-east-1")
    prefix = f"orders/{GOOD}/"
    template_key = prefix + "cdk.out/orders-prod-api.template.json"
    manifest_key = prefix + "artifact-manifest.json"
    run_tests = pipeline.script.run

    def tampered_during_tests(project: str, variables: dict[str, str]) -> dict[str, Any]:
        if variables["MODE"] == "test" and variables["ENVIRONMENT"] == "stage":
            s3.put_object(Bucket=pipeline.candidate_bucket, Key=template_key, Body=json.dumps(EVIL_TEMPLATE))
            s3.put_object(Bucket=pipeline.candidate_bucket, Key=manifest_key, Body=b'{"forged": true}')
        return run_tests(project, variables)

    pipeline.script.run = tampered_during_tests  # type: ignore[method-assign]
    stage = pipeline.run("stage", GOOD)

    assert stage["status"] == "FAILED" and "Promote" in stage["states"] and "RecordFailed" in stage["states"]
    released = s3.list_objects_v2(Bucket=pipeline.release_bucket, Prefix=prefix).get("Contents", [])
    assert manifest_key not in [o["Key"] for o in released]  # so no prod run starts
    assert pipeline.deploys("prod") == []
    cfn = pipeline.account_client("cloudformation", ACCOUNTS["prod"])
    assert cfn.describe_stacks()["Stacks"] == []
    item = pipeline.item(GOOD)
    assert item["status"] == "candidate" and item.get("last_known_good_commit") != GOOD
    stage_state = item["environment_states"]["stage"]
    assert stage_state["status"] == "failed" and "orders-prod-api.template.json" in stage_state["failure_reason"]
    assert "changed in the candidate bucket since stage's Validate" in stage_state["failure_reason"]
