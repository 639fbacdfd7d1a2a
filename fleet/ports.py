"""Which TCP ports something already listens on at a host, so a run is never leased one.

Our leases only know our own runs; another installation's workspaces, a stray code-server or any
service on the machine are invisible to them. The kernel's socket tables (``/proc/net/tcp`` and
``tcp6``, what ``ss -ltn`` reads) list every listening socket of the machine's network namespace,
whoever owns it. They are read through the driver, so one code path serves this machine and SSH
hosts, and container workspaces (host network) are seen too.
"""

from fleet.drivers.base import Driver

LISTEN = "0A"  # the TCP state LISTEN in /proc/net/tcp
TABLES = "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true"


def listening(driver: Driver) -> set[int]:
    """The TCP ports with a listening socket on the host, on any address (IPv4 or IPv6)."""
    return parse(driver.run(TABLES, timeout=30.0).stdout)


def parse(tables: str) -> set[int]:
    """Ports in LISTEN state from the text of /proc/net/tcp{,6}: each line is ``sl
    local_address rem_address st …`` with the local address as ``HEXIP:HEXPORT``."""
    ports: set[int] = set()
    for line in tables.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != LISTEN or ":" not in fields[1]:
            continue
        try:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except ValueError:
            continue
    return ports
