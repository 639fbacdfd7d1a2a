"""Registering a host as a coordinator would, checked and ready, for tests that start
workspaces: this machine (local driver), the loopback sshd, or podman on this machine."""

from sqlalchemy.engine import Engine
from sqlmodel import Session

from fleet import health, hosts
from fleet.connections import Connections
from fleet.hosts import Host, HostCreate, HostStatus
from fleet.testing_sshd import LoopbackSSHD
from tests.naming import PREFIX
from timetracking.utc import utcnow


def ready_host(
    engine: Engine, kind: str = "local", *, sshd: LoopbackSSHD | None = None, image: str = ""
) -> Host:
    """A host record of ``kind`` (local, ssh or container), health-checked; fails unless ready."""
    key = ""
    if kind == "ssh":
        assert sshd is not None, "an ssh host needs the sshd fixture"
        data = HostCreate(
            name="ssh-host",
            driver="ssh",
            address=sshd.address,
            port=sshd.port,
            username=sshd.username,
            key_path=str(sshd.key_path),
        )
        key = sshd.host_key_line
    elif kind == "container":
        data = HostCreate(
            name="pod-host", driver="local", backend="container", settings={"image": image}
        )
    else:
        data = HostCreate(name="local", driver="local")
    with Session(engine) as s:
        host = hosts.add(s, data, key, None, utcnow())
        s.commit()
        connections = Connections(PREFIX)
        health.check(s, host, connections, utcnow())
        connections.close()
        assert host.status == HostStatus.ready, host.status_reason
        s.refresh(host)
        s.expunge(host)
        return host


def ready_host_of_kind(request, engine: Engine) -> str:
    """For a fixture parametrised with "local", "ssh" or "container": that host, registered
    and ready as a coordinator's check leaves it (containers swept before and after)."""
    from tests.container_image import ensure_image, sweep_containers

    image, sshd = "", None
    if request.param == "container":
        image = ensure_image()
        sweep_containers()
        request.addfinalizer(sweep_containers)
    elif request.param == "ssh":
        sshd = request.getfixturevalue("sshd")
    ready_host(engine, request.param, sshd=sshd, image=image)
    return request.param
