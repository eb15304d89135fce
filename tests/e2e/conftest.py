"""Fixtures of the end-to-end tests: moto with a real Step Functions interpreter, and the harness."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from components import pipeline_definition as d
from functions.artifacts.signing import LocalKeySigner

from .harness import Harness, function_name


def definition_for(arns: dict[str, str]) -> dict[str, Any]:
    return d.build_definition(
        d.PipelineResources(
            table_name="cdk-artifact-metadata",
            transition_function=arns["transition"],
            validate_function=arns["validate"],
            promote_function=arns["promote"],
            rollback_plan_function=arns["rollback-plan"],
            finalizer_function=arns["finalizer"],
            deploy_projects={"stage": "cdkcp-deployer-stage", "prod": "cdkcp-deployer-prod"},
            test_projects={"stage": "cdkcp-tests-stage", "prod": "cdkcp-smoke-prod"},
        )
    )


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Harness]:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "MOTO_ACCOUNT_ID": "111111111111",
    }.items():
        monkeypatch.setenv(name, value)
    key = ec.generate_private_key(ec.SECP256R1())
    signer = LocalKeySigner.from_pem(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield Harness(monkeypatch, signer, definition_for, tmp_path)


__all__ = ["function_name"]
