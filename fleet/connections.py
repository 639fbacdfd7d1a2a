"""One driver per host, reused by every caller: the health job, workspace starts and the proxy.

A host record that changes (new address, key or pin) gets a fresh driver; the old one closes.
"""

import threading

from fleet.backends.common import WorkspaceRuntime
from fleet.backends.process import ProcessRuntime
from fleet.drivers.base import Driver
from fleet.hosts import DriverKind, Host, Runtime


class Connections:
    def __init__(self, prefix: str, forward_bind: str = "127.0.0.1") -> None:
        """``prefix``: this installation's (fleet.naming), which every workspace name it gives
        on a host carries; ``forward_bind``: the address IDE forwarders listen on
        (Settings.ide_tunnel_bind)."""
        self.prefix = prefix
        self.forward_bind = forward_bind
        self._lock = threading.Lock()
        self._drivers: dict[int, tuple[tuple, Driver]] = {}

    @staticmethod
    def _identity(host: Host) -> tuple:
        return (host.driver, host.address, host.port, host.username, host.key_path, host.host_key)

    def driver(self, host: Host) -> Driver:
        identity = self._identity(host)
        with self._lock:
            known = self._drivers.get(host.id)
            if known and known[0] == identity:
                return known[1]
            if known:
                known[1].close()
            driver = _make_driver(host, self.forward_bind)
            self._drivers[host.id] = (identity, driver)
            return driver

    def runtime(self, host: Host) -> WorkspaceRuntime:
        driver = self.driver(host)
        if host.runtime == Runtime.container:
            from fleet.backends.container import ContainerRuntime

            return ContainerRuntime(driver, host.username, image=host.image)
        return ProcessRuntime(driver, host.username)

    def close(self) -> None:
        with self._lock:
            for _, driver in self._drivers.values():
                driver.close()
            self._drivers.clear()


def _make_driver(host: Host, forward_bind: str) -> Driver:
    if host.driver == DriverKind.local:
        from fleet.drivers.local import LocalDriver

        return LocalDriver()
    from fleet.drivers.ssh import SSHDriver

    return SSHDriver(
        address=host.address,
        port=host.port,
        username=host.username,
        key_path=host.key_path,
        host_key=host.host_key,
        forward_bind=forward_bind,
    )
