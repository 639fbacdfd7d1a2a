"""Finance pages: who is paid what per hour."""

from fastapi import Request

from baselines import applications
from payments import rates
from webapp.deps import FinanceUser, SessionDep
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router(prefix="/finance")


@router.get("")
def experts_and_rates(request: Request, user: FinanceUser, session: SessionDep):
    return render(
        request,
        "finance/rates.html",
        {"rows": applications.experts(session), "rates": rates.current_rates(session)},
    )
