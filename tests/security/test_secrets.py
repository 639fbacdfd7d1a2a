"""Passwords, tokens and keys never reach the logs, the exports, the audit log or a table.

One real flow through the app (TestClient), with every log record captured at DEBUG (root, our
loggers, uvicorn, Stripe's client, httpx, SQLAlchemy's statements and parameters): an admin makes
a staff account and its set-password link, which is used; wrong and right passwords are tried;
an applicant applies, is approved, makes an API token, uses it and changes the password; a run's
token is used by the ``task`` API (and a wrong one tried); a coordinator makes a reset link; the
expert onboards with Stripe (the stand-in, tests/stripe_standin.py, with keys made for this test)
and signed webhooks arrive (and a forged one); finance pays a batch through Stripe and downloads
its CSVs (page and API); an analyst downloads every table in every format (page and API); the
admin reads the audit log. Then no secret value (the session secret, Stripe's secret key and
webhook secret, every password, set-password and API and run token, CSRF token and session
cookie) may appear in any log record, in any download (Parquet read back as well as raw), on the
audit log page, or in any row of any table (tokens and passwords are stored as hashes only);
and those hashes appear neither in the audit log nor in any download.

uvicorn's access log, which TestClient does not write, is covered with the real ``baseliner
serve`` by tests/webapp/test_json_logs.py (set-password links are the only secrets that travel in
an address).
"""

import io
import logging
import re
import secrets
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import Session, select

from baselines import applications, run_tokens
from baselines.users import Role, User
from payments import batches, payout_accounts
from payments.batches import Method
from tests.conftest import CSRF_RE, PASSWORD, csrf_token, post_form
from tests.security.records import file_member, live_run, scored_checkpoint, tar_of
from tests.stripe_standin import StripeStandIn
from tests.webapp.test_route_matrix import snapshot
from tests.webapp.test_stripe_payouts import WEEK, _approved_sheet
from timetracking.utc import utcnow

LOGGERS = ("", "baseliner", "webapp", "uvicorn", "uvicorn.access", "uvicorn.error", "stripe",
           "httpx", "httpx2", "httpcore", "urllib3", "sqlalchemy.engine", "multipart",
           "fastapi")  # fmt: skip
HASHES = [("users", "password_hash"), ("api_tokens", "token_hash"), ("run_tokens", "token_hash"),
          ("password_resets", "token_hash")]  # fmt: skip
LINK = re.compile(r'value="https?://[^"]+/reset/([^"]+)"')
NEW_TOKEN = re.compile(r'value="(bl_[^"]+)"')


class Secrets:
    """Every secret value the flow made or sent, by what it is."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, what: str, value: str) -> str:
        assert len(value) >= 8, what
        self.values[what] = value
        return value

    def found_in(self, text: str | bytes, where: str) -> list[str]:
        data = text.encode() if isinstance(text, str) else text
        return [f"{what} in {where}" for what, v in self.values.items() if v.encode() in data]


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    key, hook = "sk_test_" + secrets.token_hex(16), "whsec_" + secrets.token_hex(16)
    with StripeStandIn(api_key=key, webhook_secret=hook, hang_s=1.0) as server:
        server.set_balance("usd", 1_000_000)
        yield server


@pytest.fixture
def settings(settings, standin):
    settings.secret_key = SecretStr("session-" + secrets.token_hex(24))
    settings.stripe_secret_key = SecretStr(standin.api_key)
    settings.stripe_webhook_secret = SecretStr(standin.webhook_secret)
    settings.stripe_api_base = standin.url
    return settings


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record at DEBUG, from loggers that propagate and from those that don't."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    loggers = [logging.getLogger(name) for name in LOGGERS if name]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    yield caplog
    for logger in loggers:
        logger.removeHandler(caplog.handler)


def _record_text(record: logging.LogRecord) -> str:
    """All a handler could write of a record: message, exception, stack and extra fields."""
    formatter = logging.Formatter("%(message)s")
    return formatter.format(record) + "\n" + repr(record.__dict__)


class Flow:
    """The browsers of one flow, what they downloaded, and the secrets they made or sent."""

    def __init__(self, app, engine, settings, standin: StripeStandIn) -> None:
        self.app, self.engine, self.settings, self.standin = app, engine, settings, standin
        self.kept = Secrets()
        self.downloads: dict[str, bytes] = {}
        self.clients: list[TestClient] = []

    def browser(self) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        client.__enter__()
        self.clients.append(client)
        return client

    def sign_in(self, client: TestClient, email: str, password: str, status: int = 303) -> None:
        token = self.kept.add(f"CSRF token {len(self.kept.values)}", csrf_token(client))
        form = {"email": email, "password": password, "csrf_token": token}
        assert client.post("/login", data=form).status_code == status
        if status == 303:
            self.kept.add(f"session cookie of {email}", client.cookies["baseliner_session"])

    def make_token(self, client: TestClient, who: str) -> str:
        response = post_form(client, "/account/tokens", {"name": "script"}, "/account")
        return self.kept.add(f"{who}'s API token", NEW_TOKEN.search(response.text).group(1))

    def download(self, client: TestClient, url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.text[:300])
        self.downloads[url] = response.content

    def sign_out_all(self) -> None:
        for client in self.clients:  # those signed in sign out (the page has the form)
            if signed_in := CSRF_RE.search(client.get("/").text):
                assert client.post("/logout", data={"csrf_token": signed_in.group(1)}).is_redirect

    def close(self) -> None:
        for client in self.clients:
            client.__exit__(None, None, None)


def _new_staff(flow: Flow, admin: User) -> tuple[TestClient, str]:
    """An admin makes a finance account; its set-password link is used; a near miss, then the
    right password; an API token. The finance browser and that token."""
    boss = flow.browser()
    flow.sign_in(boss, admin.email, PASSWORD)
    form = {"email": "fin@example.org", "name": "Fin Ance", "role": "finance"}
    made = post_form(boss, "/admin/users", form, "/admin/users")
    link = flow.kept.add("set-password link", LINK.search(made.text).group(1))
    finance = flow.browser()
    assert finance.get(f"/reset/{link}").status_code == 200
    password = flow.kept.add("finance's password", "fin " + secrets.token_hex(12))
    form = {"password": password, "password2": password}
    assert post_form(finance, f"/reset/{link}", form, "/login").status_code == 303
    flow.sign_in(finance, "fin@example.org", flow.kept.add("a near miss", password + "!"), 400)
    flow.sign_in(finance, "fin@example.org", password)
    return finance, flow.make_token(finance, "finance")


def _new_expert(flow: Flow, coordinator: User) -> tuple[TestClient, User]:
    """An applicant applies and is approved, makes and uses an API token (a wrong one too),
    changes the password; a coordinator makes a reset link for them, opened but not used."""
    expert = flow.browser()
    first = flow.kept.add("expert's password", "exp " + secrets.token_hex(12))
    form = {
        "name": "Ada Applicant", "email": "ada@example.org", "password": first,
        "background": "Twelve years of compilers and GPU kernels.", "links": "",
        "availability": "weekends", "consent_time_tracking": "on", "consent_snapshots": "on",
    }  # fmt: skip
    assert post_form(expert, "/apply", form, "/apply").status_code == 303
    with Session(flow.engine) as s:
        ada = s.exec(select(User).where(User.email == "ada@example.org")).one()
        application = applications.for_user(s, ada.id)
        s.expunge(ada)
    staff = flow.browser()
    flow.sign_in(staff, coordinator.email, PASSWORD)
    approve = f"/coordinator/applications/{application.id}/approve"
    form = {"rate": "60", "currency": "USD"}
    assert post_form(staff, approve, form, "/coordinator/applications").status_code == 303
    for token, status in (
        (flow.make_token(expert, "expert"), 200),
        (flow.kept.add("a wrong API token", "bl_" + secrets.token_urlsafe(32)), 401),
    ):
        response = expert.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status
    second = flow.kept.add("expert's new password", "exp2 " + secrets.token_hex(12))
    form = {"current": first, "password": second, "password2": second}
    assert post_form(expert, "/account/password", form, "/account").status_code == 303
    made = post_form(staff, f"/coordinator/experts/{ada.id}/reset-link", {}, "/coordinator/experts")
    link = flow.kept.add("expert's set-password link", LINK.search(made.text).group(1))
    assert flow.browser().get(f"/reset/{link}").status_code == 200
    return expert, ada


def _task_api(flow: Flow, expert: TestClient, ada: User) -> None:
    """The ``task`` command's calls with the run's token, and one with a wrong token."""
    run_id = live_run(flow.engine, ada.id, port=1)
    for seq in (1, 2):
        tar = tar_of([file_member("./notes.md", f"attempt {seq}\n")])
        scored_checkpoint(flow.engine, flow.settings.data_dir, run_id, seq, tar, 0.4 * seq)
    with Session(flow.engine) as s:
        token = flow.kept.add("run token", run_tokens.issue(s, run_id, utcnow()))
        s.commit()
    wrong = flow.kept.add("a wrong run token", token[:-6] + "abcdef")
    calls = [("GET", "/api/v1/task/status", None, token, 200),
             ("POST", "/api/v1/task/notes", {"text": "tiling"}, token, 201),
             ("GET", "/api/v1/task/log", None, token, 200),
             ("GET", "/api/v1/task/status", None, wrong, 401)]  # fmt: skip
    for method, url, body, bearer, status in calls:
        headers = {"Authorization": f"Bearer {bearer}"}
        assert expert.request(method, url, json=body, headers=headers).status_code == status


def _stripe_payout(flow: Flow, expert: TestClient, ada: User, finance: TestClient, token: str):
    """The expert onboards; Stripe's signed webhooks arrive, and a forged one; a batch is paid by
    transfer; its CSVs are downloaded from the page and the API."""
    assert post_form(expert, "/account/stripe/onboard", {}, "/account").status_code == 303
    with Session(flow.engine) as s:
        account = payout_accounts.for_expert(s, ada.id).stripe_account_id
    deliveries = flow.standin.complete_onboarding(account, times=2)
    hooks = [(d.payload, d.signature, 200) for d in deliveries]
    hooks.append((b'{"id": "evt_1"}', "t=1,v1=" + "0" * 64, 400))
    for payload, signature, status in hooks:
        headers = {"Stripe-Signature": signature}
        response = flow.browser().post("/webhooks/stripe", content=payload, headers=headers)
        assert response.status_code == status
    with Session(flow.engine) as s:
        boss = s.exec(select(User).where(User.email == "fin@example.org")).one()
        s.expunge(boss)
    _approved_sheet(flow.engine, ada, boss, hours=2)
    with Session(flow.engine) as s:
        batch, _ = batches.build(s, WEEK, Method.stripe, s.get(User, boss.id), utcnow())
        batches.approve(s, batch, s.get(User, boss.id), utcnow())
        page = f"/finance/payouts/{batch.id}"
        api = f"/api/v1/payouts/{batch.id}"
    assert post_form(finance, f"{page}/pay", {}, page).status_code == 303
    assert flow.standin.transfers, "the batch was paid through Stripe"
    for kind in ("batch", "detail"):
        flow.download(finance, f"{page}/{kind}.csv")
        flow.download(finance, f"{api}/{kind}.csv", token)


def _analyst_downloads(flow: Flow, analyst: User) -> None:
    """Every table in every format, from the page and the API, and the summary."""
    reader = flow.browser()
    flow.sign_in(reader, analyst.email, PASSWORD)
    token = flow.make_token(reader, "analyst")
    for table in ("runs", "score-log"):
        for fmt in ("csv", "parquet", "jsonl"):
            flow.download(reader, f"/analyst/data/{table}.{fmt}")
            flow.download(reader, f"/api/v1/analytics/{table}?format={fmt}", token)
    flow.download(reader, "/analyst/summary.csv")


def _leaks(flow: Flow, records: list[logging.LogRecord]) -> list[str]:
    kept, found = flow.kept, []
    for record in records:
        # The test's own browser saying what it asked for, not the app's log (Starlette's
        # TestClient logs through httpx, or httpx2 where that is installed, as tokenizers'
        # huggingface_hub brings it).
        if record.name in ("httpx", "httpx2") and "http://testserver/" in record.getMessage():
            continue
        found += kept.found_in(_record_text(record), f"log record {record.name}:{record.lineno}")
    for url, body in flow.downloads.items():
        found += kept.found_in(body, url)
        if url.endswith("parquet"):
            found += kept.found_in(str(pq.read_table(io.BytesIO(body)).to_pylist()), url)
    tables = snapshot(flow.engine)
    assert tables["audit_log"], "the flow wrote audit rows"
    for name, rows in tables.items():
        found += kept.found_in(repr(rows), f"table {name}")
    # Nor the hashes: the audit log is read by admins, the exports by analysts.
    hashes = Secrets()
    with flow.engine.connect() as conn:
        for table, column in HASHES:
            for (value,) in conn.execute(text(f"SELECT {column} FROM {table}")):
                hashes.add(f"a hash from {table}", value)
    found += hashes.found_in(repr(tables["audit_log"]), "table audit_log")
    for url, body in flow.downloads.items():
        found += hashes.found_in(body, url)
    return found


def test_no_secret_reaches_logs_exports_or_the_audit_log(
    app, engine, make_user, settings, standin, all_logs
) -> None:
    flow = Flow(app, engine, settings, standin)
    flow.kept.add("session secret", settings.session_secret)
    flow.kept.add("Stripe secret key", standin.api_key)
    flow.kept.add("Stripe webhook secret", standin.webhook_secret)
    flow.kept.add("the fixture password", PASSWORD)
    admin, coordinator, analyst = (
        make_user(r) for r in (Role.admin, Role.coordinator, Role.analyst)
    )
    try:
        finance, finance_token = _new_staff(flow, admin)
        expert, ada = _new_expert(flow, coordinator)
        _task_api(flow, expert, ada)
        _stripe_payout(flow, expert, ada, finance, finance_token)
        _analyst_downloads(flow, analyst)
        boss = flow.browser()
        flow.sign_in(boss, admin.email, PASSWORD)
        flow.download(boss, "/admin/audit")
        flow.sign_out_all()
    finally:
        flow.close()
    assert len(flow.kept.values) >= 20 and len(flow.downloads) >= 17
    records = all_logs.records
    assert any(r.name.startswith("sqlalchemy.engine") for r in records), "not capturing at DEBUG"
    assert any(r.name == "stripe" for r in records), "not capturing Stripe's client"
    found = _leaks(flow, records)
    assert not found, "\n".join(sorted(set(found)))
