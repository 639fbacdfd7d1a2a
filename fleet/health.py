"""Is a host fit for workspaces? Reachable, disk to spare, its GPUs, and code-server installed.

The result updates the host's status (ready / down with the reason); draining hosts stay
draining. The scheduler runs ``check_all`` every minute; coordinators can check one by hand.
"""

import csv
import io
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from fleet import codeserver
from fleet.backends import registry
from fleet.backends.base import Backend
from fleet.backends.common import as_root
from fleet.connections import Connections
from fleet.drivers.base import Driver, HostError
from fleet.hosts import Host, HostStatus, all_hosts

MIN_FREE_GB = 5.0


@dataclass
class Health:
    reachable: bool
    reason: str
    gpus: list[dict[str, Any]] = field(default_factory=list)
    disk_free_gb: float | None = None

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


def parse_gpus(text: str) -> list[dict[str, Any]]:
    """Rows of ``nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits``."""
    gpus = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 3 or not row[0].strip().isdigit():
            continue
        gpus.append({"index": int(row[0]), "name": row[1].strip(), "memory_mb": int(float(row[2]))})
    return gpus


def probe(host: Host, connections: Connections) -> Health:
    """Reachable, disk where task folders grow, GPUs, code-server; then whatever the host's
    backend needs of its own (an engine, a sandbox for scorers, a cluster's partition)."""
    backend = connections.backend(host)
    driver = backend.driver
    cache = registry.reach(host.driver).cache()
    root = backend.workspace_root
    script = (
        f"df -Pk {root} | tail -n 1 | awk '{{print $4}}'; echo ---;"
        " if command -v nvidia-smi >/dev/null; then"
        " nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits; fi;"
        f" echo ---; test -x {shlex.quote(str(codeserver.code_server_bin(cache)))}"
        " && echo code-server-ok"
    )
    try:
        out = driver.run(script, timeout=30, check=False).stdout
    except HostError as exc:
        return Health(reachable=False, reason=str(exc))
    parts = out.split("---\n")
    free_kb = parts[0].strip()
    disk = int(free_kb) / 1024 / 1024 if free_kb.isdigit() else None
    gpus = parse_gpus(parts[1]) if len(parts) > 1 else []
    problems = []
    if disk is not None and disk < MIN_FREE_GB:
        problems.append(f"only {disk:.1f} GB free on {root}")
    if len(parts) < 3 or "code-server-ok" not in parts[2]:
        problems.append(f"code-server {codeserver.VERSION} is not installed in {cache}")
    try:
        if not problems:
            problems += backend.health()
        if not problems:
            problems += unreachable_for_workspaces(driver, host, backend)
        if not problems and not backend.leased:  # what one job can get, as the scheduler says
            most = backend.capacity().max_gpus
            gpus = [{"index": i, "name": f"GPU scheduled by {backend.scheduler}", "memory_mb": 0}
                    for i in range(most)]  # fmt: skip
    except HostError as exc:
        return Health(reachable=False, reason=str(exc))
    return Health(reachable=True, reason="; ".join(problems) or "ok", gpus=gpus, disk_free_gb=disk)


def workspace_executables(host: Host, backend: Backend) -> list[str]:
    """What a workspace's own unix user runs from the host's files: code-server and Node from
    the cache, and the interpreters its terminals' PATH names (the process backend puts the
    scorer's there)."""
    cache = registry.reach(host.driver).cache()
    paths = [str(codeserver.code_server_bin(cache)), str(codeserver.node_bin_dir(cache) / "node")]
    folders = backend.terminal_path().split(":")[1:]
    python = backend.python()
    if "/" in python and str(Path(python).parent) in folders:
        paths.append(python)
    return paths


def unreachable_for_workspaces(driver: Driver, host: Host, backend: Backend) -> list[str]:
    """Problems, naming the path, with what a workspace user could not run: a folder above it
    closed to others (a checkout under /root) shows here instead of as a scorer's traceback at
    the first checkpoint. Checked as ``nobody``, through root (runuser)."""
    q = shlex.quote
    checks = " ".join(
        f"runuser -u nobody -- test -x {q(path)} || {{ d={q(path)}; c=$d;"
        ' while [ "$d" != / ]; do d=$(dirname "$d");'
        ' runuser -u nobody -- test -x "$d" || c=$d; done;'
        f' echo "{path}|$c|$(stat -c %a "$c" 2>/dev/null)"; }};'
        for path in workspace_executables(host, backend)
    )
    try:
        result = driver.run(as_root(host.username, checks), timeout=30, check=False)
    except HostError as exc:
        return [f"could not check what workspace users can run: {exc}"]
    problems = []
    for line in result.stdout.splitlines():
        path, closed, mode = [*line.split("|"), "", ""][:3]
        if closed == path:
            problems.append(f"workspace users cannot run {path}: it is missing or not executable")
        elif path:
            problems.append(
                f"workspace users cannot run {path}: {closed} (mode {mode}) is closed to them"
            )
    return problems


def apply(session: Session, host: Host, health: Health, now: datetime) -> None:
    """Store what the check found; a draining host stays draining while it is healthy."""
    if health.reachable:
        host.gpus = health.gpus
        host.disk_free_gb = health.disk_free_gb
        host.last_seen = now
    if not health.ok:
        host.status, host.status_reason = HostStatus.down, health.reason
    elif host.draining:
        host.status, host.status_reason = HostStatus.draining, "draining: no new workspaces"
    else:
        host.status, host.status_reason = HostStatus.ready, "ok"
    session.add(host)


def check(session: Session, host: Host, connections: Connections, now: datetime) -> Health:
    health = probe(host, connections)
    apply(session, host, health, now)
    session.commit()
    return health


def check_all(session: Session, connections: Connections, now: datetime) -> None:
    for host in all_hosts(session):
        check(session, host, connections, now)
