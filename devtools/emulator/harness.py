"""End-to-end harness: the real ASL executed by moto's Step Functions interpreter, Lambda tasks run by
our handlers in-process, CodeBuild deploy tasks by our deployer (the real CDK fixture deployed with
change sets into the stage and prod accounts), test and smoke tasks by a scripted runner.

Everything the runtime needs is taken from the program's own resource graph (the offline preview of
the tools stack): the state machine definition, the function names, handlers and environment, the
bucket, table, bus and topic names. Nothing is copied by hand.

What the harness bridges (never the product), per DESIGN.md's facts about moto 5.2.5:
- Lambda invoke needs Docker: `LambdaFunction._invoke_lambda` is patched to call our handler
  (with `lambdas.LambdaContext`);
- CodeBuild tasks fail with States.Runtime: `state_task_service_for("codebuild")` returns the service
  of `builds.py`, which runs the build in-process and answers like `startBuild.sync`;
- CloudFormation's change-set outputs/exports, nested-stack outputs, drift detection and
  `ContinueUpdateRollback` (`cloudformation.py`); the deployer publishes the file assets itself
  (moto lets any caller assume the file-publishing role and ignores the bucket policy; AWS enforces both);
- Wait states and Retry intervals would really sleep: the rollback backoff and the retries' intervals are
  recorded instead of waited; a run waiting
  for its environment's lock (`WaitForLock`, 30 s) sleeps `LOCK_WAIT_SLEEP` seconds, so that the
  executions that hold and wait for a lock really run at the same time, and is counted in `lock_waits`;
- executions run at the same time (each in its own thread, as in Step Functions): moto's DynamoDB
  transactions are made isolated, and `$$.State.EnteredTime` written as Step Functions does
  (`concurrency.py`);
- `$$.Execution.StartTime` is a datetime in moto, an ISO 8601 string in Step Functions;
- moto wraps the value of a definite path through an array element (`$.a[0].b`) in a list; Step
  Functions gives the value (the drift gate's Choice reads `...ExportedEnvironmentVariables[0].Value`);
- CloudTrail Lake's `cloudtrail-data` PutAuditEvents, which moto lacks (`anchors.CloudTrailLake`), for the
  audit anchor function, whose bucket (Object Lock) and topic the harness creates too;
- KMS `Sign` with `MessageType=DIGEST` (`kms.py`): each service's CI signs with that service's own KMS
  key (`naming.ci_signer_alias(service)`, one per configured service), and Validate and the deployer read
  the public half of the key of the service a run is for.

A candidate manifest's `Object Created` goes to intake (it records the candidate and starts stage), a
release manifest's to the dispatcher (prod), as the program's EventBridge rules route them.

The context generator's part is played by the harness too: `orders` makes lookups (`contextLookups: true`
in the example config), so a blessed context signed by a key under `alias/cdk-context-signer` is published
for it, and CI's synth (`publish`) reads it unless a scenario says otherwise.

The runtime's shape (`program.ProgramGraph`) comes from the program's offline preview.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import boto3

from devtools.emulator.anchors import create_anchor_destinations
from devtools.emulator.aws import account_client, create_metadata_table
from devtools.emulator.builds import BuildScript, codebuild_service
from devtools.emulator.concurrency import serialise_dynamodb, step_functions_entered_time
from devtools.emulator.jsonpath import definite_paths_name_one_value
from devtools.emulator.lambdas import LambdaContext, log_to_current_stdout
from devtools.emulator.program import ACCOUNTS, PREFIX, PROJECT_DIR, REGION, TOOLS, ProgramGraph
from functions import naming
from functions.artifacts.manifest import Manifest, build_manifest, dumps
from functions.artifacts.publish import publish
from functions.artifacts.signing import KmsSigner, sign_manifest
from functions.deployer.request import Mode
from functions.pipeline.lifecycle import EVENT_SOURCE, Environment

LOCK_WAIT_STATE = "WaitForLock"
LOCK_WAIT_SLEEP = 0.05
FIXTURE = PROJECT_DIR / "tests" / "fixtures" / "cdk.out"
CLI_VERSION = "2.1148.1"
# What the context generator's lookups in orders' stage and prod accounts found.
BLESSED_CONTEXT = {
    "availability-zones:account=222222222222:region=us-east-1": ["us-east-1a", "us-east-1b", "us-east-1c"],
    "availability-zones:account=333333333333:region=us-east-1": ["us-east-1a", "us-east-1b", "us-east-1c"],
}


class Harness:
    """Tools, stage and prod accounts in one moto, and the pipeline's runtime resources."""

    def __init__(self, monkeypatch: Any, program: ProgramGraph, tmp: Path) -> None:
        self.program = program
        self.tmp = tmp
        self.script = BuildScript(deployer=self._run_deployer)
        self.waits: list[int] = []
        self.retry_waits: list[float] = []  # the intervals of the Retry attempts taken
        self.lock_waits: list[str] = []  # the execution of each wait for a lock
        self.executions: list[tuple[str, list[str]]] = []  # (execution name, states entered in order)
        self.build_logs: list[str] | None = None  # set to a list to keep the builds' output off the console
        self._patch(monkeypatch)
        self._environment(monkeypatch)
        self._resources()
        self.anchors = create_anchor_destinations(
            monkeypatch, TOOLS, REGION, self.program.environment.get("ANCHOR_CHANNEL_ARN")
        )
        assert self.anchors.topic_arn == self.program.environment["ANCHOR_TOPIC_ARN"]
        self._bootstrap_service_accounts()

    # --- setup ---

    def _patch(self, monkeypatch: Any) -> None:
        from moto.awslambda.models import LambdaFunction
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_factory as factory,
        )
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

        def invoke(function: Any, event: Any = None) -> tuple[str, bool, str]:
            payload = json.loads(event) if isinstance(event, str) else (event or {})
            module_name, attribute = self.program.functions[function.function_name]["handler"].rsplit(".", 1)
            handler = getattr(importlib.import_module(module_name), attribute)
            log_to_current_stdout()
            try:
                result = handler(payload, LambdaContext(function.function_name))
                return json.dumps(result, default=str), False, ""
            except Exception as exc:  # what Lambda reports for an unhandled error
                return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True, ""

        monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory

        original = factory.state_task_service_for
        codebuild = codebuild_service(self.script)

        def service_for(service_name: str) -> Any:
            return codebuild() if service_name == "codebuild" else original(service_name)

        # Patched where it is defined and where it was imported by name.
        monkeypatch.setattr(factory, "state_task_service_for", service_for)
        monkeypatch.setattr(state_task_factory, "state_task_service_for", service_for)

        def no_wait(wait_self: Any, env: Any, wait_seconds: int) -> None:
            context = env.states.context_object.context_object_data
            if context["State"]["Name"] == LOCK_WAIT_STATE:
                self.lock_waits.append(context["Execution"]["Name"])
                time.sleep(LOCK_WAIT_SLEEP)
                return
            self.waits.append(wait_seconds)

        monkeypatch.setattr(WaitFunction, "_wait_interval", no_wait)

        # A Retry's interval (2 s, doubling) would really sleep too: recorded instead, as the Wait states.
        from types import SimpleNamespace

        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=self.retry_waits.append))

        # moto puts a datetime into $$.Execution.StartTime; Step Functions gives an ISO 8601 string.
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        original_environment = ExecutionWorker._get_evaluation_environment

        def iso_start_time(worker: Any) -> Any:
            env = original_environment(worker)
            execution = env.states.context_object.context_object_data["Execution"]
            if hasattr(execution.get("StartTime"), "isoformat"):
                execution["StartTime"] = execution["StartTime"].isoformat().replace("+00:00", "Z")
            return env

        monkeypatch.setattr(ExecutionWorker, "_get_evaluation_environment", iso_start_time)
        definite_paths_name_one_value(monkeypatch)
        serialise_dynamodb(monkeypatch)
        step_functions_entered_time(monkeypatch)

    def _environment(self, monkeypatch: Any) -> None:
        for key, value in self.program.environment.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
        environment = self.program.environment
        self.candidate_bucket = environment["CANDIDATE_BUCKET"]
        self.release_bucket = environment["RELEASE_BUCKET"]
        assert environment["TOOLS_ACCOUNT_ID"] == TOOLS
        from functions.handlers import clients
        from functions.pipeline.catalog import ServiceCatalog

        self.catalog = ServiceCatalog.from_bytes(self.program.catalog_bytes)
        assert self.catalog.services["orders"].accounts == ACCOUNTS["orders"]
        clients.forget()

    def _resources(self) -> None:
        environment = self.program.environment
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (self.candidate_bucket, self.release_bucket):
            s3.create_bucket(Bucket=bucket)
            # Versioned, as the program's SecureBucket makes them: promotion copies verified versions.
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        # What `pulumi up` writes into the tooling bucket for the functions: the service catalog.
        for (bucket, key), content in self.program.objects.items():
            if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=key, Body=content.encode())
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_metadata_table(dynamodb, environment["TABLE_NAME"])
        self.signers = self._signing_keys(self.catalog.services)
        self._bless_context()

        bus = environment["EVENT_BUS_NAME"]
        events = boto3.client("events", region_name=REGION)
        events.create_event_bus(Name=bus)
        sqs = boto3.client("sqs", region_name=REGION)
        self.queue_url = sqs.create_queue(QueueName="captured-events")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        queue_arn = attributes["Attributes"]["QueueArn"]
        events.put_rule(Name="capture", EventBusName=bus, EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
        events.put_targets(Rule="capture", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name=environment["ALERT_TOPIC_ARN"].rsplit(":", 1)[1])["TopicArn"]
        assert topic == environment["ALERT_TOPIC_ARN"]
        self.alerts_url = sqs.create_queue(QueueName="captured-alerts")["QueueUrl"]
        alerts_arn = sqs.get_queue_attributes(QueueUrl=self.alerts_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=alerts_arn)

        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="harness-functions", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = boto3.client("lambda", region_name=REGION)
        for name, function in self.program.functions.items():
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler=function["handler"],
                Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        self.state_machine_arn = sfn.create_state_machine(
            name=self.program.state_machine_name,
            definition=json.dumps(self.program.definition),
            roleArn=f"arn:aws:iam::{TOOLS}:role/{PREFIX}-pipeline",
            type="STANDARD",
        )["stateMachineArn"]
        assert self.state_machine_arn == environment["STATE_MACHINE_ARN"]

    @staticmethod
    def _signing_keys(services: dict[str, Any]) -> dict[str, KmsSigner]:
        """One KMS signing key per configured service, under its alias, as `SigningKeys` declares them."""
        kms = boto3.client("kms", region_name=REGION)
        signers = {}
        for service in sorted(services):
            key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=naming.ci_signer_alias(service), TargetKeyId=key_id)
            signers[service] = KmsSigner(naming.ci_signer_alias(service), kms)
        return signers

    def service_signer(self, service: str) -> KmsSigner:
        """What the service's CI signs with: its own KMS key."""
        return self.signers[service]

    def _bless_context(self) -> None:
        """The context generator: the contexts bucket, its signing key, and orders' blessed context."""
        validate = self.program.functions[f"{PREFIX}-validate"]["environment"]
        self.contexts_bucket = validate["CONTEXTS_BUCKET"]
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=self.contexts_bucket)
        kms = boto3.client("kms", region_name=REGION)
        key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=validate["CONTEXT_SIGNER_KEY_ID"], TargetKeyId=key_id)
        self.context_signer = KmsSigner(validate["CONTEXT_SIGNER_KEY_ID"], kms)
        self.blessed_context = self.publish_context(BLESSED_CONTEXT)

    def publish_context(self, content: dict[str, Any], signer: Any = None) -> Path:
        """`artifactctl context publish --service orders`: the file CI's synth reads from now on."""
        from functions.artifacts.contexts import publish_context

        path = self.tmp / f"context-{len(list(self.tmp.glob('context-*')))}.json"
        path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
        s3 = boto3.client("s3", region_name=REGION)
        publish_context("orders", path, bucket=self.contexts_bucket, signer=signer or self.context_signer, s3=s3)
        return path

    # --- service accounts ---

    def _run_deployer(self, project: str, overrides: dict[str, str]) -> int:
        """A CodeBuild deployer build: the project's environment, the run's overrides, our code (polling
        CloudFormation every millisecond: the emulator's operations complete at once)."""
        from functions.deployer import codebuild

        environment = {**os.environ, **self.program.projects[project], **overrides}
        workdir = self.tmp / "builds" / f"{len(self.script.runs)}"
        workdir.mkdir(parents=True)
        previous = Path.cwd()
        os.chdir(workdir)
        try:
            if self.build_logs is None:
                return codebuild.main(environment, poll_seconds=0.001)
            import contextlib
            import io

            output = io.StringIO()
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                code = codebuild.main(environment, poll_seconds=0.001)
            self.build_logs.append(output.getvalue())
            return code
        finally:
            os.chdir(previous)

    def _bootstrap_service_accounts(self) -> None:
        """What the stage and prod stacks create that a deploy reads: asset bucket, version parameter."""
        for environments in ACCOUNTS.values():
            for account in environments.values():
                names = naming.CdkBootstrapNames("hnb659fds", account, REGION)
                self.account_client("s3", account).create_bucket(Bucket=names.asset_bucket)
                self.account_client("ssm", account).put_parameter(
                    Name=names.version_parameter, Value="21", Type="String"
                )

    def account_client(self, service: str, account: str) -> Any:
        return account_client(service, account, REGION)

    # --- artifacts ---

    def publish(
        self,
        commit: str,
        previous: str | None = None,
        signer: Any = None,
        service: str = "orders",
        content: str = "",
        context: Path | None | str = "blessed",
        prepare: Any = None,
        build_time: str | None = None,
    ) -> Manifest:
        """CI: synthesize (a copy of the fixture, with the blessed context unless `context` names another
        file, or None for none; `prepare(cdk_out)` may change it before it is signed), build and sign
        the manifest, upload (files, manifest last; no metadata). `content` changes the bytes (the same
        content under two commits is the same `artifact_sha256`); `build_time` when CI built it (builds
        published in one second would tie). CI publishes no file asset: the
        deployer does, from the verified artifact, through the file-publishing role that trusts only it."""
        cdk_out = self.cdk_out(commit, service)
        shutil.rmtree(cdk_out, ignore_errors=True)  # a re-publish of the commit
        shutil.copytree(FIXTURE, cdk_out)
        (cdk_out / "build-commit.txt").write_text(content or commit)  # each commit is a distinct artifact
        if prepare is not None:
            prepare(cdk_out)
        unsigned = build_manifest(
            cdk_out,
            service=service,
            commit=commit,
            cdk_cli_version=CLI_VERSION,
            context_file=self._context_file(service, context),
            previous_commit=previous,
            git_signature_verified=True,
        )
        if build_time:  # CI built it then (builds published in one second would tie)
            unsigned = dataclasses.replace(unsigned, build_time=build_time)
        manifest = sign_manifest(unsigned, signer or self.signers[service])
        publish(cdk_out, dumps(manifest), bucket=self.candidate_bucket, s3=boto3.client("s3", region_name=REGION))
        return manifest

    def cdk_out(self, commit: str, service: str = "orders") -> Path:
        """Where CI synthesized `service@commit` (what it signed)."""
        return self.tmp / service / commit / "cdk.out"

    def _context_file(self, service: str, context: Path | None | str) -> Path | None:
        """ "blessed": the service's blessed context if it makes lookups (only orders does in the example
        config), none otherwise; or the file (or None) a scenario names."""
        if context == "blessed":
            return self.blessed_context if service == "orders" else None
        return Path(context) if context is not None else None

    # --- running ---

    def trigger(self, bucket: str, commit: str, event_id: str = "evt-1", service: str = "orders") -> dict[str, Any]:
        """What EventBridge delivers for the manifest's Object Created: a candidate's to intake, a
        release's to the dispatcher (the program's two trigger rules)."""
        from functions.handlers import dispatcher, intake

        event = {
            "id": event_id,
            "detail-type": "Object Created",
            "source": "aws.s3",
            "detail": {"bucket": {"name": bucket}, "object": {"key": f"{service}/{commit}/artifact-manifest.json"}},
        }
        if bucket == self.candidate_bucket:
            return intake.handler(event, LambdaContext(f"{PREFIX}-intake"))
        return dispatcher.handler(event, LambdaContext(f"{PREFIX}-dispatcher"))

    def start(self, name: str, commit: str, environment: str, source: str, service: str = "orders") -> str:
        """Start an execution directly, as the sweeper or an operator would; returns its ARN."""
        execution = boto3.client("stepfunctions", region_name=REGION).start_execution(
            stateMachineArn=self.state_machine_arn,
            name=name,
            input=json.dumps(
                {"service": service, "commit_sha": commit, "environment": environment, "trigger": {"source": source}}
            ),
        )
        return execution["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
                described["states"] = [
                    e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")
                ]
                self.executions.append((described["name"], described["states"]))
                return described
            time.sleep(0.05)
        raise TimeoutError(f"execution {execution_arn} still running after {timeout}s")

    def deploys(self, environment: str | None = None) -> list[dict[str, str]]:
        return [
            r
            for r in self.script.runs
            if r["mode"] in (Mode.DEPLOY, Mode.ROLLBACK) and environment in (None, r["environment"])
        ]

    def run(self, environment: str, commit: str, service: str = "orders") -> dict[str, Any]:
        bucket = self.candidate_bucket if environment == Environment.STAGE else self.release_bucket
        started = self.trigger(bucket, commit, service=service)
        assert started["started"], started
        return self.wait(started["execution_arn"])

    # --- observing ---

    def item(self, commit: str, service: str = "orders") -> dict[str, Any]:
        from functions.pipeline.store import MetadataTable

        return MetadataTable.named(self.program.environment["TABLE_NAME"]).get(service, commit) or {}

    def events(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        captured = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return captured
            for message in messages:
                body = json.loads(message["Body"])
                captured.append({"type": body["detail-type"], **body["detail"]})
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def alerts(self) -> list[str]:
        sqs = boto3.client("sqs", region_name=REGION)
        messages = sqs.receive_message(QueueUrl=self.alerts_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]).get("Subject", "") for m in messages]

    def objects(self, bucket: str, commit: str, service: str = "orders") -> list[str]:
        listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket, Prefix=f"{service}/{commit}/")
        return sorted(o["Key"] for o in listed.get("Contents", []))
