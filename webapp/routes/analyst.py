"""Analyst pages: the environment catalogue that score data will be grouped by."""

from fastapi import Request

from environments.catalogue import discover
from webapp.deps import AnalystUser, SettingsDep
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router(prefix="/analyst")


@router.get("")
def catalogue(request: Request, user: AnalystUser, settings: SettingsDep):
    return render(request, "environments.html", {"catalogue": discover(settings.environment_dirs)})
