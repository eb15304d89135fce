"""The operator's side of the control plane in the emulator: the override signer's KMS key under
`alias/cdk-override-signer` (the tools stack's `SigningKeys` declares it), the break-glass flag
(`OperatorAccess` declares it `off`), the audit table the override function appends to, and the
operator's two commands (`artifactctl override request | submit`) run as an operator would run them.

Nothing is bridged here: KMS DIGEST signing is made faithful by `kms.py` (the e2e fixture installs it),
and Lambda's RequestResponse invoke reaches the handler in-process through the harness's patched
`_invoke_lambda`, as the Step Functions tasks do.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import boto3

from devtools.emulator.audit import create_audit_table
from devtools.emulator.program import PREFIX, REGION, TOOLS
from functions import naming
from functions.overrides import break_glass_parameter

OPERATOR = f"arn:aws:sts::{TOOLS}:assumed-role/oncall-operator/alice"


class Operator:
    """An on-call operator with the override key, at a shell with `artifactctl`."""

    def __init__(self, harness: Any) -> None:
        self.harness = harness
        kms = boto3.client("kms", region_name=REGION)
        key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=naming.OVERRIDE_SIGNER_KEY_ALIAS, TargetKeyId=key_id)
        dynamodb, audit_table = (
            boto3.client("dynamodb", region_name=REGION),
            harness.program.environment["AUDIT_TABLE_NAME"],
        )
        if audit_table not in dynamodb.list_tables()["TableNames"]:  # the harness creates it beside the metadata
            create_audit_table(dynamodb, audit_table)
        self.break_glass("off")
        self.requests = 0

    def break_glass(self, value: str) -> None:
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name=break_glass_parameter(PREFIX), Value=value, Type="String", Overwrite=True
        )

    def artifactctl(self, *argv: str) -> tuple[int, str]:
        from artifactctl.cli import main

        output = io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            try:
                code = main(list(argv))
            except SystemExit as exc:
                code = int(exc.code or 0)
        return code, output.getvalue()

    def request(self, action: str, commit: str, *flags: str, reason: str = "INC-1: on call") -> Path:
        self.requests += 1
        path = self.harness.tmp / f"override-{self.requests}.json"
        code, output = self.artifactctl(
            "override", "request", "--action", action, "--service", "orders", "--commit", commit,
            "--reason", reason, "--requester", OPERATOR, "--kms-key-id", naming.OVERRIDE_SIGNER_KEY_ALIAS,
            "--out", str(path), "--region", REGION, *flags,
        )  # fmt: skip
        assert code == 0, output
        return path

    def submit(self, path: Path) -> tuple[int, dict[str, Any]]:
        code, output = self.artifactctl(
            "override", "submit", str(path), "--function", f"{PREFIX}-override", "--region", REGION, "--json"
        )
        return code, json.loads(output) if output.lstrip().startswith("{") else {"output": output}
