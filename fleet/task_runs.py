"""Running a task family on a host: install it where the expert cannot read it, start a task in a
workspace, write its instructions there, and score it the way METR's protected scoring does.

A family is installed once per version under ``FAMILIES`` (its reference solution left out),
owned by root and readable only by a group of its own (``family_group``): METR's ``protected``
group, one per installed family. The expert's unix user is not in it, so the scorer and any
hidden data stay out of reach of the IDE and its terminals. ``install``, ``start`` and scoring
run as root, as METR's standard says, through ``environments/taskhelper.py``; a family that runs
the expert's code while scoring (ours do) drops to the workspace user with its own family's
group added (``BASELINER_SCORING_USER``, ``BASELINER_PROTECTED_GID``), so that code may read its
own scorer but no other family's files.

Every scoring has a scratch folder of its own under ``SCORING`` (root's, the family's group,
mode 0710): ``home``, a fresh copy of the task folder or of a checkpoint's snapshot
(``fleet.snapshots``) for families that take their paths from ``$HOME``, so the expert cannot
change what is being scored while it is scored; and ``tmp``, the run's user's alone (0700),
mounted over ``/tmp`` in a mount namespace of the scorer's own on process hosts, so nothing the
scorer or the expert's code writes to /tmp is seen by another run, nor theirs by it. Another
run's scorer, even of the same family, cannot read either: both are the other user's, mode 0700.
"""

import contextlib
import functools
import hashlib
import math
import mmap
import re
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from environments.catalogue import Family
from environments.family_calls import HELPER, FamilyCallFailed, parse
from environments.manifest import CONDITION_MAX, BaselinerMeta, TaskSpec
from environments.versions import skipped
from fleet.backends.common import as_root, put_files
from fleet.drivers.base import CommandResult, Driver, HostError

if TYPE_CHECKING:
    from fleet.backends.base import Backend

FAMILIES = "/opt/baseliner/families"
SCORING = "/var/lib/baseliner/scoring"
FAMILY_GROUP_PREFIX = "blf-"
SCORE_TIMEOUT_S = 600
STALE_SCRATCH_MIN = 60  # a scratch folder this old belongs to no scoring still running
START_TIMEOUT_S = 600
INSTRUCTIONS_FILE = "INSTRUCTIONS.md"
q = shlex.quote


@dataclass(frozen=True)
class TaskLaunch:
    """What starting a run's task needs to know about it."""

    family: Family
    task: str
    gpu_count: int
    # Baseliner's own families read $HOME; METR-format ones name /home/agent and user agent.
    paths_from_home: bool
    leave_out: tuple[str, ...] = ()  # family-relative paths never installed (the reference)


def launch_for(family: Family, task: TaskSpec, meta: BaselinerMeta | None) -> TaskLaunch:
    """A task as the catalogue and its (effective) ``baseliner:`` numbers describe it."""
    reference = meta.reference if meta else None
    return TaskLaunch(
        family=family,
        task=task.name,
        gpu_count=task.gpu_count[0] if task.gpu_count else 0,
        paths_from_home=bool(meta and meta.paths_from_home),
        leave_out=(reference,) if reference else (),
    )


def platform_python() -> str:
    """This platform's interpreter by its real path: the checkout's ``.venv`` is a link into the
    cache (scripts/install.sh), and workspace users can reach the cache but maybe not the
    checkout (under /root, or any private folder)."""
    if sys.prefix == sys.base_prefix:  # not a venv: the interpreter itself
        return str(Path(sys.executable).resolve())
    return str(Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name)


@dataclass(frozen=True)
class Place:
    """Where a task runs and as whom: a home on a host, or in a container on it."""

    driver: Driver
    driver_user: str
    user: str
    home: str
    python: str = "python3"
    container: str = ""
    engine: str = ""
    env: dict[str, str] = field(default_factory=dict)  # e.g. CUDA_VISIBLE_DEVICES

    def root(
        self,
        command: str,
        *,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        input: bytes | None = None,
        check: bool = True,
    ) -> CommandResult:
        """Run ``command`` as root beside the task, with HOME and USER those of the workspace."""
        full = self._as_root(command, env, stdin=input is not None)
        return self.driver.run(full, timeout=timeout, input=input, check=check)

    def root_to_file(self, command: str, destination: Path, *, timeout: float = 600) -> int:
        """Run ``command`` as root beside the task, its output streamed into ``destination`` (a
        snapshot's tar); returns the bytes written. A failure leaves no file."""
        return self.driver.run_to_file(self._as_root(command), destination, timeout=timeout)

    def root_from_file(self, command: str, source: Path, *, timeout: float = 600) -> CommandResult:
        """Run ``command`` as root beside the task with ``source`` as its input, memory-mapped so
        a big file (a snapshot) is sent page by page, never read into memory whole."""
        with source.open("rb") as f:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                return self.root(command, timeout=timeout, input=data)  # type: ignore[arg-type]
            finally:
                with contextlib.suppress(BufferError):  # a feed still holds it past a timeout
                    data.close()

    def private_tmp(self, tmp: str, command: str) -> str:
        """``command`` with ``tmp`` mounted over /tmp in a mount namespace of its own, so what
        it writes to /tmp is its own and other runs' /tmp files are out of sight. A container
        is the run's own already, /tmp included, and has no right to make mounts."""
        if self.container:
            return command
        inner = f"mount --bind {q(tmp)} /tmp && {command}"
        return f"unshare --mount --propagation private -- bash -c {q(inner)}"

    def _as_root(self, command: str, env: dict[str, str] | None = None, stdin: bool = False) -> str:
        env = {"HOME": self.home, "USER": self.user, **self.env, **(env or {})}
        if self.container:
            flags = " ".join(f"-e {q(f'{k}={v}')}" for k, v in env.items())
            interactive = "-i " if stdin else ""
            full = (
                f"{self.engine} exec {interactive}--user root {flags} {q(self.container)}"
                f" bash -c {q(command)}"
            )
        else:
            exports = " ".join(f"{k}={q(v)}" for k, v in env.items())
            full = f"env {exports} bash -c {q(command)}"
        return as_root(self.driver_user, full)


@dataclass(frozen=True)
class Installed:
    """A family as installed on a host."""

    root: str  # install_dir(): holds taskhelper.py and the family's folder
    name: str
    gid: int  # of the family's own group (``family_group``) on that host

    @property
    def family_dir(self) -> str:
        return f"{self.root}/{self.name}"

    def helper(self, python: str, task: str, operation: str, limit_s: float = 0) -> str:
        """The shell command that runs ``operation``, killed after ``limit_s`` if given."""
        limit = f"timeout -s KILL {int(limit_s)} " if limit_s else ""
        # `; exit $?`: the shell reports a killed helper as status 137 instead of dying with
        # it, which SSH would pass on as a signal and no status at all.
        return (
            f"cd {q(self.family_dir)} && {limit}{q(python)} {q(self.root)}/taskhelper.py"
            f" {q(self.family_dir)} {q(task)} {operation}; exit $?"
        )


def install_for(backend: "Backend", launch: TaskLaunch) -> "Installed":
    """Install a launch's family on the backend's host as starts, scoring and env check all
    need it: the reference left out; its ``install()`` run here unless the backend runs it in
    each workspace (containers, where the task's own Python is)."""
    return install(
        backend.driver,
        backend.driver_user,
        launch.family,
        leave_out=list(launch.leave_out),
        python=None if backend.installs_in_workspace() else backend.python(),
        task=launch.task,
    )


def install_dir(family: Family) -> str:
    """Where a family is installed: per version of the family and of the helper that calls it,
    so a host whose copy of either is older gets the new one at the next install."""
    return f"{FAMILIES}/{family.name}@{family.version}-{_helper_version()}"


@functools.cache
def _helper_version() -> str:
    return hashlib.sha256(HELPER.read_bytes()).hexdigest()[:8]


def family_group(family: Family) -> str:
    """The unix group that may read one installed family (this version's folder): a scorer is
    given only its own family's group, so the expert's code it runs reads no other family's
    scorer or hidden data. Within groupadd's 32 characters; the hash tells versions apart."""
    name = re.sub(r"[^a-z0-9_-]", "-", family.name.lower())[:18]
    digest = hashlib.sha256(f"{family.name}@{family.version}".encode()).hexdigest()[:8]
    return f"{FAMILY_GROUP_PREFIX}{name}-{digest}"


def _stage(family: Family, leave_out: list[str]) -> Path:
    """A local folder holding taskhelper.py and the family less ``leave_out`` (its reference)
    and less what its version leaves out (dot-names: what a family built here at run time);
    links are copied as what they hold (the shared toolkit)."""
    staging = Path(tempfile.mkdtemp(prefix="baseliner-family-"))
    skip = {(family.path / rel).resolve() for rel in leave_out}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {name for name in names if skipped(name) or (Path(folder) / name).resolve() in skip}

    shutil.copytree(family.path, staging / family.name, ignore=ignore)
    shutil.copy2(HELPER, staging / "taskhelper.py")
    return staging


def install(
    driver: Driver,
    driver_user: str,
    family: Family,
    *,
    leave_out: list[str],
    python: str | None = None,
    task: str | None = None,
) -> Installed:
    """Install the family on the host unless this version already is; with ``python``, also
    run its ``install()`` there once (process hosts; containers run it in each container)."""
    target, group = install_dir(family), family_group(family)

    def root(command: str, timeout: float = 120) -> str:
        return driver.run(as_root(driver_user, command), timeout=timeout).stdout

    # -f: a second install racing this one has made it already, which is fine.
    gid = root(f"groupadd -f --system {group} && getent group {group} | cut -d: -f3").strip()
    installed = Installed(root=target, name=family.name, gid=int(gid))
    # Complete, and of its own group (an install by an older Baseliner shared one group).
    done = f'test -f {q(target)}/.complete && test "$(stat -c %G {q(target)})" = {group}'
    if driver.run(as_root(driver_user, done), check=False).exit_status:
        staging = _stage(family, leave_out)
        partial = f"{target}.partial"
        try:
            root(
                f"mkdir -p {FAMILIES} && chmod 755 {FAMILIES} && rm -rf {q(partial)}"
                f" && mkdir -m 700 {q(partial)}"
            )
            put_files(driver, driver_user, staging, partial, f"family-{secrets.token_hex(6)}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        root(
            f"chown -R root:{group} {q(partial)} && chmod -R u=rwX,g=rX,o= {q(partial)}"
            f" && rm -rf {q(target)} && mv {q(partial)} {q(target)}"
        )
        if python and task:
            command = installed.helper(python, task, "install")
            result = driver.run(as_root(driver_user, command), timeout=START_TIMEOUT_S, check=False)
            _value(result, "install")
        root(f"touch {q(target)}/.complete")
    return installed


def _value(result: CommandResult, operation: str) -> Any:
    try:
        return parse(result.stdout + "\n" + result.stderr, result.exit_status)
    except FamilyCallFailed as exc:
        raise HostError(f"the task family's {operation} failed: {exc.message}") from exc


def start(place: Place, installed: Installed, task: str, *, run_install: bool = False) -> str:
    """Run the family's ``start`` for ``task`` in the place, write the instructions into the task
    folder, and return them."""
    if run_install:
        _value(
            place.root(
                installed.helper(place.python, task, "install"),
                timeout=START_TIMEOUT_S,
                check=False,
            ),
            "install",
        )
    _value(
        place.root(
            installed.helper(place.python, task, "start"), timeout=START_TIMEOUT_S, check=False
        ),
        "start",
    )
    text = str(
        _value(
            place.root(installed.helper(place.python, task, "instructions"), check=False),
            "get_instructions",
        )
    )
    path = f"{place.home}/{INSTRUCTIONS_FILE}"
    place.root(
        f"cat > {q(path)} && chmod 644 {q(path)} && chown {q(place.user)}: {q(path)}",
        input=text.encode(),
    )
    return text


@dataclass
class ScoreResult:
    """What one scoring produced, in the shape of METR's score log entries."""

    # scored, invalid, timeout, oom, error (the family raised: the work's fault), fault (the
    # scorer could not run: the platform's, never counted against the work)
    status: str
    score: float | None
    message: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    output: str = ""

    @property
    def valid(self) -> bool:
        return self.status == "scored"

    @property
    def comparable(self) -> bool:
        """False when the scorer says its number cannot be compared (a GPU task run on a CPU)."""
        return not any(
            isinstance(part, dict) and part.get("comparable") is False
            for part in (self.message, self.details)
        )

    @property
    def condition(self) -> str:
        """The scoring condition the family reports (``condition`` in message or details, e.g.
        "model: <name>"); "" when it reports none. Scores under different conditions are
        calibrated apart and never pooled."""
        for part in (self.message, self.details):
            if isinstance(part, dict) and isinstance(part.get("condition"), str):
                return part["condition"].strip()[:CONDITION_MAX]
        return ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "score": self.score,
            "valid": self.valid,
            "comparable": self.comparable,
            "condition": self.condition,
            "message": self.message,
            "details": self.details,
            "seconds": round(self.seconds, 3),
        }


def score(
    place: Place,
    installed: Installed,
    task: str,
    *,
    fresh_copy: bool,
    timeout: float = SCORE_TIMEOUT_S,
    submission: str = "",
    snapshot: Path | None = None,
) -> ScoreResult:
    """Score the task folder: on a fresh copy when the family reads ``$HOME`` (``fresh_copy``),
    made from ``snapshot`` (a checkpoint's tar) if given, else from the live folder; otherwise in
    place (METR families that name /home/agent themselves score the live folder). Either way the
    scorer has a scratch folder and a /tmp of its own, removed afterwards."""
    scratch = scratch_home(place, installed.gid, snapshot, copy=fresh_copy)
    home = f"{scratch}/home" if fresh_copy else place.home
    env = {
        "HOME": home,
        "TMPDIR": "/tmp",  # the private one, never a folder named by the caller's environment
        "BASELINER_SCORING_USER": place.user,
        "BASELINER_PROTECTED_GID": str(installed.gid),
    }
    command = place.private_tmp(
        f"{scratch}/tmp", installed.helper(place.python, task, "score", limit_s=timeout)
    )
    started = time.monotonic()
    try:
        result = place.root(
            command, env=env, timeout=timeout + 60, input=submission.encode(), check=False
        )
    finally:
        place.root(f"rm -rf {q(scratch)}", timeout=120, check=False)
    seconds = time.monotonic() - started
    output = (result.stdout + "\n" + result.stderr)[-4000:]
    try:
        value = parse(result.stdout + "\n" + result.stderr, result.exit_status)
    except FamilyCallFailed as exc:
        return _failed(exc, result.exit_status, seconds, timeout, output)
    raw = value.get("score")
    valid = isinstance(raw, (int, float)) and math.isfinite(raw)
    return ScoreResult(
        status="scored" if valid else "invalid",
        score=float(raw) if valid else None,
        message=_as_dict(value.get("message")),
        details=_as_dict(value.get("details")),
        seconds=seconds,
        output=output,
    )


def scratch_home(place: Place, gid: int, snapshot: Path | None = None, *, copy: bool = True) -> str:
    """A new folder under ``SCORING`` for one scoring, root's and of group ``gid`` (the family's)
    with mode 0710: the scorer may pass through it, the expert's IDE (not in the group) may not,
    and no one but root may list it. It holds ``tmp``, the scorer's private /tmp, and with
    ``copy`` ``home``: a copy of the live task folder, or ``snapshot`` extracted by the workspace
    user so every file is theirs. Both are the workspace user's, mode 0700, so another run's
    scorer, even of the same family, reads neither. Returns the folder, to remove."""
    user = q(place.user)
    if not copy:
        fill = ""
    elif snapshot is None:
        fill = f' && cp -a {q(place.home)} "$d/home" && chmod 700 "$d/home"'
    else:  # extracted from inside the new home: the user may not enter "$d" itself
        fill = (
            f' && mkdir -m 700 "$d/home" && chown {user}: "$d/home" && cd "$d/home"'
            f" && runuser -u {user} -- tar -x -p -m -f - && chmod 700 ."
        )
    command = (
        f"mkdir -p {SCORING} && chmod 711 {SCORING}"
        # What a scoring cut short by a platform crash left (its own cleanup never ran).
        f" && find {SCORING} -mindepth 1 -maxdepth 1 -name 'score-*' -mmin +{STALE_SCRATCH_MIN}"
        " -exec rm -rf {} +"
        f" && d=$(mktemp -d {SCORING}/score-XXXXXXXX) || exit 1"
        f'; {{ chgrp {gid} "$d" && chmod 710 "$d" && mkdir -m 700 "$d/tmp"'
        f' && chown {user}: "$d/tmp"{fill}; }}'
        f' || {{ s=$?; rm -rf "$d"; exit $s; }}; echo "$d"'
    )
    if snapshot is None or not copy:
        return place.root(command, timeout=600).stdout.strip()
    return place.root_from_file(command, snapshot, timeout=600).stdout.strip()


def sandbox_problems(driver: Driver, driver_user: str) -> list[str]:
    """Why the host could not give a scorer its private /tmp (a mount namespace of its own), if
    it could not: said by ``hosts check`` instead of as every checkpoint's scoring error."""
    probe = "unshare --mount --propagation private -- mount -t tmpfs none /tmp 2>&1"
    result = driver.run(as_root(driver_user, probe), timeout=30, check=False)
    if result.exit_status == 0:
        return []
    said = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no reason given"]
    return [f"scoring needs a private /tmp (unshare --mount) and the host refused: {said[0]}"]


def _failed(
    exc: FamilyCallFailed, exit_status: int, seconds: float, timeout: float, output: str
) -> ScoreResult:
    # timeout(1) answers 124 when it killed the command; 137 is a SIGKILL from elsewhere (the
    # kernel's out-of-memory killer) unless the limit had passed anyway.
    if exit_status == 124 or (exit_status in (137, -9, -1) and seconds >= timeout - 1):
        status, text = "timeout", f"scoring took longer than its limit of {timeout:g} s"
    elif exit_status in (137, -9) or exc.kind == "oom":
        status, text = "oom", "scoring was killed, most likely out of memory"
    elif exc.kind in ("environment", "no-answer"):
        status, text = "fault", f"the scorer could not run: {exc.message}"
    else:
        status, text = "error", f"the scorer failed: {exc.message}"
    return ScoreResult(status, None, {"error": text}, {}, seconds, exc.output or output)


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return {} if value in (None, "") else {"text": str(value)}
