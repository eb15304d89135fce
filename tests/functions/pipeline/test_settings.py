"""A misconfigured function or build fails at cold start, naming the variable; what the program writes
is what the code reads back."""

from __future__ import annotations

import pytest

from functions.pipeline.settings import BuildSettings, FunctionSettings, SettingsError

ACCOUNTS = {"orders": {"stage": "222222222222", "prod": "333333333333"}}
CATALOG = "s3://cdkcp-tooling-123456789012-us-east-1/catalog/" + "0" * 64 + ".json"


def _function_settings(**overrides: object) -> FunctionSettings:
    values: dict[str, object] = {
        "table_name": "cdk-artifact-metadata",
        "name_prefix": "cdkcp",
        "tools_account_id": "123456789012",
        "service_catalog_uri": CATALOG,
        "service_catalog_sha256": "0" * 64,
        "event_bus_name": "cdk-control-plane",
        "alert_topic_arn": "arn:aws:sns:us-east-1:123456789012:cdkcp-critical-alerts",
        "candidate_bucket": "candidates",
        "release_bucket": "releases",
        "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:x",
        "approved_cdk_versions": ("2.1148.1",),
        **overrides,
    }
    return FunctionSettings(**values)  # type: ignore[arg-type]


def test_what_the_program_writes_is_what_the_code_reads() -> None:
    written = _function_settings()
    environ = written.to_environ()
    assert FunctionSettings.from_environ({**environ, "AWS_REGION": "us-east-1"}) == written
    assert all(value for value in environ.values())


def test_the_functions_environment_has_the_catalogs_pin_not_the_catalog() -> None:
    environ = _function_settings().to_environ()
    assert environ["SERVICE_CATALOG_URI"] == CATALOG and environ["SERVICE_CATALOG_SHA256"] == "0" * 64
    assert "SERVICE_ACCOUNTS" not in environ and "SERVICES_WITHOUT_CONTEXT_LOOKUPS" not in environ


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{oops", "SERVICE_ACCOUNTS: not JSON"),
        ('{"orders": {"stage": "1"}}', "'orders' needs a 12-digit stage and prod account"),
    ],
)
def test_the_builds_keep_the_accounts_checked_by_the_catalogs_rule(value: str, message: str) -> None:
    written = BuildSettings(
        table_name="t",
        name_prefix="cdkcp",
        tools_account_id="123456789012",
        service_accounts=ACCOUNTS,
        artifact_bucket="a",
    )
    with pytest.raises(SettingsError, match=message):
        BuildSettings.from_environ({**written.to_environ(), "SERVICE_ACCOUNTS": value})


def test_build_settings_round_trip() -> None:
    written = BuildSettings(
        table_name="t",
        name_prefix="cdkcp",
        tools_account_id="123456789012",
        service_accounts=ACCOUNTS,
        artifact_bucket="candidates",
        test_commands={"orders": {"stage": "npm test"}},
    )
    assert BuildSettings.from_environ(written.to_environ()) == written


def test_required_variables_are_named() -> None:
    environ = _function_settings().to_environ()
    del environ["TABLE_NAME"]
    with pytest.raises(SettingsError, match="TABLE_NAME is required"):
        FunctionSettings.from_environ(environ)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MAX_ROLLBACK_ATTEMPTS", "two", "MAX_ROLLBACK_ATTEMPTS='two': expected an integer"),
        ("MAX_ROLLBACK_ATTEMPTS", "0", "MAX_ROLLBACK_ATTEMPTS=0: expected at least 1"),
        ("MAX_ATTEMPTS_STAGE", "0", "MAX_ATTEMPTS_STAGE=0: expected at least 1"),
        ("MAX_ATTEMPTS_PROD", "many", "MAX_ATTEMPTS_PROD='many': expected an integer"),
        ("NEVER_PROMOTED_DAYS", "0", "NEVER_PROMOTED_DAYS=0: expected at least 1"),
        ("SERVICE_CATALOG_URI", "https://example.com/catalog", "SERVICE_CATALOG_URI=.*: expected s3://bucket/key"),
        ("SERVICE_CATALOG_SHA256", "abc", "SERVICE_CATALOG_SHA256='abc': expected 64 lowercase hex digits"),
        ("TOOLS_ACCOUNT_ID", "tools", "TOOLS_ACCOUNT_ID='tools': expected 12 digits"),
        ("APPROVED_CDK_VERSIONS", " , ", "APPROVED_CDK_VERSIONS=',': expected comma-separated values"),
    ],
)
def test_bad_values_are_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        FunctionSettings.from_environ({**_function_settings().to_environ(), variable: value})


def test_defaults_follow_the_spec() -> None:
    environ = _function_settings().to_environ()
    del environ["MAX_ROLLBACK_ATTEMPTS"], environ["ROLLBACK_BASE_DELAY_SECONDS"]
    settings = FunctionSettings.from_environ(environ)
    assert settings.max_rollback_attempts == 2 and settings.rollback_base_delay_seconds == 60
    # the sweeper: 3 attempts per environment, candidates parked 7 days count as never promoted
    assert (settings.max_attempts("stage"), settings.max_attempts("prod"), settings.never_promoted) == (3, 3, 7)


def test_the_program_cannot_write_what_the_code_would_refuse() -> None:
    with pytest.raises(SettingsError, match="TABLE_NAME is required"):
        _function_settings(table_name="").to_environ()
    with pytest.raises(SettingsError, match="MAX_ROLLBACK_ATTEMPTS=0: expected at least 1"):
        _function_settings(max_rollback_attempts=0).to_environ()


def test_zero_and_stripped_values_survive_the_round_trip() -> None:
    written = _function_settings(rollback_base_delay_seconds=0)
    assert FunctionSettings.from_environ(written.to_environ()).rollback_base_delay_seconds == 0
    environ = {**written.to_environ(), "APPROVED_CDK_VERSIONS": "2.1148.1, 2.1149.0"}
    assert FunctionSettings.from_environ(environ).approved_cdk_versions == ("2.1148.1", "2.1149.0")


def test_validate_has_approved_versions_or_does_not_start() -> None:
    environ = _function_settings().to_environ()
    del environ["APPROVED_CDK_VERSIONS"]
    with pytest.raises(SettingsError, match="APPROVED_CDK_VERSIONS is required"):
        FunctionSettings.from_environ(environ)
