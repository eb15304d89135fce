"""One spelling of every deterministic name: what the tools, stage and prod stacks and the code they run
compute independently must agree."""

from __future__ import annotations

import pytest

from functions import naming
from functions.naming import ServiceNames, ToolsNames
from functions.pipeline.lifecycle import Environment

NAMES = ToolsNames("cdkcp", "111111111111", "us-east-1")


def test_tools_buckets_are_made_globally_unique() -> None:
    assert NAMES.candidate_bucket == "cdk-artifacts-candidate-111111111111-us-east-1"
    assert NAMES.release_bucket == "cdk-artifacts-release-111111111111-us-east-1"
    assert NAMES.contexts_bucket == "cdk-contexts-111111111111-us-east-1"
    assert NAMES.exports_bucket == "cdk-artifact-metadata-exports-111111111111-us-east-1"
    assert NAMES.tooling_bucket == "cdkcp-tooling-111111111111-us-east-1"
    assert NAMES.bucket_arn(naming.RELEASE_BUCKET) == "arn:aws:s3:::cdk-artifacts-release-111111111111-us-east-1"
    assert NAMES.artifact_bucket(Environment.STAGE) == NAMES.candidate_bucket
    assert NAMES.artifact_bucket(Environment.PROD) == NAMES.release_bucket


def test_one_rule_names_every_codebuild_project_and_its_role() -> None:
    assert [NAMES.deployer_project(e) for e in Environment] == ["cdkcp-deployer-stage", "cdkcp-deployer-prod"]
    assert [NAMES.test_project(e) for e in Environment] == ["cdkcp-tests-stage", "cdkcp-smoke-prod"]
    assert NAMES.test_project(Environment.PROD) == NAMES.project(naming.TEST_KIND[Environment.PROD], "prod")
    assert NAMES.deployer_role_arn(Environment.PROD) == "arn:aws:iam::111111111111:role/cdkcp-deployer-prod"
    assert NAMES.test_runner_role_arn(Environment.STAGE) == "arn:aws:iam::111111111111:role/cdkcp-tests-stage"
    assert NAMES.project_arn("cdkcp-smoke-prod") == "arn:aws:codebuild:us-east-1:111111111111:project/cdkcp-smoke-prod"


def test_function_roles_and_the_finalizer_role_the_service_accounts_trust() -> None:
    assert NAMES.function_role("validate") == "cdkcp-fn-validate"
    assert NAMES.function_role("finalizer") == NAMES.finalizer_role == "cdkcp-finalizer"
    assert NAMES.function_arn("dispatcher") == "arn:aws:lambda:us-east-1:111111111111:function:cdkcp-dispatcher"
    assert NAMES.orchestrator_role_arn_patterns == [
        "arn:aws:iam::111111111111:role/cdkcp-pipeline",
        "arn:aws:iam::111111111111:role/cdkcp-finalizer",
        "arn:aws:iam::111111111111:role/cdkcp-fn-*",
    ]


def test_pipeline_resources() -> None:
    assert NAMES.state_machine_arn == "arn:aws:states:us-east-1:111111111111:stateMachine:cdkcp-DeployArtifactPipeline"
    assert NAMES.event_bus_arn == "arn:aws:events:us-east-1:111111111111:event-bus/cdk-control-plane"
    assert NAMES.alert_topic_arn == "arn:aws:sns:us-east-1:111111111111:cdkcp-critical-alerts"
    assert NAMES.dead_letter_queue_arn == "arn:aws:sqs:us-east-1:111111111111:cdkcp-functions-dlq"
    assert NAMES.metadata_table_arn == "arn:aws:dynamodb:us-east-1:111111111111:table/cdk-artifact-metadata"
    assert NAMES.log_group_arn(NAMES.function_log_group("promote")) == (
        "arn:aws:logs:us-east-1:111111111111:log-group:/aws/lambda/cdkcp-promote"
    )
    assert NAMES.state_machine_log_group == "/aws/vendedlogs/states/cdkcp-DeployArtifactPipeline"


def test_execution_names_and_object_keys() -> None:
    commit = "0123456789abcdef" * 2 + "01234567"
    assert naming.execution_name("orders", commit, "prod", 2) == f"orders-{commit}-prod-2"
    assert naming.execution_name("orders", commit, Environment.STAGE) == f"orders-{commit}-stage-1"
    assert naming.artifact_prefix("orders", "abc") == "orders/abc/"
    assert (naming.MANIFEST_NAME, naming.PROVENANCE_NAME) == ("artifact-manifest.json", "artifact-provenance.dsse.json")


def test_the_longest_execution_name_fits_step_functions_limit() -> None:
    longest = naming.execution_name("s" * naming.SERVICE_NAME_MAX, "f" * 40, Environment.STAGE, naming.ATTEMPT_MAX)
    assert len(longest) == naming.EXECUTION_NAME_MAX == 80


@pytest.mark.parametrize(
    ("service", "commit", "attempt", "expected"),
    [
        ("s" * (naming.SERVICE_NAME_MAX + 1), "f" * 40, 1, "longer than"),
        ("orders", "f" * 12, 1, "the whole commit"),
        ("orders", "f" * 40, 0, "expected 1 to"),
        ("orders", "f" * 40, naming.ATTEMPT_MAX + 1, "expected 1 to"),
    ],
)
def test_execution_names_that_would_not_fit_are_refused(service: str, commit: str, attempt: int, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        naming.execution_name(service, commit, "prod", attempt)


def test_service_stacks_share_one_prefix_rule() -> None:
    names = ServiceNames("cdkcp", "orders", Environment.PROD)
    assert names.stack_prefix == "orders-prod-"
    assert names.stack_arn_pattern("us-east-1", "333333333333") == (
        "arn:aws:cloudformation:us-east-1:333333333333:stack/orders-prod-*/*"
    )
    assert names.deploy_role == "cdkcp-orders-prod-deploy"


def test_each_service_has_its_own_ci_role_and_signing_key_and_one_pattern_names_them_all() -> None:
    assert NAMES.ci_builder_role_arn("orders") == "arn:aws:iam::111111111111:role/cdk-ci-artifact-builder-orders"
    assert NAMES.ci_builder_role_arn_pattern == "arn:aws:iam::111111111111:role/cdk-ci-artifact-builder-*"
    assert naming.ci_signer_alias("payments") == "alias/cdk-ci-artifact-signer-payments"
    assert naming.CI_SIGNER_ALIAS_PATTERN == "alias/cdk-ci-artifact-signer-*"
    assert NAMES.ci_signer_key_arn_pattern == "arn:aws:kms:us-east-1:111111111111:key/*"
    longest = "s" * naming.SERVICE_NAME_MAX
    assert len(naming.ci_builder_role(longest)) <= naming.IAM_ROLE_NAME_MAX


def test_role_patterns_are_spelled_by_the_same_rules_as_the_roles() -> None:
    deploy = naming.service_role_arn_pattern("cdkcp", "stage", "deploy_role")
    assert deploy == "arn:aws:iam::*:role/cdkcp-*-stage-deploy"
    assert ServiceNames("cdkcp", "orders", "stage").deploy_role == deploy.split("/")[1].replace("*", "orders")
    assert (
        naming.service_role_arn_pattern("cdkcp", "prod", "read_only_role")
        == "arn:aws:iam::*:role/cdkcp-*-prod-readonly"
    )
    assert naming.bootstrap_role_arn_pattern("us-east-1", "lookup_role") == (
        "arn:aws:iam::*:role/cdk-*-lookup-role-*-us-east-1"
    )
