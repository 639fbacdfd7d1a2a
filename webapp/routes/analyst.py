"""Analyst pages: the environment catalogue that score data will be grouped by (read only)."""

from fastapi import Request

from environments.catalogue import discover
from webapp.deps import AnalystUser, SessionDep, SettingsDep
from webapp.routes import pages_router
from webapp.routes.environments import rows
from webapp.templating import render

router = pages_router(prefix="/analyst")


@router.get("")
def catalogue(request: Request, user: AnalystUser, session: SessionDep, settings: SettingsDep):
    found = discover(settings.environment_dirs)
    context = {"catalogue": found, "rows": rows(session, found), "links": False}
    return render(request, "environments.html", context)
