"""A bad stack config fails before any resource is declared, naming the key and what was expected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from functions.pipeline.lifecycle import Environment
from stack_config import AccountRole, ConfigError, load_stack_config
from tests.conftest import STACKS, stack_bag

NS = "cdk-control-plane"


def problems_of(bag: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_stack_config(bag, source="test")
    return str(caught.value)


def services(bag: dict[str, Any]) -> list[dict[str, Any]]:
    return bag[f"{NS}:services"]


@pytest.mark.parametrize("stack", STACKS)
def test_example_stack_files_are_valid(stack: str) -> None:
    config = load_stack_config(stack_bag(stack))
    assert config.account_role is AccountRole(stack)
    assert {s.name for s in config.services} >= {"orders", "payments"}


def test_example_stacks_agree_on_services_and_accounts() -> None:
    # The three files are edited by hand; a service or account that differs between them would make
    # the tools roles trust or grant the wrong accounts.
    shared = [k for k in stack_bag("tools") if k.startswith(f"{NS}:") and k != f"{NS}:accountRole"]
    for key in shared:
        # only the tools stack declares (and may declare) the alarms, the sweeper's and the anchors' settings
        tools_only = ("alarms", "maxAttempts", "artifactNeverPromotedDays", "auditAnchorRetention")
        if key in (f"{NS}:github", *(f"{NS}:{k}" for k in tools_only)):
            continue
        assert stack_bag("stage").get(key) == stack_bag("tools")[key] == stack_bag("prod").get(key), key


def test_example_accounts_differ_from_each_other_and_from_tools() -> None:
    config = load_stack_config(stack_bag("tools"))
    accounts = [config.tools_account_id] + [a for s in config.services for a in (s.stage.account_id, s.prod.account_id)]
    assert len(accounts) == len(set(accounts)) == 5


@pytest.mark.parametrize("bad", ["12345", "1234567890123", "12345678901a", ""])
def test_account_id_must_be_12_digits(stage_bag: dict[str, Any], bad: str) -> None:
    services(stage_bag)[0]["stage"]["accountId"] = bad
    message = problems_of(stage_bag)
    assert f"{NS}:services[0].stage.accountId: expected a 12-digit AWS account id" in message


def test_unquoted_account_id_asks_for_quotes(stage_bag: dict[str, Any]) -> None:
    stage_bag[f"{NS}:toolsAccountId"] = 111111111111
    assert f"{NS}:toolsAccountId: expected a string (quote numbers" in problems_of(stage_bag)


def test_service_region_must_be_the_single_configured_region(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[1]["prod"]["region"] = "eu-west-1"
    message = problems_of(stage_bag)
    assert f"{NS}:services[1].prod.region is 'eu-west-1'" in message
    assert "single configured region 'us-east-1'" in message


def test_provider_region_must_be_the_single_configured_region() -> None:
    bag = stack_bag("tools")
    bag["aws:region"] = "us-west-2"
    message = problems_of(bag)
    assert "aws:region is 'us-west-2'" in message and f"{NS}:region is 'us-east-1'" in message


def test_tools_stack_needs_an_aws_region() -> None:
    bag = stack_bag("tools")
    del bag["aws:region"]
    assert "aws:region: required for the tools stack" in problems_of(bag)


def test_tools_provider_must_be_pinned_to_the_tools_account() -> None:
    bag = stack_bag("tools")
    bag["aws:allowedAccountIds"] = ["222222222222"]
    assert "aws:allowedAccountIds is ['222222222222'], expected ['111111111111']" in problems_of(bag)


def test_duplicate_service_names(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[1]["name"] = "orders"
    assert f"{NS}:services[1].name 'orders' duplicates services[0].name" in problems_of(stage_bag)


@pytest.mark.parametrize(
    "bad",
    ["Orders", "orders_svc", "orders.svc", "1orders", "orders-", "or--ders", "o", "a" * 30, "orders svc"],
)
def test_service_name_must_fit_iam_s3_and_cloudformation_names(stage_bag: dict[str, Any], bad: str) -> None:
    services(stage_bag)[0]["name"] = bad
    message = problems_of(stage_bag)
    assert f"{NS}:services[0].name:" in message
    assert "IAM role, S3 bucket and CloudFormation stack names" in message or "at least 2" in message


def test_longest_allowed_names_make_valid_role_names() -> None:
    from functions import naming

    longest = naming.ServiceNames(prefix="p" * 12, service="s" * naming.SERVICE_NAME_MAX, env="stage")
    assert max(len(n) for n in longest.all_role_names()) <= naming.IAM_ROLE_NAME_MAX


def test_a_service_name_too_long_for_execution_names_names_the_key_and_the_limit(stage_bag: dict[str, Any]) -> None:
    from functions import naming

    services(stage_bag)[0]["name"] = "s" * naming.SERVICE_NAME_MAX
    load_stack_config(stage_bag, source="test")  # the longest allowed name
    services(stage_bag)[0]["name"] = "s" * (naming.SERVICE_NAME_MAX + 1)
    message = problems_of(stage_bag)
    assert f"{NS}:services[0].name: expected 2-{naming.SERVICE_NAME_MAX} lowercase" in message
    assert "Step Functions limits to 80 characters" in message


@pytest.mark.parametrize(
    ("first", "second", "covered"),
    [
        ("web", "web-stage", "web-stage-stage-*"),  # web's stage stacks (web-stage-*) cover web-stage's
        ("web", "web-prod", "web-prod-stage-*"),
        ("web-stage", "web", "web-stage-stage-*"),  # in either order
    ],
)
def test_no_service_stack_prefix_may_cover_another(
    stage_bag: dict[str, Any], first: str, second: str, covered: str
) -> None:
    services(stage_bag)[0]["name"], services(stage_bag)[1]["name"] = first, second
    message = problems_of(stage_bag)
    wider, narrower = (0, 1) if len(first) < len(second) else (1, 0)
    names = {0: first, 1: second}
    assert f"services[{narrower}].name {names[narrower]!r}" in message
    assert f"services[{wider}].name {names[wider]!r}" in message
    assert f"({covered.rstrip('*')}*)" in message or covered.rstrip("*") in message
    assert "no service's stack prefix covers another's" in message


def test_services_whose_names_only_share_a_beginning_are_accepted(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[0]["name"], services(stage_bag)[1]["name"] = "web", "webshop"
    load_stack_config(stage_bag, source="test")
    services(stage_bag)[0]["name"], services(stage_bag)[1]["name"] = "web", "web-shop"
    load_stack_config(stage_bag, source="test")  # web-stage- is no prefix of web-shop-stage-


def test_unknown_top_level_key(stage_bag: dict[str, Any]) -> None:
    stage_bag[f"{NS}:servces"] = []
    assert f"{NS}:servces: unknown key" in problems_of(stage_bag)


def test_unknown_nested_key(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[0]["stage"]["acountId"] = "222222222222"
    assert f"{NS}:services[0].stage.acountId: unknown key" in problems_of(stage_bag)


def test_account_used_as_both_stage_and_prod(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[1]["prod"]["accountId"] = services(stage_bag)[0]["stage"]["accountId"]
    services(stage_bag)[1]["prod"].pop("permissionsBoundaryArn")  # it names the old account
    message = problems_of(stage_bag)
    assert f"{NS}:services[1].prod.accountId 222222222222 is also services[0].stage.accountId" in message


def test_service_account_may_not_be_the_tools_account(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[0]["prod"]["accountId"] = "111111111111"
    services(stage_bag)[0]["prod"].pop("permissionsBoundaryArn", None)  # it names the old account
    assert "services[0].prod.accountId is the tools account 111111111111" in problems_of(stage_bag)


def test_service_without_github_repository(stage_bag: dict[str, Any]) -> None:
    del services(stage_bag)[1]["githubRepository"]
    assert f"{NS}:services[1].githubRepository: required key is missing" in problems_of(stage_bag)


def test_github_repository_must_be_owner_slash_name(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[0]["githubRepository"] = "https://github.com/acme/orders"
    assert f"{NS}:services[0].githubRepository: expected owner/name" in problems_of(stage_bag)


def test_a_service_without_a_github_workflow_is_refused(stage_bag: dict[str, Any]) -> None:
    del services(stage_bag)[1]["githubWorkflow"]
    assert f"{NS}:services[1].githubWorkflow: required key is missing" in problems_of(stage_bag)


@pytest.mark.parametrize(
    "good",
    [
        "acme-corp/platform/.github/workflows/release.yml@refs/heads/main",
        "acme-corp/platform/.github/workflows/cdk/release.yaml@refs/tags/v2",
    ],
)
def test_a_central_release_workflow_is_a_job_workflow_ref(stage_bag: dict[str, Any], good: str) -> None:
    stage_bag[f"{NS}:github"] = {"releaseWorkflow": good}
    assert load_stack_config(stage_bag).github.release_workflow == good


@pytest.mark.parametrize(
    "bad",
    [
        ".github/workflows/release.yml",  # a path in the service's own repository: that is githubWorkflow
        "acme-corp/platform/.github/workflows/release.yml",  # no ref
        "acme-corp/platform/.github/workflows/release.yml@main",  # not a full ref
        "acme-corp/platform/release.yml@refs/heads/main",  # not under .github/workflows
    ],
)
def test_a_release_workflow_that_is_not_a_job_workflow_ref_is_refused(stage_bag: dict[str, Any], bad: str) -> None:
    stage_bag[f"{NS}:github"] = {"releaseWorkflow": bad}
    assert f"{NS}:github.releaseWorkflow: expected owner/repo/.github/workflows/" in problems_of(stage_bag)


def test_the_single_ci_key_pin_is_refused_with_the_reason(stage_bag: dict[str, Any]) -> None:
    stage_bag[f"{NS}:ciSignerPublicKeyPem"] = "-----BEGIN PUBLIC KEY-----"
    message = problems_of(stage_bag)
    assert "ciSignerPublicKeyPem is no longer read: each service signs with its own KMS key" in message
    assert "alias/cdk-ci-artifact-signer-<service>" in message


def test_external_audit_email_is_mandatory(stage_bag: dict[str, Any]) -> None:
    del stage_bag[f"{NS}:auditEmailAddresses"]
    assert f"{NS}:auditEmailAddresses: required key is missing" in problems_of(stage_bag)


def test_external_audit_email_list_may_not_be_empty(stage_bag: dict[str, Any]) -> None:
    stage_bag[f"{NS}:auditEmailAddresses"] = []
    assert f"{NS}:auditEmailAddresses: List should have at least 1 item" in problems_of(stage_bag)


def test_external_audit_email_must_be_an_address(stage_bag: dict[str, Any]) -> None:
    stage_bag[f"{NS}:auditEmailAddresses"] = ["security-audit"]
    assert f"{NS}:auditEmailAddresses[0]: expected an e-mail address" in problems_of(stage_bag)


def test_administrator_access_needs_a_permissions_boundary(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[0]["stage"]["executionPolicyArns"] = ["arn:aws:iam::aws:policy/AdministratorAccess"]
    message = problems_of(stage_bag)
    assert (
        f"{NS}:services[0].stage" in message
        and "AdministratorAccess (admin-equivalent) without permissionsBoundaryArn" in message
    )


def test_execution_role_needs_at_least_one_policy(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[0]["stage"]["executionPolicyArns"] = []
    assert f"{NS}:services[0].stage.executionPolicyArns: List should have at least 1 item" in problems_of(stage_bag)


def test_services_sharing_an_account_need_distinct_qualifiers(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[1]["stage"]["accountId"] = services(stage_bag)[0]["stage"]["accountId"]
    services(stage_bag)[1]["cdkQualifier"] = "hnb659fds"
    message = problems_of(stage_bag)
    assert (
        "services[1].cdkQualifier 'hnb659fds' is already used by services[0] (orders) in account 222222222222"
        in message
    )


def test_every_problem_is_reported_at_once(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[0]["stage"]["accountId"] = "1"
    del services(stage_bag)[1]["githubRepository"]
    stage_bag[f"{NS}:bogus"] = True
    message = problems_of(stage_bag)
    assert message.count("\n  - ") == 3


def test_stage_and_prod_stacks_must_disable_the_default_provider() -> None:
    for stack in ("stage", "prod"):
        bag = stack_bag(stack)
        del bag["pulumi:disable-default-providers"]
        message = problems_of(bag)
        assert f"pulumi:disable-default-providers must list aws for a {stack} stack" in message
        assert "fall back to the operator's credentials" in message


@pytest.mark.parametrize("disabled", [["kubernetes"], [], '["kubernetes"]'])
def test_disabling_other_default_providers_is_not_enough(stage_bag: dict[str, Any], disabled: object) -> None:
    stage_bag["pulumi:disable-default-providers"] = disabled
    assert "pulumi:disable-default-providers must list aws for a stage stack" in problems_of(stage_bag)


@pytest.mark.parametrize("disabled", [["aws"], ["*"], ["kubernetes", "aws"], '["aws"]'])
def test_disabling_aws_or_every_default_provider_is_accepted(stage_bag: dict[str, Any], disabled: object) -> None:
    # A list from the YAML file, or the JSON string the engine passes.
    stage_bag["pulumi:disable-default-providers"] = disabled
    assert load_stack_config(stage_bag).environment is Environment.STAGE


def test_tools_stack_keeps_its_default_provider() -> None:
    bag = stack_bag("tools")
    assert "pulumi:disable-default-providers" not in bag
    assert load_stack_config(bag).account_role is AccountRole.TOOLS


def test_engine_style_json_strings_are_accepted() -> None:
    # `pulumi up` passes structured values as JSON strings, the offline preview as YAML objects.
    bag = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in stack_bag("prod").items()}
    assert load_stack_config(bag).services[1].name == "payments"


def test_stack_policy_file_must_exist_and_be_a_policy(stage_bag: dict[str, Any], tmp_path: Path) -> None:
    services(stage_bag)[0]["prod"]["stackPolicyFile"] = "stack-policies/missing.json"
    (tmp_path / "stack-policies").mkdir()
    (tmp_path / "stack-policies" / "payments.json").write_text("[]")
    with pytest.raises(ConfigError) as caught:
        load_stack_config(stage_bag, project_dir=tmp_path)
    message = str(caught.value)
    assert f"{NS}:services[0].prod.stackPolicyFile: no file stack-policies/missing.json" in message
    assert f"{NS}:services[1].prod.stackPolicyFile: stack-policies/payments.json is not a stack policy" in message


def test_stage_and_prod_stacks_expose_their_environment() -> None:
    for stack, environment in (("stage", Environment.STAGE), ("prod", Environment.PROD)):
        config = load_stack_config(stack_bag(stack))
        assert config.environment is environment
        orders = config.services[0]
        assert orders.environment(environment) is getattr(orders, stack)
        assert config.service_accounts["orders"][environment] == orders.environment(environment).account_id
    with pytest.raises(ValueError, match="the tools stack has no service environment"):
        _ = load_stack_config(stack_bag("tools")).environment


def test_services_have_no_tools_environment() -> None:
    service = load_stack_config(stack_bag("tools")).services[0]
    with pytest.raises(ValueError, match="services have no"):
        service.environment(AccountRole.TOOLS)  # type: ignore[arg-type]


def test_validate_fails_closed_without_approved_cdk_versions() -> None:
    bag = stack_bag("tools")
    del bag[f"{NS}:approvedCdkVersions"]
    assert "approvedCdkVersions is required in the tools stack" in problems_of(bag)
    bag[f"{NS}:approvedCdkVersions"] = []
    assert "approvedCdkVersions is required in the tools stack" in problems_of(bag)


def test_the_tools_stack_needs_someone_to_receive_its_alerts() -> None:
    bag = stack_bag("tools")
    del bag[f"{NS}:alertEmailAddresses"]
    assert "alertEmailAddresses is required in the tools stack" in problems_of(bag)
    bag[f"{NS}:alertEmailAddresses"] = []
    assert "alertEmailAddresses is required in the tools stack" in problems_of(bag)
    for account_role in ("stage", "prod"):  # the alerts live in the tools account only
        other = stack_bag(account_role)
        del other[f"{NS}:alertEmailAddresses"]
        assert load_stack_config(other, source="test").alert_email_addresses == []


def test_a_stack_policy_outside_the_project_or_without_statements_is_refused(
    stage_bag: dict[str, Any], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "stack-policies").mkdir(parents=True)
    (tmp_path / "outside.json").write_text('{"Statement": [{"Effect": "Allow"}]}')
    (project / "stack-policies" / "payments.json").write_text('{"Statement": []}')
    services(stage_bag)[0]["prod"]["stackPolicyFile"] = "../outside.json"
    with pytest.raises(ConfigError) as caught:
        load_stack_config(stage_bag, project_dir=project)
    message = str(caught.value)
    assert f"{NS}:services[0].prod.stackPolicyFile: ../outside.json is outside the project" in message
    assert "stack-policies/payments.json has an empty Statement list" in message


def test_a_key_given_twice_in_a_stack_file_is_an_error(tmp_path: Path) -> None:
    from stack_config import read_stack_file

    path = tmp_path / "Pulumi.tools.yaml"
    path.write_text("config:\n  cdk-control-plane:region: us-east-1\n  cdk-control-plane:region: eu-west-1\n")
    with pytest.raises(ConfigError, match="duplicate key 'cdk-control-plane:region'"):
        read_stack_file(path)


@pytest.mark.parametrize(
    "policy",
    [
        "arn:aws:iam::aws:policy/IAMFullAccess",
        "arn:aws:iam::aws:policy/AdministratorAccess-Amplify",
        "arn:aws:iam::aws:policy/job-function/SystemAdministrator",
    ],
)
def test_admin_equivalent_policies_need_a_permissions_boundary(stage_bag: dict[str, Any], policy: str) -> None:
    services(stage_bag)[0]["stage"]["executionPolicyArns"] = [policy]
    services(stage_bag)[0]["stage"].pop("permissionsBoundaryArn", None)
    message = problems_of(stage_bag)
    assert f"{policy.rsplit('/', 1)[-1]} (admin-equivalent) without permissionsBoundaryArn" in message


@pytest.mark.parametrize(
    ("boundary", "message"),
    [
        ("arn:aws:iam::aws:policy/AdministratorAccess", "is admin-equivalent: it bounds nothing"),
        ("arn:aws:iam::999999999999:policy/x", "is not a policy of this account (333333333333) or of AWS"),
    ],
)
def test_a_boundary_must_bound(stage_bag: dict[str, Any], boundary: str, message: str) -> None:
    services(stage_bag)[0]["prod"]["permissionsBoundaryArn"] = boundary
    assert message in problems_of(stage_bag)


@pytest.mark.parametrize("versions", [[" "], ["2.1,2.2"], ["latest"]])
def test_approved_versions_are_versions(versions: list[str]) -> None:
    bag = stack_bag("tools")
    bag[f"{NS}:approvedCdkVersions"] = versions
    assert "approvedCdkVersions[0]" in problems_of(bag)


def test_yaml_merge_keys_still_load_and_the_error_names_the_line(tmp_path: Path) -> None:
    from stack_config import read_stack_file

    path = tmp_path / "Pulumi.tools.yaml"
    path.write_text("base: &base\n  a: 1\nconfig:\n  <<: *base\n  b: 2\n")
    assert read_stack_file(path) == {"a": 1, "b": 2}
    path.write_text("config:\n  a: 1\n  a: 2\n")
    with pytest.raises(ConfigError, match=r"Pulumi.tools.yaml:3: duplicate key 'a'"):
        read_stack_file(path)


@pytest.mark.parametrize("name", ["cdkcp", "cdkcp-orders"])
def test_a_service_named_like_the_control_plane_is_refused(stage_bag: dict[str, Any], name: str) -> None:
    services(stage_bag)[0]["name"] = name
    message = problems_of(stage_bag)
    assert f"services[0].name {name!r} starts with namePrefix 'cdkcp'" in message


def test_a_service_only_beginning_with_the_prefix_letters_is_accepted(stage_bag: dict[str, Any]) -> None:
    services(stage_bag)[0]["name"] = "cdkcpx"
    assert load_stack_config(stage_bag).services[0].name == "cdkcpx"


def test_every_service_says_whether_it_makes_context_lookups(stage_bag: dict[str, Any]) -> None:
    del services(stage_bag)[1]["contextLookups"]
    message = problems_of(stage_bag)
    assert f"{NS}:services[1].contextLookups: required key is missing (true if the service's CDK app makes" in message
    services(stage_bag)[1]["contextLookups"] = "maybe"
    assert f"{NS}:services[1].contextLookups" in problems_of(stage_bag)


@pytest.mark.parametrize(
    ("key", "bad", "expected"),
    [
        ("testFailureRate", 1.5, "less than 1"),
        ("testFailureRate", 0, "greater than 0"),
        ("deployLatencyP90Seconds", 5, "greater than or equal to 600"),
        ("functionErrors", 0, "greater than or equal to 1"),
        ("rollbackLatencySeconds", "soon", "valid integer"),
    ],
)
def test_a_bad_alarm_threshold_names_its_key_and_the_bound(key: str, bad: Any, expected: str) -> None:
    bag = stack_bag("tools")
    bag[f"{NS}:alarms"] = {key: bad}
    problems = problems_of(bag)
    assert f"{NS}:alarms.{key}" in problems and expected in problems, problems


def test_an_unknown_alarm_threshold_is_refused_not_ignored() -> None:
    bag = stack_bag("tools")
    bag[f"{NS}:alarms"] = {"testFailureRatio": 0.1}
    assert f"{NS}:alarms.testFailureRatio: unknown key" in problems_of(bag)


def test_alarm_thresholds_default_when_the_stack_sets_none() -> None:
    bag = stack_bag("tools")
    del bag[f"{NS}:alarms"]
    thresholds = load_stack_config(bag).alarms
    assert (thresholds.test_failure_rate, thresholds.deploy_latency_p90_seconds, thresholds.dead_letters) == (
        0.2,
        14400,
        1,
    )


@pytest.mark.parametrize("account_role", ["stage", "prod"])
@pytest.mark.parametrize(
    ("key", "value"),
    [("maxAttempts", {"stage": 2, "prod": 2}), ("artifactNeverPromotedDays", 3), ("alarms", {"functionErrors": 2})],
)
def test_the_sweepers_and_alarms_settings_are_refused_outside_the_tools_stack(
    account_role: str, key: str, value: Any
) -> None:
    bag = stack_bag(account_role)
    bag[f"{NS}:{key}"] = value
    assert f"{key}: only the tools stack reads it" in problems_of(bag)
    assert f"remove from the {account_role} stack" in problems_of(bag)
