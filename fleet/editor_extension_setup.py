"""How the platform puts its editor extension (``fleet/editor_extension``: it reports activity and
shows the clock) into every workspace.

Like the ``task`` command, the extension is copied once per version (a hash of its files) to
``/opt/baseliner/editor-extension/<hash>/<publisher.name-version>/``, root-owned and
world-readable. Each new workspace then gets a copy of that folder in its own extensions folder,
listed in code-server's ``extensions.json``, in the command that writes the IDE's settings
(``fleet.backends.common.preinstall``): no extra command per start and no code-server process, where
``code-server --install-extension`` would take about 0.6 s. The copy belongs to the expert, who
can still add, disable or remove extensions. The extension reads the same ``~/.baseliner`` files
as ``task``, so it needs nothing of its own per run.
"""

import json
from functools import cache
from pathlib import Path

from fleet.backends.common import Extension
from fleet.drivers.base import Driver
from fleet.host_packages import files_hash, put_version
from fleet.task_command.install import ROOT

SOURCE = Path(__file__).parent / "editor_extension"
FILES = ("package.json", "extension.js")
PACKAGES = f"{ROOT}/editor-extension"


def files() -> dict[str, bytes]:
    """The extension's files by name: what is copied, and what the version hash covers."""
    return {name: (SOURCE / name).read_bytes() for name in FILES}


def version_hash() -> str:
    return files_hash(files())


@cache
def _manifest() -> tuple[str, str]:
    package = json.loads((SOURCE / "package.json").read_text(encoding="utf-8"))
    return f"{package['publisher']}.{package['name']}", package["version"]


def extension() -> Extension:
    """This version as installed on a host."""
    ident, version = _manifest()
    folder = f"{ident}-{version}"
    return Extension(id=ident, version=version, source=f"{PACKAGES}/{version_hash()}/{folder}")


def stage(destination: Path) -> Path:
    """Write the extension as ``destination/<publisher.name-version>/``; returns ``destination``."""
    folder = destination / Path(extension().source).name
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files().items():
        (folder / name).write_bytes(content)
    return destination


def install_on_host(driver: Driver, driver_user: str) -> Extension:
    """Put this version on the host unless it is there already (one command when it is). Safe
    for starts running at once (fleet.host_packages)."""
    put_version(driver, driver_user, stage, PACKAGES, version_hash(), "editor-extension")
    return extension()
