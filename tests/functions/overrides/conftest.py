"""A moto world for the override function's core: the metadata and audit tables, a state machine (its
executions are recorded, not run), the break-glass flag, the release bucket, and an override key."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from functions.artifacts.signing import LocalKeySigner
from functions.overrides import break_glass_parameter
from functions.overrides.apply import Deps, Outcome, submit
from functions.overrides.request import dumps, new_request, sign_request
from functions.pipeline.settings import FunctionSettings
from functions.pipeline.store import MetadataTable
from tests.functions.pipeline.conftest import Captured, seed, settings, table  # noqa: F401

OPERATOR = "arn:aws:sts::123456789012:assumed-role/oncall/alice"
NOW = datetime(2026, 11, 23, 4, 0, 0, tzinfo=UTC)


@dataclass
class World:
    table: MetadataTable
    settings: FunctionSettings
    signer: LocalKeySigner
    captured: Captured = field(default_factory=Captured)
    now: datetime = NOW

    def deps(self) -> Deps:
        region = "us-east-1"
        return Deps(
            settings=self.settings,
            table=self.table,
            sfn=boto3.client("stepfunctions", region_name=region),
            ssm=boto3.client("ssm", region_name=region),
            s3=boto3.client("s3", region_name=region),
            audit=boto3.client("dynamodb", region_name=region),
            notify=self.captured,  # type: ignore[arg-type]
            public_key=lambda: self.signer.private_key.public_key(),
            now=lambda: self.now,
        )

    def request(
        self, action: str, commit: str, environment: str | None = None, signer: Any = None, **extra: Any
    ) -> str:
        unsigned = new_request(
            action,
            service="orders",
            commit_sha=commit,
            environment=environment,
            reason=extra.pop("reason", "INC-7: the operator's justification"),
            requester=OPERATOR,
            expires_in=extra.pop("expires_in", 900),
            now=extra.pop("issued", self.now),
            **extra,
        )
        return dumps(sign_request(unsigned, signer or self.signer))

    def submit(self, text: str) -> Outcome:
        return submit(text, self.deps())

    def items(self) -> list[dict[str, Any]]:
        return sorted(self.table.table.scan()["Items"], key=lambda i: (i["service"], i["commit_sha"]))

    def audit(self) -> list[dict[str, Any]]:
        from functions.audit.store import read_chain

        return [e.to_dict() for e in read_chain(boto3.client("dynamodb", region_name="us-east-1"))[0]]

    def executions(self) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        listed = sfn.list_executions(stateMachineArn=self.settings.state_machine_arn)["executions"]
        return [
            {**e, "input": json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])} for e in listed
        ]

    def break_glass(self, value: str) -> None:
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name=break_glass_parameter("cdkcp"), Value=value, Type="String", Overwrite=True
        )


@pytest.fixture
def world(table: MetadataTable, settings: FunctionSettings, signer: LocalKeySigner) -> World:  # noqa: F811
    # the audit table is there already: the metadata table's fixture creates both, as the tools stack does
    boto3.client("stepfunctions", region_name="us-east-1").create_state_machine(
        name="p",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/cdkcp-pipeline",
    )
    found = World(table, settings, signer)
    found.break_glass("off")
    return found


__all__ = ["OPERATOR", "World", "seed", "world"]
