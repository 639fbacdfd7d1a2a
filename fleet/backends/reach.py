"""How the platform reaches a host: this machine itself, or SSH with a pinned host key.

Every backend runs over one of these (a Slurm cluster's login node is reached the same way as a
GPU box); what differs between them is said here once, so nothing else asks which it is.
"""

import ipaddress
from pathlib import Path
from typing import Any, ClassVar

from fleet.drivers.base import Driver

LOCAL_MACHINE = "local"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class Reach:
    """What a way of reaching hosts means for the rest of the platform."""

    name: ClassVar[str]
    # Whether the portal dials the IDE through a forwarder of its own (the front proxy is then
    # told this process's forwarding address instead of the host's loopback).
    forwards: ClassVar[bool]
    # Whether the host's SSH key is pinned at registration.
    pins_key: ClassVar[bool]

    def driver(self, host: Any, forward_bind: str) -> Driver:
        raise NotImplementedError

    def machine(self, address: str, port: int) -> str:
        """The key GPUs and ports are leased under (fleet.machines)."""
        raise NotImplementedError

    def cache(self) -> Path:
        """Where code-server and Node are on the host, as the host sees it."""
        raise NotImplementedError

    def where(self, host: Any) -> str:
        """The host's address as people read it."""
        raise NotImplementedError

    def portal_host(self, portal: str) -> str:
        """The address a workspace on the host uses for the portal (through the reverse
        tunnel for SSH, whose remote end is the host's loopback)."""
        raise NotImplementedError

    def problems(self, data: Any) -> dict[str, str]:
        """What a registration lacks for this way of reaching the host."""
        return {}


class LocalReach(Reach):
    name, forwards, pins_key = "local", False, False

    def driver(self, host: Any, forward_bind: str) -> Driver:
        from fleet.drivers.local import LocalDriver

        return LocalDriver()

    def machine(self, address: str, port: int) -> str:
        return LOCAL_MACHINE

    def cache(self) -> Path:
        from fleet.codeserver import cache_dir

        return cache_dir()

    def where(self, host: Any) -> str:
        return "this machine"

    def portal_host(self, portal: str) -> str:
        return portal


class SSHReach(Reach):
    name, forwards, pins_key = "ssh", True, True

    def driver(self, host: Any, forward_bind: str) -> Driver:
        from fleet.drivers.ssh import SSHDriver

        return SSHDriver(
            address=host.address,
            port=host.port,
            username=host.username,
            key_path=host.key_path,
            host_key=host.host_key,
            forward_bind=forward_bind,
        )

    def machine(self, address: str, port: int) -> str:
        """``address:port`` with the address as one spelling: lower case, no trailing dot, no
        IPv6 brackets, an IP in its canonical form and loopback names as 127.0.0.1."""
        name = address.strip().lower().rstrip(".")
        if name.startswith("[") and name.endswith("]"):
            name = name[1:-1]
        if name in LOOPBACK_NAMES:
            name = "127.0.0.1"
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return f"{name}:{port}"
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return f"[{ip.compressed}]:{port}" if ip.version == 6 else f"{ip.compressed}:{port}"

    def cache(self) -> Path:
        from fleet.codeserver import host_cache

        return host_cache()

    def where(self, host: Any) -> str:
        return f"{host.username}@{host.address}:{host.port}"

    def portal_host(self, portal: str) -> str:
        return "127.0.0.1"

    def problems(self, data: Any) -> dict[str, str]:
        errors = {}
        if not data.address:
            errors["address"] = "An SSH host needs an address."
        if not data.key_path:
            errors["key_path"] = "Give the path of the private key on the portal machine."
        return errors
