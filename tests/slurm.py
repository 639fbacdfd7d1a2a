"""A real one-node Slurm cluster on loopback for the tests: munged, slurmctld and slurmd of
Debian's ``slurm-wlm`` 22.05, each with this cluster's own key, config, ports and state.

How it is built (``slurm_cluster``):

- A fresh folder under /tmp (short: munge's socket path must fit a unix socket's 108 bytes, and
  opened 0711 so the ``munge`` user and the jobs' users can reach what is theirs in it). Nothing
  of the system's (/etc/munge, /etc/slurm, /run/munge, /var/spool/slurmd) is read or written.
- ``munge/``: a generated key (0400, owned by the user munged runs as: ``munge`` when we are
  root, else ourselves), and munged in the foreground with its own socket, pid, seed and log.
- ``slurm.conf`` (written by ``_slurm_conf``): ``SlurmctldHost=localhost``, two free TCP ports,
  ``AuthInfo=socket=`` that munged's socket, one ``NodeName=localhost`` with the CPUs, cores and
  memory ``slurmd -C`` detects here and ``Gres=gpu:N``; ``gres.conf`` declares N GPUs as
  stand-in device nodes (``_gres_conf``: 22.05 drops GPUs declared by count alone), so GPU
  requests are scheduled, counted and given indices without real GPUs. No cgroups
  (``proctrack/linuxproc``, ``task/none``): in this container (a cgroup v1/v2 hybrid, not ours
  to write) ``proctrack/cgroup`` fails every job at launch ("cgroup namespace 'freezer' not
  mounted ... Plugin initialization failed"); linuxproc tracks a job's processes through /proc,
  which is all scancel needs. Scheduler passes run every second (``sched_interval``,
  ``bf_interval``) and a cancelled job gets 2 s (``KillWait``) to end.
- slurmctld (``-D -c``) and slurmd (``-D -N localhost``) in the foreground, each started with
  ``-f`` that config and an environment marker; ready once ``sinfo`` shows the node idle.
- On exit: every job cancelled, the daemons stopped (TERM, then KILL), and any process left with
  this cluster's marker or ``SLURM_CONF`` (slurmstepd daemonises out of slurmd's reach; a job's
  own children) killed, so nothing stays behind. The logs are copied into the caller's
  ``tmp_path`` (``slurm-logs/``) before the folder goes.

Names and ports never collide between two test sessions or two clones on one machine: the
cluster name carries this session's workspace prefix (tests/naming.py) and a counter, every
path is under the cluster's own folder and the ports are picked free at start (a start that
loses a port race is retried on new ones).

Needs root (tests run as root here): slurmd launches jobs as their submitting user, and munged
is run as the ``munge`` user. slurmctld and slurmd listen on every address (22.05 has no bind
address), on ports nothing else uses; munge authenticates every message.

Measured here (2 CPU cores shared with other work, load 4 to 7; three clusters, nine jobs): the
cluster is up, node idle, 1.1 s after the call (1.0 to 1.2); ``sbatch`` to RUNNING, the script
started, 0.9 s median (0.01 to 0.94: a job the submission's own pass does not start waits for
the next pass, at most a second); ``scancel`` to gone from ``squeue`` 0.12 s; a controller
restart until slurmd has registered with it again 4.2 s. tests/fleet/test_slurm_cluster.py
takes about 19 s in all, 6 of them the restart test.
"""

import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.naming import PREFIX

SLURMCTLD = "/usr/sbin/slurmctld"
SLURMD = "/usr/sbin/slurmd"
MUNGED = "/usr/sbin/munged"
PARTITION = "main"
MARKER = "BASELINER_TEST_SLURM"  # in the daemons' environment (and so slurmstepd's)
_counter = itertools.count(1)


def installed() -> bool:
    """Whether Debian's slurm-wlm and munge are here (``make install`` brings them)."""
    return all(os.access(p, os.X_OK) for p in (SLURMCTLD, SLURMD, MUNGED))


class SlurmError(RuntimeError):
    """A Slurm command or daemon failed; the message carries its output."""


@dataclass
class SlurmCluster:
    """A running cluster: ``conf`` its slurm.conf, ``env`` what client commands need (pass it
    to any ``subprocess`` call), ``run`` a client command with it."""

    name: str
    root: Path
    conf: Path
    env: dict[str, str]
    gpus: int
    cpus: int
    partition: str = PARTITION
    ports: tuple[int, int] = (0, 0)
    _daemons: dict[str, subprocess.Popen] = field(default_factory=dict)

    def run(
        self, *argv: str, check: bool = True, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess:
        """Run a client command (``sbatch``, ``squeue``, ``srun`` …) against this cluster."""
        result = subprocess.run(
            argv, env=self.env, input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise SlurmError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
        return result

    def sbatch(self, script: str, *options: str) -> int:
        """Submit ``script`` (its text) with ``sbatch --parsable``; returns the job id. The
        job's output goes to the cluster's log folder unless an option says where (Slurm's
        default, ``slurm-<id>.out`` in the working folder, would land in the checkout)."""
        if not any(o.startswith(("--output", "-o")) for o in options):
            options = (*options, f"--output={self.root}/log/slurm-%j.out")
        out = self.run("sbatch", "--parsable", *options, input=script).stdout.strip()
        return int(out.split(";")[0])  # "ID" or "ID;cluster"

    def job(self, job_id: int) -> tuple[str, str] | None:
        """``(state, reason or node list)`` of a job as squeue sees it, None once it left."""
        result = self.run("squeue", "-h", "-j", str(job_id), "-o", "%T %R", check=False)
        line = result.stdout.strip()
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            raise SlurmError(f"squeue -j {job_id}: {result.stderr.strip()}")
        if not line:  # ended (squeue lists no finished job), or purged: "Invalid job id"
            return None
        state, _, reason = line.partition(" ")
        return state, reason

    def wait_job(
        self, job_id: int, states: set[str | None] | set[tuple[str, str]], timeout: float = 20
    ) -> tuple[str, str] | None:
        """Poll until the job is in one of ``states``: a state, ``(state, reason)`` as ``job``
        gives it, or None (gone from squeue). A job just submitted is pending with reason
        ``(None)`` until a scheduler pass has looked at it."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.job(job_id)
            if (seen[0] if seen else None) in states or seen in states:
                return seen
            if time.monotonic() > deadline:
                raise SlurmError(f"job {job_id} still {seen} after {timeout}s, not in {states}")
            time.sleep(0.1)

    def restart_controller(self) -> None:
        """Stop slurmctld and start it again on its saved state (jobs keep running on slurmd);
        returns once slurmd has registered with it again (about 3 s after its start).

        Until then the recovered node shows its old state but answers no step: an ``srun
        --overlap`` sent in that window is told "step creation temporarily disabled, retrying
        (Requested nodes are busy)" and, in 22.05, waits until the job ends, not until the node
        is back. A backend's exec must bound its wait."""
        _stop(self._daemons.pop("slurmctld"))
        self._daemons["slurmctld"] = self._start_daemon("slurmctld", [SLURMCTLD, "-D", "-f"])
        _wait_ready(self)
        deadline = time.monotonic() + 30
        while "FreeMem=N/A" in self.run("scontrol", "show", "node", "localhost").stdout:
            if time.monotonic() > deadline:
                raise SlurmError(f"slurmd did not register again:\n{self.log('slurmctld')[-3000:]}")
            time.sleep(0.1)

    def log(self, daemon: str) -> str:
        """A daemon's log so far (slurmctld, slurmd, munged), for assertion messages."""
        path = self.root / "log" / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start_daemon(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = open(self.root / "log" / f"{name}.out", "ab")  # noqa: SIM115 (the child keeps it)
        with out:
            return subprocess.Popen(
                [*argv, str(self.conf), *(["-N", "localhost"] if name == "slurmd" else [])],
                env=self.env | {MARKER: str(self.root)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def _free_ports(count: int) -> list[int]:
    """Ports no one listens on, on any address (the daemons bind INADDR_ANY with
    SO_REUSEADDR, so a port whose old connections linger in TIME_WAIT is free to them)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _node_hardware() -> dict[str, int]:
    """What slurmd detects on this machine (``slurmd -C``): a config that claims more would
    leave the node invalid; less is allowed but wastes nothing here."""
    out = subprocess.run([SLURMD, "-C"], capture_output=True, text=True, check=True).stdout
    fields = dict(re.findall(r"(\w+)=(\S+)", out.splitlines()[0]))
    keys = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
    return {key: int(fields[key]) for key in keys}


def _slurm_conf(name: str, root: Path, ports: list[int], gpus: int, user: str) -> str:
    hw = " ".join(f"{k}={v}" for k, v in _node_hardware().items())
    return f"""# A one-node test cluster (tests/slurm.py); nothing here is the system's.
ClusterName={name}
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: this container's hierarchy is not ours to write.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
# Immediate scheduling, quick ends: tests wait on these.
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=1,sched_min_interval=0
KillWait=2
InactiveLimit=0
MinJobAge=60
MessageTimeout=10
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 {hw}{f" Gres=gpu:{gpus}" if gpus else ""} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _gres_conf(root: Path, gpus: int) -> str:
    """N GPUs as stand-in device files. 22.05 drops a GPU declared by ``Count`` alone ("Removing
    file-less GPU gpu:(null) from final GRES list"; the node then goes INVAL for "gres/gpu count
    reported lower than configured"), so each GPU is a character device with /dev/null's numbers
    under the cluster's folder. Jobs then get their GPUs' indices as on a real GPU node:
    ``SLURM_JOB_GPUS`` and ``CUDA_VISIBLE_DEVICES`` in the batch script, ``SLURM_STEP_GPUS`` and
    ``CUDA_VISIBLE_DEVICES`` in an ``srun`` step. Where mknod is refused (a container without
    CAP_MKNOD), an empty file: slurmd logs that it "is not a valid character or block device"
    and still counts and schedules it, but jobs get only ``SLURM_GPUS_ON_NODE``, no indices."""
    if gpus == 0:
        return ""
    dev = root / "dev"
    dev.mkdir(exist_ok=True)
    for index in range(gpus):
        path = dev / f"gpu{index}"
        if path.exists():
            continue
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            path.touch(0o666)
    files = f"{dev}/gpu[0-{gpus - 1}]" if gpus > 1 else f"{dev}/gpu0"
    return f"NodeName=localhost Name=gpu File={files}\n"


def _start_munged(root: Path) -> subprocess.Popen:
    """munged with a key of its own, as the ``munge`` user when we are root (munged refuses a
    key its user does not own, and warns against running as root)."""
    munge_dir = root / "munge"
    munge_dir.mkdir(mode=0o755)
    key = munge_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    run_as: dict = {}
    if os.geteuid() == 0:
        entry = pwd.getpwnam("munge")
        os.chown(munge_dir, entry.pw_uid, entry.pw_gid)
        os.chown(key, entry.pw_uid, entry.pw_gid)
        run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    argv = [
        MUNGED,
        "--foreground",
        f"--socket={munge_dir}/munge.socket",
        f"--key-file={key}",
        f"--pid-file={munge_dir}/munged.pid",
        f"--seed-file={munge_dir}/munged.seed",
        f"--log-file={root}/log/munged.log",
    ]
    munged = subprocess.Popen(
        argv,
        env={"PATH": os.environ.get("PATH", ""), MARKER: str(root)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(root / "log" / "munged.out", "ab"),  # noqa: SIM115
        start_new_session=True,
        **run_as,
    )
    deadline = time.monotonic() + 10
    while not (munge_dir / "munge.socket").exists():
        if munged.poll() is not None or time.monotonic() > deadline:
            _stop(munged)
            out = (root / "log" / "munged.out").read_text(errors="replace")
            raise SlurmError(f"munged did not start: {out.strip()}")
        time.sleep(0.05)
    return munged


def _wait_ready(cluster: SlurmCluster, timeout: float = 30) -> None:
    """Until sinfo shows the node idle (slurmd registered, GPUs counted)."""
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        for name, daemon in cluster._daemons.items():
            if daemon.poll() is not None:
                raise SlurmError(f"{name} exited {daemon.returncode}:\n{cluster.log(name)[-3000:]}")
        result = cluster.run("sinfo", "-h", "-n", "localhost", "-o", "%T %G", check=False)
        seen = result.stdout.strip() or result.stderr.strip()
        # Idle, or mixed/allocated after a controller restart with jobs running.
        if result.returncode == 0 and seen.split(" ")[0] in {"idle", "mixed", "allocated"}:
            return
        time.sleep(0.1)
    raise SlurmError(
        f"the node is not ready after {timeout}s: {seen}\n{cluster.log('slurmd')[-3000:]}"
    )


def _stop(process: subprocess.Popen, grace: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _leftovers(root: Path, conf: Path) -> list[int]:
    """Processes this cluster left: marked by its daemons' environment, or by its config (a
    job's processes carry the submitter's ``SLURM_CONF``)."""
    marks = (f"{MARKER}={root}".encode(), f"SLURM_CONF={conf}".encode())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(mark in environ for mark in marks):
            found.append(int(entry.name))
    return found


def _kill_leftovers(root: Path, conf: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _leftovers(root, conf)
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
            time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def sweep_dead_clusters() -> list[Path]:
    """End the daemons and jobs of clusters whose test session died before its teardown (a
    killed pytest), and remove their folders; a live session's clusters are left alone."""
    swept = []
    for root in Path("/tmp").glob("bt*s*-*"):
        match = re.fullmatch(r"bt([0-9a-f]+)[g-z]?s\d+-\w+", root.name)
        if match is None or not root.is_dir() or _session_alive(int(match.group(1), 16)):
            continue
        _kill_leftovers(root, root / "slurm.conf")
        shutil.rmtree(root, ignore_errors=True)
        swept.append(root)
    return swept


def _session_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(tmp_path: Path, gpus: int, prefix: str) -> SlurmCluster:
    sweep_dead_clusters()
    name = f"{prefix}s{next(_counter)}"
    root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp"))
    root.chmod(0o711)
    for sub in ("log", "state", "spool", "run"):
        (root / sub).mkdir()
    (root / "log").chmod(0o755)
    user = pwd.getpwuid(os.geteuid()).pw_name
    conf = root / "slurm.conf"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM")}
    env["SLURM_CONF"] = str(conf)
    cluster = SlurmCluster(name, root, conf, env, gpus, cpus=0)
    try:
        cluster._daemons["munged"] = _start_munged(root)
        for attempt in range(3):
            ports = _free_ports(2)
            conf.write_text(_slurm_conf(name, root, ports, gpus, user))
            (root / "gres.conf").write_text(_gres_conf(root, gpus))
            cluster.ports = (ports[0], ports[1])
            cluster.cpus = _node_hardware()["CPUs"]
            cluster._daemons["slurmctld"] = cluster._start_daemon(
                "slurmctld", [SLURMCTLD, "-D", "-c", "-f"]
            )
            cluster._daemons["slurmd"] = cluster._start_daemon("slurmd", [SLURMD, "-D", "-f"])
            try:
                _wait_ready(cluster)
                return cluster
            except SlurmError:
                log = cluster.log("slurmctld") + cluster.log("slurmd")
                if attempt == 2 or "Address already in use" not in log:
                    raise
                for daemon in ("slurmd", "slurmctld"):  # lost a port race: new ports
                    _stop(cluster._daemons.pop(daemon))
    except BaseException:
        _teardown(cluster, tmp_path)
        raise
    raise AssertionError("unreachable")


def _teardown(cluster: SlurmCluster, tmp_path: Path) -> None:
    daemons = cluster._daemons
    if "slurmctld" in daemons and daemons["slurmctld"].poll() is None:
        cluster.run("scancel", "--partition", cluster.partition, check=False, timeout=15)
        deadline = time.monotonic() + 10  # KillWait=2: cancelled jobs end in seconds
        while time.monotonic() < deadline:
            queue = cluster.run("squeue", "-h", "-o", "%i", check=False, timeout=15)
            if queue.returncode != 0 or not queue.stdout.strip():
                break
            time.sleep(0.1)
    for name in ("slurmd", "slurmctld", "munged"):
        if name in daemons:
            _stop(daemons.pop(name))
    _kill_leftovers(cluster.root, cluster.conf)
    logs = tmp_path / "slurm-logs"
    shutil.copytree(cluster.root / "log", logs, dirs_exist_ok=True)
    shutil.copy(cluster.conf, logs) if cluster.conf.exists() else None
    shutil.rmtree(cluster.root, ignore_errors=True)


@contextmanager
def slurm_cluster(tmp_path: Path, gpus: int = 2, prefix: str = PREFIX) -> Iterator[SlurmCluster]:
    """A one-node cluster with ``gpus`` GPUs, up and idle; stopped, with no process left and
    its logs in ``tmp_path/slurm-logs``, on exit."""
    cluster = _start(tmp_path, gpus, prefix)
    try:
        yield cluster
    finally:
        _teardown(cluster, tmp_path)
