"""The shared assume-role session (`functions/sessions.py`): short, self-renewing, in the target account,
and failing with the caller's own error."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from functions.deployer.errors import AssumeRoleFailed
from functions.sessions import AssumeRoleError, assume_role_session, session_name

REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"  # moto's account for the caller's own credentials
STAGE_ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{STAGE_ACCOUNT}:role/cdkcp-orders-stage-deploy"
EXTERNAL_ID = "cdkcp:111111111111:orders:stage"


def _sts_recorder(base: boto3.Session) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    base.events.register("provide-client-params.sts.AssumeRole", lambda params, **_: calls.append(dict(params)))
    return calls


def _session(base: boto3.Session | None = None, **options: Any) -> boto3.Session:
    return assume_role_session(
        ROLE, external_id=EXTERNAL_ID, region=REGION, role_session_name="t-1", base_session=base, **options
    )


def _denied(base: boto3.Session, when: Callable[[], bool] = lambda: True) -> None:
    """STS refuses AssumeRole (while `when()` holds) for the clients `base` makes from now on."""

    def deny(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not when():
            return None
        body = {"Error": {"Code": "AccessDenied", "Message": "not authorized to perform sts:AssumeRole"}}
        return AWSResponse("https://sts.amazonaws.com/", 403, {}, None), body

    base.events.register("before-call.sts.AssumeRole", deny)


def test_assumed_role_lands_in_the_target_account(aws: None) -> None:
    # The role need not exist in moto's IAM: moto maps an assumed role's credentials to the role's
    # account whatever IAM holds, which is the behaviour this test relies on.
    from moto.cloudformation.models import cloudformation_backends

    session = _session()

    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == STAGE_ACCOUNT
    assert identity["Arn"].startswith(f"arn:aws:sts::{STAGE_ACCOUNT}:assumed-role/cdkcp-orders-stage-deploy/")
    cfn = session.client("cloudformation")
    template = {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "T"}}}}
    created = cfn.create_stack(StackName="orders-stage-probe", TemplateBody=json.dumps(template))
    assert f":{STAGE_ACCOUNT}:stack/orders-stage-probe/" in created["StackId"]
    assert [s.name for s in cloudformation_backends[STAGE_ACCOUNT][REGION].stacks.values()] == ["orders-stage-probe"]
    assert not cloudformation_backends[DEFAULT_ACCOUNT][REGION].stacks, "nothing lands in the caller's account"
    assert boto3.client("sts").get_caller_identity()["Account"] == DEFAULT_ACCOUNT


def test_assume_role_asks_for_a_short_session_with_the_external_id(aws: None) -> None:
    base = boto3.Session(region_name=REGION)
    calls = _sts_recorder(base)

    assume_role_session(
        ROLE,
        external_id=EXTERNAL_ID,
        region=REGION,
        role_session_name="cdkcp-deploy-orders-stage",
        base_session=base,
    )

    assert calls == [
        {
            "RoleArn": ROLE,
            "ExternalId": EXTERNAL_ID,
            "RoleSessionName": "cdkcp-deploy-orders-stage",
            "DurationSeconds": 900,
        }
    ]


def test_credentials_renew_themselves_before_they_expire(aws: None) -> None:
    base = boto3.Session(region_name=REGION)
    calls = _sts_recorder(base)
    session = _session(base)
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
    _denied(base)

    with pytest.raises(AssumeRoleError, match="AccessDenied") as caught:
        _session(base)

    assert caught.value.role_arn == ROLE
    assert str(caught.value).startswith(f"could not assume {ROLE}: ")


def test_the_caller_chooses_the_error_a_refusal_raises(aws: None) -> None:
    """The deployer's refusal must be its own `AssumeRoleFailed` (exit 1, written to the result)."""
    base = boto3.Session(region_name=REGION)
    _denied(base)

    with pytest.raises(AssumeRoleFailed, match="AccessDenied") as caught:
        _session(base, error=AssumeRoleFailed)

    assert caught.value.role_arn == ROLE


def test_a_refused_renewal_raises_the_callers_error(aws: None) -> None:
    base = boto3.Session(region_name=REGION)
    revoked = False
    _denied(base, when=lambda: revoked)
    session = _session(base, error=AssumeRoleFailed)
    revoked = True
    credentials = session.get_credentials()
    credentials._expiry_time = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)

    with pytest.raises(AssumeRoleFailed, match="AccessDenied"):
        session.client("cloudformation").describe_stacks()


def test_session_names_are_valid() -> None:
    assert session_name("cdkcp-deploy", "orders", "stage") == "cdkcp-deploy-orders-stage"
    assert session_name("a b/c") == "a-b-c"
    assert len(session_name("x" * 100)) == 64
    assert session_name("") == "cdkcp-session"
    assert session_name("", default="cdkcp-deployer") == "cdkcp-deployer"


def test_importing_the_module_does_not_import_boto3() -> None:
    """Cold start: the Lambdas import `functions.sessions` through their clients module."""
    import subprocess
    import sys

    code = "import sys, functions.sessions; print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    project = Path(__file__).resolve().parents[2]
    completed = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_sessions_share_one_model_loader(aws: None) -> None:
    """A Lambda making a session per call must not parse botocore's model files each time."""
    first, second = _session(), _session()

    loader = first._session.get_component("data_loader")
    assert second._session.get_component("data_loader") is loader
