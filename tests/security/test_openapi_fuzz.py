"""Every operation in /openapi.json, fuzzed by Schemathesis, never answers 5xx.

Bad input must get a 4xx with a JSON reason, whoever sends it: each generated request (valid
data, deliberately invalid data, unsupported methods) goes out three times, anonymously, with an
admin's API token (which every person-facing endpoint accepts) and with a live run's token (which
the `task` API accepts), so each operation is reached both past and short of its authentication.
Every refusal under /api/ must be JSON with a ``detail``; every success must match the response
schema the operation declares.

The objects the operations name exist (an active run whose task folder is a real folder on this
machine, a scored checkpoint, a timesheet, a payout batch), built directly in the database as the
route matrix builds them, so no workspace is started; a checkpoint taken through the API is a
real snapshot of that folder. Generation is derandomized and bounded, so a run is repeatable and
quick. Two inputs the fuzzer reaches only by luck (or only on PostgreSQL) have tests of their own
at the end.
"""

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlmodel import Session

from baselines import run_tokens, tokens
from baselines.checkpoints import Checkpoint, CheckpointStatus
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from fleet import hosts
from fleet.hosts import HostCreate, HostStatus
from payments import batches, rates
from payments.batches import Method
from tests.live_runs import PROBE_FAMILIES as FAMILIES
from timetracking import timesheets
from timetracking.pay_periods import PayCalendar
from timetracking.utc import utcnow
from webapp.app import create_app
from webapp.settings import Settings

ENVIRONMENT = "probe/main"  # a family on disk, so the task API can read its instructions
WEEK = date(2024, 1, 8)  # a Monday: the pay period of the timesheet and the payout batch
MAX_EXAMPLES = 40


def _spec() -> dict:
    """The app's OpenAPI document, read once at collection (it depends on no data)."""
    with tempfile.TemporaryDirectory(prefix="baseliner-spec-") as folder:
        settings = Settings(
            data_dir=Path(folder), database_url=f"sqlite:///{folder}/spec.db",
            secret_key="spec-only", scheduler=False, scoring_worker=False,
        )  # fmt: skip
        return create_app(settings, migrate=False).openapi()


schema = schemathesis.openapi.from_dict(_spec())


def _admin_token(engine, admin: User) -> str:
    with Session(engine) as s:
        _, plain = tokens.create(s, s.get(User, admin.id), "fuzz", utcnow(), admin.id)
        s.commit()
    return plain


def _live_run(engine, expert: User, home: Path) -> tuple[int, str]:
    """An active run on a local host record whose task folder is ``home``, with one scored
    checkpoint (seq 1); returns the run's id and token."""
    home.mkdir()
    (home / "solution.py").write_text("def answer():\n    return 0.25\n")
    with Session(engine) as s:
        host = hosts.add(s, HostCreate(name="local", driver="local"), "", None, utcnow())
        host.status, host.status_reason = HostStatus.ready, "ok"
        run = Run(
            expert_id=expert.id, environment=ENVIRONMENT, status=RunStatus.active,
            host_id=host.id, port=1, runtime_state={"home": str(home)},
            created_at=utcnow(), started_at=utcnow(),
        )  # fmt: skip
        s.add_all([host, run])
        s.flush()
        s.add(_checkpoint(run.id, 1, CheckpointStatus.scored))
        plain = run_tokens.issue(s, run.id, utcnow())
        s.commit()
        return run.id, plain


def _checkpoint(run_id: int, seq: int, status: CheckpointStatus) -> Checkpoint:
    scored = status == CheckpointStatus.scored
    return Checkpoint(
        run_id=run_id, seq=seq, source="cli", submitted_at=utcnow(), working_s=60.0 * seq,
        snapshot_sha256="0" * 64, status=status, score=0.25 if scored else None,
        valid=True if scored else None,
    )  # fmt: skip


def _paid_week(engine, expert: User, finance: User) -> None:
    """The expert's timesheet for WEEK (a two-hour run), approved, and a payout batch of it."""
    start = datetime.combine(WEEK + timedelta(days=1), datetime.min.time(), UTC)
    with Session(engine) as s:
        boss, person = s.get(User, finance.id), s.get(User, expert.id)
        since = datetime(2024, 1, 1, tzinfo=UTC)
        rates.set_rate(s, person, 6000, "USD", boss, utcnow(), effective_from=since)
        s.add(
            Run(
                expert_id=expert.id, environment=ENVIRONMENT, status=RunStatus.finished,
                created_at=start, started_at=start, finished_at=start + timedelta(hours=2),
            )
        )  # fmt: skip
        sheet = timesheets.sheet_for(s, expert.id, WEEK, PayCalendar(), utcnow())
        timesheets.submit(s, sheet, "", utcnow(), person)
        timesheets.approve(s, sheet, boss, utcnow())
        s.commit()
        batches.build(s, WEEK, Method.csv, boss, utcnow())
        s.commit()


@pytest.fixture
def settings(settings):
    settings.environment_dirs = str(FAMILIES)
    return settings


@pytest.fixture
def run(engine, make_user, tmp_path) -> tuple[int, str]:
    return _live_run(engine, make_user(Role.expert), tmp_path / "home")


@pytest.fixture
def callers(engine, make_user, run) -> dict[str, dict[str, str]]:
    """Each kind of caller's headers; the objects their requests may name exist."""
    run_id, run_token = run
    with Session(engine) as s:
        expert = s.get(User, s.get(Run, run_id).expert_id)
    _paid_week(engine, expert, make_user(Role.finance))
    return {
        "anonymous": {},
        "admin": {"Authorization": f"Bearer {_admin_token(engine, make_user(Role.admin))}"},
        "run": {"Authorization": f"Bearer {run_token}"},
    }


def _succeeded_as_declared(ctx, response, case) -> bool | None:
    """The declared response schema, for answers that claim success (refusals have their own
    shape, checked by ``_refusal_says_why``)."""
    if response.status_code >= 300:
        return None
    return response_schema_conformance(ctx, response, case)


def _refusal_says_why(ctx, response, case) -> bool | None:
    """A 4xx from the JSON API is JSON with a non-empty ``detail`` a script can show."""
    if not (400 <= response.status_code < 500 and case.path.startswith("/api/")):
        return None
    body = response.json()
    assert isinstance(body, dict) and body.get("detail"), f"{response.status_code}: {body!r}"
    return True


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_request_gets_a_server_error(case, app, callers):
    client = ASGIClient(app)  # the app's lifespan is not started: no background threads
    checks = [not_a_server_error, _succeeded_as_declared, _refusal_says_why]
    for headers in callers.values():
        response = case.call(session=client, headers=headers)
        case.validate_response(response, checks=checks)


def test_a_checkpoint_number_past_the_database_range_is_refused(client, run):
    """Checkpoint numbers are 32-bit in PostgreSQL: a larger one is invalid input (422), never
    a database error (500). The fuzzer found this on PostgreSQL."""
    _, token = run
    headers = {"Authorization": f"Bearer {token}"}
    for seq in (2**31, 0, -1):
        response = client.get(f"/api/v1/task/checkpoints/{seq}", headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["field"] == "seq"
    assert client.get("/api/v1/task/checkpoints/1", headers=headers).json()["score"] == 0.25


def test_waiting_for_a_queued_checkpoint_with_nan_is_refused_at_once(client, engine, run):
    """``wait=nan`` made the wait's deadline unreachable: a request for a queued checkpoint
    would never have been answered. Now it is invalid input; a real wait is still capped."""
    run_id, token = run
    with Session(engine) as s:
        s.add(_checkpoint(run_id, 2, CheckpointStatus.queued))
        s.commit()
    headers = {"Authorization": f"Bearer {token}"}
    for wait in ("nan", "NaN", "inf", "-inf"):
        response = client.get(f"/api/v1/task/checkpoints/2?wait={wait}", headers=headers)
        assert response.status_code == 422, (wait, response.text)
        assert response.json()["detail"][0]["field"] == "wait"
    queued = client.get("/api/v1/task/checkpoints/2?wait=0.3", headers=headers)
    assert (queued.status_code, queued.json()["status"]) == (200, "queued")
