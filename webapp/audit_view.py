"""The audit log as people read it: each entry's change as ``field: old → new`` lines, its object
named in words with a link to where it lives, and the filters the page offers.

The stored rows keep their JSON (the API returns it as is); this is only how the page shows it.
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from baselines.audit import AuditLog
from webapp.templating import hms

# What each table's row is called on the page, and where it can be looked at (None: nowhere).
OBJECTS: dict[str, tuple[str, str | None]] = {
    "runs": ("run", "/runs/{id}"),
    "applications": ("application", "/coordinator/applications/{id}"),
    "timesheets": ("timesheet", "/timesheets/{id}"),
    "payout_batches": ("payout batch", "/finance/payouts/{id}"),
    "payout_lines": ("payout line", None),
    "users": ("account", "/admin/users"),
    "hosts": ("host", "/coordinator/hosts"),
    "assignments": ("assignment", "/coordinator/assignments"),
    "expert_rates": ("rate", "/finance"),
    "task_settings": ("environment settings", "/coordinator/environments"),
    "api_tokens": ("API token", None),
    "password_resets": ("set-password link", None),
    "payout_accounts": ("payout account", None),
}
LONG = 300  # characters of a value shown before it is cut (the full value is in its title)


@dataclass(frozen=True)
class Change:
    """One field of an entry: ``before`` None when the field is new, ``after`` None when it went;
    both equal when it is context kept with the change (a reason, an email)."""

    field: str
    before: str | None
    after: str | None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "set"
        if self.after is None:
            return "removed"
        return "same" if self.before == self.after else "changed"


def show(key: str, value: Any) -> str:
    """One value in words: money in units, seconds as H:MM:SS, yes/no, JSON only for nested
    values."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and key.endswith("_cents"):
        return f"{value / 100:,.2f}"
    if isinstance(value, int | float) and key.endswith("_s"):
        return hms(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return str(value)


def label(key: str) -> str:
    """A field's name in words; the unit suffixes go, as the value shows its unit."""
    for suffix in ("_cents", "_s"):
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key.removesuffix(suffix)
    return key.replace("_", " ")


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """Every field either side names, in the order they were written (before's first)."""
    before, after = before or {}, after or {}
    keys = list(dict.fromkeys([*before, *after]))
    return [
        Change(
            field=label(key),
            before=show(key, before[key]) if key in before else None,
            after=show(key, after[key]) if key in after else None,
        )
        for key in keys
    ]


def object_name(object_type: str) -> str:
    return OBJECTS.get(object_type, (label(object_type), None))[0]


def object_link(object_type: str, object_id: str) -> str | None:
    """Where the object can be looked at: its own page, its list, or None."""
    path = OBJECTS.get(object_type, ("", None))[1]
    if path is None or "{id}" not in path:
        return path
    return path.format(id=object_id) if object_id.isdigit() else None


def choices(session: Session) -> dict[str, list[str]]:
    """What the filters can be set to: the actions and object kinds the log holds."""
    actions = sorted(session.exec(select(AuditLog.action).distinct()).all())
    prefixes = sorted({a.split(".")[0] + "." for a in actions if "." in a})
    kinds = sorted(session.exec(select(AuditLog.object_type).distinct()).all())
    return {"actions": [*prefixes, *actions], "objects": kinds}
