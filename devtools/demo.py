"""`make demo`: the whole control plane, locally, in well under a minute.

An embedded AWS emulator (moto's server on 127.0.0.1, stopped on exit) holds three accounts: tools,
stage and prod. The runtime is created from the program's own resource graph (the offline preview of
the tools stack): the state machine definition, the functions' names, handlers and environment, the
buckets, table, bus and topic. Then, with `artifactctl` as CI would use it:

1. the real CDK fixture is built, signed (the service's own KMS key) and published as commit A (files,
   manifest last; CI writes no metadata); intake verifies the manifest and records the candidate; the
   pipeline deploys it to stage, tests it, promotes it, deploys it to prod and smoke-tests it;
2. commit B is published; it passes stage, but its prod smoke test fails, and the pipeline rolls prod
   back to A on its own.

It prints a timeline (each state, its duration, the events emitted) and the final metadata of both
commits (`artifactctl status`), and exits non-zero if anything did not end as expected.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
GOOD, BAD = "a1" * 20, "b2" * 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _artifactctl_exit(*args: str) -> tuple[int, str]:
    """Its exit code and what it printed (stdout, then stderr)."""
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("artifactctl")), *args], capture_output=True, text=True, env=os.environ
    )
    return completed.returncode, (completed.stdout + completed.stderr).strip()


def _artifactctl(*args: str) -> str:
    code, printed = _artifactctl_exit(*args)
    if code != 0:
        raise RuntimeError(f"artifactctl {' '.join(args[:2])} failed ({code}): {printed}")
    return printed


def _ci_publish(harness: Any, commit: str, previous: str | None, workdir: Path) -> None:
    """What the service's CI does: fetch the blessed context, synth (the fixture), manifest build/sign,
    publish. (It publishes no file asset: the deployer does, from the verified artifact; CI would push
    container images.)"""
    cdk_out = workdir / commit[:12] / "cdk.out"
    context = cdk_out.parent / ".cdk.context.json"
    cdk_out.parent.mkdir(parents=True)
    fetch = ["context", "fetch", "--service", "orders", "--out", str(context)]
    _say(f"  {_artifactctl(*fetch, '--bucket', harness.contexts_bucket, '--kms-key-id', 'alias/cdk-context-signer')}")
    shutil.copytree(PROJECT_DIR / "tests" / "fixtures" / "cdk.out", cdk_out)
    (cdk_out / "build-commit.txt").write_text(commit)  # each commit is a distinct artifact
    manifest = cdk_out.parent / "artifact-manifest.json"
    build = ["manifest", "build", "--cdk-out", str(cdk_out), "--service", "orders", "--commit", commit]
    build += ["--cdk-cli-version", "2.1148.1", "--git-signature-verified", "--out", str(manifest)]
    build += ["--context-file", str(context)]
    build += ["--previous-commit", previous] if previous else []
    _say(f"  {_artifactctl(*build)}")
    from functions.naming import ci_signer_alias

    key = ci_signer_alias("orders")  # each service's CI signs with its own key only
    signed = _artifactctl("manifest", "sign", "--manifest", str(manifest), "--kms-key-id", key)
    _say(f"  {signed}")
    environment = harness.program.environment
    published = _artifactctl(
        "publish", "--cdk-out", str(cdk_out), "--manifest", str(manifest),
        "--bucket", environment["CANDIDATE_BUCKET"],
    )  # fmt: skip
    _say(f"  {published}")


def _say(line: str = "") -> None:
    print(line, flush=True)


def _timeline(harness: Any, execution_arn: str, events: list[dict[str, Any]]) -> None:
    import boto3

    history = boto3.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    start = history[0]["timestamp"]
    entered: dict[str, datetime] = {}
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            began = entered.get(name, event["timestamp"])
            offset = (began - start).total_seconds()
            took = (event["timestamp"] - began).total_seconds()
            _say(f"    +{offset:6.2f}s  {name:<28} {took:6.2f}s")
        elif kind in ("FailStateEntered", "SucceedStateEntered"):
            pass
    described = boto3.client("stepfunctions").describe_execution(executionArn=execution_arn)
    _say(f"    => {described['status']}")
    if harness.waits:
        _say(f"    (rollback backoff requested: {', '.join(f'{w} s' for w in harness.waits)}; not slept in the demo)")
        harness.waits.clear()
    for event in history:
        if event["type"] == "TaskFailed" and os.environ.get("DEMO_DEBUG"):
            _say(f"    task failed: {json.dumps(event['taskFailedEventDetails'])[:300]}")
    for event in events:
        detail = {k: v for k, v in event.items() if k not in ("type", "service", "commit_sha", "execution_id")}
        _say(f"    event {event['type']:<26} {json.dumps(detail, sort_keys=True)[:110]}")


def _run(harness: Any, environment: str, commit: str, title: str) -> dict[str, Any]:
    _say(f"\n{title}")
    bucket = harness.candidate_bucket if environment == "stage" else harness.release_bucket
    started = harness.trigger(bucket, commit)
    if environment == "stage":  # the manifest's arrival: intake verified it and recorded the candidate
        verdict = "recorded the candidate" if started.get("accepted") else f"refused it: {started.get('reason')}"
        _say(f"    intake verified the manifest with orders' own key and {verdict}")
    result = harness.wait(started["execution_arn"])
    _timeline(harness, started["execution_arn"], harness.events())
    return result


def _promotion_and_rollback(harness: Any, workdir: Path) -> bool:
    """The demo's story: a release promoted to prod, then a release whose smoke test fails and is
    rolled back on its own. True if everything ended as expected."""
    _say(f"\nCI publishes commit {GOOD[:12]} (the real CDK fixture)")
    _ci_publish(harness, GOOD, None, workdir)
    stage_good = _run(harness, "stage", GOOD, f"stage run for {GOOD[:12]}")
    prod_good = _run(harness, "prod", GOOD, f"prod run for {GOOD[:12]} (started by the promotion's release upload)")

    _say(f"\nCI publishes commit {BAD[:12]}; its prod smoke test will fail")
    _ci_publish(harness, BAD, GOOD, workdir)
    harness.script.outcomes[("test", "prod", BAD)] = "FAILED"
    stage_bad = _run(harness, "stage", BAD, f"stage run for {BAD[:12]}")
    prod_bad = _run(harness, "prod", BAD, f"prod run for {BAD[:12]}: smoke fails, automatic rollback to {GOOD[:12]}")

    _say(f"\n(deployer builds: {len(harness.build_logs)}, their logs kept out of this timeline)")
    _say("\nfinal metadata (artifactctl status)")
    for commit in (GOOD, BAD):
        _say(_artifactctl("status", "--service", "orders", "--commit", commit))
    good, bad = harness.item(GOOD), harness.item(BAD)
    audit = _audit_trail(harness)
    checks = {
        f"{GOOD[:12]} stage run succeeded": stage_good["status"] == "SUCCEEDED",
        f"{GOOD[:12]} is deployed in prod and healthy": good.get("status") == "deployed"
        and good.get("global_health_status") == "healthy"
        and prod_good["status"] == "SUCCEEDED",
        f"{BAD[:12]} was promoted by stage": stage_bad["status"] == "SUCCEEDED",
        f"{BAD[:12]} was rolled back to {GOOD[:12]}": bad.get("status") == "rollback_succeeded"
        and bad.get("rollback_target_commit") == GOOD
        and "RecordRollbackSucceeded" in prod_bad["states"],
        f"{BAD[:12]} may not be redeployed without a signed override": bad.get("eligibility_revoked") is True,
        **audit,
    }
    _say("\nchecks")
    for name, passed in checks.items():
        _say(f"  {'ok  ' if passed else 'FAIL'} {name}")
    return all(checks.values())


def _audit_trail(harness: Any) -> dict[str, bool]:
    """The audit chain the runs wrote: its depth and root, `artifactctl audit verify`, then an entry edited
    in the table (as someone with write access to it would) and `audit verify` catching it."""
    import boto3

    from functions.audit import AUDIT_TABLE, CHAIN
    from functions.audit.store import read_head

    client = boto3.client("dynamodb")
    head = read_head(client)
    depth = head.seq if head else 0
    _say(f"\naudit chain: depth {depth}, root {head.hash if head else '-'}")
    _say(f"  {_artifactctl('audit', 'log', '--service', 'orders').splitlines()[-1]}  (the last entry)")
    # What the 10-minute schedule does: anchor the chain in the locked bucket, the inbox and CloudTrail Lake.
    answer = boto3.client("lambda").invoke(
        FunctionName=next(n for n in harness.program.functions if n.endswith("-anchor")), Payload=b"{}"
    )
    anchor = json.loads(answer["Payload"].read())
    delivered = sorted(anchor.get("delivered") or [])
    _say(f"  anchor function: depth {anchor.get('depth')} anchored to {', '.join(delivered) or 'nothing'}")
    clean, said = _artifactctl_exit("audit", "verify")
    _say("  artifactctl audit verify -> exit " + f"{clean}:\n    " + said.replace("\n", "\n    "))
    edited = max(1, depth // 2)
    key = {"chain": {"S": CHAIN}, "seq": {"N": str(edited)}}
    client.update_item(
        TableName=AUDIT_TABLE,
        Key=key,
        UpdateExpression="SET reason = :r",
        ExpressionAttributeValues={":r": {"S": "nothing to see here"}},
    )
    _say(f"  entry {edited} edited in the table (its reason rewritten)")
    tampered, found = _artifactctl_exit("audit", "verify")
    _say("  artifactctl audit verify -> exit " + f"{tampered}:\n    " + found.replace("\n", "\n    "))
    return {
        f"the audit chain ({depth} entries) verifies": depth > 10 and clean == 0 and said.startswith("OK"),
        "the chain is anchored in the bucket, the inbox and CloudTrail Lake": anchor.get("depth") == depth
        and delivered == ["cloudtrail", "s3", "sns"]
        and "agree with the chain" in said,
        f"the edited entry {edited} is caught at its position": tampered == 1 and f"seq {edited}" in found,
    }


def main() -> int:
    wall = time.monotonic()
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            # In Lambda, metrics go to CloudWatch as EMF; on a console they would only be noise.
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    import logging
    import warnings

    warnings.filterwarnings("ignore")

    import pytest
    from moto.core.config import default_user_config
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from devtools.emulator.cloudformation import install_cfn_bridges
    from devtools.emulator.harness import Harness
    from devtools.emulator.kms import make_kms_faithful
    from devtools.emulator.program import ProgramGraph

    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="cdkcp-demo-"))
    _say("control plane demo: tools 123456789012, stage 222222222222, prod 333333333333 (us-east-1)")
    program = ProgramGraph.of_program(workdir)
    _say(f"program graph: {len(program.functions)} functions, state machine {program.state_machine_name}")

    default_user_config["stepfunctions"]["execute_state_machine"] = True
    port = _free_port()
    os.environ["MOTO_PORT"] = str(port)  # where moto's Step Functions interpreter sends its own calls
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    _say(f"emulator: moto server on 127.0.0.1:{port}")
    patch = pytest.MonkeyPatch()
    ok = False
    try:
        make_kms_faithful(patch)
        cloudformation = install_cfn_bridges(patch)
        harness = Harness(patch, program, workdir)
        harness.cloudformation = cloudformation
        harness.build_logs = []  # the deployer's own log lines stay in the build logs

        ok = _promotion_and_rollback(harness, workdir)
    finally:
        patch.undo()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    _say(f"\n{'demo succeeded' if ok else 'demo FAILED'} in {time.monotonic() - wall:.1f} s wall time")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
