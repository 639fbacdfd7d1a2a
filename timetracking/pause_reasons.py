"""What each pause reason means, in one table (as Vivaria's pause.ts): the clock, the idle
rule, scoring, the portal's pages and the `task` command's status all read it here.

- ``holds_idle``: while it is open no idle pause is needed on top (nobody is expected at work);
- ``blocks_scoring``: while it is open no checkpoint is taken (the limit's own final one aside);
- ``expert_lifts``: the expert's Resume (portal button or ``task resume``) ends it;
- ``label``: the word pages show ("paused (manual)");
- ``words``: what it means to the expert (``task status``).
"""

from dataclasses import dataclass

from timetracking.pauses import PauseReason


@dataclass(frozen=True)
class Meaning:
    holds_idle: bool
    blocks_scoring: bool
    expert_lifts: bool
    label: str
    words: str


R = PauseReason
MEANINGS: dict[PauseReason, Meaning] = {
    R.manual: Meaning(True, True, True, "manual", "you paused it; `task resume` starts it again"),
    R.idle: Meaning(True, True, False, "idle", "no activity for a while; it starts again when you work"),  # noqa: E501
    R.scoring: Meaning(False, False, False, "scoring", "a checkpoint is being scored"),
    R.override: Meaning(False, True, False, "override", "a coordinator paused it"),
    R.limit: Meaning(True, True, False, "limit", "the time limit is reached"),
    R.lost: Meaning(True, True, False, "lost", "the workspace was lost; restart it from the run page in the portal"),  # noqa: E501
}  # fmt: skip


def meaning(reason: str) -> Meaning:
    return MEANINGS[PauseReason(reason)]


def holding_idle() -> tuple[PauseReason, ...]:
    return tuple(r for r, m in MEANINGS.items() if m.holds_idle)


def blocking_scoring(reasons: list[PauseReason]) -> list[PauseReason]:
    """Those of ``reasons`` that keep a checkpoint from being taken now."""
    return [r for r in reasons if meaning(r).blocks_scoring]


def expert_lifted() -> tuple[PauseReason, ...]:
    return tuple(r for r, m in MEANINGS.items() if m.expert_lifts)


def labels(reasons) -> list[str]:
    return [meaning(r).label for r in reasons]


def words(reasons) -> list[str]:
    return [meaning(r).words for r in reasons]
