"""Zip a directory reproducibly: sorted entries, fixed timestamps and permissions.

    python -m functions.deterministic_zip SOURCE_DIR OUT.zip [--prefix python/]

The same input gives byte-identical archives, so the Lambda layer's hash (and `pulumi preview`)
changes only when its content does (the layer skips caches). The deployer zips a verified `cdk.out`
directory asset with `zip_bytes` before publishing it (every file, nothing skipped: those are the
signed bytes).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from collections.abc import Collection
from pathlib import Path

EPOCH = (1980, 1, 1, 0, 0, 0)
SKIPPED = {"__pycache__"}


def files_of(source: Path, skipped: Collection[str] = SKIPPED, skip_bytecode: bool = True) -> list[Path]:
    found = []
    for directory, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d not in skipped)
        found += [Path(directory) / n for n in sorted(filenames) if not (skip_bytecode and n.endswith(".pyc"))]
    return sorted(found, key=lambda p: p.relative_to(source).as_posix())


def _write(target: object, source: Path, files: list[Path], prefix: str) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:  # type: ignore[arg-type]
        for path in files:
            info = zipfile.ZipInfo(prefix + path.relative_to(source).as_posix(), date_time=EPOCH)
            executable = os.access(path, os.X_OK)
            info.external_attr = (0o755 if executable else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def write_zip(source: Path, out: Path, prefix: str = "") -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(".tmp")
    files = files_of(source)
    _write(temporary, source, files, prefix)
    temporary.replace(out)
    return len(files)


def zip_bytes(source: Path) -> bytes:
    """Every file under `source` (caches included), as a reproducible archive in memory."""
    buffer = io.BytesIO()
    _write(buffer, source, files_of(source, skipped=(), skip_bytecode=False), "")
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"deterministic_zip: {args.source} is not a directory", file=sys.stderr)
        return 2
    count = write_zip(args.source, args.out, args.prefix)
    print(f"wrote {args.out}: {count} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
