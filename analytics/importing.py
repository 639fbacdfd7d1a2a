"""Importing runs and score logs: every row checked first, all problems reported with their line
numbers, and nothing written unless every row is good (one transaction, the caller's).

Importing is idempotent: a run is keyed by (source, run_id), so the same file imported again
replaces those runs and their score logs instead of adding copies. Tasks need not be installed
here; where a task's y_s and y_r are known (installed, or saved in the portal, or given to the
import), scores without a normalised value are normalised with them.
"""

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, select

from analytics import conditions, formats
from analytics.dataset import (
    BASELINER,
    HUMAN_RUN_PREFIX,
    RUN_COLUMNS,
    SCORE_LOG_COLUMNS,
)
from analytics.formats import KINDS
from analytics.imported import ImportedRun, ImportedScore
from analytics.task_numbers import TaskNumbers

MAX_PROBLEMS = 50
LIMITS = {"source": 32, "status": 64}  # text columns' lengths; every other one 200
REQUIRED_RUN = ("run_id", "task_id", "agent")
REQUIRED_ENTRY = ("run_id", "elapsed_s")
BAD = "__bad__"  # the cells of a row that could not be read
DEFAULT_SOURCE = "csv"


class ImportRejected(ValueError):
    """Rows that cannot be imported, one message each (with file and line); nothing was
    written."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:MAX_PROBLEMS]
        more = len(problems) - len(shown)
        text = "\n".join(shown) + (f"\n… and {more} more" if more > 0 else "")
        super().__init__(f"nothing imported; {len(problems)} problem(s):\n{text}")
        self.problems = problems


@dataclass
class Batch:
    """Rows ready to check and store, each with where it came from ("runs.csv line 3")."""

    runs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportResult:
    added: int
    replaced: int
    entries: int

    def __str__(self) -> str:
        return (
            f"imported {self.added + self.replaced} run(s) ({self.added} new, {self.replaced}"
            f" replaced) and {self.entries} score log entries"
        )


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text (a time without an offset is taken as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip())
    else:
        raise ValueError("not an ISO 8601 time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _coerce(kind: str, value: Any, json_text: bool = True) -> Any:
    """One cell as its column's type; ValueError says what is wrong. JSON columns are JSON text
    in CSV and Parquet (``json_text``), JSON values in JSONL."""
    if kind == "json":
        if json_text and isinstance(value, str):
            try:
                return None if value == "" else json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"is not JSON ({exc.msg})") from None
        return value
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None  # required columns are checked with the rows they belong to
    if kind in ("str", "text"):
        if not isinstance(value, str | int):
            raise ValueError("must be text")
        return str(value)
    if kind == "time":
        try:
            return parse_time(value)
        except ValueError:
            raise ValueError(f"is not an ISO 8601 time ({value!r})") from None
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        number = float(value) if isinstance(value, str) else value
        if not isinstance(number, int | float) or not float(number).is_integer():
            raise ValueError(f"must be a whole number ({value!r})")
        return int(number)
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number ({value!r})") from None
        if math.isinf(number):
            raise ValueError("must be finite")
        return None if math.isnan(number) else number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "t"):
            return True
        if text in ("false", "0", "no", "f"):
            return False
        raise ValueError(f"must be true or false ({value!r})")
    raise ValueError(f"unknown kind {kind}")


def typed_row(
    raw: dict[str, Any],
    columns: tuple[str, ...],
    where: str,
    problems: list[str],
    json_text: bool = True,
) -> dict[str, Any] | None:
    """A raw row (text cells or JSON values) as a dataset row; None if it is not a row at all.
    Cells that cannot be read are recorded in ``problems`` and left None."""
    if "__error__" in raw:
        problems.append(f"{where}: {raw['__error__']}")
        return None
    unknown = sorted(k for k in raw if k not in columns)
    if unknown:
        problems.append(f"{where}: unknown column(s) {', '.join(map(str, unknown))}")
        return None
    row: dict[str, Any] = {}
    bad: set[str] = set()
    for name in columns:
        value = raw.get(name)
        try:
            row[name] = _coerce(KINDS[name], value, json_text)
        except (ValueError, TypeError) as exc:
            problems.append(f"{where}: {name} {exc}")
            row[name] = None
            bad.add(name)
            continue
        if isinstance(row[name], str) and len(row[name]) > LIMITS.get(name, 200):
            problems.append(f"{where}: {name} is longer than {LIMITS.get(name, 200)} characters")
            bad.add(name)
    # A row with a bad cell is still checked against the others (so every problem is listed
    # at once); the problem already recorded keeps it from being stored.
    row[BAD] = bad
    return row


def read_files(
    runs_path: str | Path, score_log_path: str | Path | None, fmt: str | None = None
) -> Batch:
    """Our own schema (CSV, JSONL or Parquet, by extension unless ``fmt`` is given)."""
    batch = Batch()
    for path, columns, target in (
        (runs_path, RUN_COLUMNS, batch.runs),
        (score_log_path, SCORE_LOG_COLUMNS, batch.entries),
    ):
        if path is None:
            continue
        name = Path(path).name
        kind = formats.format_of(path, fmt)
        for line, raw in formats.read(path, fmt):
            where = f"{name} {'row' if kind == 'parquet' else 'line'} {line}"
            row = typed_row(raw, columns, where, batch.problems, json_text=kind != "jsonl")
            if row is not None:
                target.append((where, row))
    return batch


def _check_and_fill(
    session: Session, batch: Batch, numbers: Callable[[str], TaskNumbers]
) -> list[str]:
    """Cross-row checks, and the values the files may leave out. Returns the problems."""
    problems = list(batch.problems)
    # A run's condition, where its file leaves it out: that of its last valid entry.
    said: dict[Any, str] = {}
    for _, entry in batch.entries:
        valid = entry.get("valid") is not False and entry.get("score") is not None
        if entry.get("condition") and valid:
            said[entry.get("run_id")] = entry["condition"]
    seen: dict[tuple[str, str], str] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for where, run in batch.runs:
        for name in REQUIRED_RUN:
            if run.get(name) in (None, "") and name not in run.get(BAD, ()):
                problems.append(f"{where}: {name} is missing")
        if run.get("run_id") is None or run.get("task_id") is None:
            continue
        run["source"] = run.get("source") or DEFAULT_SOURCE
        key = (run["source"], run["run_id"])
        if key in seen:
            problems.append(f"{where}: run_id {run['run_id']} appears again (first at {seen[key]})")
            continue
        if run["run_id"] in by_id:
            problems.append(f"{where}: run_id {run['run_id']} appears again with another source")
            continue
        seen[key] = where
        by_id[run["run_id"]] = run
        if run["source"] != BASELINER and run["run_id"].startswith(HUMAN_RUN_PREFIX):
            problems.append(
                f"{where}: run ids starting {HUMAN_RUN_PREFIX!r} belong to source 'baseliner'"
            )
        if "/" not in run["task_id"]:
            problems.append(f"{where}: task_id must be '<family>/<task>' (is {run['task_id']!r})")
            continue
        run["task_family"] = run.get("task_family") or run["task_id"].partition("/")[0]
        for name in ("working_s", "time_limit_s", "cost_usd"):
            if run.get(name) is not None and run[name] < 0:
                problems.append(f"{where}: {name} is negative")
        started, finished = run.get("started_at"), run.get("finished_at")
        if started and finished and finished < started:
            problems.append(f"{where}: finished_at is before started_at")
        run["condition"] = run.get("condition") or said.get(run["run_id"])
        task = numbers(conditions.label(run["task_id"], run["condition"]))
        if run.get("final_score_normalized") is None and run.get("final_score") is not None:
            run["final_score_normalized"] = task.normalise(run["final_score"])
    # The same run_id under another source already stored would make the dataset ambiguous.
    if by_id:
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            query = select(ImportedRun.run_id, ImportedRun.source).where(
                ImportedRun.run_id.in_(ids[start : start + 500])
            )
            for run_id, source in session.exec(query):
                if source != by_id[run_id]["source"]:
                    problems.append(
                        f"run_id {run_id} is already imported from source {source!r};"
                        " run ids must be unique across sources"
                    )
    for where, entry in batch.entries:
        for name in REQUIRED_ENTRY:
            if entry.get(name) is None and name not in entry.get(BAD, ()):
                problems.append(f"{where}: {name} is missing")
        run = by_id.get(entry.get("run_id"))
        if entry.get("run_id") is not None and run is None:
            problems.append(f"{where}: run_id {entry['run_id']} is not in the runs file")
            continue
        if run is None:
            continue
        for name in ("task_id", "agent"):
            if entry.get(name) not in (None, run[name]):
                problems.append(f"{where}: {name} {entry[name]!r} differs from the run's")
        if entry.get("elapsed_s") is not None and entry["elapsed_s"] < 0:
            problems.append(f"{where}: elapsed_s is negative")
        if entry.get("valid") is None:
            entry["valid"] = entry.get("score") is not None
        if entry["valid"] and entry.get("score") is None and "score" not in entry.get(BAD, ()):
            problems.append(f"{where}: a valid entry needs a score")
        entry["condition"] = entry.get("condition") or run.get("condition")
        if entry["valid"] and entry.get("score_normalized") is None:
            entry["score_normalized"] = numbers(
                conditions.label(run["task_id"], entry["condition"])
            ).normalise(entry["score"])
    return _in_file_order(problems)


def _in_file_order(problems: list[str]) -> list[str]:
    """Problems sorted by file (in the order files first appear) and line."""
    files: dict[str, int] = {}

    def key(problem: str) -> tuple[int, int]:
        match = re.match(r"(.+?) (?:line|row|item|sample) (\d+)", problem)
        if match is None:
            return (len(problems), 0)
        return (files.setdefault(match.group(1), len(files)), int(match.group(2)))

    return sorted(problems, key=key)


def store(
    session: Session,
    batch: Batch,
    now: datetime,
    numbers: Callable[[str], TaskNumbers] = lambda task_id: TaskNumbers(),
) -> ImportResult:
    """Check the batch and write it in the session's transaction (the caller commits); raises
    ImportRejected, having written nothing, if any row is bad."""
    problems = _check_and_fill(session, batch, numbers)
    if problems:
        raise ImportRejected(problems)
    runs = [run for _, run in batch.runs]
    existing: dict[tuple[str, str], ImportedRun] = {}
    for source in {r["source"] for r in runs}:
        ids = [r["run_id"] for r in runs if r["source"] == source]
        for start in range(0, len(ids), 500):
            query = select(ImportedRun).where(
                ImportedRun.source == source, ImportedRun.run_id.in_(ids[start : start + 500])
            )
            for row in session.exec(query):
                existing[(row.source, row.run_id)] = row
    if existing:
        pks = [row.id for row in existing.values()]
        for start in range(0, len(pks), 500):
            session.execute(
                delete(ImportedScore).where(ImportedScore.run_pk.in_(pks[start : start + 500]))
            )
    stored: dict[str, ImportedRun] = {}
    for run in runs:
        row = existing.get((run["source"], run["run_id"])) or ImportedRun(imported_at=now)
        for name in RUN_COLUMNS:
            setattr(row, name, run.get(name))
        row.imported_at = now
        session.add(row)
        stored[run["run_id"]] = row
    session.flush()
    seqs: dict[str, int] = {}
    scores = []
    for _, entry in batch.entries:
        run_id = entry["run_id"]
        seqs[run_id] = seqs.get(run_id, -1) + 1
        scores.append(
            ImportedScore(
                run_pk=stored[run_id].id,
                seq=seqs[run_id],
                elapsed_s=entry["elapsed_s"],
                scored_at=entry.get("scored_at"),
                score=entry.get("score"),
                score_normalized=entry.get("score_normalized"),
                valid=bool(entry["valid"]),
                message=entry.get("message"),
                details=entry.get("details"),
                condition=entry.get("condition"),
            )
        )
    session.add_all(scores)
    session.flush()
    return ImportResult(
        added=len(runs) - len(existing), replaced=len(existing), entries=len(scores)
    )


def numbers_with(
    lookup: Callable[[str], TaskNumbers], y_s: float | None = None, y_r: float | None = None
) -> Callable[[str], TaskNumbers]:
    """``lookup``, with y_s and y_r given for the import in place of the task's own."""
    if y_s is None and y_r is None:
        return lookup
    if y_s is None or y_r is None or y_s == y_r:
        raise ValueError("give both y_s and y_r, and make them differ")

    def numbers(task_id: str) -> TaskNumbers:
        known = lookup(task_id)
        return TaskNumbers(y_s, y_r, known.aggregation, known.installed)

    return numbers


def cached(lookup: Callable[[str], TaskNumbers]) -> Callable[[str], TaskNumbers]:
    """``lookup`` asked once per task."""
    memo: dict[str, TaskNumbers] = {}

    def numbers(task_id: str) -> TaskNumbers:
        if task_id not in memo:
            memo[task_id] = lookup(task_id)
        return memo[task_id]

    return numbers


def batch_of(
    runs: Iterable[tuple[str, dict[str, Any]]], entries: Iterable[tuple[str, dict[str, Any]]]
) -> Batch:
    """A batch from rows another reader made (Vivaria, Inspect), each checked for the columns'
    types like a file's row; JSON columns hold JSON values."""
    batch = Batch()
    for values, columns, target in (
        (runs, RUN_COLUMNS, batch.runs),
        (entries, SCORE_LOG_COLUMNS, batch.entries),
    ):
        for where, raw in values:
            row = typed_row(raw, columns, where, batch.problems, json_text=False)
            if row is not None:
                target.append((where, row))
    return batch
