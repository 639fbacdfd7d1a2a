"""What a timesheet is worth, on the expert's and finance's pages (issue 17): the rate, hours and
amount in integer cents shown as money, and the state through to "paid on <date>" with the
payout's reference; approving a timesheet or a payout batch needs a confirmation that states
the total, and nothing is approved without it (exactly once with it)."""

import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlmodel import Session

from baselines import tokens
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from payments import batches, paying, rates
from payments.amounts import amount_cents
from payments.batches import Method, PayoutBatch
from tests.conftest import csrf_token, fixed_now, login
from timetracking import timesheets
from timetracking.pauses import Pause, PauseReason
from timetracking.pay_periods import PayCalendar
from timetracking.timesheets import Timesheet, TimesheetStatus

WEEK = date(2026, 11, 16)
MONDAY = datetime(2026, 11, 16, 9, tzinfo=UTC)
NOW = MONDAY + timedelta(days=9)
WORKED = 3 * 3600 - 20 * 60  # 2:40:00
AMOUNT = amount_cents(WORKED, 6250)  # 2.6667 h at 62.50 = 166.67


class _ById(HTMLParser):
    """Collects the text inside the element with one id (its descendants' text included)."""

    VOID = {"br", "input", "img", "hr", "meta", "link"}

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id, self.depth, self.parts, self.found = element_id, 0, [], False

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            if self.depth and tag == "br":
                self.parts.append(" ")
            return
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.element_id and not self.found:
            self.depth, self.found = 1, True

    def handle_endtag(self, tag):
        if self.depth and tag not in self.VOID:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def _text(html: str, element_id: str) -> str:
    """The visible text of the element with ``element_id``, spaces squeezed."""
    parser = _ById(element_id)
    parser.feed(html)
    assert parser.found, f"no #{element_id}"
    return " ".join("".join(parser.parts).split())


@pytest.fixture
def week(app, engine, make_user):
    """Ada's week of 16 November: one run of 3 h less 20 idle minutes, at 62.50 EUR an hour."""
    fixed_now(app, NOW)
    expert = make_user(Role.expert, name="Ada Expert")
    boss = make_user(Role.finance, name="Fin Ance")
    with Session(engine) as s:
        ada = s.get(User, expert.id)
        rates.set_rate(s, ada, 6250, "EUR", s.get(User, boss.id), MONDAY - timedelta(days=30),
                       effective_from=MONDAY - timedelta(days=30))  # fmt: skip
        end = MONDAY + timedelta(hours=3)
        run = Run(expert_id=ada.id, environment="triton_cumsum/main", status=RunStatus.finished,
                  created_at=MONDAY, started_at=MONDAY, finished_at=end)  # fmt: skip
        s.add(run)
        s.flush()
        idle = MONDAY + timedelta(hours=1)
        s.add(Pause(run_id=run.id, started_at=idle, ended_at=idle + timedelta(minutes=20),
                    reason=PauseReason.idle))  # fmt: skip
        sheet = timesheets.sheet_for(s, ada.id, WEEK, PayCalendar(), MONDAY)
        s.commit()
        return expert, boss, sheet.id


def _submit(engine, expert, sheet_id):
    with Session(engine) as s:
        sheet = s.get(Timesheet, sheet_id)
        timesheets.submit(s, sheet, "", NOW, s.get(User, expert.id))
        s.commit()


def _approve(client, sheet_id, **form):
    token = csrf_token(client, f"/timesheets/{sheet_id}")
    return client.post(f"/review/timesheets/{sheet_id}/approve", data={**form, "csrf_token": token})


def _status(engine, sheet_id) -> str:
    with Session(engine) as s:
        return s.get(Timesheet, sheet_id).status


def test_the_expert_sees_rate_hours_amount_and_state_through_to_paid(app, client, engine, week):
    expert, boss, sheet_id = week
    login(client, expert)
    page = client.get(f"/timesheets/{sheet_id}").text
    assert _text(page, "pay-rate") == "62.50 EUR/h"
    assert _text(page, "working-total") == "2:40:00 (2.67 h)"
    assert _text(page, "pay-amount").startswith("166.67 EUR (at today's rate; fixed when")
    assert _text(page, "pay-state") == "open not submitted yet"
    row = client.get("/timesheets").text
    assert "166.67 EUR" in row and "estimate" in row

    _submit(engine, expert, sheet_id)
    assert _text(client.get(f"/timesheets/{sheet_id}").text, "pay-state") == (
        "submitted waiting for approval"
    )
    with Session(engine) as s:
        timesheets.approve(s, s.get(Timesheet, sheet_id), s.get(User, boss.id), NOW)
        s.commit()
    page = client.get(f"/timesheets/{sheet_id}").text
    assert _text(page, "pay-amount") == "166.67 EUR"  # fixed now: no estimate
    assert _text(page, "pay-state") == "approved paid with the next payout"

    with Session(engine) as s:
        batch, _ = batches.build(s, WEEK, Method.csv, s.get(User, boss.id), NOW)
        assert _text(client.get(f"/timesheets/{sheet_id}").text, "pay-state") == (
            "being paid in a payout batch"
        )
        batches.approve(s, batch, s.get(User, boss.id), NOW)
        paying.mark_paid(s, batch, "SEPA-2026-47", s.get(User, boss.id), NOW + timedelta(hours=2))
    page = client.get(f"/timesheets/{sheet_id}").text
    assert _text(page, "pay-amount") == "166.67 EUR"
    state = _text(page, "pay-state")
    assert state.startswith("paid on 2026-11-25 11:00") and state.endswith("reference SEPA-2026-47")
    listed = client.get("/timesheets").text
    assert "SEPA-2026-47" in listed and "166.67 EUR" in listed and AMOUNT == 16667
    with Session(engine) as s:
        _, plain = tokens.create(s, s.get(User, expert.id), "script", NOW, expert.id)
        s.commit()
    data = client.get(
        f"/api/v1/timesheets/{sheet_id}", headers={"Authorization": f"Bearer {plain}"}
    ).json()
    assert {k: data[k] for k in ("amount_cents", "currency", "amount_final", "payment",
                                 "paid_at", "payout_reference")} == {
        "amount_cents": 16667, "currency": "EUR", "amount_final": True, "payment": "paid",
        "paid_at": "2026-11-25T11:00:00Z", "payout_reference": "SEPA-2026-47",
    }  # fmt: skip


def test_finance_reviews_amounts_and_the_total(client, engine, week, make_user):
    expert, boss, sheet_id = week
    other = make_user(Role.expert, name="Bo Unrated")
    with Session(engine) as s:
        bo = s.get(User, other.id)
        start = MONDAY + timedelta(days=1)
        end = start + timedelta(hours=1)
        s.add(Run(expert_id=bo.id, environment="triton_cumsum/main", status=RunStatus.finished,
                  created_at=start, started_at=start, finished_at=end))  # fmt: skip
        bo_sheet = timesheets.sheet_for(s, bo.id, WEEK, PayCalendar(), MONDAY)
        s.commit()
        timesheets.submit(s, bo_sheet, "", NOW, bo)
        s.commit()
    _submit(engine, expert, sheet_id)
    login(client, boss)
    page = client.get("/review/timesheets").text
    assert "166.67 EUR" in page and "62.50 EUR/h" in page
    assert _text(page, "review-sum") == "166.67 EUR and 1 without a rate"
    assert "Waiting for approval: 2 timesheets" in page
    assert "set a rate" in page


def test_approving_needs_the_confirmation_and_happens_once(client, engine, week):
    expert, boss, sheet_id = week
    _submit(engine, expert, sheet_id)
    login(client, boss)
    page = client.get(f"/timesheets/{sheet_id}").text
    assert _text(page, "confirm-text") == (
        "I approve Ada Expert's 2:40:00 of working time (2.67 h) for 2026-11-16 to 2026-11-22:"
        " 166.67 EUR at 62.50 EUR/h."
    )
    assert 'name="expected" value="16667 EUR"' in page

    refused = _approve(client, sheet_id, expected="16667 EUR")
    assert refused.status_code == 400
    assert 'id="confirm-error">Tick the box to confirm what you approve' in refused.text
    assert _status(engine, sheet_id) == TimesheetStatus.submitted

    # A rate set after the page was shown changes the amount: refused, with the new amount.
    with Session(engine) as s:
        rates.set_rate(s, s.get(User, expert.id), 7000, "EUR", s.get(User, boss.id), NOW,
                       effective_from=MONDAY - timedelta(days=1))  # fmt: skip
        s.commit()
    stale = _approve(client, sheet_id, confirm="yes", expected="16667 EUR")
    assert stale.status_code == 400 and "The amount changed" in stale.text
    assert "186.67 EUR" in _text(stale.text, "confirm-text")
    assert _status(engine, sheet_id) == TimesheetStatus.submitted

    done = _approve(client, sheet_id, confirm="yes", expected="18667 EUR")
    assert done.status_code == 303
    assert _status(engine, sheet_id) == TimesheetStatus.approved
    again = _approve(client, sheet_id, confirm="yes", expected="18667 EUR")
    assert again.status_code == 409
    with Session(engine) as s:
        assert s.get(Timesheet, sheet_id).decided_at == NOW


def test_approving_a_batch_needs_the_confirmation_with_its_total(client, engine, week):
    expert, boss, sheet_id = week
    _submit(engine, expert, sheet_id)
    with Session(engine) as s:
        timesheets.approve(s, s.get(Timesheet, sheet_id), s.get(User, boss.id), NOW)
        s.commit()
        batch, _ = batches.build(s, WEEK, Method.csv, s.get(User, boss.id), NOW)
        batch_id = batch.id
    login(client, boss)
    url = f"/finance/payouts/{batch_id}"
    page = client.get(url).text
    assert _text(page, "confirm-text") == (
        "I approve paying 1 timesheet of the period from 2026-11-16, 166.67 EUR in total,"
        " by a bank run from the CSV."
    )
    token = csrf_token(client, url)
    refused = client.post(f"{url}/approve", data={"csrf_token": token})
    assert refused.status_code == 400 and 'id="confirm-error">Tick the box' in refused.text
    with Session(engine) as s:
        assert s.get(PayoutBatch, batch_id).status == "draft"
    done = client.post(f"{url}/approve", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 303
    again = client.post(f"{url}/approve", data={"csrf_token": token, "confirm": "yes"})
    assert again.status_code == 409
    with Session(engine) as s:
        assert s.get(PayoutBatch, batch_id).status == "approved"


def _second_sheet(engine, make_user) -> int:
    """Bo's week: one hour, no rate set, submitted."""
    other = make_user(Role.expert, name="Bo Unrated")
    with Session(engine) as s:
        bo = s.get(User, other.id)
        start = MONDAY + timedelta(days=1)
        end = start + timedelta(hours=1)
        s.add(Run(expert_id=bo.id, environment="triton_cumsum/main", status=RunStatus.finished,
                  created_at=start, started_at=start, finished_at=end))  # fmt: skip
        sheet = timesheets.sheet_for(s, bo.id, WEEK, PayCalendar(), MONDAY)
        s.commit()
        timesheets.submit(s, sheet, "", NOW, bo)
        s.commit()
        return sheet.id


def _choose(client, ids, **form):
    token = csrf_token(client, "/review/timesheets")
    data = {"sheet": [str(i) for i in ids], **form, "csrf_token": token}
    return client.post("/review/timesheets/approve", data=data)


def test_approving_chosen_sheets_states_the_total_and_takes_all_or_none(
    client, engine, week, make_user
):
    expert, boss, sheet_id = week
    _submit(engine, expert, sheet_id)
    bo_id = _second_sheet(engine, make_user)
    login(client, boss)

    nothing = _choose(client, [])
    assert nothing.status_code == 400 and "Choose the timesheets to approve" in nothing.text

    page = _choose(client, [sheet_id, bo_id, sheet_id])  # a repeat counts once
    assert page.status_code == 200
    assert _text(page.text, "confirm-text") == (
        "I approve these 2 timesheets: 3:40:00 of working time, 166.67 EUR in total"
        " (1 without a rate yet, paid once one is set)."
    )
    shown = re.search(r'name="shown" value="([^"]+)"', page.text).group(1)
    assert shown == f"{sheet_id}=16667 EUR,{bo_id}=unpriced"
    assert _status(engine, sheet_id) == _status(engine, bo_id) == TimesheetStatus.submitted

    unticked = _choose(client, [sheet_id, bo_id], step="confirm", shown=shown)
    assert unticked.status_code == 400 and 'id="confirm-error">Tick the box' in unticked.text
    stale = _choose(client, [sheet_id, bo_id], step="confirm", shown="1=1 EUR", confirm="yes")
    assert stale.status_code == 400 and "An amount changed" in stale.text
    assert _status(engine, sheet_id) == _status(engine, bo_id) == TimesheetStatus.submitted

    # Someone approves Bo's sheet meanwhile: nothing of this choice is approved.
    with Session(engine) as s:
        timesheets.approve(s, s.get(Timesheet, bo_id), s.get(User, boss.id), NOW)
        s.commit()
    raced = _choose(client, [sheet_id, bo_id], step="confirm", shown=shown, confirm="yes")
    assert raced.status_code == 409 and "Decided meanwhile, so left out" in raced.text
    assert _status(engine, sheet_id) == TimesheetStatus.submitted

    shown = f"{sheet_id}=16667 EUR"
    done = _choose(client, [sheet_id], step="confirm", shown=shown, confirm="yes")
    assert done.status_code == 303 and done.headers["location"] == "/review/timesheets"
    assert "Approved 1 timesheet, 166.67 EUR in total." in client.get("/review/timesheets").text
    assert _status(engine, sheet_id) == TimesheetStatus.approved
    again = _choose(client, [sheet_id], step="confirm", shown=shown, confirm="yes")
    assert again.status_code == 409
