"""Finance pages: who is paid what per hour."""

from fastapi import Request
from sqlmodel import select

from baselines.applications import Application
from baselines.users import Role, User
from payments import rates
from webapp.deps import FinanceUser, SessionDep
from webapp.routes import pages_router
from webapp.templating import render

router = pages_router(prefix="/finance")


@router.get("")
def experts_and_rates(request: Request, user: FinanceUser, session: SessionDep):
    query = (
        select(User, Application)
        .join(Application, Application.user_id == User.id, isouter=True)
        .where(User.role == Role.expert)
        .order_by(User.name)
    )
    return render(
        request,
        "finance/rates.html",
        {"rows": session.exec(query).all(), "rates": rates.current_rates(session)},
    )
