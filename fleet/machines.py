"""Which machine a host record names: the key GPUs and ports are leased under.

Two host records can name one machine (a process and a container record for the same GPU box, or
one registered twice), and a machine has one GPU 0 and one port 20000 whatever the records say.
So leases are keyed by the machine, not by the record: ``local`` for the local driver, and the
normalised ``address:port`` of the SSH server otherwise. Different SSH ports on one address stay
different machines, since cloud providers put many machines behind one address that way; two
sshds on one machine that share a port range are still kept apart at start by the check that the
port is free on the machine (fleet.ports).
"""

from fleet.hosts import Host

LOCAL = "local"


def machine(host: Host) -> str:
    return machine_key(str(host.driver), host.address, host.port)


def machine_key(driver: str, address: str, port: int) -> str:
    """``local`` for this machine, else the SSH server's ``address:port`` in one spelling
    (fleet.backends.reach says how each way of reaching a host names its machine)."""
    from fleet.backends.registry import reach

    return reach(driver).machine(address, port)
