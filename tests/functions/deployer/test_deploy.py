"""The deployer against moto: change sets in dependency order, stack policies, empty change sets, the
broken states (ROLLBACK_COMPLETE, UPDATE_ROLLBACK_FAILED, in progress), drift in prod, large templates,
failures and the deadline. No test sleeps: time is a `FakeClock`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.deployer.assembly import Stack, select_stacks
from functions.deployer.change_sets import change_set_name
from functions.deployer.deploy import MAX_TEMPLATE_BODY_BYTES, DeployResult, deploy_stacks
from functions.deployer.errors import (
    AssemblyError,
    DeployFailed,
    DeployTimeout,
    DriftDetected,
    ManualInterventionRequired,
)

from .conftest import (
    ACCOUNTS,
    PROD_ACCOUNT,
    REGION,
    STACK_POLICY,
    STAGE_ACCOUNT,
    CallRecorder,
    CfnBridge,
    FakeClock,
    StackSpec,
    deploy_session,
    execution_role_arn,
    moto_stack,
    topic_template,
    write_assembly,
)


class Harness:
    """Runs the deployer like CodeBuild does: assemble, assume the deploy role, deploy."""

    def __init__(self, tmp_path: Path, clock: FakeClock, bridge: CfnBridge) -> None:
        self.tmp_path = tmp_path
        self.clock = clock
        self.bridge = bridge
        self.runs = 0
        self.recorder = CallRecorder()
        self.log: list[str] = []

    def stacks(self, specs: list[StackSpec], env: str = "stage") -> list[Stack]:
        self.runs += 1
        cdk_out = write_assembly(self.tmp_path / f"run{self.runs}" / "cdk.out", specs)
        return select_stacks(cdk_out, service="orders", environment=env, account=ACCOUNTS[env], region=REGION)

    def deploy(self, specs: list[StackSpec] | list[Stack], env: str = "stage", **options: Any) -> DeployResult:
        stacks = self.stacks(specs, env) if specs and isinstance(specs[0], StackSpec) else specs  # type: ignore[arg-type]
        self.recorder = CallRecorder()
        self.log = []
        session = deploy_session(env, self.recorder)
        kwargs: dict[str, Any] = {
            "execution_role_arn": execution_role_arn(env),
            "stack_policy": STACK_POLICY,
            "environment": env,
            "detect_drift": env == "prod",
            "allow_drift": False,
            "deployment_id": f"build-{self.runs}",
            "poll_seconds": 5,
            "timeout_seconds": 3600,
            "clock": self.clock.clock,
            "sleep": self.clock.sleep,
            "log": self.log.append,
            **options,
        }
        return deploy_stacks(session, stacks, **kwargs)  # type: ignore[arg-type]

    def cfn(self, env: str = "stage") -> Any:
        return deploy_session(env).client("cloudformation")


@pytest.fixture
def harness(tmp_path: Path, fake_clock: FakeClock, bridge: CfnBridge) -> Harness:
    return Harness(tmp_path, fake_clock, bridge)


def two_stacks(version: str = "v1", env: str = "stage") -> list[StackSpec]:
    account = ACCOUNTS[env]
    return [
        StackSpec(f"orders-{env}-api", topic_template("Api", description=version), account=account,
                  dependencies=[f"orders-{env}-data"]),
        StackSpec(f"orders-{env}-data", topic_template("Data", description=version), account=account),
    ]  # fmt: skip


# --- 3. order ------------------------------------------------------------------------------------------


def test_stacks_are_deployed_in_dependency_order(harness: Harness) -> None:
    result = harness.deploy(two_stacks())

    created = harness.recorder.of("CreateChangeSet")
    assert [c["StackName"] for c in created] == ["orders-stage-data", "orders-stage-api"]
    executed = harness.recorder.of("ExecuteChangeSet")
    assert [c["ChangeSetName"].split("/")[1] for c in executed] == [
        "orders-stage-data-build-1",
        "orders-stage-api-build-1",
    ]
    first = created[0]
    assert first["ChangeSetType"] == "CREATE"
    assert first["RoleARN"] == execution_role_arn("stage")
    assert first["Capabilities"] == ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
    assert first["IncludeNestedStacks"] is True
    assert json.loads(first["TemplateBody"]) == topic_template("Data", description="v1")
    assert "TemplateURL" not in first

    assert [(s.name, s.action, s.status) for s in result.stacks] == [
        ("orders-stage-data", "created", "CREATE_COMPLETE"),
        ("orders-stage-api", "created", "CREATE_COMPLETE"),
    ]
    assert result.totals == {"stacks": 2, "created": 2, "updated": 0, "unchanged": 0, "seconds": 0.0}
    assert all(s.change_set_id and f":{STAGE_ACCOUNT}:changeSet/" in s.change_set_id for s in result.stacks)
    for name in ("orders-stage-data", "orders-stage-api"):
        stack = moto_stack(STAGE_ACCOUNT, name)
        assert stack.status == "CREATE_COMPLETE"
        assert stack.role_arn == execution_role_arn("stage")


def test_tags_and_parameters_are_passed(harness: Harness) -> None:
    template = topic_template("Data")
    template["Parameters"] = {"Retention": {"Type": "String"}}
    spec = StackSpec("orders-stage-data", template, tags={"service": "orders"}, parameters={"Retention": "7"})

    harness.deploy([spec])

    (call,) = harness.recorder.of("CreateChangeSet")
    assert call["Tags"] == [{"Key": "service", "Value": "orders"}]
    assert call["Parameters"] == [{"ParameterKey": "Retention", "ParameterValue": "7"}]
    described = harness.cfn().describe_stacks(StackName="orders-stage-data")["Stacks"][0]
    assert described["Tags"] == [{"Key": "service", "Value": "orders"}]
    assert described["Parameters"] == [{"ParameterKey": "Retention", "ParameterValue": "7"}]


# --- 4. stack policy -------------------------------------------------------------------------------------


def test_stack_policy_is_applied_after_create_and_before_update(harness: Harness) -> None:
    harness.deploy(two_stacks("v1"))

    cfn = harness.cfn()
    for name in ("orders-stage-data", "orders-stage-api"):
        assert json.loads(cfn.get_stack_policy(StackName=name)["StackPolicyBody"]) == STACK_POLICY
    names = harness.recorder.names()
    # a CREATE: after the execution completed (there is no stack to attach a policy to before)
    assert names.index("SetStackPolicy") > names.index("ExecuteChangeSet")

    moto_stack(STAGE_ACCOUNT, "orders-stage-data").policy = ""
    harness.deploy(two_stacks("v2"))
    names = harness.recorder.names()
    # an UPDATE: before executing, so that the policy guards this very update
    assert names.index("SetStackPolicy") < names.index("ExecuteChangeSet")
    assert json.loads(cfn.get_stack_policy(StackName="orders-stage-data")["StackPolicyBody"]) == STACK_POLICY


def test_no_stack_policy_means_no_set_stack_policy(harness: Harness) -> None:
    harness.deploy(two_stacks(), stack_policy=None)
    assert "SetStackPolicy" not in harness.recorder.names()


# --- 5. empty change set ---------------------------------------------------------------------------------


def test_deploying_the_same_templates_twice_reports_unchanged(harness: Harness) -> None:
    harness.deploy(two_stacks("v1"))
    # moto 5.2.5 gives an UPDATE change set without changes status FAILED and the reason real
    # CloudFormation gives ("The submitted information didn't contain changes..."), so no bridge here.
    result = harness.deploy(two_stacks("v1"))

    assert [(s.name, s.action, s.status) for s in result.stacks] == [
        ("orders-stage-data", "unchanged", "CREATE_COMPLETE"),
        ("orders-stage-api", "unchanged", "CREATE_COMPLETE"),
    ]
    assert result.totals["unchanged"] == 2
    assert [c["ChangeSetType"] for c in harness.recorder.of("CreateChangeSet")] == ["UPDATE", "UPDATE"]
    assert "ExecuteChangeSet" not in harness.recorder.names()
    deleted = [c["ChangeSetName"] for c in harness.recorder.of("DeleteChangeSet")]
    assert deleted == [s.change_set_id for s in result.stacks]
    remaining = {c["ChangeSetId"] for c in harness.cfn().list_change_sets(StackName="orders-stage-data")["Summaries"]}
    assert not remaining & {s.change_set_id for s in result.stacks}


def test_unchanged_with_parameters(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto rejects CreateChangeSet with `ValidationError: No updates are to be performed.` when the
    parameters are unchanged (it reuses UpdateStack's check); real CloudFormation accepts the request
    and fails the change set with "didn't contain changes". The harness disables moto's check."""
    from moto.cloudformation.responses import CloudFormationResponse

    monkeypatch.setattr(CloudFormationResponse, "_validate_different_update", lambda *a, **k: None)
    template = topic_template("Data")
    template["Parameters"] = {"Retention": {"Type": "String"}}
    spec = StackSpec("orders-stage-data", template, parameters={"Retention": "7"})

    harness.deploy([spec])
    result = harness.deploy([spec])

    assert [s.action for s in result.stacks] == ["unchanged"]


def test_a_change_set_failing_for_another_reason_is_a_failure(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.create_change_set

    def failing(self: Any, **kwargs: Any) -> Any:  # CloudFormation validates templates asynchronously
        ids = original(self, **kwargs)
        change_set = self.change_sets[ids[0]]
        change_set.status, change_set.execution_status = "FAILED", "UNAVAILABLE"
        change_set.status_reason = "Template format error: Unresolved resource dependencies [Nope]"
        return ids

    monkeypatch.setattr(CloudFormationBackend, "create_change_set", failing)
    with pytest.raises(DeployFailed, match="Unresolved resource dependencies") as caught:
        harness.deploy(two_stacks())
    assert caught.value.stack == "orders-stage-data"
    assert caught.value.result.stacks == []
    assert "ExecuteChangeSet" not in harness.recorder.names()


# --- 6. ROLLBACK_COMPLETE --------------------------------------------------------------------------------


def test_stage_deletes_a_rolled_back_create_and_creates_it_anew(harness: Harness) -> None:
    harness.deploy(two_stacks("v1"))
    broken = moto_stack(STAGE_ACCOUNT, "orders-stage-data")
    broken.status = "ROLLBACK_COMPLETE"  # what a failed first create leaves behind

    result = harness.deploy(two_stacks("v2"))

    delete = harness.recorder.of("DeleteStack")
    assert delete == [{"StackName": broken.stack_id, "RoleARN": execution_role_arn("stage")}]
    data, api = result.stacks
    assert (data.action, data.status, data.recovered_from) == ("created", "CREATE_COMPLETE", "ROLLBACK_COMPLETE")
    assert data.stack_id != broken.stack_id
    assert (api.action, api.recovered_from) == ("updated", None)
    assert [c["ChangeSetType"] for c in harness.recorder.of("CreateChangeSet")] == ["CREATE", "UPDATE"]
    assert moto_stack(STAGE_ACCOUNT, "orders-stage-data").status == "CREATE_COMPLETE"


def test_prod_refuses_to_delete_a_rolled_back_create(harness: Harness) -> None:
    harness.deploy(two_stacks("v1", "prod"), "prod")
    moto_stack(PROD_ACCOUNT, "orders-prod-data").status = "ROLLBACK_COMPLETE"

    with pytest.raises(ManualInterventionRequired, match="operator must delete it") as caught:
        harness.deploy(two_stacks("v2", "prod"), "prod")

    assert (caught.value.stack, caught.value.status) == ("orders-prod-data", "ROLLBACK_COMPLETE")
    assert "DeleteStack" not in harness.recorder.names()
    assert "CreateChangeSet" not in harness.recorder.names()
    assert moto_stack(PROD_ACCOUNT, "orders-prod-data").status == "ROLLBACK_COMPLETE"


# --- 7. UPDATE_ROLLBACK_FAILED ---------------------------------------------------------------------------


def test_update_rollback_failed_is_continued_then_updated(harness: Harness) -> None:
    harness.deploy(two_stacks("v1"))
    moto_stack(STAGE_ACCOUNT, "orders-stage-data").status = "UPDATE_ROLLBACK_FAILED"

    result = harness.deploy(two_stacks("v2"))

    assert harness.bridge.calls == [
        ("ContinueUpdateRollback", {"StackName": "orders-stage-data", "RoleARN": execution_role_arn("stage")})
    ]
    data = result.stacks[0]
    assert (data.action, data.status, data.recovered_from) == ("updated", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_FAILED")
    names = harness.recorder.names()
    assert names.index("ContinueUpdateRollback") < names.index("CreateChangeSet")


def test_update_rollback_that_fails_again_needs_an_operator(harness: Harness) -> None:
    harness.deploy(two_stacks("v1", "prod"), "prod")
    moto_stack(PROD_ACCOUNT, "orders-prod-data").status = "UPDATE_ROLLBACK_FAILED"
    harness.bridge.rollback_outcome = "UPDATE_ROLLBACK_FAILED"

    with pytest.raises(ManualInterventionRequired, match="resources-to-skip") as caught:
        harness.deploy(two_stacks("v2", "prod"), "prod")
    assert caught.value.status == "UPDATE_ROLLBACK_FAILED"
    assert len(harness.recorder.of("ContinueUpdateRollback")) == 1


# --- in progress, failures, deadline ---------------------------------------------------------------------


def test_an_operation_in_progress_is_waited_for(harness: Harness) -> None:
    harness.deploy(two_stacks("v1"))
    stack = moto_stack(STAGE_ACCOUNT, "orders-stage-data")
    stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"

    def settle(sleeps: int) -> None:
        if sleeps == 3:
            stack.status = "UPDATE_ROLLBACK_COMPLETE"

    harness.clock.on_sleep = settle
    result = harness.deploy(two_stacks("v2"))

    assert harness.clock.sleeps == [5, 5, 5]
    assert [s.action for s in result.stacks] == ["updated", "updated"]
    assert result.stacks[0].seconds == 15
    assert any("UPDATE_ROLLBACK_IN_PROGRESS; waiting" in line for line in harness.log)


def test_a_stack_that_never_settles_hits_the_deadline(harness: Harness) -> None:
    harness.deploy(two_stacks("v1"))
    moto_stack(STAGE_ACCOUNT, "orders-stage-data").status = "UPDATE_IN_PROGRESS"

    with pytest.raises(DeployTimeout, match="CloudFormation continues server-side") as caught:
        harness.deploy(two_stacks("v2"), timeout_seconds=60)

    assert caught.value.status == "UPDATE_IN_PROGRESS"
    assert sum(harness.clock.sleeps) <= 60
    assert "CreateChangeSet" not in harness.recorder.names()


def test_a_failed_execution_reports_status_and_first_failed_events(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.cloudformation.models import CloudFormationBackend, Event

    def failing_execute(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        # moto always completes a change set; this is what real CloudFormation records when a resource fails
        change_set = self.change_sets[change_set_name]
        stack = self.stacks[change_set.stack_id]
        stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
        for logical_id, kind, reason in (
            ("Data", "AWS::SNS::Topic", "Resource handler returned message: Topic already exists"),
            ("Queue", "AWS::SQS::Queue", "Resource creation cancelled"),
        ):
            stack.events.append(Event(stack.stack_id, stack.name, logical_id, "", kind, "CREATE_FAILED", reason, None))
        stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason="The following resource(s) failed")
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"
        change_set.execution_status = "EXECUTE_FAILED"

    monkeypatch.setattr(CloudFormationBackend, "execute_change_set", failing_execute)
    with pytest.raises(DeployFailed) as caught:
        harness.deploy(two_stacks())

    error = caught.value
    assert (error.stack, error.status) == ("orders-stage-data", "ROLLBACK_COMPLETE")
    assert [(e["logical_resource_id"], e["status"]) for e in error.events] == [
        ("Data", "CREATE_FAILED"),
        ("Queue", "CREATE_FAILED"),
    ]
    assert "Topic already exists" in str(error)
    assert error.result.stacks == []  # the api stack was not attempted
    assert [c["StackName"] for c in harness.recorder.of("CreateChangeSet")] == ["orders-stage-data"]


def test_an_aws_error_is_a_deploy_failure_naming_the_stack(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse

    def refuse(self: Any) -> Any:  # what CloudFormation says when it cannot use the execution role
        raise ValidationError(message=f"Role {self._get_param('RoleARN')} is invalid or cannot be assumed")

    monkeypatch.setattr(CloudFormationResponse, "create_change_set", refuse)
    with pytest.raises(DeployFailed, match="orders-stage-data: AWS call failed.*cannot be assumed") as caught:
        harness.deploy(two_stacks("v1"))
    assert (caught.value.stack, caught.value.status) == ("orders-stage-data", None)


def test_a_retry_of_the_same_deployment_replaces_its_unexecuted_change_set(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real CloudFormation refuses a second change set of the same name on a stack
    (AlreadyExistsException); moto 5.2.5 accepts it, so the harness adds the check."""
    from moto.cloudformation.exceptions import AlreadyExistsException
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.create_change_set

    def unique_names(self: Any, **kwargs: Any) -> Any:
        for existing in self.change_sets.values():
            if (existing.stack_name, existing.change_set_name) == (kwargs["stack_name"], kwargs["change_set_name"]):
                raise AlreadyExistsException(f"ChangeSet {kwargs['change_set_name']} already exists")
        return original(self, **kwargs)

    monkeypatch.setattr(CloudFormationBackend, "create_change_set", unique_names)
    harness.deploy(two_stacks("v1"))
    stacks = harness.stacks(two_stacks("v2"))
    leftover = harness.cfn().create_change_set(  # an earlier attempt of deployment retry-1 stopped here
        StackName="orders-stage-data",
        ChangeSetName=change_set_name("orders-stage-data", "retry-1"),
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(topic_template("Data", description="v2")),
    )

    result = harness.deploy(stacks, deployment_id="retry-1")

    assert [s.action for s in result.stacks] == ["updated", "updated"]
    assert harness.recorder.of("DeleteChangeSet") == [
        {"StackName": "orders-stage-data", "ChangeSetName": "orders-stage-data-retry-1"}
    ]
    assert result.stacks[0].change_set_id != leftover["Id"]


# --- 8. drift ---------------------------------------------------------------------------------------------


def test_drift_in_prod_aborts_the_deploy(harness: Harness) -> None:
    harness.deploy(two_stacks("v1", "prod"), "prod")  # new stacks: nothing to check
    assert harness.bridge.calls == []
    harness.bridge.drifts["orders-prod-data"] = [
        {
            "LogicalResourceId": "Data",
            "ResourceType": "AWS::SNS::Topic",
            "PropertyDifferences": [
                {
                    "PropertyPath": "/DisplayName",
                    "ExpectedValue": "Data",
                    "ActualValue": "x",
                    "DifferenceType": "NOT_EQUAL",
                }
            ],
        }
    ]

    with pytest.raises(DriftDetected) as caught:
        harness.deploy(two_stacks("v2", "prod"), "prod")

    error = caught.value
    assert error.stack == "orders-prod-data"
    assert [(d["logical_resource_id"], d["resource_type"], d["status"]) for d in error.drifts] == [
        ("Data", "AWS::SNS::Topic", "MODIFIED")
    ]
    assert error.drifts[0]["differences"][0]["actual"] == "x"
    assert "CreateChangeSet" not in harness.recorder.names()
    assert harness.clock.sleeps == [5], "the detection was polled until complete"
    assert json.loads(moto_stack(PROD_ACCOUNT, "orders-prod-data").template)["Description"] == "v1"


def test_drift_allowed_by_an_override_deploys(harness: Harness) -> None:
    harness.deploy(two_stacks("v1", "prod"), "prod")
    harness.bridge.drifts["orders-prod-api"] = [{"LogicalResourceId": "Api", "ResourceType": "AWS::SNS::Topic"}]

    result = harness.deploy(two_stacks("v2", "prod"), "prod", allow_drift=True)

    assert [(s.name, s.action, s.drift) for s in result.stacks] == [
        ("orders-prod-data", "updated", "IN_SYNC"),
        ("orders-prod-api", "updated", "DRIFTED"),
    ]
    assert any("drift allowed by override" in line for line in harness.log)


def test_a_failed_drift_detection_fails_closed_but_is_not_drift(harness: Harness) -> None:
    """Nothing is deployed, and the failure is an ordinary one (retryable), not a finding of drift."""
    harness.deploy(two_stacks("v1", "prod"), "prod")
    harness.bridge.failed_detections["orders-prod-data"] = "Failed to detect drift on resource [Data]"

    with pytest.raises(DeployFailed, match="drift detection did not finish: .*Failed to detect drift"):
        harness.deploy(two_stacks("v2", "prod"), "prod")


def test_drift_is_not_checked_in_stage(harness: Harness) -> None:
    harness.deploy(two_stacks("v1"))
    harness.bridge.drifts["orders-stage-data"] = [{"LogicalResourceId": "Data", "ResourceType": "AWS::SNS::Topic"}]

    result = harness.deploy(two_stacks("v2"), detect_drift=True)

    assert [s.drift for s in result.stacks] == [None, None]
    assert "DetectStackDrift" not in harness.recorder.names()


# --- 9. large templates ---------------------------------------------------------------------------------


def _large_template() -> dict[str, Any]:
    template = topic_template("Data")
    template["Metadata"] = {"Padding": "x" * (MAX_TEMPLATE_BODY_BYTES + 100)}
    return template


def test_a_template_over_51200_bytes_goes_by_its_published_url(harness: Harness) -> None:
    bucket = f"cdk-hnb659fds-assets-{STAGE_ACCOUNT}-{REGION}"
    body = json.dumps(_large_template())
    # CI's file-publishing role put the template asset in the stage account's asset bucket.
    s3 = deploy_session("stage").client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="0123abcd.json", Body=body.encode())
    spec = StackSpec(
        "orders-stage-data",
        body,
        template_url="s3://cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}/0123abcd.json",
    )

    result = harness.deploy([spec])

    (call,) = harness.recorder.of("CreateChangeSet")
    assert "TemplateBody" not in call
    assert call["TemplateURL"] == f"https://s3.{REGION}.amazonaws.com/{bucket}/0123abcd.json"
    assert result.stacks[0].action == "created"
    assert json.loads(moto_stack(STAGE_ACCOUNT, "orders-stage-data").template) == _large_template()


def test_the_inline_limit_is_51200_bytes(harness: Harness) -> None:
    spec = StackSpec("orders-stage-data", topic_template("Data"), template_url="s3://b/k.json")
    exact = json.dumps(topic_template("Data")).ljust(MAX_TEMPLATE_BODY_BYTES).encode()
    (stack,) = harness.stacks([spec])
    with pytest.raises(DeployFailed):  # one byte more: by URL, and moto has no bucket b
        harness.deploy([stack], template_loader=lambda _: exact + b" ")
    assert "TemplateURL" in harness.recorder.of("CreateChangeSet")[0]

    result = harness.deploy([stack], template_loader=lambda _: exact)
    assert len(harness.recorder.of("CreateChangeSet")[0]["TemplateBody"]) == MAX_TEMPLATE_BODY_BYTES
    assert result.stacks[0].action == "created"


def test_a_large_template_without_a_published_asset_is_refused_before_any_call(harness: Harness) -> None:
    specs = [
        StackSpec("orders-stage-data", topic_template("Data")),
        StackSpec("orders-stage-api", _large_template(), dependencies=["orders-stage-data"]),
    ]
    with pytest.raises(AssemblyError, match="orders-stage-api: template is .* no published template asset"):
        harness.deploy(specs)
    assert harness.recorder.calls == []


# --- change set names -------------------------------------------------------------------------------------


def test_change_set_names_are_valid_deterministic_and_unique() -> None:
    assert change_set_name("orders-stage-api", "build-7") == "orders-stage-api-build-7"
    assert change_set_name("orders-stage-api", "cdkcp:1a2b_3c") == "orders-stage-api-cdkcp-1a2b-3c"
    long_stack = "orders-stage-" + "x" * 115
    first = change_set_name(long_stack, "deployment-1")
    second = change_set_name(long_stack, "deployment-2")
    assert len(first) == len(second) == 128
    assert first != second
    assert first == change_set_name(long_stack, "deployment-1")
    assert change_set_name("1stack", "d").startswith("cs-")


def test_environment_must_be_stage_or_prod(aws: None) -> None:
    with pytest.raises(ValueError, match="environment"):
        deploy_stacks(
            boto3.Session(region_name=REGION), [], execution_role_arn="x", stack_policy=None, environment="dev"
        )
