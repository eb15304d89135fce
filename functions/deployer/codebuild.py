"""What the CodeBuild projects run: `python -m functions.deployer.codebuild`.

The state machine starts a build with SERVICE, COMMIT_SHA, ENVIRONMENT, MODE (deploy, drift-check,
rollback) and DEPLOYMENT_ID; the project adds where things are (ARTIFACT_BUCKET, TABLE_NAME,
SERVICE_ACCOUNTS, STACK_POLICIES, the CI public key). The build downloads the artifact, verifies it
again against the metadata's `artifact_sha256` (the file CloudFormation reads is the file that was
signed), then runs the deployer with the service's deploy role in the target account.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from functions import naming
from functions.artifacts.errors import SigningError
from functions.artifacts.signing import kms_public_key_pem, load_public_key
from functions.artifacts.verify import Expectations, verify_artifact
from functions.pipeline.artifacts import download
from functions.pipeline.store import MetadataTable

from . import __main__ as deployer

EXIT_INVALID_ARTIFACT = 5


def _env(name: str, environ: dict[str, str]) -> str:
    value = environ.get(name, "")
    if not value:
        raise SystemExit(f"codebuild: environment variable {name} is required")
    return value


def deployer_arguments(environ: dict[str, str], cdk_out: Path, policy_file: Path | None) -> list[str]:
    service, environment = _env("SERVICE", environ), _env("ENVIRONMENT", environ)
    prefix, tools = _env("NAME_PREFIX", environ), _env("TOOLS_ACCOUNT_ID", environ)
    account = json.loads(_env("SERVICE_ACCOUNTS", environ))[service][environment]
    names = naming.ServiceNames(prefix, service, environment)
    arguments = [
        "--cdk-out", str(cdk_out), "--service", service, "--environment", environment, "--account", account,
        "--region", environ.get("AWS_REGION", "us-east-1"),
        "--role-arn", naming.role_arn(account, names.deploy_role),
        "--external-id", naming.external_id(prefix, tools, service, environment),
        "--execution-role-arn", naming.role_arn(account, names.execution_role),
        "--deployment-id", environ.get("DEPLOYMENT_ID", ""),
        "--result", "deploy-result.json",
    ]  # fmt: skip
    if policy_file is not None:
        arguments += ["--stack-policy", str(policy_file)]
    if environ.get("DEPLOYER_POLL_SECONDS"):
        arguments += ["--poll-seconds", environ["DEPLOYER_POLL_SECONDS"]]
    mode = environ.get("MODE", "deploy")
    if environment == "prod":
        arguments += ["--drift-only"] if mode == "drift-check" else (["--detect-drift"] if mode == "deploy" else [])
    return arguments


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None, s3: Any = None) -> int:
    import boto3

    env = dict(os.environ if environ is None else environ)
    service, commit = _env("SERVICE", env), _env("COMMIT_SHA", env)
    s3 = s3 or boto3.client("s3")
    item = MetadataTable.named(_env("TABLE_NAME", env)).get(service, commit) or {}
    try:
        pem = env.get("CI_PUBLIC_KEY_PEM") or kms_public_key_pem(_env("CI_SIGNER_KEY_ID", env)).decode()
    except SigningError as exc:
        print(f"codebuild: cannot read the CI signer's public key: {exc}", file=sys.stderr)
        return EXIT_INVALID_ARTIFACT
    with tempfile.TemporaryDirectory() as scratch:
        cdk_out, manifest = download(s3, _env("ARTIFACT_BUCKET", env), service, commit, Path(scratch))
        report = verify_artifact(
            cdk_out,
            manifest,
            load_public_key(pem.encode(), "the CI signer public key"),
            Expectations(service=service, commit=commit, artifact_sha256=item.get("artifact_sha256")),
            jobs=os.cpu_count() or 1,
        )
        if not report.ok:
            for finding in report.findings:
                print(finding.line(), file=sys.stderr)
            return EXIT_INVALID_ARTIFACT
        policies = json.loads(env.get("STACK_POLICIES", "{}"))
        policy_file = None
        if policies.get(service, {}).get(env["ENVIRONMENT"]):
            policy_file = Path(scratch) / "stack-policy.json"
            policy_file.write_text(json.dumps(policies[service][env["ENVIRONMENT"]]))
        return deployer.main(deployer_arguments(env, cdk_out, policy_file))


if __name__ == "__main__":
    sys.exit(main())
