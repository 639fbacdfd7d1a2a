"""A run's workspace from start to archive: place it, start it, wait for the IDE, stop it.

Every step that creates something on a host is undone when a later step fails, and the run then
says why in words an expert can act on. The run row holds all that is needed to find the
workspace again after a platform restart.
"""

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from baselines.errors import DomainError
from baselines.runs import Run, RunStatus
from fleet import allocation, codeserver, naming, ports, task_runs
from fleet.connections import Connections
from fleet.drivers.base import HostError, HostUnreachable
from fleet.hosts import Host, HostStatus, Runtime
from fleet.runtimes import Extension, WorkspaceSpec
from fleet.task_command.install import MOUNTS as TASK_COMMAND_MOUNTS
from fleet.task_command_setup import TaskCommandSetup

log = logging.getLogger("baseliner.fleet")
READY_TIMEOUT_S = 60.0
AGENT_USER = "agent"  # METR-format families on the process runtime run as this user


class NotReady(HostError):
    pass


def spec_for(
    run: Run,
    host: Host,
    prefix: str,
    files: Path | None = None,
    mounts: tuple[str, ...] = (),
    extensions: tuple[Extension, ...] = (),
) -> WorkspaceSpec:
    cache = codeserver.cache_on(host.driver)
    return WorkspaceSpec(
        run_id=run.id,
        port=run.port,
        gpus=list(run.gpu_indices),
        files=files,
        ai_tools=run.ai_tools == "AI_TOOLS_AVAILABLE",
        cache=str(cache),
        user=run.unix_user if run.unix_user == AGENT_USER else "",
        mounts=mounts,
        path=task_runs.terminal_path(host),
        extensions=extensions,
        ide_key=run.ide_key,
        name=run.unix_user
        if run.unix_user not in ("", AGENT_USER)
        else workspace_name(run, prefix),
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
    agent_user = launch is not None and not launch.paths_from_home
    with Session(engine) as session:
        run = session.get(Run, run_id)
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
            _fail(session, run, exc.message, now())
            return
        except HostError as exc:  # the chosen host could not say which ports are free
            run.host_id = asked[-1].id
            _host_failed(session, run, asked[-1], exc, now())
            return
        host = placement.host
        container = host.runtime == Runtime.container
        if agent_user and not container:
            run.unix_user = AGENT_USER
        run.ide_key = run.ide_key or secrets.token_urlsafe(32)
        runtime = connections.runtime(host)
        driver = connections.driver(host)
        state: dict = {}
        spec = spec_for(run, host, connections.prefix, files)
        try:
            installed, mounts, extensions = None, (), ()
            if task_command is not None:
                extensions = task_command.install(driver, host)
            if launch is not None:
                installed = task_runs.install_for(driver, host, launch)
                mounts = (installed.root, *TASK_COMMAND_MOUNTS) if container else ()
            spec = spec_for(
                run, host, connections.prefix, files, mounts=mounts, extensions=extensions
            )
            run.unix_user, run.runtime = spec.unix_user, host.runtime
            session.add(run)
            session.commit()
            state = runtime.start(spec)
            run.runtime_state = state
            session.add(run)
            session.commit()
            place = task_runs.place_for(driver, host, spec, state)
            if launch is not None:
                task_runs.start(place, installed, launch.task, run_install=container)
            if task_command is not None:
                task_command.configure(session, run, host, driver, place, now())
            endpoint = driver.endpoint(spec.port)
            wait_ready(endpoint, ready_timeout, key=run.ide_key)
        except BaseException as exc:  # any failure: undo on the host, free the leases, say why
            log.warning("run %s failed to start on %s: %s", run_id, host.name, exc)
            if state:  # a runtime whose own start failed has undone its work already
                with contextlib.suppress(Exception):
                    runtime.remove(spec, state)
            if not isinstance(exc, Exception):  # an interrupt: undone, then passed on
                session.rollback()
                _fail(session, session.get(Run, run_id), INTERRUPTED, now())
                raise
            _host_failed(session, run, host, exc, now())
            return
        run.status = RunStatus.active
        run.status_reason = ""
        run.workspace_path = state.get("home") or state.get("dir", "")
        run.started_at = now()
        session.add(run)
        session.commit()


def _ports_in_use(connections: Connections, asked: list[Host]) -> Callable[[Host], set[int]]:
    """The ports something listens on at a host's machine, which a run must not be leased;
    ``asked`` collects the hosts asked, so a failure can name the host that failed."""

    def in_use(host: Host) -> set[int]:
        asked.append(host)
        return ports.listening(connections.driver(host))

    return in_use


def _host_failed(session: Session, run: Run, host: Host, exc: Exception, now: datetime) -> None:
    """The run failed on ``host``: say why, and take an unreachable host out of placement until
    a check passes."""
    reason = _reason(host, exc)
    if isinstance(exc, HostUnreachable):
        host = session.get(Host, host.id)
        host.status, host.status_reason = HostStatus.down, str(exc)
        session.add(host)
    _fail(session, run, reason, now)


def _reason(host: Host, exc: Exception) -> str:
    if isinstance(exc, NotReady):
        return f"{exc} Host {host.name} may be overloaded; try again."
    if isinstance(exc, NotOurs):
        return f"On host {host.name}: {exc} Start again: a port in use is skipped."
    if isinstance(exc, HostError):
        return f"Host {host.name} could not start the workspace: {exc}"
    return f"Starting the workspace failed unexpectedly ({exc.__class__.__name__})."


def _fail(session: Session, run: Run, reason: str, now: datetime) -> None:
    allocation.release(session, run.id)
    run.status = RunStatus.failed
    run.status_reason = reason
    run.finished_at = now
    session.add(run)
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
    """Stop the IDE, archive the task folder into the data dir, remove the workspace."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        host = session.get(Host, run.host_id) if run.host_id else None
        if host is None or run.status in (RunStatus.finished, RunStatus.failed):
            return
        spec = spec_for(run, host, connections.prefix)
        runtime = connections.runtime(host)
        archive = archive_dir / f"run-{run.id}.tar.gz"
        try:
            runtime.stop(spec, run.runtime_state)
            runtime.archive(spec, run.runtime_state, archive)
            runtime.remove(spec, run.runtime_state)
        except HostError as exc:
            run.status_reason = f"Stopped, but cleaning up on {host.name} failed: {exc}"
        else:
            run.archive_path = str(archive)
            run.status_reason = reason
        allocation.release(session, run.id)
        run.status = RunStatus.finished
        run.finished_at = now()
        session.add(run)
        session.commit()


def restart(
    engine: Engine, connections: Connections, run_id: int, *, ready_timeout: float = READY_TIMEOUT_S
) -> None:
    """Relaunch a live run's IDE in place (same host, port, GPUs and files)."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        host = session.get(Host, run.host_id) if run.host_id else None
        if host is None or run.status != RunStatus.active:
            return
        spec = spec_for(run, host, connections.prefix)
        try:
            run.runtime_state = connections.runtime(host).restart(spec, run.runtime_state)
            wait_ready(connections.driver(host).endpoint(spec.port), ready_timeout, run.ide_key)
            run.status_reason = ""
        except HostError as exc:
            run.status_reason = f"Restarting the IDE failed: {exc}"
        session.add(run)
        session.commit()


def alive(connections: Connections, run: Run, host: Host) -> bool:
    """Whether a live run's own IDE still answers on its port (re-attach check after a
    platform restart); a stranger on the port is not it."""
    try:
        endpoint = connections.driver(host).endpoint(run.port)
        wait_ready(endpoint, 3.0, key=run.ide_key)
        return True
    except HostError:
        return False


def task_place(connections: Connections, run: Run, host: Host) -> task_runs.Place:
    """Where a live run's task lives, for snapshots and scoring."""
    spec = spec_for(run, host, connections.prefix)
    return task_runs.place_for(connections.driver(host), host, spec, run.runtime_state)


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
                spec = spec_for(run, host, connections.prefix)
                try:
                    connections.runtime(host).remove(spec, run.runtime_state or {})
                except HostError as exc:
                    log.warning("run %s: could not remove its abandoned start: %s", run.id, exc)
                    continue  # tried again at the next round; the leases stay meanwhile
            _fail(session, run, INTERRUPTED, now())
        return [run.id for run in stale]
