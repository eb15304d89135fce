"""The spec's Solo-Operator Policy Control Matrix, enforced: one test per row, each driving the unsafe
path (compactly: many rows have fuller scenarios elsewhere) and asserting the safeguard refuses it.

- commit to main: an artifact of a commit CI did not verify as signed (Validate refuses it), and the CI
  roles' OIDC trust (only the protected branch's workflow);
- deploy to stage: a manifest signed with a key that is not the service's own (intake refuses it);
- promote to prod: an artifact whose stage tests failed (rejected, never released, a prod run loses the lease);
- deploy to prod (automated): a second prod run by hand loses the lease; the prod deploy role trusts only the
  deployer, which only the state machine's role may start;
- smoke test + auto rollback: a known good whose release manifest does not match its metadata is never
  redeployed (the rollback planner);
- manual rollback (fallback): a request signed with another key is refused, and audited;
- manual promotion / requeue: a justification altered after signing, or an expired request, is refused;
- override gate (break-glass): a break-glass request while the SSM flag is off is refused, nothing alerts;
- edit artifact metadata: the table's resource policy denies every write of an operator principal.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import boto3
import pytest

from devtools.emulator.harness import CLI_VERSION, Harness
from devtools.emulator.overrides import Operator
from functions import naming
from functions.artifacts.manifest import build_manifest, dumps
from functions.artifacts.publish import publish
from functions.artifacts.signing import sign_manifest
from functions.naming import execution_name
from tests.e2e.test_overrides import EXIT_REFUSED, _rollback_failed
from tests.e2e.test_scenarios import BAD, GOOD, _good_release_in_prod
from tests.program.graph import as_list, named, of_type, statements

OPERATOR_ROLE = "arn:aws:iam::111111111111:role/oncall-operator"  # Pulumi.tools.yaml
NAMES = naming.ToolsNames("cdkcp", "111111111111", "us-east-1")


@pytest.fixture
def operator(pipeline: Harness) -> Operator:
    return Operator(pipeline)


def _audited_refusal(pipeline: Harness, text: str) -> dict[str, Any]:
    from functions.audit.store import read_chain

    entries, _ = read_chain(boto3.client("dynamodb", region_name="us-east-1"))
    entry = entries[-1].to_dict()
    assert entry["action"].endswith(":refused") and entry["signed_request"] == text
    return entry


# --- commit to main --------------------------------------------------------------------------------


def test_commit_to_main_an_unverified_commit_never_deploys(pipeline: Harness, graphs: dict) -> None:
    cdk_out = pipeline.cdk_out(BAD)
    import shutil

    from devtools.emulator.harness import FIXTURE

    shutil.copytree(FIXTURE, cdk_out)
    unsigned = build_manifest(
        cdk_out,
        service="orders",
        commit=BAD,
        cdk_cli_version=CLI_VERSION,
        context_file=pipeline.blessed_context,
        git_signature_verified=False,  # CI could not verify the commit's signature
    )
    manifest = sign_manifest(unsigned, pipeline.service_signer("orders"))
    publish(cdk_out, dumps(manifest), bucket=pipeline.candidate_bucket, s3=boto3.client("s3", region_name="us-east-1"))
    result = pipeline.run("stage", BAD)
    assert "RecordInvalidArtifact" in result["states"] and pipeline.deploys() == []
    assert "git_signature_verified" in pipeline.item(BAD)["environment_states"]["stage"]["failure_reason"]
    # and only the protected branch's workflow may assume a CI role (GitHub OIDC subject)
    for role in of_type(graphs["tools"], "aws:iam/role:Role"):
        if role["inputs"]["name"].startswith(naming.CI_BUILDER_ROLE):
            trust = json.loads(role["inputs"]["assumeRolePolicy"])
            subjects = [
                v for s in statements(trust) for k, v in s["Condition"]["StringEquals"].items() if k.endswith(":sub")
            ]
            assert subjects and all(":ref:refs/heads/main:" in s for s in subjects), subjects


# --- deploy to stage -------------------------------------------------------------------------------


def test_deploy_to_stage_an_artifact_not_signed_by_its_services_key_never_deploys(pipeline: Harness) -> None:
    pipeline.publish(BAD, signer=pipeline.context_signer)  # a valid key, but not orders' CI key
    refused = pipeline.trigger(pipeline.candidate_bucket, BAD)
    assert not refused.get("started") and pipeline.item(BAD) == {} and pipeline.deploys() == []


# --- promote to prod -------------------------------------------------------------------------------


def test_promote_an_artifact_whose_tests_failed_is_never_released(pipeline: Harness) -> None:
    pipeline.publish(BAD)
    pipeline.script.outcomes[("test", "stage", BAD)] = "FAILED"
    assert pipeline.run("stage", BAD)["status"] == "FAILED"
    assert pipeline.item(BAD)["status"] == "rejected"
    assert pipeline.objects(pipeline.release_bucket, BAD) == []  # no release manifest: no prod run starts
    arn = pipeline.start(execution_name("orders", BAD, "prod", 1), BAD, "prod", "operator")
    result = pipeline.wait(arn)
    assert "LostRace" in result["states"] and "Validate" not in result["states"]
    assert [d for d in pipeline.deploys("prod")] == []


# --- deploy to prod (automated) ----------------------------------------------------------------------


def test_deploy_to_prod_only_the_state_machine_reaches_the_prod_deploy_role(pipeline: Harness, graphs: dict) -> None:
    pipeline.publish(BAD)
    assert pipeline.run("stage", BAD)["status"] == "SUCCEEDED"
    # a prod run of the release can deploy only through the state machine's lease; a second run by hand
    # of what already ran loses it
    assert pipeline.run("prod", BAD)["status"] == "SUCCEEDED"
    again = pipeline.wait(pipeline.start(execution_name("orders", BAD, "prod", 9), BAD, "prod", "operator"))
    assert "LostRace" in again["states"] and len(pipeline.deploys("prod")) == 1
    # a deploy without a run: the prod deploy role trusts only the prod deployer (with its external id),
    # the deployer trusts only its CodeBuild project, and only the state machine's role may start it
    deploy_role = named(graphs["prod"], "orders-prod-roles-deploy-role")["inputs"]
    (trusted,) = statements(json.loads(deploy_role["assumeRolePolicy"]))
    assert trusted["Principal"] == {"AWS": NAMES.deployer_role_arn("prod")} and "sts:ExternalId" in json.dumps(trusted)
    project = NAMES.project_arn(NAMES.deployer_project("prod"))
    starters = set()
    for graph in graphs.values():
        for policy in of_type(graph, "aws:iam/rolePolicy:RolePolicy"):
            for s in statements(json.loads(policy["inputs"]["policy"])):
                actions = as_list(s["Action"])
                starts = s["Effect"] == "Allow" and any(fnmatchcase("codebuild:StartBuild", a) for a in actions)
                if starts and any(fnmatchcase(project, r) for r in as_list(s.get("Resource", []))):
                    starters.add(policy["inputs"]["role"])
    assert starters == {NAMES.state_machine_role}


# --- smoke test + auto rollback ---------------------------------------------------------------------


def test_smoke_and_rollback_a_known_good_that_does_not_match_its_metadata_is_never_redeployed(
    pipeline: Harness,
) -> None:
    _good_release_in_prod(pipeline)
    s3 = boto3.client("s3", region_name="us-east-1")
    key = f"orders/{GOOD}/artifact-manifest.json"
    tampered = json.loads(s3.get_object(Bucket=pipeline.release_bucket, Key=key)["Body"].read())
    tampered["artifact_sha256"] = "0" * 64
    s3.put_object(Bucket=pipeline.release_bucket, Key=key, Body=json.dumps(tampered).encode())
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    result = pipeline.run("prod", BAD)
    assert "RecordRollbackFailed" in result["states"] and "RollbackDeploy" not in result["states"]
    assert "does not match its metadata" in pipeline.item(BAD)["rollback_failure_reason"]
    assert [d["mode"] for d in pipeline.deploys("prod")].count("rollback") == 0


# --- manual rollback (fallback) ---------------------------------------------------------------------


def test_manual_rollback_signed_with_another_key_is_refused_and_audited(pipeline: Harness, operator: Operator) -> None:
    _rollback_failed(pipeline)
    before = pipeline.item(BAD)
    # re-signed by a key that is not the override key (the context signer: a real KMS key of the account)
    forged = operator.request("manual_rollback", BAD, "--target-commit", GOOD)
    from functions.artifacts.signing import sign_message
    from functions.overrides.request import parse_request

    request = parse_request(forged.read_text())
    document = {**request.document(), "signature": sign_message(pipeline.context_signer, request.canonical_bytes())}
    forged.write_text(json.dumps(document))
    code, outcome = operator.submit(forged)
    assert code == EXIT_REFUSED and "does not verify with the override key" in outcome["reason"], outcome
    assert pipeline.item(BAD) == before
    # audited in nobody's name: the requester it claims is only its word, kept in the reason
    entry = _audited_refusal(pipeline, forged.read_text())
    assert entry["actor"] == "unverified-request" and entry["reason"].startswith(
        f"claimed requester {request.requester}"
    )


# --- manual promotion / requeue ---------------------------------------------------------------------


def test_manual_requeue_with_an_altered_justification_or_expired_is_refused(
    pipeline: Harness, operator: Operator
) -> None:
    pipeline.publish(BAD)
    pipeline.script.outcomes[("deploy", "stage", BAD)] = "FAILED"
    assert pipeline.run("stage", BAD)["status"] == "FAILED"
    before = pipeline.item(BAD)
    path = operator.request("requeue", BAD, "--environment", "stage", reason="INC-2: retry")
    altered = {**json.loads(path.read_text()), "reason": "retry, and nobody will know"}
    path.write_text(json.dumps(altered))
    code, outcome = operator.submit(path)
    assert code == EXIT_REFUSED and "does not verify" in outcome["reason"]
    expired = operator.request("requeue", BAD, "--environment", "stage", "--expires-in", "1s")
    import time

    time.sleep(2)
    code, outcome = operator.submit(expired)
    assert code == EXIT_REFUSED and "expired at" in outcome["reason"]
    assert pipeline.item(BAD) == before


# --- override gate (break-glass) --------------------------------------------------------------------


def test_break_glass_while_the_flag_is_off_is_refused(pipeline: Harness, operator: Operator) -> None:
    _good_release_in_prod(pipeline)
    pipeline.script.outcomes[("test", "prod", BAD)] = "FAILED"
    assert pipeline.run("prod", BAD)["status"] == "FAILED"  # rolled back: revoked
    before = pipeline.item(BAD)
    pipeline.alerts()
    code, outcome = operator.submit(operator.request("lift_revocation", BAD, reason="INC-4: flaky smoke test"))
    assert code == EXIT_REFUSED and "the break-glass flag is off" in outcome["reason"]
    assert pipeline.item(BAD) == before and pipeline.alerts() == []


# --- edit artifact metadata -------------------------------------------------------------------------


def _denied(policy: dict[str, Any], action: str, principal: str) -> bool:
    """Whether a resource policy of Deny-unless statements (`ArnNotLike` on `aws:PrincipalArn`) denies."""
    for s in statements(policy):
        if s["Effect"] != "Deny" or not any(fnmatchcase(action, a) for a in as_list(s["Action"])):
            continue
        exempt = as_list(s.get("Condition", {}).get("ArnNotLike", {}).get("aws:PrincipalArn", []))
        if not any(fnmatchcase(principal, pattern) for pattern in exempt):
            return True
    return False


def test_edit_metadata_an_operator_principal_cannot_write_the_table(graphs: dict) -> None:
    """moto does not evaluate DynamoDB resource policies (tests/e2e/test_ci_cannot_write_metadata.py), so
    the table's own policy is evaluated here: every write by the operator role is denied, whatever its
    identity policy grants; the orchestrator's roles (the override function's included) are not."""
    policies = [
        json.loads(r["inputs"]["policy"])
        for r in of_type(graphs["tools"], "aws:dynamodb/resourcePolicy:ResourcePolicy")
        if "metadata" in r["name"]
    ]
    assert policies
    writes = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
    for policy in policies:
        assert all(_denied(policy, action, OPERATOR_ROLE) for action in writes)
        assert not _denied(policy, "dynamodb:UpdateItem", NAMES.function_role_arn("override"))
