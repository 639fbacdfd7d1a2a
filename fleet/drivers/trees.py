"""How a folder travels to a host: a tar stream piped into ``tar -x`` there.

Both drivers use the same stream and the same extracting command, so ``put_tree`` behaves the
same on this machine and over SSH: modes kept, files owned by the driver's user, the destination
created and its existing files overwritten, nothing held in memory whole.
"""

import shlex
import tarfile
from pathlib import Path
from typing import BinaryIO


def extract_command(destination: str) -> str:
    """The command that unpacks the stream on standard input into ``destination``."""
    dest = shlex.quote(destination)
    return f"mkdir -p -- {dest} && tar -x --no-same-owner -p -f - -C {dest}"


def write_tree(source: Path, out: BinaryIO) -> None:
    """Write the contents of ``source`` (not the folder itself) as a tar stream to ``out``."""
    if not source.is_dir():
        raise NotADirectoryError(f"{source} is not a folder")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for child in sorted(source.iterdir()):
            tar.add(child, arcname=child.name, filter=_anonymous)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Owner names of this machine mean nothing on the host; the extracting user owns the files."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
