"""The ``slurm`` backend: a workspace is a batch job on a Slurm cluster, reached at a login node
(over SSH, or this machine).

The task folder lives on the cluster's shared filesystem (``work_root/<name>``, the workspace
user's home); a root-only control folder beside it (``work_root/.baseliner/<name>``) holds the
job script, its log, where the IDE reported itself and whether Baseliner stopped the job.

Jobs are submitted as root and drop to the workspace's user inside the job (``runuser``): root
cannot start a step in another user's job, and scoring, snapshots and ``task`` run as steps in
the workspace's own allocation (``srun --jobid ID --overlap``), so they see its GPUs. The job
script picks a free port on its node, writes ``job-id node port restarts`` into the control
folder and starts code-server there. A job Slurm cannot ever run (too many GPUs, no such
partition) is refused by ``sbatch`` at start, with Slurm's words.

Client commands run with a clean environment (``env -i``): PATH, and SLURM_CONF when the
settings name a config (a test cluster's), nothing of the login shell's.
"""

import contextlib
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from fleet import codeserver
from fleet.backends.base import Backend, BackendSettings, Capacity, Poll
from fleet.backends.common import (
    WorkspaceSpec,
    add_user,
    as_root,
    fill_home,
    home_extensions,
    remove_user,
)
from fleet.drivers.base import CommandResult, HostError
from fleet.task_runs import Installed, Place

q = shlex.quote
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONTROL = ".baseliner"  # under work_root: one root-only folder per workspace
PORT_ENV = "BASELINER_IDE_PORT"  # the port the job script chose, in the IDE's environment
STOP_TIMEOUT_S = 30
SCRATCH_TIMEOUT_S = 120
# Job states in which the job still holds (or waits for) its allocation.
ACTIVE = {
    *("PENDING", "CONFIGURING", "RUNNING", "SUSPENDED", "COMPLETING", "RESIZING", "SIGNALING"),
    *("REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "RESV_DEL_HOLD", "STOPPED"),
    "STAGE_OUT",
}
# What Slurm's end states mean, for the run page.
ENDED = {
    "TIMEOUT": "it reached its time limit",
    "NODE_FAIL": "its node failed",
    "PREEMPTED": "it was preempted",
    "CANCELLED": "it was cancelled outside Baseliner (scancel or an administrator)",
    "OUT_OF_MEMORY": "it ran out of memory",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "it reached its deadline",
    "FAILED": "the IDE's job script failed",
    "COMPLETED": "the IDE's job script ended",
}


class SlurmSettings(BackendSettings):
    """How this installation uses a cluster. Empty means the cluster's own default."""

    partition: str = Field(
        default="",
        max_length=64,
        title="Slurm partition",
        description="Empty: the cluster's default partition.",
    )
    account: str = Field(default="", max_length=64, title="Slurm account")
    qos: str = Field(default="", max_length=64, title="Slurm QOS")
    # A folder on the cluster's shared filesystem (seen alike from the login node and every
    # compute node) that holds the task folders.
    work_root: str = Field(
        default="/var/lib/baseliner/slurm",
        max_length=500,
        title="Task folders on the cluster",
        description="A folder on the shared filesystem every node sees.",
    )
    python: str = Field(default="", max_length=255, title="Python for task families")
    # A run's job may run this much longer than the run's limit (--time = limit + slack).
    time_slack_minutes: int = Field(
        default=60,
        ge=0,
        le=7 * 24 * 60,
        title="Job time beyond the run's limit (minutes)",
        description="Pauses do not stop a job's wall time.",
    )
    # The limit when the run gives none (WorkspaceSpec.time_limit_min).
    default_time_minutes: int = Field(
        default=600, ge=1, le=30 * 24 * 60, title="Job time for runs without a limit (minutes)"
    )
    cpus_per_task: int = Field(
        default=0, ge=0, le=1024, title="CPUs per job", description="0: the cluster's default."
    )
    memory: str = Field(
        default="",
        max_length=16,
        title="Memory per job",
        description="sbatch --mem, e.g. 32G; empty: the default.",
    )
    slurm_conf: str = Field(
        default="",
        max_length=500,
        title="slurm.conf path",
        description="Empty: the cluster's own (SLURM_CONF).",
    )
    slurm_bin: str = Field(
        default="",
        max_length=500,
        title="Folder of sbatch and squeue",
        description="Empty: on PATH.",
    )

    def problems(self) -> dict[str, str]:
        errors = {}
        for name in ("partition", "account", "qos"):
            if not re.fullmatch(r"[A-Za-z0-9_.,-]*", getattr(self, name)):
                errors[name] = "Letters, digits, dots, dashes and underscores only."
        if not re.fullmatch(r"([0-9]+[KMGT]?)?", self.memory):
            errors["memory"] = "A size as sbatch takes it, e.g. 32G."
        for name in ("work_root", "slurm_conf", "slurm_bin"):
            value = getattr(self, name)
            if value and not (value.startswith("/") and re.fullmatch(r"[A-Za-z0-9_./+-]+", value)):
                errors[name] = "An absolute path on the cluster, e.g. /shared/baseliner."
        if not self.work_root:
            errors["work_root"] = "Give a folder on the cluster's shared filesystem."
        if not re.fullmatch(r"[A-Za-z0-9_./+-]*", self.python):
            errors["python"] = "Give a path or a command name, e.g. /opt/venv/bin/python."
        return errors


@dataclass(frozen=True)
class SlurmPlace(Place):
    """A task's place inside a job's allocation: every command is a step of the job (``srun
    --overlap``, as root, HOME and USER the workspace's), so it sees the job's GPUs."""

    job_id: str = ""
    client: str = ""  # the clean environment Slurm's client commands run in

    def _as_root(self, command: str, env: dict[str, str] | None = None, stdin: bool = False) -> str:
        env = {"HOME": self.home, "USER": self.user, **self.env, **(env or {})}
        exports = " ".join(f"{k}={q(v)}" for k, v in env.items())
        inner = f"cd {q(self.home)} && env {exports} bash -c {q(command)}"
        step = (
            f"{self.client} srun --jobid {q(self.job_id)} --overlap --quiet --nodes=1 --ntasks=1"
            f" --export=ALL{'' if stdin else ' --input=none'} bash -c {q(inner)}"
        )
        return as_root(self.driver_user, step)


class SlurmBackend(Backend):
    name = "slurm"
    label = "Slurm cluster (a job per run)"
    Settings = SlurmSettings
    workspace_root = "/var/lib/baseliner/slurm"  # the default work_root (settings may differ)
    # METR's ``agent`` is one user (and /home/agent) for the whole cluster.
    shares_agent_user = True
    leased = False  # Slurm owns the GPUs: its queue decides, not the platform's leases
    queued = True
    scheduler = "Slurm"

    settings: SlurmSettings

    def __init__(self, driver: Any, driver_user: str, settings: BackendSettings) -> None:
        super().__init__(driver, driver_user, settings)
        self._login_names: set[str] | None = None

    # ----- paths and commands ---------------------------------------------------------------

    def folder(self, spec: WorkspaceSpec) -> str:
        """The task folder and the workspace user's home; METR's ``agent`` keeps /home/agent."""
        if spec.user:
            return f"/home/{spec.user}"
        return f"{self.settings.work_root.rstrip('/')}/{spec.name}"

    def control(self, name: str) -> str:
        return f"{self.settings.work_root.rstrip('/')}/{CONTROL}/{name}"

    def client(self) -> str:
        """The clean environment Slurm's client commands run in."""
        path = f"{self.settings.slurm_bin}:{PATH}" if self.settings.slurm_bin else PATH
        conf = f" SLURM_CONF={q(self.settings.slurm_conf)}" if self.settings.slurm_conf else ""
        return f"env -i PATH={q(path)}{conf}"

    def _slurm(self, command: str, *, timeout: float = 30, check: bool = False) -> CommandResult:
        """A Slurm client command as root (jobs are root's: see the module's docstring)."""
        return self.driver.run(
            as_root(self.driver_user, f"{self.client()} {command}"), timeout=timeout, check=check
        )

    def _root(self, command: str, *, timeout: float = 60, input: bytes | None = None) -> str:
        return self.driver.run(
            as_root(self.driver_user, command), timeout=timeout, input=input
        ).stdout

    # ----- the workspace's lifecycle --------------------------------------------------------

    def start(self, spec: WorkspaceSpec) -> dict[str, Any]:
        user, home = spec.unix_user, self.folder(spec)
        if self.driver.run(f"id -u {q(user)}", check=False).exit_status == 0:
            raise HostError(f"the cluster already has a user {user}; remove it or use another host")
        root = self.settings.work_root.rstrip("/")
        control = self.control(spec.name)
        self._root(
            f"mkdir -p {q(root)} && chmod 711 {q(root)} && mkdir -p {q(root)}/{CONTROL}"
            f" && chmod 700 {q(root)}/{CONTROL} && rm -rf {q(control)} && mkdir -m 700 {q(control)}"
            f" && {add_user(user, home, spec.owner)}"
        )
        try:
            fill_home(self.driver, self.driver_user, spec, home)
            return {"job_id": self._submit(spec), "dir": home, "home": home}
        except BaseException:
            with contextlib.suppress(HostError):
                self.remove(spec, {})
            raise

    def _submit(self, spec: WorkspaceSpec) -> str:
        """Write the job script and submit it; the job id. HostError with Slurm's words when
        sbatch refuses it (a partition that does not exist, more GPUs than any node has)."""
        control, home = self.control(spec.name), self.folder(spec)
        script = f"{control}/job.sh"
        self._root(
            f"rm -f {q(control)}/endpoint {q(control)}/stopped && cat > {q(script)}"
            f" && chmod 700 {q(script)}",
            input=self.job_script(spec).encode(),
        )
        s = self.settings
        options = [
            "--parsable",
            f"--job-name={spec.name}",
            f"--time={self.time_minutes(spec)}",
            f"--chdir={home}",
            f"--output={control}/job.log",
            "--open-mode=append",
            "--nodes=1",
            "--ntasks=1",
        ]
        if spec.gpus:
            options.append(f"--gres=gpu:{len(spec.gpus)}")
        options += [f"--{flag}={value}" for flag, value in _optional(s) if value]
        result = self._slurm(f"sbatch {' '.join(map(q, options))} {q(script)}", timeout=60)
        if result.exit_status != 0:
            said = " ".join((result.stderr or result.stdout).replace("sbatch: error: ", "").split())
            if "Unable to contact slurm controller" in said:
                raise HostError(f"the Slurm controller does not answer: {said}")
            raise HostError(f"Slurm refused the job: {said or 'no reason given'}")
        job_id = result.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise HostError(f"sbatch answered no job id: {result.stdout.strip()[:200]}")
        return job_id

    def time_minutes(self, spec: WorkspaceSpec) -> int:
        """--time: the run's limit (else the default) plus the slack: pauses do not stop a
        job's wall time."""
        minutes = spec.time_limit_min or self.settings.default_time_minutes
        return minutes + self.settings.time_slack_minutes

    def job_script(self, spec: WorkspaceSpec) -> str:
        """The batch script: pick a free port on the node (the run's own first), report
        ``job node port restarts``, then code-server as the workspace's user with the job's GPUs."""
        user, home, control = spec.unix_user, self.folder(spec), self.control(spec.name)
        env = {"HOME": home, "USER": user, "SHELL": "/bin/bash"}
        env |= spec.env
        exports = " ".join(f"{k}={q(v)}" for k, v in env.items())
        launch = f"cd {q(home)} && {_code_server(spec, home)}"
        return f"""#!/bin/bash
# Baseliner workspace {spec.name} (fleet/backends/slurm.py): code-server as {user}.
export PATH={q(PATH)}
free() {{ ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }}
port={spec.port}
for _ in $(seq 200); do
  free "$port" && break
  port=$(( 20000 + RANDOM % 40000 ))
done
printf '%s %s %s %s\\n' "$SLURM_JOB_ID" "${{SLURMD_NODENAME:-$(hostname -s)}}" "$port" \\
  "${{SLURM_RESTART_COUNT:-0}}" \\
  > {q(control)}/endpoint.tmp
mv {q(control)}/endpoint.tmp {q(control)}/endpoint
exec runuser -u {q(user)} -- env -i {exports} \\
  CUDA_VISIBLE_DEVICES="${{CUDA_VISIBLE_DEVICES-}}" SLURM_JOB_ID="$SLURM_JOB_ID" \\
  {PORT_ENV}="$port" bash -c {q(launch)}
"""

    def _job(self, job_id: str) -> dict[str, str] | None:
        """What the controller knows of a job (``scontrol show job``: pending, running, and
        ended within MinJobAge), None once it has forgotten it. HostError: no answer."""
        result = self._slurm(f"scontrol -o show job {q(job_id)}", timeout=30)
        if result.exit_status != 0:
            if "Invalid job id" in result.stderr:
                return None
            raise HostError(f"the Slurm controller does not answer: {result.stderr.strip()}")
        return dict(re.findall(r"(?:^|\s)(\w+)=(\S*)", result.stdout))

    def _accounting(self, job_id: str) -> tuple[str, str] | None:
        """(state, reason) from Slurm's accounting, if the cluster keeps it (slurmdbd)."""
        result = self._slurm(f"sacct -n -X -P -j {q(job_id)} -o State,Reason", timeout=30)
        line = result.stdout.strip().splitlines()[:1]
        if result.exit_status != 0 or not line:
            return None
        state, _, reason = line[0].partition("|")
        return state.split()[0], reason

    def _files(self, spec: WorkspaceSpec) -> dict[str, str]:
        """The control folder's small files (endpoint, stopped) and whether the task folder is
        there, in one call."""
        control, home = q(self.control(spec.name)), q(self.folder(spec))
        out = self._root(
            f"for f in endpoint stopped; do printf '%s=' $f; cat {control}/$f 2>/dev/null"
            f" | tr -d '\\n'; echo; done; test -d {home} && echo folder=yes || echo folder=no",
            timeout=30,
        )
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def poll(self, spec: WorkspaceSpec, state: dict[str, Any]) -> Poll:
        job_id = str(state.get("job_id", ""))
        if not job_id:
            return Poll("gone", "it has no Slurm job")
        job = self._job(job_id)
        files = self._files(spec)
        stopped = files.get("stopped") == job_id
        if job is None or job.get("JobState") not in ACTIVE:
            if stopped:
                return Poll("stopped", "stopped by Baseliner")
            return Poll("gone", self._why_ended(job_id, job))
        job_state, reason = job["JobState"], job.get("Reason", "None")
        if job_state == "PENDING":
            return Poll("pending", reason if reason != "None" else "waiting for the scheduler")
        if job_state == "RUNNING":
            # This job's report, not one from before Slurm requeued it (same id, a restart more).
            reported = files.get("endpoint", "").split()
            if reported[:1] == [job_id] and reported[3:4] == [job.get("Restarts", "0")]:
                return Poll("running")
            return Poll("pending", f"starting on {job.get('NodeList', 'its node')}")
        if job_state == "COMPLETING":
            return Poll("stopped", "its job is ending")
        if job_state == "SUSPENDED":
            return Poll("stopped", "Slurm suspended its job")
        return Poll("pending", job_state.lower())

    def _why_ended(self, job_id: str, job: dict[str, str] | None) -> str:
        if job is not None:
            found: tuple[str, str] | None = (job.get("JobState", ""), job.get("Reason", ""))
        else:
            found = self._accounting(job_id)
        if found is None:
            return f"Slurm job {job_id} ended; Slurm no longer knows why (no accounting)"
        state, reason = found
        meaning = ENDED.get(state, state.lower())
        extra = f", {reason}" if reason and reason not in ("None", "") else ""
        exit_code = (job or {}).get("ExitCode", "")
        if state in ("FAILED", "COMPLETED") and exit_code:
            extra += f", exit code {exit_code}"
        return f"Slurm job {job_id} ended: {meaning} ({state}{extra})"

    def gone(self, spec: WorkspaceSpec, state: dict[str, Any]) -> str:
        """Its task folder removed, or its job ended without Baseliner stopping it."""
        if self._files(spec).get("folder") != "yes":
            return f"its task folder {self.folder(spec)} no longer exists on the cluster"
        poll = self.poll(spec, state)
        return poll.reason if poll.state == "gone" else ""

    def endpoint(self, spec: WorkspaceSpec, state: dict[str, Any]) -> tuple[str, int]:
        """Where the job's IDE listens, reached through the driver. Only a job on the login
        node itself is reachable today: the SSH driver forwards to the host's loopback only."""
        reported = self._files(spec).get("endpoint", "").split()
        if len(reported) != 4 or reported[0] != str(state.get("job_id")):
            raise HostError("the workspace's job has not started its IDE yet")
        _, node, port, _ = reported
        if node not in self._login_node_names():
            raise HostError(
                f"the IDE runs on node {node}; reaching a compute node other than the login"
                " node is not supported yet"
            )
        return self.driver.endpoint(int(port))

    def _login_node_names(self) -> set[str]:
        if self._login_names is None:
            names = self.driver.run("hostname -s; hostname", timeout=15).stdout.split()
            self._login_names = {"localhost", "127.0.0.1", *names}
        return self._login_names

    def stop(self, spec: WorkspaceSpec, state: dict[str, Any]) -> None:
        """Cancel the job (the files stay), and wait until Slurm has ended it."""
        job_id = str(state.get("job_id", ""))
        if not job_id:
            return
        control = q(self.control(spec.name))
        self._root(f"mkdir -p {control} && echo {q(job_id)} > {control}/stopped")
        result = self._slurm(f"scancel {q(job_id)}")
        harmless = ("Invalid job id", "already completing or completed")
        if result.exit_status != 0 and not any(h in result.stderr for h in harmless):
            raise HostError(f"scancel {job_id} failed: {result.stderr.strip()}")
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while (job := self._job(job_id)) is not None and job.get("JobState") in ACTIVE:
            if time.monotonic() > deadline:
                raise HostError(f"Slurm job {job_id} did not end within {STOP_TIMEOUT_S} s")
            time.sleep(0.2)

    def restart(self, spec: WorkspaceSpec, state: dict[str, Any]) -> dict[str, Any]:
        """Cancel the job and submit a new one on the same folder (a new job id)."""
        if self.driver.run(f"id -u {q(spec.unix_user)}", check=False).exit_status != 0:
            raise HostError(f"the workspace's user {spec.unix_user} is gone from the cluster")
        self.stop(spec, state)
        return {**state, "job_id": self._submit(spec)}

    def archive(self, spec: WorkspaceSpec, state: dict[str, Any], destination: Path) -> int:
        """The task folder from the login node (the shared filesystem): works after the job
        ended, too."""
        home = q(self.folder(spec))
        destination.parent.mkdir(parents=True, exist_ok=True)
        return self.driver.run_to_file(
            as_root(
                self.driver_user,
                f"tar -C {home} --exclude=./.local --exclude=./.cache --exclude=./.config"
                f" --exclude=./.code-server.log -czf - .",
            ),
            destination,
        )

    def remove(self, spec: WorkspaceSpec, state: dict[str, Any]) -> None:
        """Cancel the job, then delete the user, the task folder and the control folder."""
        self.stop(spec, state)
        self._root(
            f"{remove_user(spec.unix_user, self.folder(spec))}; rm -rf {q(self.control(spec.name))}"
        )

    # ----- running the task inside the job ---------------------------------------------------

    def place(self, spec: WorkspaceSpec, state: dict[str, Any]) -> Place:
        return SlurmPlace(
            self.driver,
            self.driver_user,
            spec.unix_user,
            self.folder(spec),
            self.python(),
            job_id=str(state["job_id"]),
            client=self.client(),
        )

    @contextlib.contextmanager
    def scratch(
        self, name: str, installed: Installed, gpus: list[int], agent_user: bool, owner: str
    ) -> Iterator[Place]:
        """A job that only sleeps, holding ``len(gpus)`` GPUs, with a throwaway user and folder;
        cancelled and removed on exit. HostError if it does not run within SCRATCH_TIMEOUT_S."""
        user = "agent" if agent_user else name
        home = f"/home/{user}" if agent_user else f"{self.settings.work_root.rstrip('/')}/{name}"
        if self.driver.run(f"id -u {q(user)}", check=False).exit_status == 0:
            raise HostError(f"the cluster already has a user {user}; the check needs it for itself")
        self._root(add_user(user, home, owner))
        job_id = ""
        try:
            s = self.settings
            options = [
                "--parsable",
                f"--job-name={name}",
                f"--time={s.default_time_minutes}",
                f"--chdir={home}",
                "--output=/dev/null",
                "--nodes=1",
                "--ntasks=1",
                *([f"--gres=gpu:{len(gpus)}"] if gpus else []),
                *(f"--{flag}={value}" for flag, value in _optional(s) if value),
            ]
            script = "#!/bin/bash\nexec sleep infinity\n"
            result = self.driver.run(
                as_root(self.driver_user, f"{self.client()} sbatch {' '.join(map(q, options))}"),
                input=script.encode(),
                check=False,
            )
            if result.exit_status != 0:
                said = " ".join(result.stderr.replace("sbatch: error: ", "").split())
                raise HostError(f"Slurm refused the check's job: {said}")
            job_id = result.stdout.strip().split(";")[0]
            deadline = time.monotonic() + SCRATCH_TIMEOUT_S
            while (job := self._job(job_id)) is None or job.get("JobState") != "RUNNING":
                if job is None or job.get("JobState") not in ACTIVE:
                    raise HostError(f"the check's job ended: {self._why_ended(job_id, job)}")
                if time.monotonic() > deadline:
                    raise HostError(
                        f"the check's job did not start within {SCRATCH_TIMEOUT_S} s"
                        f" ({job.get('Reason', '')})"
                    )
                time.sleep(0.2)
            yield SlurmPlace(
                self.driver,
                self.driver_user,
                user,
                home,
                self.python(),
                job_id=job_id,
                client=self.client(),
            )
        finally:
            if job_id:
                self._slurm(f"scancel {q(job_id)}")
            self.driver.run(
                as_root(self.driver_user, remove_user(user, home)), timeout=60, check=False
            )

    # ----- the cluster as a whole ------------------------------------------------------------

    def capacity(self) -> Capacity:
        """The most GPUs one node of the partition has: what one job can ever get."""
        partition = f"-p {q(self.settings.partition)} " if self.settings.partition else ""
        result = self._slurm(f"sinfo -h {partition}-o %G", check=True)
        return Capacity(
            leased=False, max_gpus=max(map(gpu_count, result.stdout.split()), default=0)
        )

    def health(self) -> list[str]:
        """The cluster answers, the partition exists and is up with a node up in it, and root
        may submit jobs."""
        result = self._slurm("sinfo -h -o '%R|%a|%T'", timeout=30)
        if result.exit_status != 0:
            said = " ".join((result.stderr or result.stdout).split())[:300]
            return [f"the Slurm cluster does not answer (sinfo: {said})"]
        rows = [line.split("|") for line in result.stdout.splitlines() if line.count("|") == 2]
        wanted = self.settings.partition
        if wanted:
            rows_here = [r for r in rows if r[0] == wanted]
            if not rows_here:
                known = ", ".join(sorted({r[0] for r in rows})) or "none"
                return [f"the cluster has no partition {wanted} (it has: {known})"]
            rows = rows_here
        problems = []
        if rows and all(avail != "up" for _, avail, _ in rows):
            problems.append(f"partition {wanted or rows[0][0]} is not up")
        if not any(_node_up(state) for *_, state in rows):
            states = ", ".join(sorted({state for *_, state in rows})) or "no nodes"
            problems.append(f"no node of the partition is up ({states})")
        config = self._slurm("scontrol show config", timeout=30)
        if re.search(r"^DisableRootJobs\s*=\s*yes", config.stdout, re.I | re.M):
            problems.append("the cluster refuses root's jobs (DisableRootJobs=YES)")
        return problems

    def sweep(self, prefix: str, keep: set[str]) -> list[str]:
        """Cancel root's jobs named as this installation's run workspaces that no live run owns
        (a check's scratch job, ``<prefix>-check-…``, is its check's to end)."""
        result = self._slurm("squeue -h -u root -o '%i|%j'", check=True)
        cancelled = []
        for line in result.stdout.splitlines():
            job_id, _, name = line.partition("|")
            if name.startswith(f"{prefix}-run-") and name not in keep:
                self._slurm(f"scancel {q(job_id)}")
                cancelled.append(name)
        return cancelled

    def family_note(self) -> str:
        return "installed from the login node; compute nodes must see /opt/baseliner"


def _optional(s: SlurmSettings) -> list[tuple[str, str]]:
    """The sbatch options a lab may set, as (flag, value); empty values are left out."""
    return [
        ("partition", s.partition),
        ("account", s.account),
        ("qos", s.qos),
        ("cpus-per-task", str(s.cpus_per_task) if s.cpus_per_task else ""),
        ("mem", s.memory),
    ]


def gpu_count(gres: str) -> int:
    """GPUs on a node from sinfo's %G: ``gpu:2``, ``gpu:a100:4(S:0-1)``, ``gpu:a:2,gpu:b:2``,
    ``(null)``."""
    total = 0
    for part in re.sub(r"\([^)]*\)", "", gres).split(","):
        fields = part.split(":")
        if fields[0] == "gpu" and fields[-1].isdigit():
            total += int(fields[-1])
    return total


def _node_up(state: str) -> bool:
    """A node state of sinfo's %T that can run jobs (not down, drained, failing or silent)."""
    bad = ("down", "drain", "fail", "unknown", "inval", "not_responding", "future", "power")
    return not state.endswith("*") and not state.startswith(bad)


def _code_server(spec: WorkspaceSpec, home: str) -> str:
    """codeserver.command on the port the job script chose (in $BASELINER_IDE_PORT)."""
    command = codeserver.command(
        port=1,
        folder=home,
        user_data_dir=f"{home}/.local/share/code-server",
        extensions_dir=home_extensions(home),
        cache=Path(spec.cache),
        extra_path=spec.path,
        key_file=f"{home}/{codeserver.KEY_FILE}" if spec.ide_key else "",
    )
    bind = " --bind-addr 127.0.0.1:1 "
    assert bind in command, command
    return command.replace(bind, f' --bind-addr "127.0.0.1:${PORT_ENV}" ')
