"""`artifactctl`'s contract: commands, flags, output lines and exit codes (0 ok, 1 invalid, 2 usage,
3 AWS or key), and never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from artifactctl.cli import main
from devtools.emulator.aws import create_metadata_table
from tests.functions.artifact_support import BUCKET, CDK_OUT, CLI_VERSION, COMMIT, TABLE


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def built(tmp_path: Path, key_files, capsys) -> tuple[Path, Path, Path]:
    import shutil

    cdk_out = tmp_path / "cdk.out"
    shutil.copytree(CDK_OUT, cdk_out)
    manifest = tmp_path / "out" / "artifact-manifest.json"
    manifest.parent.mkdir()  # --out names a file in an existing directory
    private, public = key_files
    code, out, _ = run(
        capsys, "manifest", "build", "--cdk-out", str(cdk_out), "--service", "orders", "--commit", COMMIT,
        "--cdk-cli-version", CLI_VERSION, "--git-signature-verified", "--out", str(manifest),
    )  # fmt: skip
    assert code == 0 and "19 files" in out
    code, out, _ = run(capsys, "manifest", "sign", "--manifest", str(manifest), "--private-key", str(private))
    assert code == 0 and "signed" in out
    return cdk_out, manifest, public


def test_build_sign_verify(built, capsys) -> None:
    cdk_out, manifest, public = built
    code, out, err = run(
        capsys, "manifest", "verify", "--cdk-out", str(cdk_out), "--manifest", str(manifest),
        "--public-key", str(public), "--expect-service", "orders", "--expect-commit", COMMIT,
        "--approved-cdk-versions", f"2.1000.0,{CLI_VERSION}",
        "--jobs", "2",
    )  # fmt: skip
    assert code == 0, out + err
    assert out.startswith("OK 19 files, artifact_sha256 ")
    assert (manifest.parent / "artifact-provenance.dsse.json").is_file()


def verify_args(cdk_out: Path, manifest: Path, public: Path, *extra: str) -> list[str]:
    """`manifest verify` of a tree against its manifest with a public key file."""
    return [
        "manifest",
        "verify",
        "--cdk-out",
        str(cdk_out),
        "--manifest",
        str(manifest),
        "--public-key",
        str(public),
        *extra,
    ]


def test_verify_json_lists_failures(built, capsys) -> None:
    cdk_out, manifest, public = built
    (cdk_out / "tree.json").write_text("{}")
    code, out, _ = run(capsys, *verify_args(cdk_out, manifest, public, "--json"))
    document = json.loads(out)
    assert code == 1 and document["ok"] is False
    assert document["failures"] == [
        {"check": "files", "subject": "tree.json", "detail": document["failures"][0]["detail"]}
    ]
    assert "does not match" in document["failures"][0]["detail"]


def test_verify_prints_one_line_per_failed_check(built, capsys) -> None:
    cdk_out, manifest, public = built
    (cdk_out / "extra.json").write_text("{}")
    (cdk_out / "tree.json").unlink()
    code, out, _ = run(
        capsys, "manifest", "verify", "--cdk-out", str(cdk_out), "--manifest", str(manifest),
        "--public-key", str(public), "--expect-commit", "f" * 40,
    )  # fmt: skip
    assert code == 1
    assert sorted(out.splitlines()) == sorted(
        [
            "FAIL files: tree.json: listed in the manifest but missing",
            "FAIL files: extra.json: not listed in the manifest (extra file)",
            f"FAIL commit: commit: {COMMIT} is not the expected {'f' * 40}",
        ]
    )


def test_missing_manifest_is_an_invalid_artifact(tmp_path, key_files, capsys) -> None:
    code, out, _ = run(
        capsys, "manifest", "verify", "--cdk-out", str(tmp_path), "--manifest", str(tmp_path / "nope.json"),
        "--public-key", str(key_files[1]),
    )  # fmt: skip
    assert code == 1 and "FAIL structure:" in out and "nope.json" in out and "not readable" in out


def test_usage_errors_exit_2_and_name_the_flag(tmp_path, capsys) -> None:
    code, _, err = run(
        capsys, "manifest", "verify", "--cdk-out", "x", "--manifest", "m", "--public-key", "k", "--jobs", "0"
    )
    assert code == 2 and "--jobs" in err
    code, _, err = run(
        capsys, "manifest", "sign", "--manifest", str(tmp_path / "m.json"), "--private-key", str(tmp_path / "k.pem")
    )
    assert code == 2 and "--manifest" in err and "m.json" in err
    code, _, err = run(capsys, "manifest", "verify", "--cdk-out", "x", "--manifest", "m")
    assert code == 2 and "--kms-key-id" in err


def test_bad_build_arguments_are_invalid_artifacts(tmp_path, capsys) -> None:
    (tmp_path / "cdk.out").mkdir()
    (tmp_path / "cdk.out" / "manifest.json").write_text("{}")
    code, out, _ = run(
        capsys, "manifest", "build", "--cdk-out", str(tmp_path / "cdk.out"), "--service", "orders", "--commit", "abc",
        "--cdk-cli-version", CLI_VERSION, "--out", str(tmp_path / "m.json"),
    )  # fmt: skip
    assert code == 1 and "FAIL structure: commit: expected a full 40-character" in out
    assert not (tmp_path / "m.json").exists()


def test_unusable_key_exits_3(built, tmp_path, capsys) -> None:
    cdk_out, manifest, _ = built
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    code, _, err = run(
        capsys, "manifest", "verify", "--cdk-out", str(cdk_out), "--manifest", str(manifest), "--public-key", str(bad)
    )
    assert code == 3 and "bad.pem: cannot load a PEM public key" in err


def test_verify_with_the_kms_public_key(aws, built, capsys) -> None:
    cdk_out, manifest, _ = built
    kms = boto3.client("kms")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/cdk-ci-artifact-signer", TargetKeyId=key_id)
    code, out, _ = run(
        capsys, "manifest", "sign", "--manifest", str(manifest), "--kms-key-id", "alias/cdk-ci-artifact-signer"
    )
    assert code == 0 and "kms:alias/cdk-ci-artifact-signer" in out
    code, out, err = run(
        capsys,
        "manifest",
        "verify",
        "--cdk-out",
        str(cdk_out),
        "--manifest",
        str(manifest),
        "--kms-key-id",
        "alias/cdk-ci-artifact-signer",
    )
    assert code == 0, out + err
    code, _, err = run(capsys, "manifest", "sign", "--manifest", str(manifest), "--kms-key-id", "alias/missing")
    assert code == 3 and "alias/missing" in err


def test_publish_uploads_without_a_table_and_refuses_the_removed_table_flag(aws, built, capsys) -> None:
    cdk_out, manifest, public = built
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    publish = ("publish", "--cdk-out", str(cdk_out), "--manifest", str(manifest), "--bucket", BUCKET)
    publish += ("--public-key", str(public))  # checks the provenance beside the manifest
    code, out, _ = run(capsys, *publish, "--json")
    assert code == 0 and json.loads(out) == {"prefix": f"s3://{BUCKET}/orders/{COMMIT}/", "files": 19}
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []
    code, _, err = run(capsys, *publish, "--table", TABLE)
    assert code == 2
    assert "--table was removed: CI writes nothing in the metadata table; intake records the candidate" in err


def test_context_guard_exit_codes(tmp_path, capsys) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    code, out, _ = run(capsys, "context", "guard", "--repo", str(tmp_path))
    assert code == 0 and out.startswith("OK")
    (tmp_path / ".cdk.context.json").write_text("{}")
    subprocess.run(["git", "add", ".cdk.context.json"], cwd=tmp_path, check=True)
    code, out, _ = run(capsys, "context", "guard", "--repo", str(tmp_path))
    assert code == 1 and out.startswith("FAIL context: .cdk.context.json:")


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff\xfe", b'{"schema": 1', b"[" * 100000])
def test_console_script_never_prints_a_traceback(tmp_path, key_files, garbage: bytes) -> None:
    (tmp_path / "cdk.out").mkdir()
    manifest = tmp_path / "artifact-manifest.json"
    manifest.write_bytes(garbage)
    artifactctl = Path(sys.executable).with_name("artifactctl")
    completed = subprocess.run(
        [str(artifactctl), "manifest", "verify", "--cdk-out", str(tmp_path / "cdk.out"), "--manifest", str(manifest),
         "--public-key", str(key_files[1])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr + completed.stdout
    assert completed.stdout.startswith("FAIL structure: artifact-manifest.json:")


def test_offline_verify_does_not_import_boto3(built) -> None:
    """Cold start stays lean: nothing AWS is loaded when no AWS call is made."""
    cdk_out, manifest, public = built
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "artifactctl", "manifest", "verify", "--cdk-out", str(cdk_out),
         "--manifest", str(manifest), "--public-key", str(public), "--jobs", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout
    imported = {line.split("|")[-1].strip() for line in completed.stderr.splitlines() if "|" in line}
    assert "functions.artifacts.verify" in imported
    assert not {m for m in imported if m.split(".")[0] in ("boto3", "botocore", "pydantic", "pulumi")}


def test_context_publish_and_fetch_with_default_key_and_bucket(aws, tmp_path, monkeypatch, capsys) -> None:
    bucket = "cdk-contexts-111111111111-us-east-1"
    boto3.client("s3").create_bucket(Bucket=bucket)
    kms = boto3.client("kms")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/cdk-context-signer", TargetKeyId=key_id)
    monkeypatch.setenv("ARTIFACTCTL_CONTEXTS_BUCKET", bucket)
    source = tmp_path / "generated.json"
    source.write_text('{"vpc-provider:account=222222222222": {"vpcId": "vpc-1"}}')

    code, out, err = run(capsys, "context", "publish", "--env", "stage", "--file", str(source), "--json")
    assert code == 0, err
    assert json.loads(out)["keys"][-1] == "stage/latest.context.json.sig"
    out_file = tmp_path / "service" / ".cdk.context.json"
    out_file.parent.mkdir()
    code, out, err = run(capsys, "context", "fetch", "--env", "stage", "--out", str(out_file))
    assert code == 0, err
    assert out_file.read_bytes() == source.read_bytes() and "signature verified" in out

    code, _, err = run(capsys, "context", "fetch", "--env", "prod", "--out", str(out_file))
    assert code == 1 and "no blessed context at s3://" in err


def _record_as_intake_would(manifest_path: Path) -> None:
    from functions.artifacts.manifest import parse_manifest
    from functions.artifacts.metadata import candidate_item
    from functions.pipeline.store import MetadataTable

    manifest, _ = parse_manifest(manifest_path.read_bytes())
    item = candidate_item(manifest, artifact_url=f"s3://{BUCKET}/orders/{COMMIT}/", region="us-east-1")
    assert MetadataTable.named(TABLE).create(item) is None


def test_status_shows_the_lifecycle_at_a_glance(aws, built, capsys) -> None:

    cdk_out, manifest, public = built
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    create_metadata_table(boto3.client("dynamodb"), TABLE)
    run(
        capsys, "publish", "--cdk-out", str(cdk_out), "--manifest", str(manifest), "--bucket", BUCKET,
        "--public-key", str(public),
    )  # fmt: skip
    _record_as_intake_would(manifest)
    code, out, _ = run(capsys, "status", "--service", "orders", "--commit", COMMIT)
    assert code == 0
    assert out.splitlines()[0].startswith(f"orders @ {COMMIT[:12]}  status candidate")
    assert "stage  pending" in out and "prod   not_deployed" in out
    code, out, _ = run(capsys, "status", "--service", "orders", "--json")
    assert code == 0 and [i["commit_sha"] for i in json.loads(out)] == [COMMIT]
    code, _, err = run(capsys, "status", "--service", "orders", "--commit", "f" * 40)
    assert code == 2 and "no artifact orders@ffff" in err


def _image_app(tmp_path: Path) -> Path:
    """A cloud assembly with one container image asset (`api-image`)."""
    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    (cdk_out / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": {}}))
    destination = {"repositoryName": "cdk-hnb659fds-container-assets-222222222222-us-east-1", "imageTag": "t1"}
    images = {
        "api-image": {"source": {"directory": "asset.image"}, "destinations": {"222222222222-us-east-1": destination}}
    }
    (cdk_out / "app.assets.json").write_text(json.dumps({"version": "55.0.0", "files": {}, "dockerImages": images}))
    return cdk_out


def test_build_records_the_image_digests_ci_pushed_and_refuses_bad_ones(tmp_path, capsys) -> None:
    from functions.artifacts.manifest import parse_manifest

    cdk_out, out = _image_app(tmp_path), tmp_path / "m.json"
    digests = tmp_path / "digests.json"
    build = ("manifest", "build", "--cdk-out", str(cdk_out), "--service", "orders", "--commit", COMMIT,
             "--cdk-cli-version", CLI_VERSION, "--out", str(out), "--image-digests", str(digests))  # fmt: skip
    digest = "sha256:" + "ab" * 32
    digests.write_text(json.dumps({"api-image": digest}))
    assert run(capsys, *build)[0] == 0
    manifest, problems = parse_manifest(out.read_bytes())
    assert problems == [] and manifest is not None and manifest.assets["api-image"]["digest"] == digest

    for wrong, expected in (
        ({"api-image": "sha256:ABC"}, "expected sha256: and 64 lowercase hex digits"),
        ({"other": digest}, "no container image asset has this id"),
    ):
        digests.write_text(json.dumps(wrong))
        code, printed, _ = run(capsys, *build)
        assert code == 1 and expected in printed
    digests.write_text("[1, 2]")
    code, _, err = run(capsys, *build)
    assert code == 2 and "--image-digests" in err


def test_a_manifest_with_a_malformed_digest_is_structurally_invalid(tmp_path) -> None:
    from functions.artifacts.manifest import build_manifest, dumps, parse_manifest

    manifest = build_manifest(_image_app(tmp_path), service="orders", commit=COMMIT, cdk_cli_version=CLI_VERSION)
    assert "digest" not in manifest.assets["api-image"]  # still valid: the deployer refuses the image
    document = json.loads(dumps(manifest))
    document["assets"]["api-image"]["digest"] = "latest"
    _, problems = parse_manifest(json.dumps(document).encode())
    assert [p.subject for p in problems] == ["assets['api-image'].digest"]
