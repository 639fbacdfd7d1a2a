"""Every table module, imported once so SQLModel.metadata and Alembic see the whole schema."""

from baselines.applications import Application
from baselines.audit import AuditLog
from baselines.password_resets import PasswordReset
from baselines.tokens import ApiToken
from baselines.users import User
from payments.rates import ExpertRate
from webapp.auth.throttle import LoginAttempt

__all__ = [
    "ApiToken",
    "Application",
    "AuditLog",
    "ExpertRate",
    "LoginAttempt",
    "PasswordReset",
    "User",
]
