"""What preinstalling the editor extension costs a workspace start, on this machine (local
driver) and over SSH (sshd on loopback), against ``code-server --install-extension``.

Per start the platform (1) asks whether this version is on the host (``install_on_host``, one
command when it is) and (2) copies it into the new home and writes ``extensions.json`` inside the
command that already writes the IDE's settings (``fleet.backends.common.preinstall``);
(2) is measured
as that command with the copy less the same command without it.

    .venv/bin/python bench/editor_extension.py [N]
"""

import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.vsix

from fleet import codeserver, editor_extension_setup  # noqa: E402
from fleet.backends.common import preinstall  # noqa: E402
from fleet.drivers.base import Driver  # noqa: E402
from fleet.drivers.local import LocalDriver  # noqa: E402
from fleet.drivers.ssh import SSHDriver  # noqa: E402
from fleet.testing_sshd import start_sshd  # noqa: E402
from tests.vsix import vsix  # noqa: E402

q = shlex.quote


def timed(n: int, action: Callable[[], object]) -> list[float]:
    action()  # warm-up, not counted
    times = []
    for _ in range(n):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return times


def settings_command(driver: Driver, with_extension: bool) -> Callable[[], object]:
    """The runtime's settings command for a fresh folder, with or without the extension copy."""
    installed = editor_extension_setup.extension()

    def run() -> None:
        home = f"/tmp/bench-ext-{secrets.token_hex(4)}"
        extensions = f"{home}/.local/share/code-server/extensions"
        copy = preinstall((installed,), extensions, extensions) if with_extension else "true"
        settings = f"{home}/.local/share/code-server/User"
        driver.run(
            f"mkdir -p {q(settings)} && cat > {q(settings)}/settings.json && {copy}"
            f" && chown -R nobody: {q(home)} && rm -rf {q(home)}",
            input=b"{}",
        )

    return run


def install_extension(vsix_path: Path) -> Callable[[], object]:
    """The alternative: code-server's own installer into a fresh extensions folder."""
    node = codeserver.node_bin_dir()

    def run() -> None:
        folder = Path(tempfile.mkdtemp(prefix="bench-ext-cs-"))
        subprocess.run(
            [str(codeserver.code_server_bin()), "--extensions-dir", str(folder / "ext"),
             "--user-data-dir", str(folder / "data"), "--install-extension", str(vsix_path)],
            check=True, capture_output=True,
            env={"PATH": f"{node}:/usr/bin:/bin", "HOME": str(folder)},
        )  # fmt: skip
        subprocess.run(["rm", "-rf", str(folder)], check=True)

    return run


def row(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{name:<48} {statistics.median(times) * 1000:>9.1f} {p95 * 1000:>9.1f}"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = Path(tempfile.mkdtemp(prefix="bench-editor-extension-"))
    sshd = start_sshd(work / "sshd")
    ssh = SSHDriver(
        sshd.address, sshd.port, sshd.username, sshd.key_path, host_key=sshd.host_key_line
    )
    ssh.connect()
    package = work / "activity.vsix"
    package.write_bytes(vsix(editor_extension_setup.SOURCE))
    try:
        print(f"# editor extension per workspace start, {n} repetitions; {time.strftime('%F')}")
        print(f"{'step':<48} {'p50 ms':>9} {'p95 ms':>9}")
        for name, driver in (("local", LocalDriver()), ("ssh", ssh)):
            check = timed(n, lambda d=driver: editor_extension_setup.install_on_host(d, "root"))
            bare = timed(n, settings_command(driver, False))
            copied = timed(n, settings_command(driver, True))
            added = (statistics.median(copied) - statistics.median(bare)) * 1000
            print(row(f"{name}: install_on_host, already there", check))
            print(row(f"{name}: settings command without the copy", bare))
            print(row(f"{name}: settings command with the copy", copied))
            print(f"{name + ': the copy adds (p50)':<48} {added:>9.1f}")
        installer = timed(max(3, n // 4), install_extension(package))
        print(row("local: code-server --install-extension (vsix)", installer))
    finally:
        ssh.close()
        sshd.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
