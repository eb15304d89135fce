"""Walking and hashing a `cdk.out` tree safely, and the definition of `artifact_sha256`.

`artifact_sha256` is the SHA-256 of the lines `"<sha256 hex>  <relative path>\\n"`, one per file, ordered
by the UTF-8 bytes of the path, which is exactly what coreutils prints for the tree:

    cd cdk.out && find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum

so it is independent of archive format and of file order, and anyone can recompute it.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .findings import Finding

MAX_PATH_LENGTH = 1024


def path_problem(path: str) -> str | None:
    """Why `path` is not a safe relative path inside `cdk.out/`, or None if it is."""
    if not path:
        return "empty path"
    if len(path) > MAX_PATH_LENGTH:
        return f"path longer than {MAX_PATH_LENGTH} characters"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in path):
        return "path is not valid UTF-8"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return "path contains a control character"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "absolute path"
    if "\\" in path:
        return "backslash in path (paths use '/')"
    parts = path.split("/")
    if ".." in parts:
        return "path traversal ('..')"
    if any(part in ("", ".") for part in parts):
        return "path is not normalized (empty or '.' component)"
    return None


def list_files(root: Path) -> tuple[list[str], list[Finding]]:
    """Relative paths of the regular files under `root`, and what makes the tree unsafe to trust.

    Symbolic links (to files or directories), special files and names that are not UTF-8 are
    reported, never followed or hashed.
    """
    files: list[str] = []
    findings: list[Finding] = []
    root_bytes = os.fsencode(root)
    for directory, dirnames, filenames in os.walk(root_bytes, followlinks=False):
        relative_dir = os.path.relpath(directory, root_bytes)
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(directory, name)
            raw = name if relative_dir == b"." else os.path.join(relative_dir, name)
            try:
                relative = raw.decode("utf-8")
            except UnicodeDecodeError:
                findings.append(
                    Finding("files", raw.decode("utf-8", "backslashreplace"), "file name is not valid UTF-8")
                )
                if name in dirnames:
                    dirnames.remove(name)
                continue
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                findings.append(Finding("files", relative, "is a symbolic link"))
            elif name in dirnames:
                continue
            elif not stat.S_ISREG(mode):
                findings.append(Finding("files", relative, "is not a regular file"))
            else:
                files.append(relative)
    files.sort(key=lambda p: p.encode("utf-8"))
    return files, findings


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def hash_files(
    root: Path,
    relative_paths: Iterable[str],
    jobs: int = 1,
    on_file: Callable[[str, int], None] | None = None,
) -> dict[str, str]:
    """SHA-256 of each file, streamed (memory does not grow with file size), `jobs` at a time.

    hashlib releases the GIL while it hashes, so threads use as many cores as `jobs`.
    """

    def one(relative: str) -> tuple[str, str]:
        digest = sha256_file(root / relative)
        if on_file is not None:
            on_file(relative, (root / relative).stat().st_size)
        return relative, digest

    paths = list(relative_paths)
    if jobs <= 1:
        return dict(map(one, paths))
    # Largest first keeps the workers evenly loaded to the end.
    paths.sort(key=lambda p: (root / p).stat().st_size, reverse=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(pool.map(one, paths))


def artifact_sha256(file_hashes: Mapping[str, str]) -> str:
    """The tree hash defined in this module's docstring."""
    digest = hashlib.sha256()
    for path in sorted(file_hashes, key=lambda p: p.encode("utf-8")):
        digest.update(f"{file_hashes[path]}  {path}\n".encode())
    return digest.hexdigest()
