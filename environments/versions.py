"""A family's version: a short hash of its files, so a run records exactly which files it used.

A manifest's ``version`` is whatever its author last typed; the hash changes whenever any file
does, whether or not anyone remembered to bump it. Caches, compiled files and dot-files are
left out: they change without the family changing, and a family builds what it makes at run
time into a dot-folder (``.build/``) for that reason. Links are followed: a family that uses the
shared toolkit holds a link to ``environments/_shared/lmkit``, so a change there changes the
version of every family that uses it (and installing a family copies what the link holds).
"""

import hashlib
import os
import time
from pathlib import Path

# path -> (the stat signature of every file, the version it gave); a page lists the catalogue
# on every visit, and reading every byte each time would be wasted when nothing changed.
# A file written in the last two seconds may change again within the file system's timestamp
# granularity without its signature changing (git's "racily clean" problem): not cached then.
RACY_NS = 2_000_000_000
_cache: dict[str, tuple[tuple, str]] = {}


def skipped(name: str) -> bool:
    """Names that are no part of a family: neither hashed nor installed."""
    return name.startswith(".") or name == "__pycache__" or name.endswith(".pyc")


def files(folder: Path) -> list[Path]:
    """The family's files, as paths relative to ``folder``, sorted."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not skipped(d)]
        base = Path(root).relative_to(folder)
        found += [base / name for name in names if not skipped(name)]
    return sorted(found, key=lambda p: p.as_posix())


def folder_version(path: Path | str) -> str:
    """The first 16 hex characters of a sha256 over each file's relative path and bytes."""
    folder = Path(path)
    listing = files(folder)
    signature = tuple(
        (rel.as_posix(), stat.st_size, stat.st_mtime_ns)
        for rel in listing
        for stat in [(folder / rel).stat()]
    )
    cached = _cache.get(str(folder.resolve()))
    if cached is not None and cached[0] == signature:
        return cached[1]
    digest = hashlib.sha256()
    for rel in listing:
        data = (folder / rel).read_bytes()
        name = rel.as_posix().encode()
        # Lengths first, so no two different folders can feed the hash the same bytes.
        digest.update(f"{len(name)}:{len(data)}:".encode() + name + data)
    version = digest.hexdigest()[:16]
    if all(mtime < time.time_ns() - RACY_NS for _, _, mtime in signature):
        _cache[str(folder.resolve())] = (signature, version)
    return version
