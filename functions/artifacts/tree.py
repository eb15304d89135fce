"""Walking and hashing a `cdk.out` tree safely, and the definition of `artifact_sha256`.

`artifact_sha256` is the SHA-256 of the lines `"<sha256 hex>  <relative path>\\n"`, one per file, ordered
by the UTF-8 bytes of the path, which is exactly what coreutils prints for the tree:

    cd cdk.out && find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum

so it is independent of archive format and of file order, and anyone can recompute it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from .errors import Finding, HashMismatch, printable

MAX_PATH_LENGTH = 1024


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Format characters (bidi overrides and isolates, zero-width spaces and joiners, soft hyphen, BOM) and
# line/paragraph separators: invisible or reordering, so a listed name can look like another one.
_INVISIBLE_CATEGORIES = ("Cf", "Zl", "Zp")


def _invisible_character(path: str) -> str | None:
    if path.isascii():
        return None
    return next((c for c in path if unicodedata.category(c) in _INVISIBLE_CATEGORIES), None)


def path_problem(path: str) -> str | None:
    """Why `path` is not a safe relative path inside `cdk.out/`, or None if it is."""
    if not path:
        return "empty path"
    if len(path) > MAX_PATH_LENGTH:
        return f"path longer than {MAX_PATH_LENGTH} characters"
    if _SURROGATE.search(path):
        return "path is not valid UTF-8"
    if _CONTROL.search(path):
        return "path contains a control character"
    invisible = _invisible_character(path)
    if invisible is not None:
        name = unicodedata.name(invisible, "unnamed")
        return f"path contains the invisible or bidi formatting character U+{ord(invisible):04X} ({name})"
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


def name_key(path: str) -> str:
    """Two paths with the same key are the same file on a case-insensitive or normalizing file system
    (macOS, Windows) and look alike to a reviewer: NFC normalization, then case folding."""
    return unicodedata.normalize("NFC", path).casefold()


def name_collisions(paths: Iterable[str]) -> dict[str, str]:
    """`{path: earlier path it collides with}` for every path whose `name_key` an earlier one has."""
    first: dict[str, str] = {}
    collisions: dict[str, str] = {}
    for path in sorted(paths, key=lambda p: p.encode("utf-8", "surrogatepass")):
        earlier = first.setdefault(name_key(path), path)
        if earlier != path:
            collisions[path] = earlier
    return collisions


def collision(earlier: str) -> str:
    return f"collides with {earlier!r} (same after Unicode NFC and case folding)"


def list_files(root: Path) -> tuple[list[str], list[Finding]]:
    """Relative paths of the regular files under `root`, and what makes the tree unsafe to trust.

    Symbolic links (to files or directories), special files, names that are not UTF-8 or not safe
    (`path_problem`) are reported, never followed or hashed. Hard links (a regular file with more than
    one link: its content is shared with a file elsewhere and can change through it) and names that
    collide (`name_collisions`) are reported too.
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
            status = os.lstat(full)
            if stat.S_ISLNK(status.st_mode):
                findings.append(Finding("files", printable(relative), "is a symbolic link"))
            elif name in dirnames:
                continue
            elif not stat.S_ISREG(status.st_mode):
                findings.append(Finding("files", printable(relative), "is not a regular file"))
            elif problem := path_problem(relative):
                findings.append(Finding("files", printable(relative), problem))
            else:
                if status.st_nlink > 1:
                    findings.append(Finding("files", printable(relative), f"is a hard link ({status.st_nlink} links)"))
                files.append(relative)
    files.sort(key=lambda p: p.encode("utf-8"))
    return files, findings + _collision_findings(files)


def _collision_findings(paths: Iterable[str]) -> list[Finding]:
    collisions = name_collisions(paths).items()
    return [Finding("files", printable(path), f"name {collision(earlier)}") for path, earlier in collisions]


READ_SIZE = 1 << 20  # streamed in 1 MiB reads: memory stays flat whatever the file size
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def open_regular(path: Path | str) -> BinaryIO:
    """`path` opened for reading if it is a regular file (a symlink to one is followed); otherwise an
    OSError saying it is not one, without blocking on a FIFO or reading a device."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return open(fd, "rb")


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(READ_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_regular(path: str) -> tuple[str, int] | None:
    """(sha256, size) of a regular file; None for anything else. Never follows a final symlink and
    never blocks on a FIFO, so a hostile tree cannot redirect or stall the hashing."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    with open(fd, "rb", buffering=0) as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        digest = hashlib.sha256()
        size = 0
        while chunk := handle.read(READ_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _hash_bucket(root: str, paths: list[str]) -> list[tuple[str, tuple[str, int] | None]]:
    return [(p, _sha256_regular(os.path.join(root, p))) for p in paths]


def _buckets(root: Path, paths: list[str], count: int) -> list[list[str]]:
    """Split into `count` lists of about equal bytes (largest first into the lightest list)."""

    def size(path: str) -> int:
        try:
            return os.lstat(root / path).st_size
        except OSError:
            return 0

    sizes = {p: size(p) for p in paths}
    buckets: list[list[str]] = [[] for _ in range(count)]
    loads = [0] * count
    for path in sorted(paths, key=sizes.__getitem__, reverse=True):
        lightest = loads.index(min(loads))
        buckets[lightest].append(path)
        loads[lightest] += sizes[path]
    return [b for b in buckets if b]


def _child(root: str, paths: list[str], write_fd: int) -> None:
    """Runs in a forked worker: one JSON line per file, then exit without running any cleanup."""
    status = 0
    try:
        with os.fdopen(write_fd, "wb", buffering=1 << 16) as out:
            for path in paths:
                hashed = _sha256_regular(os.path.join(root, path))
                out.write(json.dumps([path, *(hashed or (None, 0))]).encode() + b"\n")
    except BaseException:
        status = 1
    finally:
        os._exit(status)


class HashJob:
    """Hash files in the background while the caller does other work; `results()` waits.

    CPython's hashlib does not scale across threads here (measured: two threads are no faster than
    one), so `jobs > 1` forks plain worker processes (a pipe each; no multiprocessing machinery, whose
    start-up alone cost more than the hashing saved), each hashing a share of about equal bytes.
    Where `fork` is unavailable the files are hashed in-process when `results()` is called.
    """

    def __init__(self, root: Path, relative_paths: Iterable[str], jobs: int = 1) -> None:
        self.root = root
        self.paths = list(relative_paths)
        self._children: list[tuple[int, int]] = []  # (pid, read fd)
        if jobs > 1 and len(self.paths) > 1 and hasattr(os, "fork"):
            for bucket in _buckets(root, self.paths, jobs):
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(read_fd)
                    _child(str(root), bucket, write_fd)
                os.close(write_fd)
                self._children.append((pid, read_fd))

    def results(self, on_file: Callable[[str, int], None] | None = None) -> dict[str, str | None]:
        """`{path: sha256}`; None for a path that is missing or not a regular file."""
        results: dict[str, str | None] = {}
        if not self._children:
            for path, hashed in _hash_bucket(str(self.root), self.paths):
                results[path] = hashed[0] if hashed else None
                if hashed and on_file is not None:
                    on_file(path, hashed[1])
            return results

        import selectors

        pending = {fd: b"" for _, fd in self._children}
        with selectors.DefaultSelector() as selector:
            for fd in pending:
                selector.register(fd, selectors.EVENT_READ)
            while pending:
                for key, _ in selector.select():
                    fd = key.fd
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        selector.unregister(fd)
                        os.close(fd)
                        del pending[fd]
                        continue
                    *lines, pending[fd] = (pending[fd] + chunk).split(b"\n")
                    for line in lines:
                        path, digest, size = json.loads(line)
                        results[path] = digest
                        if digest is not None and on_file is not None:
                            on_file(path, size)
        for pid, _ in self._children:
            os.waitpid(pid, 0)
        for path in self.paths:
            results.setdefault(path, None)  # a worker that died leaves its files unverified
        return results


def hash_files(
    root: Path,
    relative_paths: Iterable[str],
    jobs: int = 1,
    on_file: Callable[[str, int], None] | None = None,
) -> dict[str, str]:
    """SHA-256 of each regular file under `root` (see HashJob); raises if one is not readable."""
    results = HashJob(root, relative_paths, jobs).results(on_file)
    unreadable = sorted(p for p, digest in results.items() if digest is None)
    if unreadable:
        raise OSError(f"not regular readable files: {', '.join(unreadable[:5])}")
    return results  # type: ignore[return-value]


def compare_tree(
    expected: Mapping[str, str], present: Sequence[str], actual: Mapping[str, str | None]
) -> list[Finding]:
    """Every way a tree differs from a manifest's `file_hashes` (`expected`): files missing, extra,
    unreadable or with another hash. `present` is what `list_files` found, `actual` the hashes of the
    expected files (None where not a readable regular file). The one check verify and publish share."""
    present_set = set(present)
    findings = [Finding("files", p, "listed in the manifest but missing") for p in expected if p not in present_set]
    findings += [Finding("files", p, "not listed in the manifest (extra file)") for p in present if p not in expected]
    for path in present:
        if path not in expected:
            continue
        digest = actual.get(path)
        if digest is None:
            findings.append(Finding("files", path, "could not be read as a regular file"))
        elif digest != expected[path]:
            findings.append(
                HashMismatch("files", path, f"sha256 {digest} does not match the manifest's {expected[path]}")
            )
    return findings


def artifact_sha256(file_hashes: Mapping[str, str]) -> str:
    """The tree hash defined in this module's docstring."""
    digest = hashlib.sha256()
    for path in sorted(file_hashes, key=lambda p: p.encode("utf-8")):
        digest.update(f"{file_hashes[path]}  {path}\n".encode())
    return digest.hexdigest()
