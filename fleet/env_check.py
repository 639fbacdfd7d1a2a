"""``baseliner env check``: does an environment score on this host what its manifest says?

It starts the task in a scratch workspace on the host (a throwaway unix user, or a throwaway
container on container hosts), scores the starting solution, lays the reference solution over the
task folder, scores again, and compares both with the manifest's y_s and y_r. The tolerance is in
normalised units (the starting solution should normalise to 0, the reference to 1), so one number
suits every metric. This is how an operator comes to trust an environment on new hardware.
"""

import contextlib
import io
import shlex
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from environments.normalise import normalise
from fleet import allocation, naming, task_runs
from fleet.backends import registry
from fleet.drivers.base import Driver, HostError
from fleet.hosts import Host
from fleet.task_runs import Place, ScoreResult, TaskLaunch

DEFAULT_TOLERANCE = 0.1
q = shlex.quote


@dataclass
class Line:
    label: str  # "starting solution" or "reference solution"
    result: ScoreResult
    expected: float | None  # the manifest's y_s or y_r
    target: float  # its normalised value: 0 or 1
    normalised: float | None = None
    problem: str = ""


@dataclass
class Report:
    environment: str
    host: str
    version: str
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.lines) and not any(line.problem for line in self.lines)


def free_gpus(session: Session, host: Host, count: int) -> list[int]:
    """``count`` of the host's GPUs that no live run holds, through this host record or another
    one naming the same machine (none on a GPU-less fleet, where the task runs on the CPU);
    HostError when the host has too few free."""
    if not count or allocation.gpu_less_fleet(session):
        return []
    taken = allocation.leased(session, host, "gpu")
    free = [g["index"] for g in host.gpus if g["index"] not in taken]
    if len(free) < count:
        raise HostError(f"{host.name} has {len(free)} free GPU(s); the task needs {count}")
    return free[:count]


def check(
    driver: Driver,
    host: Host,
    launch: TaskLaunch,
    *,
    y_s: float | None,
    y_r: float | None,
    reference: str | None,
    gpus: list[int],
    prefix: str,
    tolerance: float = DEFAULT_TOLERANCE,
    timeout: float = task_runs.SCORE_TIMEOUT_S,
    reference_command: str | None = None,
    reference_limit_s: float = 8 * 3600,
    calibrated_for: str | None = None,
) -> Report:
    report = Report(f"{launch.family.name}/{launch.task}", host.name, launch.family.version)
    backend = registry.build(host, driver)
    installed = task_runs.install_for(backend, launch)
    with scratch_place(driver, host, installed, launch, gpus, prefix) as place:
        task_runs.start(place, installed, launch.task, run_install=backend.installs_in_workspace())
        runs = [("starting solution", y_s, 0.0)]
        if reference:
            runs.append(("reference solution", y_r, 1.0))
        else:
            report.notes.append(
                "No reference solution is named (baseliner.reference): y_r is not checked."
            )
        for label, expected, target in runs:
            if label == "reference solution":
                overlay(place, launch.family.path / reference)
                if reference_command:
                    report.notes.append(run_reference(place, reference_command, reference_limit_s))
            result = task_runs.score(
                place, installed, launch.task, fresh_copy=launch.paths_from_home, timeout=timeout
            )
            other = bool(result.condition) and result.condition != calibrated_for
            report.lines.append(
                _judge(label, result, expected, target, y_s, y_r, tolerance, other_condition=other)
            )
    others = sorted(
        {line.result.condition for line in report.lines if line.result.condition} - {calibrated_for}
    )
    if others:
        report.notes.append(
            f"Scored under {', '.join(others)}, not the condition the manifest's y_s and y_r were"
            f" measured under ({calibrated_for or 'none'}): drift is not checked. Calibrate that"
            " condition (the family's README) and set its numbers on the environment's page."
        )
    if any(not line.result.comparable for line in report.lines):
        report.notes.append(
            "Scores are not comparable (no GPU here): drift from the manifest is not checked."
        )
    return report


def _judge(
    label: str,
    result: ScoreResult,
    expected: float | None,
    target: float,
    y_s: float | None,
    y_r: float | None,
    tolerance: float,
    other_condition: bool = False,
) -> Line:
    """``other_condition``: scored under another scoring condition (another model) than the
    manifest's numbers were measured under, so they are no yardstick for it."""
    comparable = result.comparable and not other_condition
    normalised = normalise(result.score, y_s, y_r) if comparable else None
    line = Line(label, result, expected, target, normalised)
    if not result.valid:
        error = result.message.get("error") or result.message or result.status
        line.problem = f"{result.status}: {error}"
    elif not comparable or line.normalised is None:
        pass  # nothing to compare with
    elif abs(line.normalised - target) > tolerance:
        line.problem = (
            f"drifted: scores {result.score:.4g} (normalised {line.normalised:.3f}); the manifest"
            f" says {expected:.4g} (normalised {target:g}), tolerance ±{tolerance:g}"
        )
    return line


def overlay(place: Place, folder: Path) -> None:
    """Lay ``folder``'s files over the task folder, owned by the workspace user."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.rglob("*")):
            if "__pycache__" not in path.parts:
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    place.root(
        f"runuser -u {q(place.user)} -- tar -xf - -C {q(place.home)}", input=buffer.getvalue()
    )


def run_reference(place: Place, command: str, limit_s: float) -> str:
    """Run a reference recipe (``baseliner.reference_command``) in the task folder as the
    workspace user, with the scorer's interpreter first on PATH, as an expert's terminal has it;
    HostError with the end of its output when it fails. Returns a note of how long it took."""
    python_dir = str(Path(place.python).parent) if "/" in place.python else ""
    path = f"{python_dir}:$PATH" if python_dir else "$PATH"
    inner = f"cd {q(place.home)} && export PATH={path} && {command}"
    started = time.monotonic()
    result = place.root(
        f"timeout -s KILL {int(limit_s)} runuser -u {q(place.user)} -- bash -c {q(inner)}",
        timeout=limit_s + 60,
        check=False,
    )
    seconds = time.monotonic() - started
    if result.exit_status:
        tail = (result.stdout + result.stderr)[-1500:]
        raise HostError(
            f"the reference command `{command}` failed (exit status {result.exit_status}"
            f" after {seconds:.0f} s):\n{tail}"
        )
    return f"The reference command `{command}` ran in {seconds:.0f} s."


@contextlib.contextmanager
def scratch_place(
    driver: Driver,
    host: Host,
    installed: task_runs.Installed,
    launch: TaskLaunch,
    gpus: list[int],
    prefix: str,
) -> Iterator[Place]:
    """A throwaway workspace without an IDE (the backend's scratch: a unix user, or a container
    that sleeps), named with the installation's ``prefix`` (fleet.naming)."""
    backend = registry.build(host, driver)
    agent_user = not launch.paths_from_home
    with backend.scratch(naming.scratch(prefix), installed, gpus, agent_user, prefix) as place:
        yield place
