"""What a run's stored reason means to its expert: the one place that turns a technical failure
into words for the expert (what happened, what to do).

``Run.status_reason`` keeps the full technical reason (a host's shell error, a tar message, a
unix user clash): coordinators read it on the run page and the live-workspaces list, and the
log has it. The expert gets :func:`for_expert` instead, which never repeats a technical reason:
a reason it does not recognise becomes a generic "a problem on the platform's side" message.
"""

import re
from dataclasses import dataclass

from baselines.runs import Run, RunStatus

ASK = "Your coordinator can see the details; ask them if it happens again."


@dataclass(frozen=True)
class Notice:
    """A run's reason in the expert's words: ``what`` happened and what to ``do`` next."""

    what: str
    do: str = ""
    # True when the stored reason was technical and is held back from the expert.
    replaced: bool = True

    @property
    def text(self) -> str:
        return f"{self.what} {self.do}".strip()


# Start failures (fleet.workspaces._reason, fleet.allocation.place, fleet.workspaces.INTERRUPTED):
# the first pattern that matches the stored reason wins; a failed start does not use one of the
# assignment's runs (baselines.assignments.counts), so Start is always offered again.
START_AGAIN = "Start again from your dashboard: a start that failed does not use up a run."
FAILED: tuple[tuple[re.Pattern[str], Notice], ...] = (
    (
        re.compile(r"^No ready host has"),
        Notice(
            "Every machine was busy, so your workspace could not be prepared.",
            f"Wait a few minutes, then {START_AGAIN[0].lower()}{START_AGAIN[1:]}",
        ),
    ),
    (
        re.compile(r"^The start was interrupted"),
        Notice("The platform restarted while your workspace was being prepared.", START_AGAIN),
    ),
    (
        re.compile(r"did not start within"),
        Notice(
            "VS Code took too long to start on the machine (it may have been busy).",
            f"Wait a minute, then {START_AGAIN[0].lower()}{START_AGAIN[1:]}",
        ),
    ),
    (
        re.compile(r"Another program answers on the IDE's port"),
        Notice("VS Code could not be reached on the machine it was started on.", START_AGAIN),
    ),
)
FAILED_OTHER = Notice(
    "Your workspace could not be prepared because of a problem on the platform's side; it is"
    " nothing you did.",
    "Your coordinator can see what went wrong: ask them before you start again.",
)

# Reasons a run ends with that are already meant for the expert (baselines.checkpointing.end_run's
# callers): shown as they are. Anything else on an ended run is summed up.
ENDED_AS_IS = re.compile(
    r"^(Stopped by [^.]{1,200}\.|The time limit was reached\.|Submitted by the expert\.)"
)


def for_expert(run: Run) -> Notice | None:
    """The run's state in the expert's words, or None when there is nothing to say."""
    reason = run.status_reason.strip()
    if run.status == RunStatus.failed:
        for pattern, notice in FAILED:
            if pattern.search(reason):
                return notice
        return FAILED_OTHER
    if run.status == RunStatus.active and run.lost_at is not None:
        what = "Your workspace was lost: the machine it ran on no longer has it."
        if "restarting it failed" in reason:
            return Notice(
                f"{what} Restarting it failed as well.",
                "Try the restart again in a few minutes; if it fails again, ask your coordinator.",
            )
        return Notice(what, "", replaced=bool(reason))
    if run.status == RunStatus.active and reason:
        if reason.startswith("Restarting your workspace from"):
            return Notice(reason, replaced=False)
        if reason.startswith("Restarting the IDE failed"):
            return Notice(
                "Restarting the IDE failed.",
                f"Your files are untouched. Try Restart IDE again in a minute. {ASK}",
            )
        return Notice("Something went wrong with your workspace.", ASK)
    if run.status in (RunStatus.finished, RunStatus.stopping):
        found = ENDED_AS_IS.match(reason)
        if found:
            said = found.group(1)
            if said == "Stopped by the expert.":
                said = "You stopped it."
            elif said == "Submitted by the expert.":
                said = "You submitted your final checkpoint."
            if "nothing to archive" in reason:  # fleet.workspaces.stop of a lost workspace
                said += (
                    " The workspace had been lost, so there was nothing to archive; the"
                    " checkpoints' snapshots are kept."
                )
            return Notice(said, replaced=said != reason)
        return Notice("", replaced=bool(reason)) if reason else None
    return None


def expert_text(run: Run) -> str:
    """The one line an expert may read about the run (the IDE's refusal, a flash)."""
    notice = for_expert(run)
    return notice.text if notice else ""
