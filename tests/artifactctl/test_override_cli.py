"""`artifactctl override request | submit`: a signed request written from flags (verifiable offline with
the key's public half), every bad flag refused with a clear message (exit 2, never a traceback), and
submit's failures told apart: 2 for the file, 3 for AWS; refusals (exit 5) are proven end to end
(tests/e2e/test_overrides.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.artifacts.signing import LocalKeySigner
from functions.overrides.request import parse_request, verify_signature
from tests.artifactctl.test_cli import run

COMMIT, GOOD = "c" * 40, "a" * 40
REQUESTER = "arn:aws:iam::123456789012:role/oncall-operator"


def _request(capsys, key: Path, *flags: str) -> tuple[int, str, str]:
    return run(
        capsys, "override", "request", "--service", "orders", "--commit", COMMIT, "--requester", REQUESTER,
        "--private-key", str(key), *flags,
    )  # fmt: skip


def test_a_request_is_written_signed_and_verifies_with_the_public_key(
    capsys, tmp_path: Path, key_files: tuple[Path, Path], signer: LocalKeySigner
) -> None:
    out = tmp_path / "req.json"
    code, stdout, _ = _request(
        capsys, key_files[0], "--action", "manual_rollback", "--target-commit", GOOD, "--reason", "INC-1: down",
        "--expires-in", "30m", "--out", str(out),
    )  # fmt: skip
    assert code == 0 and "manual_rollback of orders@cccccccccccc (prod)" in stdout
    request = parse_request(out.read_text())
    assert request.requester == REQUESTER and request.target.target_commit == GOOD and request.reason == "INC-1: down"
    assert verify_signature(request, signer.private_key.public_key()) is None


def test_without_out_the_request_goes_to_stdout(capsys, key_files: tuple[Path, Path]) -> None:
    code, stdout, _ = _request(capsys, key_files[0], "--action", "requeue", "--environment", "stage", "--reason", "x")
    assert code == 0 and json.loads(stdout)["target"]["environment"] == "stage"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--action", "requeue", "--reason", "x"], "requeue applies to stage or prod"),
        (["--action", "manual_rollback", "--reason", "x"], "target_commit"),
        (["--action", "allow_drift", "--environment", "stage", "--reason", "x"], "allow_drift applies to prod"),
        (["--action", "manual_promotion", "--reason", "x", "--expires-in", "2h"], "at most 1h"),
        (["--action", "manual_promotion", "--reason", "x", "--expires-in", "soon"], "--expires-in 'soon'"),
        (["--action", "manual_promotion", "--reason", " "], "justification"),
        (["--action", "deploy", "--reason", "x"], "invalid choice: 'deploy'"),
    ],
)
def test_bad_flags_are_usage_errors_that_name_the_flag(
    capsys, key_files: tuple[Path, Path], flags: list[str], message: str
) -> None:
    code, _, stderr = _request(capsys, key_files[0], *flags)
    assert code == 2 and message in stderr and "Traceback" not in stderr


def test_a_bad_commit_or_requester_is_named(capsys, key_files: tuple[Path, Path]) -> None:
    code, _, stderr = run(
        capsys, "override", "request", "--action", "manual_promotion", "--service", "orders", "--commit", "abc",
        "--requester", REQUESTER, "--private-key", str(key_files[0]), "--reason", "x",
    )  # fmt: skip
    assert code == 2 and "commit_sha" in stderr
    code, _, stderr = run(
        capsys, "override", "request", "--action", "manual_promotion", "--service", "orders", "--commit", COMMIT,
        "--requester", "alice", "--private-key", str(key_files[0]), "--reason", "x",
    )  # fmt: skip
    assert code == 2 and "requester" in stderr


def test_a_missing_key_file_is_a_usage_error(capsys, tmp_path: Path) -> None:
    code, _, stderr = _request(capsys, tmp_path / "none.pem", "--action", "manual_promotion", "--reason", "x")
    assert code == 2 and "--private-key" in stderr


def test_submit_of_a_missing_or_binary_file_is_a_usage_error(capsys, tmp_path: Path) -> None:
    code, _, stderr = run(capsys, "override", "submit", str(tmp_path / "none.json"))
    assert code == 2 and "request" in stderr
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe")
    code, _, stderr = run(capsys, "override", "submit", str(binary))
    assert code == 2 and "not UTF-8" in stderr


def test_submit_to_a_function_that_does_not_exist_is_an_aws_error(
    aws, capsys, tmp_path: Path, key_files: tuple[Path, Path]
) -> None:
    out = tmp_path / "req.json"
    assert _request(capsys, key_files[0], "--action", "manual_promotion", "--reason", "x", "--out", str(out))[0] == 0
    code, _, stderr = run(capsys, "override", "submit", str(out), "--function", "nope", "--region", "us-east-1")
    assert code == 3 and "nope" in stderr and "Traceback" not in stderr
