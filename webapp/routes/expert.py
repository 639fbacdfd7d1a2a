"""The expert's dashboard: where their application stands and what they are assigned."""

from fastapi import Request

from baselines import applications
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
            # Assignments arrive with the environments issue; until then an expert has none.
            "assignments": [],
        },
    )
