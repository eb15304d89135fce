"""The deploy role session: short, self-renewing, and in the target account."""

from __future__ import annotations

import datetime
import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from functions.deployer.errors import AssumeRoleFailed
from functions.deployer.session import assume_role_session, session_name

from .conftest import (
    DEFAULT_ACCOUNT,
    REGION,
    STAGE_ACCOUNT,
    CallRecorder,
    cfn_backend,
    deploy_role_arn,
    deploy_session,
    external_id,
    topic_template,
)


def _sts_recorder(base: boto3.Session) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    base.events.register("provide-client-params.sts.AssumeRole", lambda params, **_: calls.append(dict(params)))
    return calls


def test_assumed_role_lands_in_the_target_account(aws: None) -> None:
    # The role need not exist in moto's IAM: moto maps an assumed role's credentials to the role's
    # account whatever IAM holds, which is the behaviour this test relies on.
    session = deploy_session("stage")

    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == STAGE_ACCOUNT
    assert identity["Arn"].startswith(f"arn:aws:sts::{STAGE_ACCOUNT}:assumed-role/cdkcp-orders-stage-deploy/")

    cfn = session.client("cloudformation")
    created = cfn.create_stack(StackName="orders-stage-probe", TemplateBody=json.dumps(topic_template("T")))
    assert f":{STAGE_ACCOUNT}:stack/orders-stage-probe/" in created["StackId"]
    assert [s.name for s in cfn_backend(STAGE_ACCOUNT).stacks.values()] == ["orders-stage-probe"]
    assert not cfn_backend(DEFAULT_ACCOUNT).stacks, "nothing lands in the caller's (default) account"
    assert boto3.client("sts").get_caller_identity()["Account"] == DEFAULT_ACCOUNT


def test_assume_role_asks_for_a_short_session_with_the_external_id(aws: None) -> None:
    base = boto3.Session(region_name=REGION)
    calls = _sts_recorder(base)

    assume_role_session(
        deploy_role_arn("stage"),
        external_id=external_id("stage"),
        region=REGION,
        role_session_name="cdkcp-deploy-orders-stage",
        base_session=base,
    )

    assert calls == [
        {
            "RoleArn": deploy_role_arn("stage"),
            "ExternalId": external_id("stage"),
            "RoleSessionName": "cdkcp-deploy-orders-stage",
            "DurationSeconds": 900,
        }
    ]


def test_credentials_renew_themselves_before_they_expire(aws: None) -> None:
    base = boto3.Session(region_name=REGION)
    calls = _sts_recorder(base)
    session = assume_role_session(
        deploy_role_arn("stage"),
        external_id=external_id("stage"),
        region=REGION,
        role_session_name="t-1",
        base_session=base,
    )
    recorder = CallRecorder()
    session.events.register("provide-client-params.cloudformation", recorder)
    cfn = session.client("cloudformation")

    credentials = session.get_credentials()
    first_key = credentials.get_frozen_credentials().access_key
    cfn.describe_stacks()
    cfn.describe_stacks()
    assert len(calls) == 1, "fresh 15-minute credentials are not renewed on every call"

    # 90 seconds left: inside the mandatory window, so the next call assumes the role again.
    credentials._expiry_time = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=90)
    cfn.describe_stacks()
    assert len(calls) == 2
    assert credentials.get_frozen_credentials().access_key != first_key
    assert session.client("sts").get_caller_identity()["Account"] == STAGE_ACCOUNT


def test_a_refused_assume_role_is_a_clear_error(aws: None) -> None:
    base = boto3.Session(region_name=REGION)

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}}
        return AWSResponse("https://sts.amazonaws.com/", 403, {}, None), body

    base.events.register("before-call.sts.AssumeRole", deny)
    with pytest.raises(AssumeRoleFailed, match="AccessDenied") as caught:
        assume_role_session(
            deploy_role_arn("prod"), external_id="wrong", region=REGION, role_session_name="t-1", base_session=base
        )
    assert caught.value.role_arn == deploy_role_arn("prod")


def test_session_names_are_valid() -> None:
    assert session_name("cdkcp-deploy", "orders", "stage") == "cdkcp-deploy-orders-stage"
    assert session_name("a b/c") == "a-b-c"
    assert len(session_name("x" * 100)) == 64
    assert session_name("") == "cdkcp-deployer"
