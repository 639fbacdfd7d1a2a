"""A run's workspace from start to archive: place it, start it, wait for the IDE, stop it.

Every step that creates something on a host is undone when a later step fails, and the run then
says why in words an expert can act on. The run row holds all that is needed to find the
workspace again after a platform restart.
"""

import contextlib
import dataclasses
import logging
import secrets
import shlex
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from baselines import run_states
from baselines.errors import DomainError
from baselines.runs import LIVE, Run, RunStatus
from fleet import allocation, codeserver, naming, ports, task_runs
from fleet.backends import registry
from fleet.backends.base import Backend, Poll
from fleet.backends.common import Extension, WorkspaceSpec
from fleet.connections import Connections
from fleet.drivers.base import HostError, HostUnreachable
from fleet.hosts import Host, HostStatus
from fleet.task_command_setup import TaskCommandSetup
from timetracking import clock

log = logging.getLogger("baseliner.fleet")
READY_TIMEOUT_S = 60.0
AGENT_USER = "agent"  # METR-format families on the process runtime run as this user


class NotReady(HostError):
    pass


def spec_for(
    run: Run,
    host: Host,
    prefix: str,
    backend: Backend,
    files: Path | None = None,
    mounts: tuple[str, ...] = (),
    extensions: tuple[Extension, ...] = (),
) -> WorkspaceSpec:
    """What the run's workspace is, as ``backend`` (the host's) is told."""
    cache = registry.reach(host.driver).cache()
    return WorkspaceSpec(
        run_id=run.id,
        port=run.port,
        gpus=list(run.gpu_indices),
        files=files,
        ai_tools=run.ai_tools == "AI_TOOLS_AVAILABLE",
        cache=str(cache),
        user=run.unix_user if run.unix_user == AGENT_USER else "",
        mounts=mounts,
        path=backend.terminal_path(),
        extensions=extensions,
        ide_key=run.ide_key,
        name=workspace_name(run, prefix),
        owner=prefix,
    )


def workspace_name(run: Run, prefix: str) -> str:
    """What a run's workspace is called on its host (fleet.naming); a started run keeps the name
    it was given (its unix user, or its container's name), whatever the prefix is now."""
    if run.unix_user and run.unix_user != AGENT_USER:
        return run.unix_user
    return naming.workspace(prefix, run.id)


class NotOurs(HostError):
    """Something other than this run's code-server answers on its port: never proxied."""


def wait_ready(endpoint: tuple[str, int], timeout: float, key: str = "") -> float:
    """Seconds until code-server answers /healthz and, given the run's ``key``, proves to be
    this run's own (codeserver.is_ours); NotReady, or NotOurs as soon as a stranger answers.
    Without a key (runs from before keys) any /healthz is taken."""
    started = time.monotonic()
    base = f"http://{endpoint[0]}:{endpoint[1]}"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() - started < timeout:
            with contextlib.suppress(httpx.HTTPError):
                if client.get(base + "/healthz").status_code == 200:
                    ours, why = codeserver.is_ours(client, base, key) if key else (True, "")
                    if not ours:
                        raise NotOurs(
                            "Another program answers on the IDE's port, not this run's"
                            f" code-server: {why}. The IDE was not opened there."
                        )
                    return time.monotonic() - started
            time.sleep(0.05)
    raise NotReady(f"The IDE did not start within {timeout:g} s.")


def start(
    engine: Engine,
    connections: Connections,
    run_id: int,
    *,
    now: Callable[[], datetime],
    launch: task_runs.TaskLaunch | None = None,
    files: Path | None = None,
    gpu_count: int = 0,
    ready_timeout: float = READY_TIMEOUT_S,
    task_command: TaskCommandSetup | None = None,
) -> None:
    """Provision the run's workspace and start its task in it (``launch``; ``files`` alone
    copies a folder instead); leaves the run active, or failed with the reason."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        try:
            state = _provision(
                session,
                connections,
                run,
                now=now,
                launch=launch,
                files=files,
                gpu_count=gpu_count,
                ready_timeout=ready_timeout,
                task_command=task_command,
            )
        except _NotStarted as exc:
            _fail(session, run, exc.reason, now())
            return
        except _Pending as exc:
            session.refresh(run)
            if run.status == RunStatus.provisioning:  # a Stop meanwhile: its job comes next
                run_states.move(session, run, RunStatus.pending, reason=exc.reason, now=now())
                session.commit()
            return
        run.workspace_path = state.get("home") or state.get("dir", "")
        if run.status != RunStatus.stopping:  # a Stop asked for meanwhile: its job comes next
            run_states.move(session, run, RunStatus.active, now=now(), actor_id=run.expert_id)
        session.commit()


def _ports_in_use(connections: Connections, asked: list[Host]) -> Callable[[Host], set[int]]:
    """The ports something listens on at a host's machine, which a run must not be leased;
    ``asked`` collects the hosts asked, so a failure can name the host that failed."""

    def in_use(host: Host) -> set[int]:
        asked.append(host)
        return ports.listening(connections.driver(host))

    return in_use


def _host_failed(session: Session, host: Host, exc: Exception) -> str:
    """Why a start failed on ``host``, in words for the expert; an unreachable host is taken out
    of placement until a check passes."""
    if isinstance(exc, HostUnreachable):
        host = session.get(Host, host.id)
        host.status, host.status_reason = HostStatus.down, str(exc)
        session.add(host)
    return _reason(host, exc)


class _NotStarted(Exception):
    """A start that failed and was undone: the leases are free and ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _provision(
    session: Session,
    connections: Connections,
    run: Run,
    *,
    now: Callable[[], datetime],
    launch: task_runs.TaskLaunch | None,
    files: Path | None,
    gpu_count: int,
    ready_timeout: float,
    task_command: TaskCommandSetup | None,
    restore: Path | None = None,
) -> dict:
    """Place the run, create its workspace, start its task (then unpack ``restore``, a
    snapshot's tar, over the task folder) and wait for the IDE; returns the backend's state.
    Anything that fails is undone (workspace and leases) and raised as _NotStarted."""
    agent_user = launch is not None and not launch.paths_from_home
    asked: list[Host] = []
    try:
        gpus = launch.gpu_count if launch else gpu_count
        placement = allocation.place(
            session,
            run,
            gpus,
            agent_user=agent_user,
            in_use=_ports_in_use(connections, asked),
            ports=allocation.port_order(connections.prefix),
        )
    except DomainError as exc:
        raise _NotStarted(exc.message) from exc
    except HostError as exc:  # the chosen host could not say which ports are free
        run.host_id = asked[-1].id
        raise _NotStarted(_host_failed(session, asked[-1], exc)) from exc
    host = placement.host
    backend = connections.backend(host)
    if agent_user and backend.shares_agent_user:
        run.unix_user = AGENT_USER
    run.ide_key = run.ide_key or secrets.token_urlsafe(32)
    driver = backend.driver
    state: dict = {}
    spec = spec_for(run, host, connections.prefix, backend, files)
    try:
        installed, mounts, extensions = None, (), ()
        if task_command is not None:
            extensions = task_command.install(driver, host)
        if launch is not None:
            installed = task_runs.install_for(backend, launch)
            mounts = backend.task_mounts(installed.root)
        spec = spec_for(
            run, host, connections.prefix, backend, files, mounts=mounts, extensions=extensions
        )
        if limit := clock.limit_s(session, run):  # a queued job's wall time must cover it
            spec = dataclasses.replace(spec, time_limit_min=-(-limit // 60))
        run.unix_user, run.runtime = spec.unix_user, host.backend
        session.add(run)
        session.commit()
        state = backend.start(spec)
        run.runtime_state = state
        session.add(run)
        session.commit()
        if backend.queued:
            poll = _scheduled(backend, spec, state, SCHEDULED_WAIT_S)
            if poll.state == "pending":
                raise _Pending(waiting_reason(backend, poll.reason))
            if poll.state != "running":
                raise HostError(poll.reason or f"the job is {poll.state}")
        _finish(session, backend, run, host, spec, state, launch, installed, restore,
                task_command, now, ready_timeout)  # fmt: skip
    except _Pending:
        raise  # the workspace stays, its leases held, until the scheduler runs it
    except BaseException as exc:  # any failure: undo on the host, free the leases, say why
        log.warning("run %s failed to start on %s: %s", run.id, host.name, exc)
        if state:  # a backend whose own start failed has undone its work already
            with contextlib.suppress(Exception):
                backend.remove(spec, state)
        if not isinstance(exc, Exception):  # an interrupt: undone, then passed on
            session.rollback()
            _fail(session, session.get(Run, run.id), INTERRUPTED, now())
            raise
        reason = _host_failed(session, host, exc)
        allocation.release(session, run.id)
        session.commit()
        raise _NotStarted(reason) from exc
    return state


def _finish(
    session: Session,
    backend: Backend,
    run: Run,
    host: Host,
    spec: WorkspaceSpec,
    state: dict,
    launch: task_runs.TaskLaunch | None,
    installed: task_runs.Installed | None,
    restore: Path | None,
    task_command: TaskCommandSetup | None,
    now: Callable[[], datetime],
    ready_timeout: float,
) -> None:
    """A started workspace's task: the family's start (inside the workspace's allocation),
    ``restore`` unpacked over it, the ``task`` command configured; then wait for the IDE."""
    place = backend.place(spec, state)
    if launch is not None:
        task_runs.start(place, installed, launch.task, run_install=backend.installs_in_workspace())
    if restore is not None:
        _unpack(place, restore)
    if task_command is not None:
        task_command.configure(session, run, host, backend.driver, place, now())
    wait_ready(backend.endpoint(spec, state), ready_timeout, key=run.ide_key)


# How long a start waits for a scheduler to run its job before leaving the run pending (an idle
# Slurm cluster starts a job within its next pass, about a second).
SCHEDULED_WAIT_S = 5.0


def _scheduled(backend: Backend, spec: WorkspaceSpec, state: dict, wait_s: float) -> Poll:
    """The job's standing once it is no longer pending, or still pending after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        poll = backend.poll(spec, state)
        if poll.state != "pending" or time.monotonic() >= deadline:
            return poll
        time.sleep(0.25)


class _Pending(Exception):
    """A start whose job waits on the cluster's scheduler; ``reason`` is the scheduler's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


WAITING = "Waiting for the cluster to start the workspace"


def waiting_reason(backend: Backend, said: str) -> str:
    """The run's reason while pending, with the scheduler's own word (Resources, Priority)."""
    return f"{WAITING} ({backend.scheduler} says: {said})." if said else f"{WAITING}."


def advance_pending(
    engine: Engine,
    connections: Connections,
    run_id: int,
    *,
    now: Callable[[], datetime],
    launch: task_runs.TaskLaunch | None,
    task_command: TaskCommandSetup | None = None,
    ready_timeout: float = READY_TIMEOUT_S,
) -> str:
    """Ask the scheduler about a pending run's job: still waiting (the reason is kept up to
    date), running (the task is started in it and the run becomes active, its clock starting
    now), or ended before it ran (the run fails with the scheduler's reason). Returns the run's
    status afterwards; a host that cannot be asked leaves it pending, to be asked again."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        host = session.get(Host, run.host_id) if run and run.host_id else None
        if run is None or host is None or run.status != RunStatus.pending:
            return str(run.status) if run else ""
        backend = connections.backend(host)
        spec = spec_for(run, host, connections.prefix, backend)
        state = run.runtime_state
        try:
            poll = backend.poll(spec, state)
        except HostError as exc:
            log.info("run %s: could not ask %s about its job: %s", run.id, host.name, exc)
            return str(run.status)
        if poll.state == "pending":
            reason = waiting_reason(backend, poll.reason)
            if run.status_reason != reason:
                run.status_reason = reason
                session.add(run)
                session.commit()
            return str(run.status)
        try:
            if poll.state != "running":
                raise HostError(poll.reason or f"the job is {poll.state}")
            installed = task_runs.install_for(backend, launch) if launch is not None else None
            _finish(session, backend, run, host, spec, state, launch, installed, None,
                    task_command, now, ready_timeout)  # fmt: skip
        except Exception as exc:
            log.warning("run %s failed to start on %s: %s", run.id, host.name, exc)
            with contextlib.suppress(Exception):
                backend.remove(spec, state)
            session.refresh(run)
            if run.status == RunStatus.pending:
                _fail(session, run, _host_failed(session, host, exc), now())
            return str(run.status)
        session.refresh(run)
        if run.status == RunStatus.pending:  # a Stop asked for meanwhile: its job comes next
            run.workspace_path = state.get("home") or state.get("dir", "")
            run_states.move(session, run, RunStatus.active, now=now(), actor_id=run.expert_id)
            session.commit()
        return str(run.status)


def sweep(session: Session, connections: Connections, host: Host) -> list[str]:
    """Remove what this installation left on ``host`` that no run still owns (a job whose run
    ended while the portal was down); returns what was removed. Live runs and ended runs whose
    clean-up is pending keep theirs."""
    owners = session.exec(
        select(Run).where(
            Run.host_id == host.id, Run.status.in_(LIVE) | Run.cleanup_pending.is_(True)
        )
    ).all()
    keep = {workspace_name(run, connections.prefix) for run in owners}
    removed = connections.backend(host).sweep(connections.prefix, keep)
    for name in removed:
        log.warning("host %s: removed %s, which no live run owned", host.name, name)
    return removed


def pending_runs(session: Session) -> list[int]:
    """Runs whose job waits on a scheduler."""
    query = select(Run.id).where(Run.status == RunStatus.pending).order_by(Run.id)
    return list(session.exec(query))


def _unpack(place: task_runs.Place, snapshot: Path) -> None:
    """A checkpoint's snapshot over the task folder, unpacked by the workspace user so every
    file is theirs."""
    q = shlex.quote
    place.root_from_file(
        f"cd -- {q(place.home)} && runuser -u {q(place.user)} -- tar -x -p -m -f -", snapshot
    )


def _reason(host: Host, exc: Exception) -> str:
    if isinstance(exc, NotReady):
        return f"{exc} Host {host.name} may be overloaded; try again."
    if isinstance(exc, NotOurs):
        return f"On host {host.name}: {exc} Start again: a port in use is skipped."
    if isinstance(exc, HostError):
        return f"Host {host.name} could not start the workspace: {exc}"
    return f"Starting the workspace failed unexpectedly ({exc.__class__.__name__})."


def _fail(session: Session, run: Run, reason: str, now: datetime) -> None:
    # The full reason is kept for staff (run page, live list) and the log; the expert reads it
    # in their own words (baselines.run_notices).
    log.warning("run %s failed to start: %s", run.id, reason)
    allocation.release(session, run.id)
    run_states.move(session, run, RunStatus.failed, reason=reason, now=now)
    session.commit()


def stop(
    engine: Engine,
    connections: Connections,
    run_id: int,
    *,
    archive_dir: Path,
    now: Callable[[], datetime],
    reason: str = "",
) -> None:
    """Stop the IDE, archive the task folder into the data dir, remove the workspace, then end
    the run. A clean-up that fails ends the run all the same but leaves the workspace and its
    leases in place, to be retried (``clean_up``): nothing is lost, nothing freed too early."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        host = session.get(Host, run.host_id) if run.host_id else None
        if host is None or run.status in (RunStatus.finished, RunStatus.failed):
            return
        ended = now()
        _clean(session, connections, run, host, archive_dir, ended)
        if run.lost_at is not None and not run.archive_path:
            reason = (
                f"{reason} The workspace had been lost on {host.name}, so there was nothing to"
                " archive; the checkpoints' snapshots are kept."
            ).strip()
        run_states.move(session, run, RunStatus.finished, reason=reason, now=ended)
        session.commit()


CLEANUP_FIRST_RETRY_S = 30
CLEANUP_MAX_RETRY_S = 3600


def cleanup_backoff(attempts: int) -> timedelta:
    """The wait before retry ``attempts + 1``: 30 s, doubling, at most an hour."""
    return timedelta(
        seconds=min(CLEANUP_FIRST_RETRY_S * 2 ** max(attempts - 1, 0), CLEANUP_MAX_RETRY_S)
    )


def due_cleanups(session: Session, at: datetime) -> list[int]:
    """Ended runs whose failed clean-up is due for another try."""
    query = select(Run.id).where(
        Run.cleanup_pending.is_(True),
        (Run.cleanup_next_at.is_(None)) | (Run.cleanup_next_at <= at),
    )
    return list(session.exec(query.order_by(Run.id)))


def clean_up(
    engine: Engine, connections: Connections, run_id: int, *, archive_dir: Path, now: datetime
) -> bool:
    """Try a pending clean-up again; True once it has succeeded (or there was none)."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        if run is None or not run.cleanup_pending:
            return True
        host = session.get(Host, run.host_id) if run.host_id else None
        if host is None:  # no host record left to clean up on
            run.cleanup_pending, run.cleanup_next_at = False, None
            session.add(run)
            session.commit()
            return True
        return _clean(session, connections, run, host, archive_dir, now)


def _clean(
    session: Session,
    connections: Connections,
    run: Run,
    host: Host,
    archive_dir: Path,
    now: datetime,
) -> bool:
    """Stop, archive (once: a kept archive is never overwritten by a half-removed folder's),
    remove; then free the leases. A failure records why and when the next try is."""
    backend = connections.backend(host)
    spec = spec_for(run, host, connections.prefix, backend)
    archive = archive_dir / f"run-{run.id}.tar.gz"
    try:
        backend.stop(spec, run.runtime_state)
        # A lost workspace is archived too when its folder outlived it (a Slurm job cancelled
        # behind the platform's back leaves the folder on the cluster's filesystem).
        if not run.archive_path:
            try:
                backend.archive(spec, run.runtime_state, archive)
            except HostError:
                if not backend.gone(spec, run.runtime_state):
                    raise
                archive.unlink(missing_ok=True)  # the folder is gone: there is nothing to keep
            else:
                run.archive_path = str(archive)
                session.add(run)
                session.commit()
        backend.remove(spec, run.runtime_state)
    except HostError as exc:
        run.cleanup_attempts += 1
        run.cleanup_pending = True
        run.cleanup_error = str(exc)[:1000]
        run.cleanup_next_at = now + cleanup_backoff(run.cleanup_attempts)
        log.warning(
            "run %s: clean-up on %s failed (try %s), next at %s: %s",
            run.id,
            host.name,
            run.cleanup_attempts,
            run.cleanup_next_at.isoformat(),
            exc,
        )
        session.add(run)
        session.commit()
        return False
    allocation.release(session, run.id)
    if run.cleanup_pending:
        log.info(
            "run %s: clean-up on %s done after %s tries",
            run.id,
            host.name,
            run.cleanup_attempts + 1,
        )
    run.cleanup_pending, run.cleanup_error, run.cleanup_next_at = False, "", None
    session.add(run)
    session.commit()
    return True


def restart(
    engine: Engine, connections: Connections, run_id: int, *, ready_timeout: float = READY_TIMEOUT_S
) -> None:
    """Relaunch a live run's IDE in place (same host, port, GPUs and files)."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        host = session.get(Host, run.host_id) if run.host_id else None
        if host is None or run.status != RunStatus.active or run.lost_at is not None:
            return
        backend = connections.backend(host)
        spec = spec_for(run, host, connections.prefix, backend)
        try:
            run.runtime_state = backend.restart(spec, run.runtime_state)
            endpoint = backend.endpoint(spec, run.runtime_state)
            wait_ready(endpoint, ready_timeout, run.ide_key)
            run.status_reason = ""
        except HostError as exc:
            log.warning("run %s: restarting the IDE on %s failed: %s", run.id, host.name, exc)
            run.status_reason = f"Restarting the IDE failed: {exc}"
        session.add(run)
        session.commit()


def gone(connections: Connections, run: Run, host: Host) -> str:
    """Why a live run's workspace no longer exists on its host (empty while it does); HostError
    when the host cannot be asked (that is the host check's business, not a loss)."""
    backend = connections.backend(host)
    return backend.gone(spec_for(run, host, connections.prefix, backend), run.runtime_state)


def ended_by_scheduler(connections: Connections, host: Host) -> bool:
    """Whether a workspace gone from ``host`` was ended by a scheduler that owns it (its job
    ended: the run ends with the scheduler's reason) rather than lost behind the platform's back
    (the run pauses and can be restarted from its last checkpoint)."""
    return registry.backend_class(host.backend).queued


def relaunch(
    engine: Engine,
    connections: Connections,
    run_id: int,
    *,
    now: Callable[[], datetime],
    launch: task_runs.TaskLaunch | None,
    snapshot: Path | None,
    ready_timeout: float = READY_TIMEOUT_S,
    task_command: TaskCommandSetup | None = None,
) -> str:
    """A lost run's new workspace, on whichever host has room: the task started afresh and the
    last checkpoint's ``snapshot`` unpacked over its folder. What is left of the old one is
    removed first and its leases freed. Returns "" once the IDE answers, else why not (the run
    stays lost, its clock paused)."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        if run is None or run.lost_at is None or run.status != RunStatus.active:
            return "This run's workspace is not lost."
        old = session.get(Host, run.host_id) if run.host_id else None
        gpu_count = len(run.gpu_indices)
        if old is not None:
            with contextlib.suppress(Exception):  # leftovers of a lost workspace; best effort
                backend = connections.backend(old)
                spec = spec_for(run, old, connections.prefix, backend)
                backend.remove(spec, run.runtime_state)
        allocation.release(session, run.id)
        run.runtime_state = {}
        session.add(run)
        session.commit()
        try:
            state = _provision(
                session,
                connections,
                run,
                now=now,
                launch=launch,
                files=None,
                gpu_count=gpu_count,
                ready_timeout=ready_timeout,
                task_command=task_command,
                restore=snapshot,
            )
        except _NotStarted as exc:
            # Still the lost workspace's host: a Stop cleans up what is left there.
            run.host_id = old.id if old is not None else run.host_id
            session.add(run)
            session.commit()
            return exc.reason
        except _Pending as exc:
            # A restart the cluster cannot run now: nothing is left queued behind the
            # expert's back (their clock stays paused); they may try again.
            host = session.get(Host, run.host_id)
            backend = connections.backend(host)
            with contextlib.suppress(Exception):
                backend.remove(spec_for(run, host, connections.prefix, backend), run.runtime_state)
            allocation.release(session, run.id)
            run.runtime_state = {}
            session.add(run)
            session.commit()
            return f"{exc.reason} The cluster cannot run it now; try again later."
        run.workspace_path = state.get("home") or state.get("dir", "")
        session.add(run)
        session.commit()
        return ""


def alive(connections: Connections, run: Run, host: Host) -> bool:
    """Whether a live run's own IDE still answers on its port (re-attach check after a
    platform restart); a stranger on the port is not it."""
    try:
        backend = connections.backend(host)
        spec = spec_for(run, host, connections.prefix, backend)
        wait_ready(backend.endpoint(spec, run.runtime_state), 3.0, key=run.ide_key)
        return True
    except HostError:
        return False


def task_place(connections: Connections, run: Run, host: Host) -> task_runs.Place:
    """Where a live run's task lives, for snapshots and scoring."""
    backend = connections.backend(host)
    return backend.place(spec_for(run, host, connections.prefix, backend), run.runtime_state)


# A start takes at most the family's install and start (task_runs.START_TIMEOUT_S each) and the
# IDE's readiness; a run still provisioning well past that lost the process that started it.
INTERRUPTED = "The start was interrupted (the platform restarted). Press Start again."
ABANDONED_AFTER = timedelta(seconds=2 * task_runs.START_TIMEOUT_S + 5 * READY_TIMEOUT_S)


def fail_abandoned_starts(
    engine: Engine, connections: Connections, *, now: Callable[[], datetime]
) -> list[int]:
    """Runs left provisioning by a process that died mid-start (SIGKILL, a crash): whatever the
    start had made on the host is removed, the leases freed, and the run failed with a reason
    the expert can act on. Returns their ids."""
    with Session(engine) as session:
        stale = session.exec(
            select(Run).where(
                Run.status == RunStatus.provisioning, Run.created_at < now() - ABANDONED_AFTER
            )
        ).all()
        for run in stale:
            host = session.get(Host, run.host_id) if run.host_id else None
            if host is not None:
                backend = connections.backend(host)
                spec = spec_for(run, host, connections.prefix, backend)
                try:
                    backend.remove(spec, run.runtime_state or {})
                except HostError as exc:
                    log.warning("run %s: could not remove its abandoned start: %s", run.id, exc)
                    continue  # tried again at the next round; the leases stay meanwhile
            _fail(session, run, INTERRUPTED, now())
        return [run.id for run in stale]
