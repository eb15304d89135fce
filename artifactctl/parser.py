"""`artifactctl`'s command line: commands, flags and their defaults. A contract that CI workflows and
operators script against: names and flags do not change."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .audit_commands import cmd_audit_log, cmd_audit_verify
from .context_commands import cmd_context_fetch, cmd_context_guard, cmd_context_publish
from .manifest_commands import cmd_manifest_build, cmd_manifest_sign, cmd_manifest_verify
from .override_commands import DEFAULT_FUNCTION, cmd_override_request, cmd_override_submit
from .publish_commands import cmd_publish, cmd_status

CONTEXT_SIGNER_ALIAS = "alias/cdk-context-signer"
CONTEXTS_BUCKET_ENV = "ARTIFACTCTL_CONTEXTS_BUCKET"


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class _Removed(argparse.Action):
    """A flag that no longer exists, refused with the reason (rather than argparse's bare
    "unrecognized arguments")."""

    def __init__(self, option_strings: list[str], dest: str, why: str = "", **kwargs: object) -> None:
        self.why = why
        super().__init__(option_strings, dest, nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def __call__(
        self, parser: argparse.ArgumentParser, _namespace: object, _values: object, option: object = None
    ) -> None:
        parser.error(f"{option} was removed: {self.why}")


def _key_source(parser: argparse.ArgumentParser, private: bool, default_kms_key: str | None = None) -> None:
    group = parser.add_mutually_exclusive_group(required=default_kms_key is None)
    group.add_argument(
        "--kms-key-id",
        default=default_kms_key,
        help="KMS key id, ARN or alias" + (f" (default: {default_kms_key})" if default_kms_key else ""),
    )
    if private:
        group.add_argument("--private-key", type=Path, help="PEM file of an ECC P-256 private key")
    else:
        group.add_argument("--public-key", type=Path, help="PEM file of the trusted ECC P-256 public key")


def _contexts_bucket(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get(CONTEXTS_BUCKET_ENV)
    parser.add_argument(
        "--bucket",
        default=default,
        required=default is None,
        help=f"the contexts bucket (default: ${CONTEXTS_BUCKET_ENV})",
    )


def _json_flag(*parsers: argparse.ArgumentParser) -> None:
    for parser in parsers:
        parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _progress_flag(*parsers: argparse.ArgumentParser) -> None:
    for parser in parsers:
        parser.add_argument(
            "--progress", action=argparse.BooleanOptionalAction, default=None, help="default: when stderr is a terminal"
        )


def _add_manifest(commands: argparse._SubParsersAction) -> None:
    manifest = commands.add_parser("manifest", help="artifact manifests").add_subparsers(dest="action", required=True)
    build = manifest.add_parser("build", help="write the unsigned manifest of a cdk.out tree")
    build.add_argument("--cdk-out", type=Path, required=True)
    build.add_argument("--service", required=True)
    build.add_argument("--commit", required=True, help="full 40-character commit SHA")
    build.add_argument("--context-file", type=Path, help="the .cdk.context.json the synth used")
    build.add_argument("--previous-commit")
    build.add_argument("--git-signature-verified", action="store_true", help="CI verified the commit's signature")
    build.add_argument("--cdk-cli-version", help="default: ask `cdk --version`")
    build.add_argument(
        "--build-started-at", help="synth start (epoch seconds or ISO 8601); default: oldest output file"
    )
    build.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1)
    build.add_argument(
        "--image-digests",
        type=Path,
        help="JSON object of container image asset id to the sha256:... digest CI pushed (the deployer checks it)",
    )
    build.add_argument("--out", type=Path, required=True)
    build.set_defaults(handler=cmd_manifest_build)

    sign = manifest.add_parser("sign", help="sign a manifest in place and write its DSSE provenance")
    sign.add_argument("--manifest", type=Path, required=True)
    _key_source(sign, private=True)
    sign.add_argument("--provenance-out", type=Path, help="default: artifact-provenance.dsse.json beside the manifest")
    sign.set_defaults(handler=cmd_manifest_sign)

    verify = manifest.add_parser("verify", help="check a cdk.out tree against its signed manifest")
    verify.add_argument("--cdk-out", type=Path, required=True)
    verify.add_argument("--manifest", type=Path, required=True)
    _key_source(verify, private=False)
    verify.add_argument("--expect-service")
    verify.add_argument("--expect-commit")
    verify.add_argument("--expect-artifact-sha256")
    verify.add_argument("--expect-context-hash")
    verify.add_argument("--approved-cdk-versions", help="comma-separated, e.g. 2.126.0,2.127.0")
    verify.add_argument("--jobs", type=_positive, default=os.cpu_count() or 1)
    verify.set_defaults(handler=cmd_manifest_verify)
    _json_flag(build, verify)
    _progress_flag(build, verify)


def _add_publish(commands: argparse._SubParsersAction) -> None:
    publish = commands.add_parser(
        "publish", help="upload the artifact, manifest last (intake in the tools account records the candidate)"
    )
    publish.add_argument("--cdk-out", type=Path, required=True)
    publish.add_argument("--manifest", type=Path, required=True)
    publish.add_argument("--bucket", required=True, help="the candidate bucket")
    publish.add_argument(
        "--table",
        action=_Removed,
        why="CI writes nothing in the metadata table; intake records the candidate when the manifest arrives",
    )
    publish.add_argument("--provenance", type=Path, help="default: artifact-provenance.dsse.json beside the manifest")
    key = publish.add_mutually_exclusive_group()
    key.add_argument(
        "--public-key",
        type=Path,
        help="PEM public key the manifest and provenance must verify with (required for a locally signed manifest)",
    )
    key.add_argument("--kms-key-id", help="KMS key whose public half checks them (default: the manifest's kms: signer)")
    publish.add_argument("--region")
    publish.add_argument("--jobs", type=_positive, default=8)
    publish.set_defaults(handler=cmd_publish)
    _json_flag(publish)


def _add_context(commands: argparse._SubParsersAction) -> None:
    context = commands.add_parser("context", help="blessed .cdk.context.json files").add_subparsers(
        dest="action", required=True
    )
    context_publish = context.add_parser(
        "publish", help="sign and upload a context (optionally regenerating it N times)"
    )
    context_publish.add_argument(
        "--service",
        "--env",
        dest="env",
        required=True,
        help="the service whose blessed context this is (its stage and prod lookups; --env is the old name)",
    )
    context_publish.add_argument("--file", type=Path, required=True)
    context_publish.add_argument(
        "--generator-cmd", help="command that writes --file; run --runs times, outputs must match"
    )
    context_publish.add_argument("--runs", type=int, default=3)
    _contexts_bucket(context_publish)
    context_publish.add_argument("--region")
    _key_source(context_publish, private=True, default_kms_key=CONTEXT_SIGNER_ALIAS)
    context_publish.set_defaults(handler=cmd_context_publish)
    _json_flag(context_publish)

    fetch = context.add_parser("fetch", help="download, verify and write the blessed context")
    fetch.add_argument(
        "--service",
        "--env",
        dest="env",
        required=True,
        help="the service whose blessed context this is (its stage and prod lookups; --env is the old name)",
    )
    fetch.add_argument("--out", type=Path, default=Path(".cdk.context.json"))
    _contexts_bucket(fetch)
    fetch.add_argument("--region")
    fetch.add_argument("--expect-hash")
    _key_source(fetch, private=False, default_kms_key=CONTEXT_SIGNER_ALIAS)
    fetch.set_defaults(handler=cmd_context_fetch)

    context_guard = context.add_parser("guard", help="fail if the change commits a .cdk.context.json")
    context_guard.add_argument("--repo", type=Path, default=Path("."))
    context_guard.add_argument("--base", help="also check the commits since this revision, e.g. origin/main")
    context_guard.set_defaults(handler=cmd_context_guard)


def _add_status(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser("status", help="an artifact's lifecycle and per-environment state")
    status.add_argument("--service", required=True)
    status.add_argument("--commit", help="one artifact in detail; default: every artifact of the service")
    status.add_argument("--table", default="cdk-artifact-metadata")
    status.add_argument("--region")
    status.set_defaults(handler=cmd_status)
    _json_flag(status)


def _add_audit(commands: argparse._SubParsersAction) -> None:
    from functions.audit import ANCHORS_BUCKET, AUDIT_TABLE

    audit = commands.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="action", required=True
    )
    verify = audit.add_parser(
        "verify", help="recompute the hash chain and check it against its anchors; exit 1 at the first tampered entry"
    )
    verify.add_argument(
        "--anchors-bucket",
        help=f"the anchors bucket (default: the caller's account's {ANCHORS_BUCKET}-<account>-<region>)",
    )
    verify.add_argument(
        "--anchor-message",
        type=Path,
        metavar="FILE",
        help="an anchor as mailed to the audit inbox (the message body, or the whole e-mail): checked too",
    )
    verify.set_defaults(handler=cmd_audit_verify)
    log = audit.add_parser("log", help="list audit entries")
    log.add_argument("--service", help="only this service's entries")
    log.add_argument("--since", help="only entries at or after this ISO 8601 time, e.g. 2026-11-23T00:00:00Z")
    log.set_defaults(handler=cmd_audit_log)
    _json_flag(log)
    for command in (verify, log):
        command.add_argument("--table", default=AUDIT_TABLE, help=f"the audit table (default: {AUDIT_TABLE})")
        command.add_argument("--region")


def _add_override(commands: argparse._SubParsersAction) -> None:
    from functions.overrides.request import OverrideAction

    override = commands.add_parser("override", help="signed operator requests (break-glass included)")
    actions = override.add_subparsers(dest="action_command", required=True)
    request = actions.add_parser("request", help="write a signed override request")
    request.add_argument("--action", required=True, choices=[a.value for a in OverrideAction])
    request.add_argument("--service", required=True)
    request.add_argument("--commit", required=True, help="full 40-character commit SHA of the item acted on")
    request.add_argument("--environment", choices=["stage", "prod"], help="default: prod where only prod applies")
    request.add_argument("--target-commit", help="manual_rollback: the known-good release to roll back to")
    request.add_argument("--reason", required=True, help="the justification (signed, audited, stored on the item)")
    request.add_argument("--expires-in", default="15m", help="lifetime, at most 1h (default: 15m)")
    request.add_argument("--requester", help="principal ARN (default: STS GetCallerIdentity)")
    request.add_argument("--out", type=Path, help="write the request here (default: stdout)")
    request.add_argument("--region")
    _key_source(request, private=True, default_kms_key=None)
    request.set_defaults(handler=cmd_override_request)
    submit = actions.add_parser("submit", help="hand a signed request to the orchestrator; exit 5 if refused")
    submit.add_argument("file", type=Path)
    default = os.environ.get("ARTIFACTCTL_OVERRIDE_FUNCTION", DEFAULT_FUNCTION)
    submit.add_argument("--function", default=default, help=f"the override function (default: {default})")
    submit.add_argument("--region")
    _json_flag(submit)
    submit.set_defaults(handler=cmd_override_submit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artifactctl",
        description="Build, sign, verify and publish CDK artifacts and blessed contexts.",
        epilog="exit codes: 0 ok, 1 invalid artifact, context or audit chain, 2 usage, 3 AWS or key error, "
        "5 override refused",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_manifest(commands)
    _add_publish(commands)
    _add_context(commands)
    _add_status(commands)
    _add_audit(commands)
    _add_override(commands)
    return parser
