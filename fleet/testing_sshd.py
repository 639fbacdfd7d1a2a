"""A throwaway OpenSSH server on loopback, for the driver tests and the tunnel benchmark.

It is a real ``sshd`` (the thing production hosts run), with keys generated on the spot and
everything in one folder, so tests exercise the same handshake, host key and forwarding paths as a
GPU host. Never used in production code.
"""

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


@dataclass
class LoopbackSSHD:
    address: str
    port: int
    username: str
    key_path: Path
    host_key_line: str
    host_pub_path: Path
    log_path: Path
    process: subprocess.Popen

    def crash(self) -> None:
        """The host's sshd dies with every connection it holds (SIGKILL to the listener and
        its per-connection children), as when the host goes away."""
        subprocess.run(["pkill", "-KILL", "-P", str(self.process.pid)], check=False)
        self.process.kill()
        self.process.wait()

    def restart(self, timeout: float = 10.0) -> None:
        """The same sshd again: same port, same host key (so the pin still holds)."""
        config = self.log_path.parent / "sshd_config"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        _wait_for_banner(self, timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )


def start_sshd(directory: Path, *, username: str = "root", timeout: float = 10.0) -> LoopbackSSHD:
    """Start ``sshd -D`` on a free loopback port with fresh host and user keys in ``directory``;
    returns once the port answers with an SSH banner."""
    directory.mkdir(parents=True, exist_ok=True)
    host_key, user_key = directory / "host_ed25519", directory / "user_ed25519"
    _keygen(host_key)
    _keygen(user_key)
    authorized = directory / "authorized_keys"
    authorized.write_text(Path(f"{user_key}.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                f"PidFile {directory / 'sshd.pid'}",
                "StrictModes no",
                "AllowTcpForwarding yes",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    log_path = directory / "sshd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    pub = Path(f"{host_key}.pub")
    server = LoopbackSSHD(
        address="127.0.0.1",
        port=port,
        username=username,
        key_path=user_key,
        host_key_line=" ".join(pub.read_text().split()[:2]),
        host_pub_path=pub,
        log_path=log_path,
        process=process,
    )
    _wait_for_banner(server, timeout)
    return server


def _wait_for_banner(server: LoopbackSSHD, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log_path.read_text()
            raise RuntimeError(f"sshd exited with {server.process.returncode}: {log}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"sshd did not answer on port {server.port}: {server.log_path.read_text()}")
