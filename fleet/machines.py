"""Which machine a host record names: the key GPUs and ports are leased under.

Two host records can name one machine (a process and a container record for the same GPU box, or
one registered twice), and a machine has one GPU 0 and one port 20000 whatever the records say.
So leases are keyed by the machine, not by the record: ``local`` for the local driver, and the
normalised ``address:port`` of the SSH server otherwise. Different SSH ports on one address stay
different machines, since cloud providers put many machines behind one address that way; two
sshds on one machine that share a port range are still kept apart at start by the check that the
port is free on the machine (fleet.ports).
"""

import ipaddress

from fleet.hosts import DriverKind, Host

LOCAL = "local"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def machine(host: Host) -> str:
    return machine_key(str(host.driver), host.address, host.port)


def machine_key(driver: str, address: str, port: int) -> str:
    """``local``, or ``address:port`` with the address as one spelling: lower case, no trailing
    dot, no IPv6 brackets, an IP in its canonical form and loopback names as 127.0.0.1."""
    if driver == DriverKind.local:
        return LOCAL
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
