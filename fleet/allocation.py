"""Placing a run: a ready host with enough free GPUs, those GPUs, and a free port, all leased.

Leases are rows under a unique key (machine, kind, value), so two runs can never hold the same GPU
or port of a machine, even through two host records that name it (fleet.machines): a concurrent
start that loses the race gets an IntegrityError and tries the next choice. A port is also only
leased when nothing listens on it on the machine (another installation's workspace, any service):
the caller says which ports are in use there.
"""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, delete, select

from baselines.errors import Conflict
from baselines.runs import LIVE, Lease, Run
from fleet.hosts import Host, HostStatus
from fleet.machines import machine

PORTS = range(20000, 30000)
AGENT = "agent"  # lease kind: the host's one user ``agent``
ATTEMPTS = 5


class NoCapacity(Conflict):
    """No ready host can take the run now; the expert is told so and can try again later."""


@dataclass(frozen=True)
class Placement:
    host: Host
    gpus: list[int]
    port: int


def leased(session: Session, host: Host, kind: str) -> set[int]:
    """The GPUs, ports or users (``kind``) of the host's machine that live runs hold, through
    this host record or any other naming the same machine."""
    query = select(Lease.value).where(Lease.machine == machine(host), Lease.kind == kind)
    return set(session.exec(query))


def _live_runs(session: Session, host_id: int) -> int:
    query = (
        select(func.count()).select_from(Run).where(Run.host_id == host_id, Run.status.in_(LIVE))
    )
    return session.exec(query).one()


def port_order(prefix: str) -> Sequence[int]:
    """The order an installation tries ports in: round the range from a point its prefix
    (fleet.naming) picks. Each installation leases only what its own database knows, and the
    check that a port is free comes moments before code-server binds it, so two installations
    that both began at the lowest port would reach for the same one whenever they start at
    once; from different points they almost never do."""
    start = int.from_bytes(hashlib.sha256(prefix.encode()).digest()[:4], "big") % len(PORTS)
    return (*PORTS[start:], *PORTS[:start])


def _shares_agent(host: Host) -> bool:
    """Whether the host's backend has one user ``agent`` per machine (fleet.backends)."""
    from fleet.backends.registry import backend_class

    return backend_class(host.backend).shares_agent_user


def _leases_gpus(host: Host) -> bool:
    """Whether the platform counts the host's GPUs itself, or a scheduler owns them."""
    from fleet.backends.registry import backend_class

    return backend_class(host.backend).leased


def gpu_less_fleet(session: Session) -> bool:
    """True when no registered host has a GPU (a laptop, CI, the embedded default): GPU tasks
    then run on the CPU, their scores marked not comparable, so every journey can be tried."""
    return not any(host.gpus for host in session.exec(select(Host)))


def _candidates(session: Session, gpu_count: int, agent_user: bool) -> list[tuple[Host, list[int]]]:
    hosts = session.exec(
        select(Host).where(Host.status == HostStatus.ready, Host.draining.is_(False))
    ).all()
    found: list[tuple[int, str, Host, list[int]]] = []
    for host in hosts:
        if agent_user and _shares_agent(host) and leased(session, host, AGENT):
            continue  # its one user ``agent`` is taken
        if gpu_count and not _leases_gpus(host):
            # A scheduler's GPUs: it queues the job; here only whether one node could ever
            # hold it (the GPUs the host check found on the biggest node). Positions, not
            # indices: the scheduler numbers a job's GPUs itself.
            if len(host.gpus) >= gpu_count:
                found.append((len(host.gpus), host.name, host, list(range(gpu_count))))
            continue
        if gpu_count == 0:
            live = _live_runs(session, host.id)
            if live < host.max_workspaces:
                found.append((live, host.name, host, []))
            continue
        taken = leased(session, host, "gpu")
        free = [g["index"] for g in host.gpus if g["index"] not in taken]
        if len(free) >= gpu_count:
            # Best fit: the host with the fewest free GPUs that still fits, so whole hosts stay
            # free for tasks that need many.
            found.append((len(free), host.name, host, free[:gpu_count]))
    return [(host, gpus) for *_, host, gpus in sorted(found, key=lambda item: item[:2])]


def place(
    session: Session,
    run: Run,
    gpu_count: int,
    *,
    agent_user: bool = False,
    in_use: Callable[[Host], set[int]] | None = None,
    ports: Sequence[int] = PORTS,
) -> Placement:
    """Lease GPUs and a port for ``run`` and commit; raises NoCapacity when nothing fits.

    ``agent_user``: the task is a METR-format family that needs the user ``agent`` and
    /home/agent; on a process-runtime host that user exists once, so it is leased too (one such
    run per machine), while containers each have their own.
    ``in_use``: the ports something listens on at the host's machine (fleet.ports.listening),
    skipped; a HostError from it (the host cannot be asked) leaves nothing leased.
    ``ports``: the order to try ports in (``port_order``).
    """
    if gpu_count and gpu_less_fleet(session):
        gpu_count, run.cpu_mode = 0, True
    for _ in range(ATTEMPTS):
        candidates = _candidates(session, gpu_count, agent_user)
        if not candidates:
            break
        host, gpus = candidates[0]
        taken_ports = leased(session, host, "port") | (in_use(host) if in_use else set())
        port = next((p for p in ports if p not in taken_ports), None)
        if port is None:
            break
        key = {"host_id": host.id, "machine": machine(host), "run_id": run.id}
        try:
            for gpu in gpus if _leases_gpus(host) else ():
                session.add(Lease(kind="gpu", value=gpu, **key))
            session.add(Lease(kind="port", value=port, **key))
            if agent_user and _shares_agent(host):
                session.add(Lease(kind=AGENT, value=0, **key))
            run.host_id, run.gpu_indices, run.port = host.id, gpus, port
            session.add(run)
            session.commit()
            return Placement(host=host, gpus=gpus, port=port)
        except IntegrityError:
            session.rollback()  # someone took one of them a moment ago; look again
    noun = "GPU" if gpu_count == 1 else "GPUs"
    need = f"{gpu_count} free {noun}" if gpu_count else "room for a workspace"
    raise NoCapacity(f"No ready host has {need} right now. Try again in a few minutes.")


def release(session: Session, run_id: int) -> None:
    session.exec(delete(Lease).where(Lease.run_id == run_id))
