"""The pipeline as the program declares it: state machine, functions, builds, triggers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from functions.deterministic_zip import write_zip
from functions.naming import FUNCTIONS
from functions.pipeline.lifecycle import EVENT_SOURCE
from functions.pipeline.settings import BuildSettings, FunctionSettings

from .graph import as_list, inline_policies, named, of_type, role, statements

TOOLS = "111111111111"
REGION = "us-east-1"


def functions(graph: dict) -> dict[str, dict]:
    return {r["inputs"]["name"]: r["inputs"] for r in of_type(graph, "aws:lambda/function:Function")}


def definition(graph: dict) -> dict:
    (machine,) = of_type(graph, "aws:sfn/stateMachine:StateMachine")
    return json.loads(machine["inputs"]["definition"])


def test_deployed_definition_has_catch_and_timeout_on_every_task(graphs: dict) -> None:
    tasks = {n: s for n, s in definition(graphs["tools"])["States"].items() if s["Type"] == "Task"}
    assert len(tasks) > 20
    for name, state in tasks.items():
        # the spec's 60-minute phase at most; a Lambda task's is its function's timeout and a margin
        assert 0 < state["TimeoutSeconds"] <= 3600, name
        assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name


def test_deployed_definition_points_at_the_declared_functions_and_projects(graphs: dict) -> None:
    graph = graphs["tools"]
    declared_functions = {f"arn:aws:lambda:{REGION}:{TOOLS}:function:{name}" for name in functions(graph)}
    declared_projects = {r["inputs"]["name"] for r in of_type(graph, "aws:codebuild/project:Project")}
    used_functions, used_projects = set(), set()
    for state in definition(graph)["States"].values():
        parameters = state.get("Parameters", {})
        if state.get("Resource", "").startswith("arn:aws:lambda:"):
            used_functions.add(state["Resource"])
        if "ProjectName" in parameters:
            used_projects.add(parameters["ProjectName"])
    assert used_functions <= declared_functions and len(used_functions) == 5  # the dispatcher starts runs
    assert used_projects == declared_projects
    plan = definition(graph)["States"]["PlanRollback"]
    assert plan["Parameters"]["max_attempts"] == 2  # maxRollbackAttempts from config


def test_state_machine_is_standard_logged_and_traced(graphs: dict) -> None:
    (machine,) = of_type(graphs["tools"], "aws:sfn/stateMachine:StateMachine")
    inputs = machine["inputs"]
    assert inputs["type"] == "STANDARD" and inputs["name"] == "cdkcp-DeployArtifactPipeline"
    assert inputs["tracingConfiguration"] == {"enabled": True}
    assert inputs["loggingConfiguration"]["logDestination"].endswith(":*")
    assert inputs["roleArn"] == f"arn:aws:iam::{TOOLS}:role/cdkcp-pipeline"


def test_every_function_is_traced_logged_and_has_its_own_role(graphs: dict) -> None:
    graph = graphs["tools"]
    declared = functions(graph)
    assert set(declared) == {f"cdkcp-{f}" for f in FUNCTIONS}
    roles = {inputs["role"] for inputs in declared.values()}
    assert len(roles) == len(declared)  # one role each
    log_groups = {r["inputs"]["name"]: r["inputs"] for r in of_type(graph, "aws:cloudwatch/logGroup:LogGroup")}
    for name, inputs in declared.items():
        assert inputs["tracingConfig"] == {"mode": "Active"}, name
        assert inputs["runtime"] == "python3.12" and inputs["handler"].startswith("functions.handlers."), name
        group = log_groups[f"/aws/lambda/{name}"]
        assert inputs["loggingConfig"]["logGroup"] == f"/aws/lambda/{name}"
        assert group["retentionInDays"] == 90 and group["kmsKeyId"].startswith(f"arn:aws:kms:{REGION}:{TOOLS}:key/")
        assert inputs["layers"] and inputs["code"] == {"archive": inputs["code"]["archive"]}
        assert all(path.startswith("functions/") and path.endswith(".py") for path in inputs["code"]["archive"])
    assert declared["cdkcp-dispatcher"]["reservedConcurrentExecutions"] == 5


def test_function_logs_are_scoped_to_their_own_group(graphs: dict) -> None:
    graph = graphs["tools"]
    for function in FUNCTIONS:
        role_name = "cdkcp-finalizer" if function == "finalizer" else f"cdkcp-fn-{function}"
        (policy,) = inline_policies(graph, role(graph, role_name)).values()
        logs = [s for s in statements(policy) if any(a.startswith("logs:") for a in s["Action"])]
        arn = f"arn:aws:logs:{REGION}:{TOOLS}:log-group:/aws/lambda/cdkcp-{function}"
        assert [s["Resource"] for s in logs] == [[arn, f"{arn}:*"]], function


def test_failed_async_invocations_go_to_the_dead_letter_queue_but_the_sweepers(graphs: dict) -> None:
    configs = {
        c["inputs"]["functionName"]: c["inputs"]
        for c in of_type(graphs["tools"], "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    }
    assert set(configs) == {f"cdkcp-{function}" for function in FUNCTIONS}
    # The next scheduled sweep is the sweeper's retry: no retry against its concurrency of 1, no dead letter.
    sweeper = configs.pop("cdkcp-sweeper")
    assert sweeper["maximumRetryAttempts"] == 0 and "destinationConfig" not in sweeper
    # nor does a throttled sweep wait its turn for hours: one older than a sweep's interval is dropped
    assert sweeper["maximumEventAgeInSeconds"] == 120
    # The anchor's likewise: a retried anchor would mail the inbox again; the next one is 10 minutes later.
    anchor = configs.pop("cdkcp-anchor")
    assert anchor["maximumRetryAttempts"] == 0 and "destinationConfig" not in anchor
    assert anchor["maximumEventAgeInSeconds"] == 600
    for function, config in configs.items():
        destination = config["destinationConfig"]["onFailure"]["destination"]
        assert destination == f"arn:aws:sqs:{REGION}:{TOOLS}:cdkcp-functions-dlq", function
        assert config["maximumRetryAttempts"] == 2, function


def test_build_projects_time_out_after_60_minutes_and_log(graphs: dict) -> None:
    projects = {r["inputs"]["name"]: r["inputs"] for r in of_type(graphs["tools"], "aws:codebuild/project:Project")}
    assert set(projects) == {"cdkcp-deployer-stage", "cdkcp-deployer-prod", "cdkcp-tests-stage", "cdkcp-smoke-prod"}
    for name, inputs in projects.items():
        assert inputs["buildTimeout"] == 60, name
        assert inputs["logsConfig"]["cloudwatchLogs"] == {"groupName": f"/aws/codebuild/{name}", "status": "ENABLED"}
        variables = {e["name"]: e["value"] for e in inputs["environment"]["environmentVariables"]}
        assert variables["ARTIFACT_BUCKET"].startswith(
            "cdk-artifacts-candidate" if name.endswith("stage") else "cdk-artifacts-release"
        )
    tests = {e["name"]: e["value"] for e in projects["cdkcp-tests-stage"]["environment"]["environmentVariables"]}
    assert json.loads(tests["TEST_COMMANDS"])["orders"]["stage"] == "npm ci && npm run test:integration"
    deploy = {e["name"]: e["value"] for e in projects["cdkcp-deployer-prod"]["environment"]["environmentVariables"]}
    assert json.loads(deploy["STACK_POLICIES"])["orders"]["prod"]["Statement"]


def test_candidate_manifests_go_to_intake_and_release_manifests_to_the_dispatcher(graphs: dict) -> None:
    graph = graphs["tools"]
    rules = {
        r["name"]: json.loads(r["inputs"]["eventPattern"]) for r in of_type(graph, "aws:cloudwatch/eventRule:EventRule")
    }
    for environment, bucket in (("stage", "cdk-artifacts-candidate"), ("prod", "cdk-artifacts-release")):
        pattern = rules[f"deploy-pipeline-trigger-{environment}"]
        assert pattern["detail"]["bucket"]["name"] == [f"{bucket}-{TOOLS}-{REGION}"]
        assert pattern["detail"]["object"]["key"] == [{"suffix": "/artifact-manifest.json"}]
        target = named(graph, f"deploy-pipeline-trigger-{environment}-target")["inputs"]
        receiver = "intake" if environment == "stage" else "dispatcher"
        assert target["arn"] == f"arn:aws:lambda:{REGION}:{TOOLS}:function:cdkcp-{receiver}"
        permission = named(graph, f"deploy-pipeline-trigger-{environment}-invoke")["inputs"]
        assert permission["function"] == f"cdkcp-{receiver}"
    for receiver in ("dispatcher", "intake"):
        variables = functions(graph)[f"cdkcp-{receiver}"]["environment"]["variables"]
        machine = f"arn:aws:states:{REGION}:{TOOLS}:stateMachine:cdkcp-DeployArtifactPipeline"
        assert variables["STATE_MACHINE_ARN"] == machine


def test_intake_may_create_items_read_candidate_manifests_and_service_public_keys_only(graphs: dict) -> None:
    [policy] = inline_policies(graphs["tools"], role(graphs["tools"], "cdkcp-fn-intake")).values()
    allowed = {a: s for s in statements(policy) if s["Sid"] != "AuditAppends" for a in as_list(s["Action"])}
    dynamodb = sorted(a for a in allowed if a.startswith("dynamodb:"))
    assert dynamodb == ["dynamodb:GetItem", "dynamodb:PutItem"]  # never UpdateItem or DeleteItem of an item
    (audit,) = [s for s in statements(policy) if s["Sid"] == "AuditAppends"]  # its entry, in the put's transaction
    assert as_list(audit["Resource"]) == [f"arn:aws:dynamodb:{REGION}:{TOOLS}:table/cdk-artifact-audit-log"]
    reads = sorted(r for s in statements(policy) if "s3:GetObject" in as_list(s["Action"]) for r in s["Resource"])
    assert reads == [
        f"arn:aws:s3:::cdk-artifacts-candidate-{TOOLS}-{REGION}/*",
        f"arn:aws:s3:::cdkcp-tooling-{TOOLS}-{REGION}/catalog/*",  # the service catalog (content-addressed)
    ]
    assert "s3:PutObject" not in allowed
    keys = allowed["kms:GetPublicKey"]
    assert keys["Condition"] == {"StringLike": {"kms:RequestAlias": "alias/cdk-ci-artifact-signer-*"}}
    assert allowed["states:StartExecution"]["Resource"] == [
        f"arn:aws:states:{REGION}:{TOOLS}:stateMachine:cdkcp-DeployArtifactPipeline"
    ]


def test_events_go_to_the_custom_bus(graphs: dict) -> None:
    (bus,) = of_type(graphs["tools"], "aws:cloudwatch/eventBus:EventBus")
    assert bus["inputs"]["name"] == "cdk-control-plane"
    for inputs in functions(graphs["tools"]).values():
        assert inputs["environment"]["variables"]["EVENT_BUS_NAME"] == "cdk-control-plane"
    assert EVENT_SOURCE == "cdk-control-plane"


def test_layer_archive_is_reproducible(tmp_path: Path) -> None:
    source = tmp_path / "python"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    (source / "pkg" / "__init__.py").write_text("x = 1\n")
    (source / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    write_zip(source, first, "python/")
    (source / "pkg" / "__init__.py").touch()  # a new mtime changes nothing
    write_zip(source, second, "python/")
    assert first.read_bytes() == second.read_bytes()
    assert zipfile.ZipFile(first).namelist() == ["python/pkg/__init__.py"]


def test_every_build_can_read_its_source_bundle(graphs: dict) -> None:
    """CodeBuild downloads the tooling bundle (SSE-KMS with the tooling key) as each project's role; the
    key lets the account's principals use it through S3 only, so `pulumi up` can write the bundle."""
    graph = graphs["tools"]
    bundle = named(graph, "deploy-pipeline-bundle")["inputs"]
    assert bundle["bucket"] == f"cdkcp-tooling-{TOOLS}-{REGION}"
    key = named(graph, "artifact-store-tooling-key")
    through_s3 = [s for s in statements(json.loads(key["inputs"]["policy"])) if "kms:GenerateDataKey" in s["Action"]]
    assert [s["Condition"]["StringEquals"]["kms:ViaService"] for s in through_s3] == [f"s3.{REGION}.amazonaws.com"]
    encryption = named(graph, "artifact-store-tooling-encryption")["inputs"]["rules"][0]
    tooling_key = encryption["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    projects = {r["inputs"]["name"]: r["inputs"] for r in of_type(graph, "aws:codebuild/project:Project")}
    for name, inputs in projects.items():
        (policy,) = inline_policies(graph, role(graph, inputs["serviceRole"].rsplit("/", 1)[1])).values()
        decrypt = [s for s in statements(policy) if s.get("Sid") == "DecryptToolingBundle"]
        assert decrypt and decrypt[0]["Resource"] == [tooling_key], name


def test_what_the_program_writes_is_what_the_code_reads(graphs: dict) -> None:
    """Every function and build reads its environment back with the typed contract; no signing key is
    pinned in any environment (the verifiers resolve each service's key by its alias)."""
    graph = graphs["tools"]
    for name, inputs in functions(graph).items():
        settings = FunctionSettings.from_environ(inputs["environment"]["variables"])
        assert (
            settings.state_machine_arn == f"arn:aws:states:{REGION}:{TOOLS}:stateMachine:cdkcp-DeployArtifactPipeline"
        )
        catalog = f"s3://cdkcp-tooling-{TOOLS}-{REGION}/catalog/{settings.service_catalog_sha256}.json"
        assert settings.service_catalog_uri == catalog
        assert not {"CI_PUBLIC_KEY_PEM", "CI_SIGNER_KEY_ID"} & set(inputs["environment"]["variables"]), name
    for project in of_type(graph, "aws:codebuild/project:Project"):
        name = project["inputs"]["name"]
        variables = {e["name"]: e["value"] for e in project["inputs"]["environment"]["environmentVariables"]}
        settings = BuildSettings.from_environ(variables)
        deployer = "-deployer-" in name
        assert settings.artifact_bucket.startswith("cdk-artifacts-")
        assert not {"CI_PUBLIC_KEY_PEM", "CI_SIGNER_KEY_ID"} & set(variables), name
        assert bool(settings.stack_policies) == deployer and bool(settings.test_commands) != deployer, name
        assert settings.service_repositories["orders"] == "acme-corp/orders-service"


def test_the_table_and_the_artifacts_key_let_intake_do_its_job(graphs: dict) -> None:
    """Whatever else the resource policies deny, intake may put items and decrypt candidate manifests."""
    from fnmatch import fnmatchcase

    intake = f"arn:aws:iam::{TOOLS}:role/cdkcp-fn-intake"
    table_policy = json.loads(named(graphs["tools"], "metadata-store-table-policy")["inputs"]["policy"])
    for statement in statements(table_policy):
        if statement["Effect"] == "Deny" and {"dynamodb:PutItem", "dynamodb:*"} & set(as_list(statement["Action"])):
            exceptions = as_list(statement.get("Condition", {}).get("ArnNotLike", {}).get("aws:PrincipalArn", []))
            assert any(fnmatchcase(intake, pattern) for pattern in exceptions), statement["Sid"]
    key_policies = [json.loads(k["inputs"]["policy"]) for k in of_type(graphs["tools"], "aws:kms/key:Key")]
    [artifacts_key] = [
        p for p in key_policies if "WritersEncryptThroughS3" in json.dumps(p) and "fn-promote" in json.dumps(p)
    ]
    readers = [s for s in statements(artifacts_key) if s.get("Sid") == "ReadersDecryptThroughS3"]
    assert intake in readers[0]["Condition"]["ArnLike"]["aws:PrincipalArn"]
