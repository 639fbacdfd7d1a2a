"""Giving a workspace its `task` command: installed on the host, pointed at the portal through a
reverse tunnel (the host needs no route to the portal), with a token good for that run only.
The editor extension that reports activity comes with it: it reads the same address and token."""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session

from baselines import run_tokens
from baselines.runs import Run
from fleet import editor_extension_setup
from fleet.backends import registry
from fleet.backends.common import Extension
from fleet.drivers.base import Driver
from fleet.hosts import Host
from fleet.task_runs import Place


@dataclass(frozen=True)
class TaskCommandSetup:
    # Where the portal's task API listens, seen from the portal's own machine.
    portal: tuple[str, int]

    @classmethod
    def from_url(cls, url: str) -> "TaskCommandSetup":
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return cls((host, parts.port or (443 if parts.scheme == "https" else 80)))

    def install(self, driver: Driver, host: Host) -> tuple[Extension, ...]:
        """The `task` command and the editor extension (which talks to the same API with the
        same token) on the host, each once per version; returns the extensions that every
        workspace there gets."""
        from fleet.task_command.install import install_on_host

        install_on_host(driver, host.username)
        return (editor_extension_setup.install_on_host(driver, host.username),)

    def configure(
        self, session: Session, run: Run, host: Host, driver: Driver, place: Place, now: datetime
    ) -> None:
        """A fresh token and the portal's address, written into the run's home."""
        from fleet.task_command.install import configure

        token = run_tokens.issue(session, run.id, now)
        session.commit()
        configure(place, self.url(host, driver), token)

    def url(self, host: Host, driver: Driver) -> str:
        """The portal's address as the host's workspaces reach it (over the tunnel for ssh)."""
        port = driver.reverse_port(self.portal)
        where = registry.reach(host.driver).portal_host(self.portal[0])
        return f"http://{where}:{port}"

    def repoint(self, host: Host, driver: Driver, place: Place) -> None:
        """After a platform restart the tunnel is new and its port may differ: a live run's
        `task` command is pointed at it again (its token stays)."""
        from fleet.task_command.install import update_url

        update_url(place, self.url(host, driver))
