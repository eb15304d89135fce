"""Benchmark: `artifactctl manifest verify --jobs 2` against the machine's hashing limit.

    make bench            (or: python bench/verify_bench.py [--files 2000] [--mib 256] [--runs 3])

Builds a synthetic cdk.out (default ~2,000 files, 256 MiB: a few large assets, many small
templates), signs its manifest with a throwaway key, then times on the same warm files:

  verify    the whole `artifactctl manifest verify --jobs 2` command, interpreter start-up included
  openssl   `openssl dgst -sha256` over the same files in two processes (SHA-NI where the CPU has it):
            the hashing limit of this machine with two cores
  sha256sum coreutils `sha256sum` in two processes, for reference

and prints the best-of-N times, the ratios, and the verifier's peak memory (max RSS), also for a
quarter-size tree to show that memory does not grow with the artifact. Target: verify within 2x of
the two-process OpenSSL time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench"
BIN = Path(sys.executable).parent


def make_tree(target: Path, files: int, mib: int) -> None:
    """Deterministic sizes, random content; regenerated only when the shape changes."""
    stamp = target / ".shape"
    shape = f"{files}:{mib}"
    if stamp.is_file() and stamp.read_text() == shape:
        return
    if target.exists():
        shutil.rmtree(target)
    cdk_out = target / "cdk.out"
    cdk_out.mkdir(parents=True)
    total = mib << 20
    large = 8
    large_size = total // 2 // large
    small = files - large
    small_size = (total - large * large_size) // small
    for i in range(large):
        path = cdk_out / f"asset.{i:064x}" / "bundle.zip"
        path.parent.mkdir()
        path.write_bytes(os.urandom(large_size))
    for i in range(small):
        folder = cdk_out / (f"nested{i % 16:02d}" if i % 3 else "")
        folder.mkdir(exist_ok=True)
        (folder / f"stack{i:05d}.template.json").write_bytes(os.urandom(small_size))
    stamp.write_text(shape)


def sign_manifest(target: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = target / "key.pem"
    public = target / "key.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    manifest = target / "artifact-manifest.json"
    artifactctl = str(BIN / "artifactctl")
    commit = "ab" * 20
    subprocess.run(
        [artifactctl, "manifest", "build", "--cdk-out", str(target / "cdk.out"), "--service", "bench",
         "--commit", commit, "--cdk-cli-version", "2.1148.1", "--git-signature-verified", "--out", str(manifest)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [artifactctl, "manifest", "sign", "--manifest", str(manifest), "--private-key", str(private)],
        check=True,
        capture_output=True,
    )
    return manifest, public


def timed(command: list[str] | str, shell: bool = False) -> tuple[float, int]:
    """Wall seconds and the child's peak RSS in KiB (this process waits for one child at a time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(command, shell=shell, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(before, after)


def best(command: list[str] | str, runs: int, shell: bool = False) -> float:
    timed(command, shell)  # warm the page cache and the interpreter's files
    return min(timed(command, shell)[0] for _ in range(runs))


def two_processes(tool: str, cdk_out: Path) -> str:
    """Half of the files to each of two processes, like --jobs 2 (largest files spread evenly)."""
    return (
        f"cd {cdk_out} && find . -type f -printf '%s %P\\n' | sort -rn | cut -d' ' -f2- "
        f"| awk 'NR % 2 == 1' > ../half-a && find . -type f -printf '%s %P\\n' | sort -rn | cut -d' ' -f2- "
        f"| awk 'NR % 2 == 0' > ../half-b && "
        f"( xargs -d '\\n' {tool} < ../half-a > /dev/null & xargs -d '\\n' {tool} < ../half-b > /dev/null & wait )"
    )


def measure(files: int, mib: int, runs: int) -> dict[str, float]:
    target = WORK / f"{files}-files-{mib}-mib"
    make_tree(target, files, mib)
    manifest, public = sign_manifest(target)
    cdk_out = target / "cdk.out"
    verify = [
        str(BIN / "artifactctl"), "manifest", "verify", "--cdk-out", str(cdk_out), "--manifest", str(manifest),
        "--public-key", str(public), "--jobs", "2",
    ]  # fmt: skip
    verify_time = best(verify, runs)
    # Peak memory of the verifier alone, in a fresh child accounting.
    peak = subprocess.run(
        [sys.executable, "-c", _PEAK_PROBE, *verify], check=True, capture_output=True, text=True
    ).stdout.strip()
    return {
        "verify": verify_time,
        "openssl": best(two_processes("openssl dgst -sha256", cdk_out), runs, shell=True),
        "sha256sum": best(two_processes("sha256sum", cdk_out), runs, shell=True),
        "peak_kib": float(peak),
        "bytes": sum(p.stat().st_size for p in cdk_out.rglob("*") if p.is_file()),
        "files": sum(1 for p in cdk_out.rglob("*") if p.is_file()),
    }


_PEAK_PROBE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("openssl") is None:
        print("bench: openssl is not installed", file=sys.stderr)
        return 2

    full = measure(args.files, args.mib, args.runs)
    quarter = measure(args.files // 4, args.mib // 4, args.runs)
    print(f"tree: {full['files']} files, {full['bytes'] / (1 << 20):.0f} MiB (best of {args.runs} warm runs)")
    print(f"  artifactctl manifest verify --jobs 2   {full['verify']:7.3f} s")
    print(f"  openssl dgst -sha256, 2 processes      {full['openssl']:7.3f} s")
    print(f"  sha256sum, 2 processes                 {full['sha256sum']:7.3f} s")
    print(f"  verify / openssl    = {full['verify'] / full['openssl']:.2f}x   (target <= 2.00x)")
    print(f"  sha256sum / openssl = {full['sha256sum'] / full['openssl']:.2f}x")
    full_peak, quarter_peak = full["peak_kib"] / 1024, quarter["peak_kib"] / 1024
    print(f"  verify peak RSS: {full_peak:.1f} MiB at {full['bytes'] >> 20} MiB, ", end="")
    print(f"{quarter_peak:.1f} MiB at {quarter['bytes'] >> 20} MiB ({quarter['files']} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
