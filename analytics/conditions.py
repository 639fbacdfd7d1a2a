"""Scoring conditions in the analyses: a task scored under two conditions (two models) is two
entries, never one pool. An entry is named by its task and, where one is set, its condition:
``rust_scaffolding/main [model: gpt-4o]``; a task id never holds " [", so the name splits back."""

from typing import Any

OPEN, CLOSE = " [", "]"


def label(task_id: str, condition: str | None) -> str:
    """The entry's name: the task, and the condition in brackets where one is set."""
    return f"{task_id}{OPEN}{condition}{CLOSE}" if condition else task_id


def split(name: str) -> tuple[str, str]:
    """(task_id, condition) of an entry's name; condition "" for none."""
    task_id, found, rest = name.partition(OPEN)
    if found and rest.endswith(CLOSE):
        return task_id, rest[: -len(CLOSE)]
    return name, ""


def of(row: dict[str, Any]) -> str:
    """A dataset row's condition ("" for none)."""
    return row.get("condition") or ""


def subject(row: dict[str, Any]) -> str:
    """The entry a dataset run (or score-log entry) belongs to."""
    return label(row["task_id"], of(row))
