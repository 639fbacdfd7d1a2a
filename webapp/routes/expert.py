"""The expert's dashboard: where their application stands and what they are assigned."""

from fastapi import Request

from baselines import applications, assignments, runs
from payments.rates import current_rate
from webapp.deps import ExpertUser, SessionDep
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router()


@router.get("/dashboard")
def dashboard(request: Request, user: ExpertUser, session: SessionDep):
    return render(
        request,
        "expert/dashboard.html",
        {
            "application": applications.for_user(session, user.id),
            "rate": current_rate(session, user.id),
            "assignments": assignments.for_expert(session, user.id),
            "live_runs": {r.assignment_id: r for r in runs.live_for_expert(session, user.id)},
        },
    )
