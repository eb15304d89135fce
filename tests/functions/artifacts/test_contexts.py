"""Blessed contexts: determinism, signed publication, verified fetch, and the commit guard."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from functions.artifacts.contexts import ContextError, check_determinism, fetch_context, guard, publish_context

BUCKET = "cdk-contexts-111111111111-us-east-1"
CONTEXT = b'{"availability-zones:account=222222222222:region=us-east-1": ["us-east-1a", "us-east-1b"]}\n'


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "service"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "ci@example.invalid")
    git(repo, "config", "user.name", "ci")
    (repo / "cdk.json").write_text("{}")
    git(repo, "add", "cdk.json")
    git(repo, "commit", "-qm", "app")
    return repo


@pytest.fixture
def bucket(aws) -> str:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


def test_deterministic_generator_passes(tmp_path: Path) -> None:
    out = tmp_path / "ctx.json"
    command = f"{sys.executable} -c \"open('{out}', 'w').write('{{}}')\""
    assert check_determinism(command, out, runs=3) == hashlib.sha256(b"{}").hexdigest()


def test_nondeterministic_generator_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ctx.json"
    command = f"{sys.executable} -c \"import time; open('{out}', 'w').write(str(time.time_ns()))\""
    with pytest.raises(ContextError, match="not deterministic: 3 runs gave 3 different files"):
        check_determinism(command, out, runs=3)


def test_failing_generator_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="exited 3"):
        check_determinism(f"{sys.executable} -c 'raise SystemExit(3)'", tmp_path / "x.json", runs=2)


def test_publish_writes_dated_and_latest_copies_with_hash_and_signature(bucket, tmp_path, signer) -> None:
    context = tmp_path / ".cdk.context.json"
    context.write_bytes(CONTEXT)
    published = publish_context("prod", context, bucket=bucket, signer=signer, s3=boto3.client("s3"))
    keys = sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"])
    dated = [k for k in keys if not k.startswith("prod/latest")]
    assert len(keys) == 6 and len(dated) == 3
    assert {k.split(".", 1)[1] for k in dated} == {"context.json", "context.sha256", "context.json.sig"}
    hash_file = boto3.client("s3").get_object(Bucket=bucket, Key="prod/latest.context.sha256")["Body"].read()
    assert hash_file.decode() == f"{hashlib.sha256(CONTEXT).hexdigest()}  latest.context.json\n"
    assert published.keys[-1] == "prod/latest.context.json.sig"  # latest pointer written last


def test_fetch_verifies_and_writes_the_context(bucket, repo, signer) -> None:
    context = repo / "ctx-src.json"
    context.write_bytes(CONTEXT)
    publish_context("stage", context, bucket=bucket, signer=signer, s3=boto3.client("s3"))
    out = repo / ".cdk.context.json"
    digest = fetch_context(
        "stage", out, bucket=bucket, public_key=signer.private_key.public_key(), s3=boto3.client("s3")
    )
    assert out.read_bytes() == CONTEXT and digest == hashlib.sha256(CONTEXT).hexdigest()


def test_fetch_refuses_a_tampered_context(bucket, repo, signer) -> None:
    context = repo / "ctx-src.json"
    context.write_bytes(CONTEXT)
    publish_context("stage", context, bucket=bucket, signer=signer, s3=boto3.client("s3"))
    evil = CONTEXT.replace(b"us-east-1b", b"us-east-1x")
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="stage/latest.context.json", Body=evil)
    out = repo / ".cdk.context.json"
    with pytest.raises(ContextError, match=".sha256 file says"):
        fetch_context("stage", out, bucket=bucket, public_key=signer.private_key.public_key(), s3=s3)
    s3.put_object(
        Bucket=bucket, Key="stage/latest.context.sha256", Body=f"{hashlib.sha256(evil).hexdigest()}  x\n".encode()
    )
    with pytest.raises(ContextError, match="signature does not verify"):
        fetch_context("stage", out, bucket=bucket, public_key=signer.private_key.public_key(), s3=s3)
    assert not out.exists()


def test_fetch_refuses_when_the_context_is_tracked_by_git(bucket, repo, signer) -> None:
    out = repo / ".cdk.context.json"
    out.write_text("{}")
    git(repo, "add", "-f", ".cdk.context.json")
    with pytest.raises(ContextError, match="tracked by git"):
        fetch_context("stage", out, bucket=bucket, public_key=signer.private_key.public_key(), s3=boto3.client("s3"))


def test_fetch_without_a_blessed_context_fails(bucket, repo, signer) -> None:
    with pytest.raises(ContextError, match="no blessed context at s3://"):
        fetch_context(
            "prod",
            repo / ".cdk.context.json",
            bucket=bucket,
            public_key=signer.private_key.public_key(),
            s3=boto3.client("s3"),
        )


def test_guard_passes_a_clean_repository_with_an_untracked_fetched_context(repo) -> None:
    (repo / ".cdk.context.json").write_text("{}")  # injected by `context fetch`, never added
    assert guard(repo) == []


def test_guard_fails_a_staged_context(repo) -> None:
    (repo / "infra").mkdir()
    (repo / "infra" / ".cdk.context.json").write_text("{}")
    git(repo, "add", "infra/.cdk.context.json")
    findings = guard(repo)
    assert [(f.subject, f.detail) for f in findings] == [
        ("infra/.cdk.context.json", "is committed; contexts come from the blessed S3 copy")
    ]


def test_guard_fails_a_committed_context_and_names_the_range(repo) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / ".cdk.context.json").write_text("{}")
    git(repo, "add", ".cdk.context.json")
    git(repo, "commit", "-qm", "oops")
    findings = guard(repo, base)
    assert [f.subject for f in findings] == [".cdk.context.json"]
    assert "committed" in findings[0].detail


def test_guard_catches_a_modification_in_the_range_after_removal(repo) -> None:
    (repo / ".cdk.context.json").write_text("{}")
    git(repo, "add", ".cdk.context.json")
    git(repo, "commit", "-qm", "add")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / ".cdk.context.json").write_text('{"x": 1}')
    git(repo, "commit", "-qam", "modify")
    assert guard(repo, base)


def test_bad_environment_names_are_refused(bucket, tmp_path, signer) -> None:
    with pytest.raises(ContextError, match="--service '../prod'"):
        publish_context("../prod", tmp_path / "x", bucket=bucket, signer=signer, s3=boto3.client("s3"))
