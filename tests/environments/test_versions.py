"""A family's version is a hash of its files: it changes when a file does, and only then."""

import os
import time

from environments import versions
from environments.versions import folder_version


def _family(tmp_path):
    folder = tmp_path / "fam"
    (folder / "assets").mkdir(parents=True)
    (folder / "fam.py").write_text("class TaskFamily:\n    standard_version = '0.5.0'\n")
    (folder / "manifest.yaml").write_text("tasks:\n  main: {}\n")
    (folder / "assets" / "data.txt").write_text("one\n")
    return folder


def test_sixteen_hex_characters_and_stable(tmp_path):
    folder = _family(tmp_path)
    first = folder_version(folder)
    assert len(first) == 16 and int(first, 16) >= 0
    assert folder_version(folder) == first
    assert folder_version(str(folder)) == first


def test_changes_when_a_file_changes_is_added_or_renamed(tmp_path):
    folder = _family(tmp_path)
    seen = {folder_version(folder)}
    (folder / "assets" / "data.txt").write_text("two\n")  # same size, other bytes
    seen.add(folder_version(folder))
    (folder / "assets" / "more.txt").write_text("")
    seen.add(folder_version(folder))
    (folder / "assets" / "more.txt").rename(folder / "assets" / "other.txt")
    seen.add(folder_version(folder))
    assert len(seen) == 4


def test_same_files_elsewhere_give_the_same_version(tmp_path):
    one, two = tmp_path / "a", tmp_path / "b"
    one.mkdir()
    two.mkdir()
    assert folder_version(_family(one)) == folder_version(_family(two))


def test_caches_compiled_files_and_dot_files_do_not_count(tmp_path):
    folder = _family(tmp_path)
    before = folder_version(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "fam.cpython-311.pyc").write_bytes(b"\x00")
    (folder / "stray.pyc").write_bytes(b"\x00")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref\n")
    (folder / ".DS_Store").write_bytes(b"\x00")
    assert folder_version(folder) == before


def test_a_cached_version_is_dropped_when_a_file_changes(tmp_path):
    """Files untouched for a while are hashed once; a later change of size or time is seen."""
    folder = _family(tmp_path)
    old = time.time() - 60
    for path in folder.rglob("*"):
        os.utime(path, (old, old))
    first = folder_version(folder)
    assert str(folder.resolve()) in versions._cache
    (folder / "assets" / "data.txt").write_text("changed\n")
    assert folder_version(folder) != first


def test_a_linked_folder_counts_as_the_familys_own(tmp_path):
    """A family that uses the shared toolkit holds a link to it: a change there is a change of
    every family that links it."""
    shared = tmp_path / "_shared" / "kit"
    shared.mkdir(parents=True)
    (shared / "kit.py").write_text("one\n")
    folder = _family(tmp_path)
    without = folder_version(folder)
    (folder / "kit").symlink_to(os.path.relpath(shared, folder))
    linked = folder_version(folder)
    assert linked != without
    assert "kit/kit.py" in [p.as_posix() for p in versions.files(folder)]
    (shared / "kit.py").write_text("two\n")
    assert folder_version(folder) != linked


def test_what_a_family_builds_in_a_dot_folder_does_not_count(tmp_path):
    folder = _family(tmp_path)
    before = folder_version(folder)
    (folder / ".build").mkdir()
    (folder / ".build" / "model.pt").write_bytes(b"\x01" * 10)
    assert folder_version(folder) == before
