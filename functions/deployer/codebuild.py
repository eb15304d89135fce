"""What the deployer CodeBuild projects run: `python -m functions.deployer.codebuild`.

The project's variables (`BuildSettings`: TABLE_NAME, ARTIFACT_BUCKET, SERVICE_ACCOUNTS, STACK_POLICIES,
...) and the run's (`RunVariables`: SERVICE, COMMIT_SHA, ENVIRONMENT, MODE, DEPLOYMENT_ID, set by the
state machine) are validated first. The build downloads the artifact, verifies it again with the
service's own signing key (`ServiceKeys`) against the metadata's `artifact_sha256` (the file
CloudFormation reads is the file that was signed), then runs the `DeployRequest` they describe with the
service's deploy role in the target account.

Exit codes: those of `functions.deployer.runner`, plus 2 for a misconfigured build (a variable
missing or wrong, named on stderr), 5 for an invalid artifact (or a service KMS says has no usable
signing key) and 7 when a deploy stopped before its first change set for a reason that is not the
artifact's (`errors.not_started`): KMS not answering for the key (throttled, 5xx, the network), the
artifact's download or metadata read failing, the deploy role not assumable, an AWS error before any
change set. Nothing was deployed and the reason is on stderr (the build's log); a retry may pass.

`python -m functions.deployer.codebuild outcome MODE EXIT_CODE` is the buildspec's next command
(`buildspecs/deploy.yml`): it prints the value the build exports as `DEPLOYER_OUTCOME` and exits with
the status that ends the build (`build_outcome`).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions import naming
from functions.artifacts.errors import InvalidArtifact, SigningError, TransientAwsError
from functions.artifacts.verify import Expectations, verify_artifact
from functions.pipeline.artifacts import download
from functions.pipeline.settings import BuildSettings, SettingsError
from functions.pipeline.signers import ServiceKeys
from functions.pipeline.store import MetadataTable

from .errors import (
    ASSET_MISMATCH,
    DRIFT_CLEAN,
    DRIFT_FOUND,
    EXIT_ASSET_MISMATCH,
    EXIT_DEPLOY_FAILED,
    EXIT_DRIFT,
    EXIT_INVALID_ARTIFACT,
    EXIT_KINDS,
    EXIT_NOT_STARTED,
    EXIT_SUCCESS,
    EXIT_USAGE,
    NOT_STARTED,
    not_started,
)
from .request import DEFAULT_POLL_SECONDS, DEPLOYER_MODES, DeployRequest, Mode, RunVariables, StackPolicy
from .runner import run

RESULT_FILE = Path("deploy-result.json")  # in the build's working directory


def build_outcome(mode: Mode | str, exit_code: int) -> tuple[str, int]:
    """(`DEPLOYER_OUTCOME`, the build's exit status) for the deployer's exit code.

    `startBuild.sync` tells the state machine only whether the build succeeded; a failed build is the
    task error States.TaskFailed, which cannot say why. So a drift check that could tell ends the build
    well, clean or drifted, and says which in `DEPLOYER_OUTCOME` (CodeBuild returns a build's exported
    variables in `Build.ExportedEnvironmentVariables`, the output the state machine routes on). Every
    other ending fails the build with the deployer's code: for a drift check that means it could not
    tell (the deploy role not assumable, an AWS call failed), which is no finding against the release.
    A deploy refused because an asset was not the signed content (nothing deployed) ends the same way
    as a drift finding: a succeeded build exporting `asset_mismatch`, so the pipeline can record it as
    what it is (`AssetHashMismatch`); a rollback refused for the same reason ends the same way, and the
    pipeline records it as a failed rollback attempt that was an asset hash mismatch (then retried).
    """
    kind = EXIT_KINDS.get(exit_code, "failed")
    if Mode(mode) is Mode.DRIFT_CHECK and exit_code in (EXIT_SUCCESS, EXIT_DRIFT):
        return (DRIFT_CLEAN if exit_code == EXIT_SUCCESS else DRIFT_FOUND), EXIT_SUCCESS
    if Mode(mode) in (Mode.DEPLOY, Mode.ROLLBACK) and exit_code == EXIT_ASSET_MISMATCH:
        return ASSET_MISMATCH, EXIT_SUCCESS
    if Mode(mode) is Mode.DEPLOY and exit_code == EXIT_NOT_STARTED:
        return NOT_STARTED, EXIT_SUCCESS
    return kind, exit_code


def deploy_request(
    settings: BuildSettings,
    variables: RunVariables,
    cdk_out: Path,
    *,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    image_digests: Mapping[str, str] | None = None,
    allow_drift: bool = False,
) -> DeployRequest:
    """The request a build describes: the service's deploy and execution roles in its account of this
    environment, the external id its deploy role trusts, and its stack policy (if configured)."""
    service, environment, prefix = variables.service, variables.environment, settings.name_prefix
    account = settings.service_account(service, environment)
    names = naming.ServiceNames(prefix, service, environment)
    policy = settings.stack_policies.get(service, {}).get(environment)
    return DeployRequest(
        cdk_out=cdk_out,
        service=service,
        environment=environment,
        account=account,
        region=settings.region,
        role_arn=naming.role_arn(account, names.deploy_role),
        external_id=naming.external_id(prefix, settings.tools_account_id, service, environment),
        execution_role_arn=naming.role_arn(account, names.execution_role),
        deployment_id=variables.deployment_id,
        mode=variables.mode,
        stack_policy=StackPolicy(policy, f"STACK_POLICIES[{service!r}][{environment.value!r}]") if policy else None,
        poll_seconds=poll_seconds,
        result_path=RESULT_FILE,
        drift_gated=True,  # the state machine's DriftGate runs before every prod deploy
        allow_drift=allow_drift,
        image_digests=dict(image_digests or {}),
    )


def main(
    environ: Mapping[str, str] | None = None,
    *,
    s3: Any = None,
    kms: Any = None,
    base_session: Any = None,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    try:
        settings = BuildSettings.from_environ(environ)
        variables = RunVariables.from_environ(environ)
        settings.service_account(variables.service, variables.environment)
        if variables.mode not in DEPLOYER_MODES:
            expected = ", ".join(DEPLOYER_MODES)
            raise SettingsError(f"environment variable MODE={variables.mode.value!r}: the deployer runs {expected}")
    except SettingsError as exc:
        print(f"codebuild: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        public_key = _service_key(settings, variables.service, kms)
    except SigningError as exc:  # KMS answered: no usable key for this service
        print(f"codebuild: cannot read {variables.service}'s signing key: {exc}", file=sys.stderr)
        return EXIT_INVALID_ARTIFACT
    except TransientAwsError as exc:  # no answer about the key: nothing started, a retry may pass
        print(f"codebuild: KMS did not answer for {variables.service}'s signing key: {exc}", file=sys.stderr)
        return _build_exit(variables.mode)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            verified = _verified_artifact(settings, variables, public_key, Path(scratch), s3)
        except InvalidArtifact as exc:  # the stored artifact itself (no manifest, an unsafe object key)
            for finding in exc.findings:
                print(finding.line(), file=sys.stderr)
            return EXIT_INVALID_ARTIFACT
        except (TransientAwsError, ClientError, BotoCoreError) as exc:  # S3 or DynamoDB did not answer
            print(f"codebuild: reading the artifact failed: {exc}", file=sys.stderr)
            return _build_exit(variables.mode)
        if verified is None:
            return EXIT_INVALID_ARTIFACT
        cdk_out, digests, item = verified
        request = deploy_request(
            settings,
            variables,
            cdk_out,
            poll_seconds=poll_seconds,
            image_digests=digests,
            allow_drift=drift_allowed(item, variables),
        )
        outcome = run(request, base_session=base_session, clock=clock, sleep=sleep)
        return _build_exit(variables.mode, outcome.exit_code, change_sets=outcome.change_sets)


def drift_allowed(item: Mapping[str, Any], variables: RunVariables) -> bool:
    """A signed break-glass request (`allow_drift`) named this very run (its execution name, the build's
    DEPLOYMENT_ID): its drift gate reports drift and lets the deploy go on. Any other run, the next
    attempt of the same release included, is gated as usual."""
    from functions.pipeline.lifecycle import DRIFT_ALLOWED_FOR

    allowed_for = item.get(DRIFT_ALLOWED_FOR)
    return variables.mode is Mode.DRIFT_CHECK and bool(allowed_for) and allowed_for == variables.deployment_id


def _build_exit(mode: Mode, code: int = EXIT_DEPLOY_FAILED, *, change_sets: int = 0) -> int:
    """The build's exit code: a deploy that failed before any change set was not started (said in the
    log); a drift check or a rollback keeps the deployer's code (their failures are retried as they are)."""
    if mode is Mode.DEPLOY and not_started(code, change_sets=change_sets) == EXIT_NOT_STARTED:
        print(
            "codebuild: not started: the deploy stopped before its first change set; nothing was deployed",
            file=sys.stderr,
        )
        return EXIT_NOT_STARTED
    return code


def _service_key(settings: BuildSettings, service: str, kms: Any) -> Any:
    """The service's own signing key: a manifest signed with another service's key does not verify."""
    if kms is None:
        import boto3

        kms = boto3.client("kms", region_name=settings.region)
    return ServiceKeys(kms).public_key(service)


def _verified_artifact(
    settings: BuildSettings, variables: RunVariables, public_key: Any, scratch: Path, s3: Any
) -> tuple[Path, dict[str, str], dict[str, Any]] | None:
    """The artifact's `cdk.out`, downloaded and verified, the image digests its signed manifest records,
    and its metadata item; None (the findings printed) when it fails."""
    import boto3

    service, commit = variables.service, variables.commit_sha
    item = MetadataTable.named(settings.table_name).get(service, commit) or {}
    cdk_out, manifest = download(s3 or boto3.client("s3"), settings.artifact_bucket, service, commit, scratch)
    report = verify_artifact(
        cdk_out,
        manifest,
        public_key,
        Expectations(service=service, commit=commit, artifact_sha256=item.get("artifact_sha256")),
        jobs=os.cpu_count() or 1,
    )
    if not report.ok or report.manifest is None:
        for finding in report.findings:
            print(finding.line(), file=sys.stderr)
        return None
    return cdk_out, image_digests(report.manifest.assets), item


def image_digests(assets: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """asset id -> digest of every container image asset whose digest the manifest records."""
    return {aid: a["digest"] for aid, a in assets.items() if a.get("type") == "docker" and a.get("digest")}


def report_outcome(arguments: list[str]) -> int:
    """`outcome MODE EXIT_CODE`: print `DEPLOYER_OUTCOME`'s value, return the build's exit status."""
    try:
        mode, code = arguments
        outcome, status = build_outcome(mode, int(code))
    except ValueError:
        print(
            f"codebuild outcome: expected MODE EXIT_CODE (MODE one of {', '.join(Mode)}), got {arguments}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(outcome)
    return status


if __name__ == "__main__":
    sys.exit(report_outcome(sys.argv[2:]) if sys.argv[1:2] == ["outcome"] else main())
