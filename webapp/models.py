"""Every table module, imported once so SQLModel.metadata and Alembic see the whole schema."""

from analytics.imported import ImportedRun, ImportedScore
from baselines.applications import Application
from baselines.assignments import Assignment
from baselines.audit import AuditLog
from baselines.checkpoints import Checkpoint, Note
from baselines.model_usage import ModelUsage
from baselines.password_resets import PasswordReset
from baselines.run_tokens import RunToken
from baselines.runs import Lease, Run
from baselines.tokens import ApiToken
from baselines.users import User
from environments.calibrations import Calibration
from environments.task_settings import TaskSettings
from fleet.hosts import Host
from fleet.preparation import HostFamily
from payments.batches import PayoutBatch, PayoutLine
from payments.payout_accounts import PayoutAccount
from payments.rates import ExpertRate
from timetracking.activity import Activity
from timetracking.limits import LimitExtension
from timetracking.overrides import RunOverride
from timetracking.pauses import Pause
from timetracking.timesheets import Timesheet, TimesheetLine
from webapp.auth.throttle import LoginAttempt
from webapp.job_lease import JobLease

__all__ = [
    "Activity",
    "ApiToken",
    "Application",
    "Assignment",
    "AuditLog",
    "Calibration",
    "Checkpoint",
    "ExpertRate",
    "Host",
    "HostFamily",
    "ImportedRun",
    "ImportedScore",
    "JobLease",
    "Lease",
    "LimitExtension",
    "LoginAttempt",
    "ModelUsage",
    "Note",
    "PasswordReset",
    "Pause",
    "PayoutAccount",
    "PayoutBatch",
    "PayoutLine",
    "Run",
    "RunOverride",
    "RunToken",
    "TaskSettings",
    "Timesheet",
    "TimesheetLine",
    "User",
]
