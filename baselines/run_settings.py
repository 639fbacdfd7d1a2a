"""What the run's lifecycle needs to know of the platform's settings, as a Protocol: the domain
takes the settings as an argument and never imports the web app's (webapp.settings.Settings
is one)."""

from pathlib import Path
from typing import Protocol


class RunSettings(Protocol):
    data_dir: Path
    environment_dirs: str
    snapshot_max_mb: int
    snapshot_excludes: str
    idle_after_s: int
