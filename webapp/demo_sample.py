"""The demo's sample of scored runs, so the analyst's page shows what it is for on first sight:
made up, labelled as such wherever it shows, and seeded by ``baseliner demo`` only (never by
``serve`` or a migration, so a real installation has none of it).

- Human runs are stored as the portal stores a real one: four sample experts (approved, with
  hourly rates, no logins printed) each with finished 8-hour runs on ``triton_cumsum`` and the
  language-model environments, an idle pause, and checkpoints at realistic working times with
  raw and normalised scores and a small snapshot each (so a coordinator can open every one and
  its diff).
- Agent runs are imported through ``analytics.importing`` from CSV files in our schema with raw
  scores only, exactly as ``baseliner import runs`` would: the import normalises them with the
  installed tasks' numbers.

Seeding twice adds nothing: the humans are skipped when the first sample expert exists, the
agents when their runs are there.
"""

import csv
import hashlib
import io
import json
import random
import secrets
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from analytics import importing, task_numbers
from analytics.imported import ImportedRun
from baselines import applications, run_states
from baselines.applications import ApplicationCreate
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run, RunStatus
from baselines.users import User, get_by_email
from environments.catalogue import Catalogue
from fleet import snapshots
from payments import rates
from timetracking.pauses import Pause, PauseReason
from webapp.demo_scores import LIMIT_S, Entry, Shape, agent_log, final, human_log

LABEL = "Sample data seeded by `make demo`"
REASON = "Sample run seeded by `make demo`: made-up scores, no real work."
RUN_PREFIX = "demo-sample-"  # the imported agent runs' ids
SEED = 17
# (email, name, hourly rate in cents)
EXPERTS = [
    ("sample-a@demo.baseliner", "Sample Expert A", 7500),
    ("sample-b@demo.baseliner", "Sample Expert B", 9000),
    ("sample-c@demo.baseliner", "Sample Expert C", 6500),
    ("sample-d@demo.baseliner", "Sample Expert D", 8000),
]
AGENTS = ("sample-agent-a", "sample-agent-b")
TASKS: dict[str, Shape] = {
    "triton_cumsum/main": Shape(
        (0.7, 1.4), {"sample-agent-a": (0.15, 0.45), "sample-agent-b": (0.25, 0.6)}
    ),
    "fix_embedding/main": Shape(
        (0.4, 1.1), {"sample-agent-a": (0.1, 0.5), "sample-agent-b": (0.2, 0.6)}
    ),
    "restricted_mlm/main": Shape(
        (0.3, 0.9), {"sample-agent-a": (0.0, 0.3), "sample-agent-b": (0.05, 0.4)}
    ),
    "scaling_law/main": Shape(
        (0.3, 0.9), {"sample-agent-a": (0.0, 0.5), "sample-agent-b": (0.1, 0.6)}, last=True
    ),
}
# Which sample experts ran each task (indices into EXPERTS), and agent runs per task and agent.
HUMANS = {
    "triton_cumsum/main": (0, 1, 2, 3),
    "fix_embedding/main": (0, 2, 3),
    "restricted_mlm/main": (1, 2, 3),
    "scaling_law/main": (0, 1, 3),
}
AGENT_RUNS = {"triton_cumsum/main": 5}
AGENT_RUNS_DEFAULT = 4
LUNCH = (4 * 3600, 45 * 60)  # an idle pause at 4 working hours, for 45 minutes
# A line of each task's solution file per attempt, so the diffs show something.
FILES = {
    "triton_cumsum": "solution/solution.py",
    "fix_embedding": "submission/notes.md",
    "restricted_mlm": "submission/model.py",
    "scaling_law": "answer.json",
}


@dataclass(frozen=True)
class Sample:
    """What of the sample is in the database, for the analyst page's banner."""

    human_runs: int
    agent_runs: int


def present(session: Session) -> Sample | None:
    """The sample's size if ``baseliner demo`` seeded one here; None in a real installation."""
    experts = [
        user.id for email, _, _ in EXPERTS if (user := get_by_email(session, email)) is not None
    ]
    humans = 0
    if experts:
        query = select(func.count()).select_from(Run).where(Run.expert_id.in_(experts))
        humans = session.exec(query).one()
    query = select(func.count()).select_from(ImportedRun)
    agents = session.exec(query.where(ImportedRun.run_id.startswith(RUN_PREFIX))).one()
    return Sample(humans, agents) if humans or agents else None


def seed(
    session: Session,
    *,
    coordinator: User,
    catalogue: Catalogue,
    snapshot_store: Path,
    now: datetime,
) -> None:
    """Add the sample where it is missing (in the caller's transaction)."""
    numbers = importing.cached(lambda task_id: task_numbers.lookup(session, catalogue, task_id))
    if get_by_email(session, EXPERTS[0][0]) is None:
        _humans(session, coordinator, numbers, snapshot_store, now)
    query = select(ImportedRun.id).where(ImportedRun.run_id.startswith(RUN_PREFIX))
    if session.exec(query).first() is None:
        _agents(session, numbers, now)


def _raw(numbers, task_id: str, normalised: float) -> float:
    """The raw score a normalised one stands for: y_s + n (y_r - y_s)."""
    task = numbers(task_id)
    return round(task.y_s + normalised * (task.y_r - task.y_s), 4)


def _experts(session: Session, coordinator: User, now: datetime) -> list[User]:
    made = []
    for email, name, cents in EXPERTS:
        application = applications.submit(
            session,
            ApplicationCreate(
                name=name,
                email=email,
                # Never printed: nobody signs in as a sample expert.
                password=secrets.token_urlsafe(24),
                background="A sample expert of the demo's made-up data; never signs in.",
                links="",
                availability="Sample data",
                consent_time_tracking=True,
                consent_snapshots=True,
            ),
            now - timedelta(days=60),
        )
        applications.approve(session, application, coordinator, now - timedelta(days=59))
        expert = session.get(User, application.user_id)
        rates.set_rate(session, expert, cents, "USD", coordinator, now - timedelta(days=59),
                       effective_from=now - timedelta(days=59))  # fmt: skip
        made.append(expert)
    session.flush()
    return made


def _humans(session: Session, coordinator: User, numbers, store: Path, now: datetime) -> None:
    experts = _experts(session, coordinator, now)
    rng = random.Random(SEED)
    day = datetime.combine((now - timedelta(days=36)).date(), time(0), tzinfo=UTC)
    slot = 0
    for task_id, who in HUMANS.items():
        shape = TASKS[task_id]
        for index in who:
            entries, working = human_log(rng, shape)
            start = day + timedelta(days=slot, hours=9 + rng.randint(0, 2))
            slot += 2  # one run every other day, so no expert has two at once
            _human_run(session, experts[index], task_id, start, entries, working, numbers, store,
                       shape.last)  # fmt: skip


def _wall(start: datetime, working_s: float) -> datetime:
    """The moment a run starting at ``start`` reaches ``working_s`` with the lunch pause off."""
    at, length = LUNCH
    return start + timedelta(seconds=working_s + (length if working_s >= at else 0))


def _human_run(
    session: Session,
    expert: User,
    task_id: str,
    start: datetime,
    entries: list[Entry],
    working: float,
    numbers,
    store: Path,
    last: bool,
) -> None:
    best = final(entries, last)
    run = Run(
        expert_id=expert.id,
        environment=task_id,
        environment_version="sample",
        created_at=start,
        last_activity_at=_wall(start, working),
        time_limit_s=LIMIT_S,
        final_score=None if best is None else _raw(numbers, task_id, best),
        final_score_normalized=best,
    )
    session.add(run)
    session.flush()
    run_states.move(session, run, RunStatus.active, now=start, actor_id=expert.id)
    run_states.move(session, run, RunStatus.finished, reason=REASON, now=_wall(start, working))
    at, length = LUNCH
    session.add(
        Pause(
            run_id=run.id,
            started_at=start + timedelta(seconds=at),
            ended_at=start + timedelta(seconds=at + length),
            reason=PauseReason.idle,
        )
    )
    family = task_id.partition("/")[0]
    for seq, entry in enumerate(entries, start=1):
        tar = _snapshot(family, seq)
        sha = hashlib.sha256(tar).hexdigest()
        path = snapshots.path_for(store, sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tar)
        submitted = _wall(start, entry.elapsed_s)
        valid = entry.normalised is not None
        session.add(
            Checkpoint(
                run_id=run.id,
                seq=seq,
                source="submit" if seq == len(entries) else "cli",
                final=seq == len(entries),
                submitted_at=submitted,
                working_s=entry.elapsed_s,
                snapshot_sha256=sha,
                snapshot_bytes=len(tar),
                status=CheckpointStatus.scored if valid else CheckpointStatus.invalid,
                attempts=1,
                scored_at=submitted + timedelta(seconds=45),
                scoring_seconds=45.0,
                score=_raw(numbers, task_id, entry.normalised) if valid else None,
                score_normalized=entry.normalised,
                valid=valid,
                message={"note": "sample data"} if valid else {"error": _error(family)},
                details={"sample": True},
            )
        )
    session.flush()


def _error(family: str) -> str:
    return {
        "triton_cumsum": "wrong values at size 1000 (sample data)",
        "scaling_law": "FLOPs outside 0.9-1.1 C (sample data)",
    }.get(family, "the model did not load (sample data)")


def _snapshot(family: str, seq: int) -> bytes:
    """A small tar standing in for the task folder at checkpoint ``seq`` (the same bytes every
    time, so the snapshot store keeps one copy)."""
    files = {
        "SAMPLE.md": f"{LABEL}: a made-up checkpoint, not anyone's work.\n",
        FILES[family]: "".join(f"# attempt {n}\n" for n in range(1, seq + 1)),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _agents(session: Session, numbers, now: datetime) -> None:
    """The agents' runs as CSV files in our schema, raw scores only, imported as a file is."""
    rng = random.Random(SEED + 1)
    runs = [("run_id", "task_id", "agent", "started_at", "finished_at", "time_limit_s",
             "working_s", "status", "final_score", "cost_usd", "source")]  # fmt: skip
    log = [("run_id", "elapsed_s", "scored_at", "score", "valid", "message")]
    first = now - timedelta(days=30)
    n = 0
    for task_id, shape in TASKS.items():
        for agent in AGENTS:
            for _ in range(AGENT_RUNS.get(task_id, AGENT_RUNS_DEFAULT)):
                n += 1
                run_id = f"{RUN_PREFIX}{n:03d}"
                started = first + timedelta(hours=7 * n)
                entries = agent_log(rng, shape, agent)
                best = final(entries, shape.last)
                # Tokens for 8 hours: agent b's model costs more.
                cost = rng.uniform(8, 25) if agent == AGENTS[0] else rng.uniform(25, 70)
                finished = started + timedelta(seconds=LIMIT_S)
                runs.append((run_id, task_id, agent, started.isoformat(), finished.isoformat(),
                             LIMIT_S, LIMIT_S, "submitted",
                             "" if best is None else _raw(numbers, task_id, best),
                             f"{cost:.2f}", "csv"))  # fmt: skip
                for entry in entries:
                    at = (started + timedelta(seconds=entry.elapsed_s)).isoformat()
                    if entry.normalised is None:
                        error = json.dumps({"error": "the scorer rejected it (sample data)"})
                        log.append((run_id, entry.elapsed_s, at, "", "false", error))
                    else:
                        score = _raw(numbers, task_id, entry.normalised)
                        log.append((run_id, entry.elapsed_s, at, score, "true", ""))
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for name, rows in (("runs.csv", runs), ("score_log.csv", log)):
            path = Path(folder) / name
            with path.open("w", newline="") as out:
                csv.writer(out, lineterminator="\n").writerows(rows)
            files.append(path)
        importing.store(session, importing.read_files(*files), now, numbers)
