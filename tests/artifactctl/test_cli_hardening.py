"""Issue 9 at the command line: bad input is exit 1 (invalid artifact) or 2 (usage, naming the flag and
the file), never a traceback or a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from functions.artifacts import provenance
from functions.artifacts.manifest import parse_manifest
from tests.functions.artifact_support import BUCKET, CLI_VERSION, COMMIT, other_signer

from .test_cli import built, run, verify_args

__all__ = ["built", "other_signer"]

ARTIFACTCTL = Path(sys.executable).with_name("artifactctl")


def _console(*argv: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, with a timeout: a hang fails the test instead of stalling it."""
    return subprocess.run([str(ARTIFACTCTL), *argv], capture_output=True, text=True, timeout=60)


def _build_args(cdk_out: Path, out: Path, *extra: str) -> list[str]:
    return [
        "manifest", "build", "--cdk-out", str(cdk_out), "--service", "orders", "--commit", COMMIT,
        "--cdk-cli-version", CLI_VERSION, "--out", str(out), *extra,
    ]  # fmt: skip


def _raw(text: str, field: str, raw: str) -> str:
    """The manifest's text with one field's value replaced by raw JSON (what an attacker writes)."""
    document = json.loads(text)
    document[field] = "__RAW__"
    return json.dumps(document).replace('"__RAW__"', raw)


UNENCODABLE = {
    "infinite float": lambda text: _raw(text, "build_duration_seconds", "1e400"),
    "integer beyond 2^53": lambda text: _raw(text, "build_duration_seconds", "9007199254740993"),
    "lone surrogate key": lambda text: text.replace("{", '{"\\ud800": 1,', 1),
    "lone surrogate value": lambda text: _raw(text, "signing_identity", '"\\udfff"'),
}


@pytest.mark.parametrize("case", sorted(UNENCODABLE))
def test_manifest_rfc8785_cannot_encode_exits_1_without_a_traceback(built, case: str) -> None:
    cdk_out, manifest, public = built
    manifest.write_text(UNENCODABLE[case](manifest.read_text()))
    completed = _console(*verify_args(cdk_out, manifest, public))
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    assert completed.stdout.startswith("FAIL structure: ")
    assert case.startswith("lone surrogate key") or "RFC 8785" in completed.stdout


def test_build_and_verify_refuse_a_hard_link_naming_the_file(built, tmp_path, capsys) -> None:
    cdk_out, manifest, public = built
    (cdk_out / "tree.json").unlink()
    os.link(cdk_out / "manifest.json", cdk_out / "tree.json")
    code, out, _ = run(capsys, *verify_args(cdk_out, manifest, public))
    assert code == 1 and "FAIL files: tree.json: is a hard link (2 links)" in out.splitlines()
    out_file = tmp_path / "rebuilt.json"
    code, out, _ = run(capsys, *_build_args(cdk_out, out_file))
    assert code == 1 and "FAIL files: tree.json: is a hard link (2 links)" in out.splitlines()
    assert not out_file.exists()


def test_build_refuses_names_that_collide_or_hide_characters(built, tmp_path, capsys) -> None:
    cdk_out, _, _ = built
    (cdk_out / "Tree.json").write_text("{}")
    (cdk_out / "evil\u202enosj.js").write_text("{}")
    code, out, _ = run(capsys, *_build_args(cdk_out, tmp_path / "m.json"))
    assert code == 1
    assert sorted(out.splitlines()) == [
        "FAIL files: 'evil\\u202enosj.js': path contains the invisible or bidi formatting character U+202E "
        "(RIGHT-TO-LEFT OVERRIDE)",
        "FAIL files: tree.json: name collides with 'Tree.json' (same after Unicode NFC and case folding)",
    ]


# --- key files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--public-key", "--private-key"])
def test_a_key_file_too_large_is_a_usage_error_naming_it(built, tmp_path, capsys, flag: str) -> None:
    cdk_out, manifest, _ = built
    huge = tmp_path / "huge.pem"
    huge.write_bytes(b"-----BEGIN PUBLIC KEY-----\n" + b"A" * (1 << 20))
    if flag == "--public-key":
        code, _, err = run(capsys, *verify_args(cdk_out, manifest, huge))
    else:
        code, _, err = run(capsys, "manifest", "sign", "--manifest", str(manifest), "--private-key", str(huge))
    assert code == 2 and f"{flag} {huge}: larger than 65536 bytes" in err


@pytest.mark.parametrize("flag", ["--public-key", "--private-key"])
def test_a_key_path_that_is_a_directory_or_a_fifo_is_a_usage_error_without_a_hang(built, tmp_path, flag) -> None:
    cdk_out, manifest, _ = built
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    for path in (tmp_path, fifo):
        if flag == "--public-key":
            completed = _console(*verify_args(cdk_out, manifest, path))
        else:
            completed = _console("manifest", "sign", "--manifest", str(manifest), "--private-key", str(path))
        assert completed.returncode == 2, completed.stderr
        assert f"{flag} {path}:" in completed.stderr and "Traceback" not in completed.stderr


def test_a_manifest_that_is_a_fifo_is_invalid_without_a_hang(built, tmp_path) -> None:
    cdk_out, _, public = built
    fifo = tmp_path / "manifest.fifo"
    os.mkfifo(fifo)
    completed = _console(*verify_args(cdk_out, fifo, public))
    assert completed.returncode == 1 and "not a regular file" in completed.stdout


# --- output paths and flag values ----------------------------------------------------------------------


def test_build_out_that_is_a_directory_or_in_a_missing_directory_is_a_usage_error(built, tmp_path, capsys) -> None:
    cdk_out, _, _ = built
    code, _, err = run(capsys, *_build_args(cdk_out, tmp_path))
    assert code == 2 and f"--out {tmp_path}: is a directory" in err
    missing = tmp_path / "missing" / "artifact-manifest.json"
    code, _, err = run(capsys, *_build_args(cdk_out, missing))
    assert code == 2 and f"--out {missing}: directory {missing.parent} does not exist" in err
    assert not missing.parent.exists()


def test_sign_provenance_out_in_a_missing_directory_changes_nothing(built, tmp_path, key_files, capsys) -> None:
    _, manifest, _ = built
    before = manifest.read_bytes()
    target = tmp_path / "nowhere" / "p.json"
    code, _, err = run(
        capsys, "manifest", "sign", "--manifest", str(manifest), "--private-key", str(key_files[0]),
        "--provenance-out", str(target),
    )  # fmt: skip
    assert code == 2 and f"--provenance-out {target}: directory" in err
    assert manifest.read_bytes() == before


def test_context_fetch_out_that_is_a_directory_is_a_usage_error(tmp_path, capsys) -> None:
    code, _, err = run(capsys, "context", "fetch", "--env", "stage", "--bucket", "b", "--out", str(tmp_path))
    assert code == 2 and f"--out {tmp_path}: is a directory" in err


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN", "1e400", "Infinity"])
def test_non_finite_build_started_at_is_a_usage_error(built, tmp_path, capsys, value: str) -> None:
    cdk_out, _, _ = built
    code, _, err = run(capsys, *_build_args(cdk_out, tmp_path / "m.json", f"--build-started-at={value}"))
    assert code == 2 and "--build-started-at" in err and "finite" in err
    assert not (tmp_path / "m.json").exists()


def test_approved_versions_with_spaces_are_stripped(built, capsys) -> None:
    cdk_out, manifest, public = built
    args = verify_args(cdk_out, manifest, public)
    code, out, _ = run(capsys, *args, "--approved-cdk-versions", f"2.1000.0, {CLI_VERSION} ")
    assert code == 0, out
    code, out, _ = run(capsys, *args, "--approved-cdk-versions", " 2.1000.0 ,2.1001.0")
    assert code == 1 and "is not an approved version (2.1000.0, 2.1001.0)" in out
    code, _, err = run(capsys, *args, "--approved-cdk-versions", " , ")
    assert code == 2 and "--approved-cdk-versions" in err


# --- publish checks the provenance it uploads ------------------------------------------------------------


def _publish_args(cdk_out: Path, manifest: Path, *extra: str) -> list[str]:
    return [
        "publish", "--cdk-out", str(cdk_out), "--manifest", str(manifest), "--bucket", BUCKET,
        *extra,
    ]  # fmt: skip


@pytest.fixture
def storage(aws) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)


def _nothing_published() -> bool:
    return "Contents" not in boto3.client("s3").list_objects_v2(Bucket=BUCKET)


def test_publish_refuses_provenance_signed_by_another_key(storage, built, other_signer, capsys) -> None:
    cdk_out, manifest, public = built
    signed, _ = parse_manifest(manifest.read_bytes())
    forged = provenance.envelope(signed, other_signer)
    manifest.with_name("artifact-provenance.dsse.json").write_text(json.dumps(forged))
    code, out, _ = run(capsys, *_publish_args(cdk_out, manifest, "--public-key", str(public)))
    assert code == 1 and out.startswith("FAIL provenance: artifact-provenance.dsse.json: ")
    assert _nothing_published()


def test_publish_of_a_locally_signed_manifest_with_provenance_needs_the_public_key(storage, built, capsys) -> None:
    cdk_out, manifest, _ = built
    code, _, err = run(capsys, *_publish_args(cdk_out, manifest))
    assert code == 2 and "--public-key is required to check the provenance" in err
    missing = manifest.with_name("missing.dsse.json")
    code, _, err = run(capsys, *_publish_args(cdk_out, manifest, "--provenance", str(missing)))
    assert code == 2 and f"--provenance {missing}:" in err
    assert _nothing_published()


def test_publish_of_a_signed_manifest_without_a_signing_identity_is_a_usage_error(storage, built, capsys) -> None:
    cdk_out, manifest, _ = built
    document = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**document, "signing_identity": None}))
    code, _, err = run(capsys, *_publish_args(cdk_out, manifest))
    assert code in (1, 2) and "Traceback" not in err
    assert _nothing_published()


def test_publish_checks_a_kms_signed_provenance_with_the_manifests_kms_key(storage, built, capsys) -> None:
    cdk_out, manifest, _ = built
    kms = boto3.client("kms")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/cdk-ci-artifact-signer", TargetKeyId=key_id)
    code, _, err = run(
        capsys, "manifest", "sign", "--manifest", str(manifest), "--kms-key-id", "alias/cdk-ci-artifact-signer"
    )
    assert code == 0, err
    code, out, err = run(capsys, *_publish_args(cdk_out, manifest, "--json"))
    assert code == 0, err
    assert json.loads(out)["files"] == 19


def test_a_cdk_that_hangs_is_a_usage_error_asking_for_the_version(built, tmp_path, monkeypatch, capsys) -> None:
    import subprocess as subprocess_module

    cdk_out, _, _ = built
    fake = tmp_path / "bin" / "cdk"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))

    def timeout(*args, **kwargs):
        raise subprocess_module.TimeoutExpired(args[0], 60)

    monkeypatch.setattr(subprocess_module, "run", timeout)
    argv = [a for a in _build_args(cdk_out, tmp_path / "m.json") if a not in ("--cdk-cli-version", CLI_VERSION)]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "--cdk-cli-version is required" in err and "timed out" in err
