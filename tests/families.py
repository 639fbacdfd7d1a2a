"""A small task family written on the fly, for tests that start workspaces from the portal.

Its ``start`` copies ``assets/`` into ``$HOME`` (owned by the workspace user, as METR families do
it themselves), and its manifest carries every number Baseliner needs, so Start is not held back.
"""

from pathlib import Path

FAMILY = """\
import os
import shutil
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"


class TaskFamily:
    standard_version = "0.5.0"

    @staticmethod
    def get_tasks():
        return {"main": {}}

    @staticmethod
    def get_instructions(t):
        return "Warm up: read notes.md, then run solve.py."

    @staticmethod
    def start(t):
        home = Path(os.environ["HOME"])
        shutil.copytree(ASSETS, home, dirs_exist_ok=True)
        user = os.environ.get("USER")
        if os.geteuid() == 0 and user:
            for path in ASSETS.rglob("*"):
                shutil.chown(home / path.relative_to(ASSETS), user, user)

    @staticmethod
    def intermediate_score(t):
        return {"score": 1.0, "message": {}, "details": {}}
"""

MANIFEST = """\
tasks:
  main:
    resources:
      cpus: 1
    baseliner:
      metric: seconds
      direction: lower
      y_s: 10.0
      y_r: 1.0
      paths_from_home: true
"""


def write_warmup(root: Path, assets: dict[str, str]) -> Path:
    """``root/warmup`` with the given asset files; returns ``root`` (a BASELINER_ENVIRONMENT_DIRS
    entry)."""
    family = root / "warmup"
    (family / "assets").mkdir(parents=True)
    (family / "manifest.yaml").write_text(MANIFEST)
    (family / "warmup.py").write_text(FAMILY)
    for name, text in assets.items():
        (family / "assets" / name).write_text(text)
    return root
