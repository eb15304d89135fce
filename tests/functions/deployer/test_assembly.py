"""Selecting and ordering the stacks of one service and environment from a cloud assembly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from functions.deployer.assembly import https_template_url, read_template, select_stacks, substitute
from functions.deployer.errors import AssemblyError

from .conftest import FIXTURE_CDK_OUT, PROD_ACCOUNT, REGION, STAGE_ACCOUNT, StackSpec, topic_template, write_assembly


def test_stage_stacks_of_the_real_fixture_in_dependency_order() -> None:
    stacks = select_stacks(FIXTURE_CDK_OUT, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)

    assert [s.name for s in stacks] == ["orders-stage-data", "orders-stage-api"]
    data, api = stacks
    assert api.dependencies == ("orders-stage-data",)  # the `.assets` dependency is not a stack
    assert data.dependencies == ()
    assert data.template_path == (FIXTURE_CDK_OUT / "orders-stage-data.template.json").resolve()
    assert api.template_s3_url == (
        "s3://cdk-hnb659fds-assets-222222222222-us-east-1/"
        "a25940f5d55d1f27b3991e15da990c3d0082a24ad8ad16088ba94a23ccb53282.json"
    )
    assert api.template_url == (
        "https://s3.us-east-1.amazonaws.com/cdk-hnb659fds-assets-222222222222-us-east-1/"
        "a25940f5d55d1f27b3991e15da990c3d0082a24ad8ad16088ba94a23ccb53282.json"
    )
    assert (data.account, data.region, data.termination_protection) == (STAGE_ACCOUNT, REGION, False)
    assert data.tags == {} and data.parameters == {}
    assert json.loads(read_template(api))["Resources"]  # the loader reads the real template


def test_prod_stacks_are_selected_by_the_prod_account() -> None:
    stacks = select_stacks(FIXTURE_CDK_OUT, service="orders", environment="prod", account=PROD_ACCOUNT, region=REGION)

    assert [s.name for s in stacks] == ["orders-prod-data", "orders-prod-api"]
    assert all(s.account == PROD_ACCOUNT for s in stacks)
    assert "333333333333" in stacks[1].template_url


def test_nested_stack_templates_are_not_deployed_separately() -> None:
    stacks = select_stacks(FIXTURE_CDK_OUT, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)

    assert not any("nested" in s.template_path.name for s in stacks)
    parent = json.loads(read_template(stacks[1]))
    nested = [r for r in parent["Resources"].values() if r["Type"] == "AWS::CloudFormation::Stack"]
    assert nested, "the fixture's api stack has a nested stack, deployed by CloudFormation with its parent"


def test_a_stack_outside_the_prefix_in_the_target_account_is_an_error(tmp_path: Path) -> None:
    cdk_out = tmp_path / "cdk.out"
    shutil.copytree(FIXTURE_CDK_OUT, cdk_out)
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    stray = json.loads(json.dumps(manifest["artifacts"]["orders-stage-data"]))
    stray["properties"]["stackName"] = "billing-stage-data"
    manifest["artifacts"]["billing-stage-data"] = stray
    (cdk_out / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(AssemblyError, match="billing-stage-data") as caught:
        select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
    assert "orders-stage-*" in str(caught.value)

    # the prod run is not concerned: the stray stack is not in the prod account
    prod = select_stacks(cdk_out, service="orders", environment="prod", account=PROD_ACCOUNT, region=REGION)
    assert [s.name for s in prod] == ["orders-prod-data", "orders-prod-api"]


def test_stack_name_property_wins_over_the_artifact_id(tmp_path: Path) -> None:
    cdk_out = write_assembly(
        tmp_path / "cdk.out", [StackSpec("DataStack", topic_template("T"), stack_name="orders-stage-data")]
    )
    (stack,) = select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
    assert (stack.name, stack.artifact_id) == ("orders-stage-data", "DataStack")


def test_a_stack_name_that_is_not_a_string_is_an_assembly_error(tmp_path: Path) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", [StackSpec("DataStack", topic_template("T"))])
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    manifest["artifacts"]["DataStack"]["properties"]["stackName"] = 42
    (cdk_out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AssemblyError, match="DataStack: properties.stackName must be a string, not 42"):
        select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (StackSpec("orders-stage-edge", topic_template("T"), region="eu-west-1"), "targets region eu-west-1"),
        (StackSpec("orders-stage-misplaced", topic_template("T"), account=PROD_ACCOUNT), "targets aws://333333333333"),
        (StackSpec("orders-stage-agnostic", topic_template("T"), account="unknown-account"), "orders-stage-agnostic"),
    ],
)
def test_stacks_named_for_the_environment_but_pinned_elsewhere_are_errors(
    tmp_path: Path, spec: StackSpec, message: str
) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", [StackSpec("orders-stage-data", topic_template("T")), spec])
    with pytest.raises(AssemblyError, match=message):
        select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)


def test_dependency_cycle_is_detected_and_named(tmp_path: Path) -> None:
    cdk_out = write_assembly(
        tmp_path / "cdk.out",
        [
            StackSpec("orders-stage-a", topic_template("T"), dependencies=["orders-stage-c"]),
            StackSpec("orders-stage-b", topic_template("T"), dependencies=["orders-stage-a"]),
            StackSpec("orders-stage-c", topic_template("T"), dependencies=["orders-stage-b"]),
            StackSpec("orders-stage-d", topic_template("T")),
        ],
    )
    with pytest.raises(AssemblyError, match="dependency cycle") as caught:
        select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
    message = str(caught.value)
    assert "orders-stage-a -> orders-stage-c -> orders-stage-b -> orders-stage-a" in message
    assert "orders-stage-d" not in message


def test_self_dependency_is_a_cycle(tmp_path: Path) -> None:
    cdk_out = write_assembly(
        tmp_path / "cdk.out", [StackSpec("orders-stage-a", topic_template("T"), dependencies=["orders-stage-a"])]
    )
    with pytest.raises(AssemblyError, match="dependency cycle: orders-stage-a -> orders-stage-a"):
        select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)


def test_order_follows_dependencies_not_manifest_order(tmp_path: Path) -> None:
    cdk_out = write_assembly(
        tmp_path / "cdk.out",
        [
            StackSpec("orders-stage-web", topic_template("T"), dependencies=["orders-stage-api", "orders-stage-net"]),
            StackSpec("orders-stage-api", topic_template("T"), dependencies=["orders-stage-data"]),
            StackSpec("orders-stage-data", topic_template("T"), dependencies=["orders-stage-net"]),
            StackSpec("orders-stage-net", topic_template("T")),
            StackSpec("orders-stage-ops", topic_template("T")),
        ],
    )
    names = [
        s.name
        for s in select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
    ]
    assert names == [
        "orders-stage-net",
        "orders-stage-data",
        "orders-stage-api",
        "orders-stage-web",
        "orders-stage-ops",
    ]


def test_dependency_on_a_stack_outside_the_deployment_is_an_error(tmp_path: Path) -> None:
    cdk_out = write_assembly(
        tmp_path / "cdk.out",
        [
            StackSpec("shared-network", topic_template("T"), account=PROD_ACCOUNT),
            StackSpec("orders-stage-api", topic_template("T"), dependencies=["shared-network"]),
        ],
    )
    with pytest.raises(AssemblyError, match="depends on stack shared-network"):
        select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)


def test_no_stack_for_the_environment_is_an_error() -> None:
    with pytest.raises(AssemblyError, match="no stack named payments-stage-"):
        select_stacks(FIXTURE_CDK_OUT, service="payments", environment="stage", account="444444444444", region=REGION)


def test_tags_parameters_and_placeholders_come_from_the_manifest(tmp_path: Path) -> None:
    cdk_out = write_assembly(
        tmp_path / "cdk.out",
        [
            StackSpec(
                "orders-stage-data",
                topic_template("T"),
                tags={"service": "orders", "env": "stage"},
                parameters={"Retention": "7"},
                template_url="s3://cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}/abc.json",
            )
        ],
    )
    (stack,) = select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
    assert stack.tags == {"service": "orders", "env": "stage"}
    assert stack.parameters == {"Retention": "7"}
    assert stack.template_s3_url == "s3://cdk-hnb659fds-assets-222222222222-us-east-1/abc.json"
    assert (
        stack.template_url == "https://s3.us-east-1.amazonaws.com/cdk-hnb659fds-assets-222222222222-us-east-1/abc.json"
    )


def test_placeholders_and_partitions() -> None:
    assert substitute("arn:${AWS::Partition}:s3:::b-${AWS::AccountId}", account="1", region="cn-north-1") == (
        "arn:aws-cn:s3:::b-1"
    )
    assert https_template_url("s3://bucket.with.dots/k/t.json", "cn-north-1") == (
        "https://s3.cn-north-1.amazonaws.com.cn/bucket.with.dots/k/t.json"
    )
    with pytest.raises(AssemblyError, match="s3://bucket/key"):
        https_template_url("https://example.com/t.json", REGION)


def test_template_file_outside_the_assembly_is_refused(tmp_path: Path) -> None:
    cdk_out = write_assembly(tmp_path / "cdk.out", [StackSpec("orders-stage-data", topic_template("T"))])
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    manifest["artifacts"]["orders-stage-data"]["properties"]["templateFile"] = "../elsewhere.json"
    (cdk_out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(AssemblyError, match="outside the cloud assembly"):
        select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)


def test_nested_cloud_assemblies_are_refused_not_ignored(tmp_path: Path) -> None:
    cdk_out = write_assembly(
        tmp_path / "cdk.out",
        [StackSpec("orders-stage-data", topic_template("T"))],
        extra={"assembly-Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}}},
    )
    with pytest.raises(AssemblyError, match="nested cloud assemblies"):
        select_stacks(cdk_out, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)


def test_missing_or_broken_manifest(tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match="no cloud assembly manifest"):
        select_stacks(tmp_path, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(AssemblyError, match="unreadable"):
        select_stacks(tmp_path, service="orders", environment="stage", account=STAGE_ACCOUNT, region=REGION)
