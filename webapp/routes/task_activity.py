"""Activity from the workspace's editor extension (fleet/editor_extension), under /api/v1/task.

The extension posts at most once a minute while a person edits, uses a terminal or brings the
IDE to the front; code-server's own heartbeat counts open tabs, not work, so it never drives pay.
The answer is the run's clock, which the extension shows in the status bar and warns from;
``GET /clock`` reads the same clock without counting as work (the status bar's refresh), so the
editor and the portal show one working time from one source (timetracking.clock.read).
"""

from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from baselines.runs import OPEN
from timetracking import activity, clock
from webapp.deps import NowDep, SessionDep
from webapp.routes.task_api import TokenRun

router = APIRouter(prefix="/api/v1/task", tags=["task"])
SOURCE = "extension"


class ActivityIn(BaseModel):
    # What the person did; all count the same towards the clock, the kind is for reading logs.
    kind: Literal["edit", "terminal", "focus"]


@router.post("/activity")
def report_activity(body: ActivityIn, run: TokenRun, session: SessionDep, now: NowDep) -> dict:
    """Record that the run's expert is working now (ending an idle pause); answer the clock."""
    if run.status not in OPEN:
        raise HTTPException(status_code=410, detail=f"This run has ended ({run.status}).")
    activity.record(session, run.id, now, SOURCE)
    return {"recorded": True, "status": run.status, **clock.read(session, run, now).as_json()}


@router.get("/clock")
def read_clock(run: TokenRun, session: SessionDep, now: NowDep) -> dict:
    """The run's clock as the portal's run page reads it (``/runs/<id>/clock``); reading it is
    not activity, so an open editor that nobody uses does not keep the clock running."""
    return {"run_id": run.id, "status": run.status, **clock.read(session, run, now).as_json()}
