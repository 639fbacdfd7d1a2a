"""One driver per host, reused by every caller: the health job, workspace starts and the proxy.

A host record that changes (new address, key or pin) gets a fresh driver; the old one closes.
"""

import threading

from fleet.backends import registry
from fleet.backends.base import Backend
from fleet.drivers.base import Driver
from fleet.hosts import Host


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
            driver = registry.reach(host.driver).driver(host, self.forward_bind)
            self._drivers[host.id] = (identity, driver)
            return driver

    def backend(self, host: Host) -> Backend:
        """The host's backend over its driver; built per call (it holds only its settings)."""
        return registry.build(host, self.driver(host))

    def close(self) -> None:
        with self._lock:
            for _, driver in self._drivers.values():
                driver.close()
            self._drivers.clear()
