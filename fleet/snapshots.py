"""Snapshots of a run's task folder: what every checkpoint is, kept for review and rescoring.

A snapshot is an uncompressed tar of the task folder, made as root on the run's host with every
varying field pinned (names sorted, times and owners zeroed), so identical files give identical
bytes. Its sha256 names it in a content-addressed store under the data dir
(``<store>/<sha[:2]>/<sha>.tar``), which keeps each content once however often it is submitted.
The size cap is enforced on the host (the stream stops one byte past it), so a huge folder is
never copied whole. Scoring extracts a snapshot into a fresh folder on the host
(``task_runs.score(..., snapshot=...)``), never the live one; ``diff`` shows a coordinator what
changed between two checkpoints.
"""

import difflib
import errno
import hashlib
import os
import re
import shlex
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fleet.task_runs import Place

# Caches, the IDE's and the shell's own files, and `.baseliner` (the run's token): never part of
# a checkpoint. A name matches at any depth; a pattern holding a "/" from the task folder only.
DEFAULT_EXCLUDES = (
    ".cache",
    ".local",
    ".config",
    "__pycache__",
    "*.pyc",
    ".triton",
    ".code-server.log",
    ".baseliner",
    ".ipython",
    ".bash_history",
    ".python_history",
    ".wget-hsts",
)
MB = 1_000_000
TIMEOUT_S = 600
# Bounds of a diff, so a review page stays readable whatever the expert did.
DIFF_LINES_PER_FILE = 2000
DIFF_BYTES = 1_000_000
DIFF_FILE_BYTES = 1_000_000  # text files larger than this are not diffed line by line
_SHA = re.compile(r"[0-9a-f]{64}")
q = shlex.quote


@dataclass(frozen=True)
class Snapshot:
    sha256: str
    size: int  # bytes of the tar
    path: Path  # in the store
    reused: bool  # the store already held this content


class StoreFull(Exception):
    """The snapshot store's disk is full: the partial snapshot was removed."""

    def __init__(self, store: Path) -> None:
        super().__init__(f"no space left in {store}")
        self.store = store


class SnapshotTooLarge(Exception):
    """The task folder is over the cap: the expert must shrink it. ``message`` is meant for them
    (the checkpoint service shows it as it shows a DomainError's)."""

    status_code = 413

    def __init__(self, cap_bytes: int, excludes: Sequence[str]) -> None:
        self.cap_bytes, self.excludes = cap_bytes, tuple(excludes)
        self.message = (
            f"The task folder is larger than the snapshot limit of {cap_bytes / MB:g} MB"
            f" ({_left_out(self.excludes)}); delete large files you do not need."
        )
        super().__init__(self.message)


def _left_out(excludes: tuple[str, ...]) -> str:
    caches = [name for name in (".cache", "__pycache__") if name in excludes]
    extra = [name for name in excludes if name not in DEFAULT_EXCLUDES]
    if not caches:
        return f"left out: {', '.join(excludes)}" if excludes else "nothing is left out"
    text = f"caches such as {' and '.join(caches)} are left out"
    return text + (f", as are {', '.join(extra)}" if extra else "")


def excludes_with(extra: str) -> tuple[str, ...]:
    """The default excludes plus a comma-separated list (the ``snapshot_excludes`` setting)."""
    added = (part.strip() for part in extra.split(","))
    return tuple(dict.fromkeys([*DEFAULT_EXCLUDES, *(part for part in added if part)]))


def path_for(store: Path, sha256: str) -> Path:
    """Where the store keeps the snapshot ``sha256`` (a checked name: it may come from a URL)."""
    if not _SHA.fullmatch(sha256):
        raise ValueError(f"not a sha256: {sha256[:80]!r}")
    return store / sha256[:2] / f"{sha256}.tar"


def tar_command(home: str, excludes: Sequence[str], cap_bytes: int) -> str:
    """The shell command that writes the task folder's tar to standard output, at most
    ``cap_bytes + 1`` bytes of it (more means too large)."""
    flags = " ".join(f"--exclude={q(_pattern(e))}" for e in excludes if _pattern(e))
    return (
        f"cd -- {q(home)} || exit 2; tar --create --file=- --format=gnu --sort=name --mtime=@0"
        f" --owner=0 --group=0 --numeric-owner --ignore-failed-read {flags} ."
        f" | head -c {cap_bytes + 1}; s=${{PIPESTATUS[0]}}"
        # 1: a file changed while it was read (the IDE is live); 141: head stopped at the cap.
        '; [ "$s" -le 1 ] || [ "$s" -eq 141 ] || exit "$s"'
    )


def _pattern(exclude: str) -> str:
    """A tar --exclude pattern: a bare name or glob matches at any depth; one holding a "/" is
    anchored at the task folder (the tar's names start with "./")."""
    name = exclude.strip().removeprefix("./").strip("/")
    return f"./{name}" if "/" in name else name


def take(
    place: Place,
    store: Path,
    *,
    excludes: Sequence[str] = DEFAULT_EXCLUDES,
    cap_bytes: int,
    timeout: float = TIMEOUT_S,
) -> Snapshot:
    """Snapshot the task folder of ``place`` into ``store``; raises SnapshotTooLarge past
    ``cap_bytes`` (nothing is kept), StoreFull when the store's disk is full (nothing is kept)
    and HostError when the host cannot make it."""
    try:
        return _take(place, store, excludes, cap_bytes, timeout)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreFull(store) from exc
        raise


def _take(
    place: Place, store: Path, excludes: Sequence[str], cap_bytes: int, timeout: float
) -> Snapshot:
    store.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".incoming-", suffix=".tar", dir=store)
    os.close(fd)
    temp = Path(name)
    try:
        size = place.root_to_file(
            tar_command(place.home, excludes, cap_bytes), temp, timeout=timeout
        )
        if size > cap_bytes:
            raise SnapshotTooLarge(cap_bytes, excludes)
        sha = _sha256(temp)
        final = path_for(store, sha)
        final.parent.mkdir(exist_ok=True)
        temp.chmod(0o600)  # the expert's work: the portal's to read, nobody else's
        try:
            os.link(temp, final)  # atomic: two workers storing one content store it once
            reused = False
        except FileExistsError:
            reused = True
        return Snapshot(sha, size, final, reused)
    finally:
        temp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def listing(snapshot: Path) -> dict[str, int]:
    """The files (and links) in a snapshot, by path relative to the task folder: their sizes."""
    with tarfile.open(snapshot, "r:") as tar:
        return {name: info.size for name, info in _entries(tar).items()}


# -- the diff between two checkpoints ------------------------------------------------------------


@dataclass(frozen=True)
class FileChange:
    path: str
    kind: str  # added, removed, modified (text, a link or the mode), binary (a binary file)
    diff: str  # unified diff text, or a line saying what changed when there is no text to show
    truncated: bool = False  # the diff was cut at its limits


def diff(
    a: Path,
    b: Path,
    *,
    max_lines: int = DIFF_LINES_PER_FILE,
    max_bytes: int = DIFF_BYTES,
) -> list[FileChange]:
    """What changed from snapshot ``a`` to snapshot ``b``, file by file in path order: text as
    unified diffs of at most ``max_lines`` lines each and ``max_bytes`` in all."""
    changes: list[FileChange] = []
    budget = max_bytes
    with tarfile.open(a, "r:") as old, tarfile.open(b, "r:") as new:
        before, after = _entries(old), _entries(new)
        for path in sorted(before.keys() | after.keys()):
            was, now = before.get(path), after.get(path)
            if was is not None and now is not None and _same(old, was, new, now):
                continue
            change = _change(path, old, was, new, now, max_lines)
            text = change.diff.encode()
            if len(text) > budget:
                cut = text[:budget].decode(errors="ignore")
                cut = cut[: cut.rfind("\n") + 1]
                change = FileChange(change.path, change.kind, cut, True)
            budget -= len(change.diff.encode())
            changes.append(change)
    return changes


def _entries(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Members other than folders, by path without the leading "./"; a hard link stands for
    the file it links to (same content, same mode)."""
    entries = {}
    for member in tar.getmembers():
        if member.isdir():
            continue
        try:
            target = tar.getmember(member.linkname) if member.islnk() else member
        except KeyError:
            continue
        entries[member.name.removeprefix("./")] = target
    return entries


def _same(
    old: tarfile.TarFile, was: tarfile.TarInfo, new: tarfile.TarFile, now: tarfile.TarInfo
) -> bool:
    if (was.type, was.mode, was.linkname, was.size) != (now.type, now.mode, now.linkname, now.size):
        return False
    if not was.isfile():
        return True
    left, right = old.extractfile(was), new.extractfile(now)
    assert left is not None and right is not None
    while True:
        x, y = left.read(1 << 20), right.read(1 << 20)
        if x != y:
            return False
        if not x:
            return True


def _change(
    path: str,
    old: tarfile.TarFile,
    was: tarfile.TarInfo | None,
    new: tarfile.TarFile,
    now: tarfile.TarInfo | None,
    max_lines: int,
) -> FileChange:
    kind = "added" if was is None else "removed" if now is None else "modified"
    infos = [info for info in (was, now) if info is not None]
    if any(info.isfile() and info.size > DIFF_FILE_BYTES for info in infos):
        return FileChange(path, kind, _describe(was, now, "too large to show"), True)
    before = _text(old, was) if was is not None else ""
    after = _text(new, now) if now is not None else ""
    if before is None or after is None:
        files = all(info.isfile() for info in infos)
        why = "binary" if files else "not text"
        return FileChange(
            path, "binary" if files and was and now else kind, _describe(was, now, why)
        )
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        "/dev/null" if was is None else f"a/{path}",
        "/dev/null" if now is None else f"b/{path}",
    )
    shown, truncated = [], False
    for line in lines:
        if len(shown) == max_lines:
            truncated = True
            break
        shown.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    text = "".join(shown)
    if was is not None and now is not None and was.mode != now.mode:
        text = f"mode {was.mode:o} -> {now.mode:o}\n" + text
    return FileChange(path, kind, text, truncated)


def _text(tar: tarfile.TarFile, info: tarfile.TarInfo) -> str | None:
    """A member as text to diff, or None when it is binary (or not a file or link)."""
    if info.issym():
        return f"symbolic link to {info.linkname}\n"
    member = tar.extractfile(info) if info.isfile() else None
    data = member.read() if member is not None else b"\0"
    if b"\0" in data:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def _describe(was: tarfile.TarInfo | None, now: tarfile.TarInfo | None, why: str) -> str:
    """One line for a change whose text is not shown."""

    def what(info: tarfile.TarInfo) -> str:
        return f"{info.size} bytes" if info.isfile() else "not a regular file"

    if was is None:
        return f"added ({why}): {what(now)}\n"  # type: ignore[arg-type]
    if now is None:
        return f"removed ({why}): {what(was)}\n"
    return f"changed ({why}): {what(was)} -> {what(now)}\n"
