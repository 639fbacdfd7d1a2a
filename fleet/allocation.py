"""Placing a run: a ready host with enough free GPUs, those GPUs, and a free port, all leased.

Leases are rows under a unique key (host, kind, value), so two runs can never hold the same GPU or
port: a concurrent start that loses the race gets an IntegrityError and tries the next choice.
"""

from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, delete, select

from baselines.errors import Conflict
from baselines.runs import LIVE, Lease, Run
from fleet.hosts import Host, HostStatus, Runtime

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


def _leased(session: Session, host_id: int, kind: str) -> set[int]:
    query = select(Lease.value).where(Lease.host_id == host_id, Lease.kind == kind)
    return set(session.exec(query))


def _live_runs(session: Session, host_id: int) -> int:
    query = (
        select(func.count()).select_from(Run).where(Run.host_id == host_id, Run.status.in_(LIVE))
    )
    return session.exec(query).one()


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
        if agent_user and host.runtime == Runtime.process and _leased(session, host.id, AGENT):
            continue  # its one user ``agent`` is taken
        if gpu_count == 0:
            live = _live_runs(session, host.id)
            if live < host.max_workspaces:
                found.append((live, host.name, host, []))
            continue
        taken = _leased(session, host.id, "gpu")
        free = [g["index"] for g in host.gpus if g["index"] not in taken]
        if len(free) >= gpu_count:
            # Best fit: the host with the fewest free GPUs that still fits, so whole hosts stay
            # free for tasks that need many.
            found.append((len(free), host.name, host, free[:gpu_count]))
    return [(host, gpus) for *_, host, gpus in sorted(found, key=lambda item: item[:2])]


def place(session: Session, run: Run, gpu_count: int, *, agent_user: bool = False) -> Placement:
    """Lease GPUs and a port for ``run`` and commit; raises NoCapacity when nothing fits.

    ``agent_user``: the task is a METR-format family that needs the user ``agent`` and
    /home/agent; on a process-runtime host that user exists once, so it is leased too (one such
    run per host), while containers each have their own.
    """
    if gpu_count and gpu_less_fleet(session):
        gpu_count, run.cpu_mode = 0, True
    for _ in range(ATTEMPTS):
        candidates = _candidates(session, gpu_count, agent_user)
        if not candidates:
            break
        host, gpus = candidates[0]
        taken_ports = _leased(session, host.id, "port")
        port = next(p for p in PORTS if p not in taken_ports)
        try:
            for gpu in gpus:
                session.add(Lease(host_id=host.id, kind="gpu", value=gpu, run_id=run.id))
            session.add(Lease(host_id=host.id, kind="port", value=port, run_id=run.id))
            if agent_user and host.runtime == Runtime.process:
                session.add(Lease(host_id=host.id, kind=AGENT, value=0, run_id=run.id))
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
