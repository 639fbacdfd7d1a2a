"""What a run actually runs on, in words, from the host's recorded GPUs (``nvidia-smi`` at its
last check): task instructions are written for the benchmark's machine ("one NVIDIA H100"),
and the expert must know when theirs differs (CPU mode on a GPU-less platform)."""

from collections import Counter
from dataclasses import dataclass

from sqlmodel import Session, select

from baselines.runs import Run, RunStatus
from fleet.allocation import gpu_less_fleet
from fleet.hosts import Host, HostStatus

TIMES = "\N{MULTIPLICATION SIGN}"
CPU_MODE = (
    "This run has no GPU: no GPU is registered on this platform, so the task runs on the CPU at"
    " a small size. Where the instructions name a GPU, read them with that in mind; scores are"
    " marked “not comparable: no GPU”."
)


@dataclass(frozen=True)
class Hardware:
    """One line for the page (``text``); ``cpu_mode``: the task wants GPUs and gets none."""

    text: str
    cpu_mode: bool = False


def gpu_names(gpus: list[dict], indices: list[int] | None = None) -> str:
    """ "1 x NVIDIA H100 80GB HBM3" (with a times sign): the named GPUs (all when ``indices``
    is None), grouped by model."""
    chosen = [g for g in gpus if indices is None or g.get("index") in indices]
    counts = Counter(str(g.get("name") or "GPU") for g in chosen)
    return ", ".join(f"{n} {TIMES} {name}" for name, n in counts.items())


def of_run(run: Run, host: Host | None) -> Hardware | None:
    """What this run has; None before it is placed on a host (or when it never started)."""
    if run.cpu_mode:
        return Hardware(CPU_MODE, cpu_mode=True)
    placing = run.status in (RunStatus.provisioning, RunStatus.pending)
    if host is None or (run.started_at is None and not placing):
        return None
    if not run.gpu_indices:
        return Hardware("This run has no GPU.")
    named = gpu_names(host.gpus, run.gpu_indices)
    count = len(run.gpu_indices)
    noun = "GPU" if count == 1 else "GPUs"
    return Hardware(f"This run has {named or f'{count} {noun}'} on host {host.name}.")


def for_task(session: Session, gpu_count: int) -> Hardware | None:
    """What a new run of a task needing ``gpu_count`` GPUs will get on this platform now."""
    if gpu_count <= 0:
        return None
    if gpu_less_fleet(session):
        return Hardware(
            CPU_MODE.replace("This run has no GPU", "A run of this task gets no GPU here"),
            cpu_mode=True,
        )
    hosts = session.exec(select(Host).where(Host.status == HostStatus.ready)).all()
    models = sorted({str(g.get("name") or "GPU") for h in hosts for g in h.gpus})
    noun = "GPU" if gpu_count == 1 else "GPUs"
    on = f" ({' or '.join(models)})" if models else ""
    return Hardware(f"A run of this task gets {gpu_count} {noun}{on}.")
