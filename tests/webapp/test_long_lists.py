"""Every long list pages: walking a list's pages (as a page and as JSON) shows every row exactly
once, in one stable order where rows tie on the sort columns, with links that keep the filters;
a bad page parameter gets a clear answer (a page that says so, or a 4xx naming it), never a 500.

Rows are inserted straight into the database, several sharing names, times and periods, so only
the id as tie-breaker keeps the order stable; ``per_page=3`` makes seven rows three pages."""

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from baselines import tokens
from baselines.applications import Application, ApplicationStatus
from baselines.assignments import Assignment
from baselines.audit import AuditLog
from baselines.runs import Run, RunStatus
from baselines.users import Role, User
from payments.batches import Method, PayoutBatch
from tests.conftest import login
from timetracking.timesheets import Timesheet, TimesheetStatus

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NAMES = ("Ann", "Bob", "Ann", "Cy", "Bob", "Ann", "Dee")  # ties on purpose
NEXT_LINK = re.compile(r'<a href="([^"]+)" rel="next">')


@dataclass
class Seeded:
    """The ids each list must show, in the order it must show them (worked out here, in
    Python, from the rows as inserted)."""

    applications: list[int]
    experts: list[int]
    accounts: list[int]
    assignments: list[int]
    live_runs: list[int]
    ended_runs: list[int]
    timesheets: list[int]
    batches: list[int]
    audit: list[int]


def seed(engine, admin: User) -> Seeded:
    with Session(engine) as s:
        experts = [
            User(
                email=f"pager{i}@example.org",
                name=name,
                role=Role.expert,
                password_hash="",
                created_at=T0,
            )
            for i, name in enumerate(NAMES)
        ]
        s.add_all(experts)
        s.flush()
        apps = [
            Application(
                user_id=e.id,
                background="x" * 20,
                availability="any",
                consent_time_tracking=True,
                consent_snapshots=True,
                submitted_at=T0 + timedelta(minutes=i // 2),  # pairs share a time
                status=ApplicationStatus.approved if i % 3 else ApplicationStatus.pending,
            )
            for i, e in enumerate(experts)
        ]
        assignments = [
            Assignment(expert_id=e.id, environment="triton_cumsum/main", created_at=T0)
            for e in experts
        ]
        ended = [
            Run(
                expert_id=e.id,
                environment="triton_cumsum/main",
                created_at=T0,
                status=RunStatus.finished if i % 2 else RunStatus.failed,
                finished_at=T0,
            )
            for i, e in enumerate(experts)
        ]
        live = [
            Run(
                expert_id=e.id,
                environment="triton_cumsum/main",
                created_at=T0,
                status=RunStatus.active if i % 2 else RunStatus.provisioning,
            )
            for i, e in enumerate(experts[:4])
        ]
        sheets = [
            Timesheet(
                expert_id=e.id,
                period_start=date(2026, 11, 2 if i % 2 else 9),
                period_end=date(2026, 11, 9 if i % 2 else 16),
                created_at=T0,
                status=TimesheetStatus.submitted,
                submitted_at=T0,
                working_s=3600 * (i + 1),
            )
            for i, e in enumerate(experts)
        ]
        batches = [
            PayoutBatch(
                period_start=date(2026, 11, 2),
                period_end=date(2026, 11, 9),
                method=Method.csv,
                created_by_id=admin.id,
                created_at=T0,
            )
            for _ in range(7)
        ]
        audit = [
            AuditLog(
                at=T0 + timedelta(seconds=i // 3),
                actor_id=admin.id,
                action=f"pager.{i}",
                object_type="users",
                object_id=str(i),
            )
            for i in range(7)
        ]
        s.add_all([*apps, *assignments, *ended, *live, *sheets, *batches, *audit])
        s.commit()
        names = {e.id: e.name for e in experts}
        users = s.exec(select(User)).all()
        return Seeded(
            applications=_newest_first(apps, "submitted_at"),
            experts=[e.id for e in sorted(experts, key=lambda e: (e.name, e.id))],
            accounts=[u.id for u in sorted(users, key=lambda u: (str(u.role), u.name, u.id))],
            assignments=sorted((a.id for a in assignments), reverse=True),
            live_runs=sorted(r.id for r in live),
            ended_runs=sorted((r.id for r in ended), reverse=True),
            timesheets=[
                t.id
                for t in sorted(
                    sheets, key=lambda t: (-t.period_start.toordinal(), names[t.expert_id], t.id)
                )
            ],
            batches=sorted((b.id for b in batches), reverse=True),
            audit=_newest_first(audit, "at"),
        )


def _newest_first(rows: list, column: str) -> list[int]:
    return [r.id for r in sorted(rows, key=lambda r: (-getattr(r, column).timestamp(), -r.id))]


@dataclass
class PageList:
    """A list page: its address with a filter, and how one of its rows shows its id."""

    address: str
    row: str  # the row's id attribute, with (\d+) for the id
    expected: Callable[[Seeded], list[int]]
    kept: str = ""  # a filter that every Previous/Next link must keep


PAGES = {
    "applications": PageList(
        "/coordinator/applications?status=all",
        r'id="application-(\d+)"',
        lambda s: s.applications,
        "status=all",
    ),
    "experts": PageList("/coordinator/experts", r'id="expert-(\d+)"', lambda s: s.experts),
    "rates": PageList("/finance", r'id="rate-(\d+)"', lambda s: s.experts),
    "accounts": PageList("/admin/users", r'id="account-(\d+)"', lambda s: s.accounts),
    "assignments": PageList(
        "/coordinator/assignments", r'id="assignment-(\d+)"', lambda s: s.assignments
    ),
    "ended runs": PageList("/coordinator/runs", r'id="ended-run-(\d+)"', lambda s: s.ended_runs),
    "review": PageList(
        "/review/timesheets?status=submitted",
        r'id="timesheet-(\d+)"',
        lambda s: s.timesheets,
        "status=submitted",
    ),
    "payouts": PageList("/finance/payouts", r'id="batch-(\d+)"', lambda s: s.batches),
    "audit": PageList(
        "/admin/audit?action=pager.&actor=",
        r'id="audit-(\d+)"',
        lambda s: s.audit,
        "action=pager.",
    ),
}


@dataclass
class ApiList:
    address: str
    expected: Callable[[Seeded], list[int]]


APIS = {
    "applications": ApiList("/api/v1/applications?status=all", lambda s: s.applications),
    "experts": ApiList("/api/v1/experts", lambda s: s.experts),
    "assignments": ApiList("/api/v1/assignments", lambda s: s.assignments),
    "live runs": ApiList("/api/v1/runs?status=live", lambda s: s.live_runs),
    "ended runs": ApiList("/api/v1/runs?status=ended", lambda s: s.ended_runs),
    "timesheets": ApiList("/api/v1/timesheets?status=submitted", lambda s: s.timesheets),
    "payouts": ApiList("/api/v1/payouts", lambda s: s.batches),
    "audit": ApiList("/api/v1/audit?action=pager.", lambda s: s.audit),
}


@pytest.fixture
def world(client, engine, make_user):
    admin = make_user(Role.admin)
    seeded = seed(engine, admin)
    login(client, admin)
    with Session(engine) as s:
        _, plain = tokens.create(s, s.get(User, admin.id), "pager", T0, admin.id)
        s.commit()
    return client, seeded, {"Authorization": f"Bearer {plain}"}


def _walk_pages(client, address: str, row: str, kept: str, prefix: str = "") -> list[int]:
    """Every row id met following Next from the first page (3 rows a page)."""
    seen: list[int] = []
    url = f"{address}{'&' if '?' in address else '?'}{prefix}per_page=3"
    for number in range(1, 100):
        response = client.get(url)
        assert response.status_code == 200, (url, response.text[:300])
        ids = [int(i) for i in re.findall(row, response.text)]
        assert ids, url
        # The pager under this list's rows (the runs page has one under each of its lists).
        after = response.text[re.search(row, response.text).end() :]
        found = re.search(r"Rows (\d+)\u2013(\d+) of (\d+)", after)
        assert found, url
        first, last, total = map(int, found.groups())
        assert (first, last) == (len(seen) + 1, len(seen) + len(ids))
        seen += ids
        # This list's Next (the runs page has two lists, each with its own Next).
        pattern = re.compile(rf"(^|[?&]){prefix}page={number + 1}(&|$)")
        links = [html.unescape(u) for u in NEXT_LINK.findall(response.text)]
        ours = [u for u in links if pattern.search(u)]
        if not ours:
            assert len(seen) == total
            return seen
        assert kept in ours[0] and f"{prefix}per_page=3" in ours[0]
        url = ours[0]
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("name", list(PAGES))
def test_walking_a_page_list_shows_every_row_once_in_a_stable_order(world, name):
    client, seeded, _ = world
    case = PAGES[name]
    expected = case.expected(seeded)
    seen = _walk_pages(client, case.address, case.row, case.kept)
    assert seen == expected  # every row, once, in the order the sort and the id give
    # A second walk gives the very same order (nothing depends on the database's whim).
    assert _walk_pages(client, case.address, case.row, case.kept) == expected


def test_the_runs_page_pages_live_and_ended_runs_apart(world):
    client, seeded, _ = world
    live = _walk_pages(client, "/coordinator/runs", r'id="live-run-(\d+)"', "", prefix="live_")
    assert live == seeded.live_runs
    # The ended list's links keep the live list's page, and the other way round.
    page = client.get("/coordinator/runs?live_per_page=3&live_page=2&per_page=3").text
    nexts = [html.unescape(u) for u in NEXT_LINK.findall(page)]
    assert any("live_page=2" in u and "page=2" in u for u in nexts), nexts


@pytest.mark.parametrize("name", list(APIS))
def test_walking_a_json_list_shows_every_row_once(world, name):
    client, seeded, headers = world
    case = APIS[name]
    url, seen, pages = f"{case.address}{'&' if '?' in case.address else '?'}per_page=3", [], 0
    while url:
        body = client.get(url, headers=headers).json()
        pages += 1
        assert set(body) == {"items", "total", "page", "per_page", "pages", "next", "previous"}
        assert body["page"] == pages and body["per_page"] == 3
        assert (body["previous"] is None) == (pages == 1)
        seen += [item["id"] for item in body["items"]]
        url = body["next"]
        if url:
            assert case.address.split("?", 1)[-1] in url or "?" not in case.address
    expected = case.expected(seeded)
    assert seen == expected and body["total"] == len(expected)
    assert pages == body["pages"] == -(-len(expected) // 3)


def test_json_lists_are_documented_in_openapi(client):
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/applications",
        "/api/v1/experts",
        "/api/v1/assignments",
        "/api/v1/runs",
        "/api/v1/timesheets",
        "/api/v1/payouts",
        "/api/v1/audit",
    ):
        operation = spec["paths"][path]["get"]
        params = {p["name"]: p for p in operation["parameters"]}
        assert params["page"]["schema"]["minimum"] == 1
        assert params["per_page"]["schema"]["maximum"] == 200
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        shape = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert {"items", "total", "next", "previous", "pages"} <= set(shape["properties"])


BAD_PAGES = {
    "abc": "'abc' is not a page number; this is page 1.",
    "-1": "'-1' is not a page number; this is page 1.",
    "0": "'0' is not a page number; this is page 1.",
    "1.5": "'1.5' is not a page number; this is page 1.",
    "99": "There is no page 99; this is the last page, 3.",
    "99999999999999999999999": "is not a page number",
}


@pytest.mark.parametrize("name", list(PAGES))
def test_a_bad_page_shows_a_page_that_says_so(world, name):
    client, seeded, _ = world
    case = PAGES[name]
    join = "&" if "?" in case.address else "?"
    for value, message in BAD_PAGES.items():
        response = client.get(f"{case.address}{join}per_page=3&page={value}")
        assert response.status_code == 200, (value, response.status_code)
        assert message in html.unescape(response.text), value
        ids = [int(i) for i in re.findall(case.row, response.text)]
        expected = case.expected(seeded)
        assert ids == (expected[6:] if value == "99" else expected[:3]), value
    for value in ("0", "abc", "100000"):
        response = client.get(f"{case.address}{join}per_page={value}")
        assert response.status_code == 200
        assert "Rows a page must be 1 to 200" in response.text


@pytest.mark.parametrize("name", list(APIS))
def test_a_bad_page_gets_a_4xx_that_names_it(world, name):
    client, _, headers = world
    address = APIS[name].address
    join = "&" if "?" in address else "?"
    for value in ("abc", "-1", "0", "1.5", "99999999999999999999999", str(2**31)):
        response = client.get(f"{address}{join}page={value}", headers=headers)
        assert response.status_code == 422, (value, response.text)
        assert response.json()["detail"][0]["field"] == "page"
    for value in ("0", "abc", "201"):
        response = client.get(f"{address}{join}per_page={value}", headers=headers)
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "per_page"
    response = client.get(f"{address}{join}per_page=3&page=4", headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "page" and body["detail"].startswith("There is no page 4:")


def test_an_empty_list_is_one_empty_page(client, make_user):
    admin = make_user(Role.admin)
    login(client, admin)
    page = client.get("/finance/payouts?page=5")
    assert page.status_code == 200
    _, plain = _token(client, admin)
    body = client.get("/api/v1/payouts", headers={"Authorization": f"Bearer {plain}"}).json()
    assert body == {
        "items": [],
        "total": 0,
        "page": 1,
        "per_page": 50,
        "pages": 1,
        "next": None,
        "previous": None,
    }
    refused = client.get("/api/v1/payouts?page=2", headers={"Authorization": f"Bearer {plain}"})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "There is no page 2: no rows at 50 a page make 1 page."


def test_bad_filters_get_a_4xx(world):
    client, _, headers = world
    for address in (
        "/api/v1/applications?status=maybe",
        "/api/v1/runs?status=sleeping",
        "/api/v1/timesheets?status=late",
    ):
        response = client.get(address, headers=headers)
        assert response.status_code == 422 and response.json()["detail"][0]["field"] == "status"
    # LIKE's wildcards are plain characters here; a NUL (which PostgreSQL refuses) is dropped.
    for action in ("%25", "_", "pager%25"):
        response = client.get(f"/api/v1/audit?action={action}", headers=headers)
        assert response.status_code == 200 and response.json()["total"] == 0
        assert client.get(f"/admin/audit?action={action}").status_code == 200
    response = client.get("/api/v1/audit?action=pager.%00&actor=%00", headers=headers)
    assert response.status_code == 200 and response.json()["total"] == 7
    assert client.get("/admin/audit?action=%00").status_code == 200


def _token(client, user: User) -> tuple[int, str]:
    engine = client.app.state.engine
    with Session(engine) as s:
        row, plain = tokens.create(s, s.get(User, user.id), "pager", T0, user.id)
        s.commit()
        return row.id, plain


def test_an_expert_pages_through_their_own_timesheets(client, engine, make_user):
    expert, other = make_user(Role.expert), make_user(Role.expert)
    with Session(engine) as s:
        for owner in (expert, other):
            for week in range(7):
                start = date(2026, 1, 5) + timedelta(weeks=week)
                s.add(
                    Timesheet(expert_id=owner.id, period_start=start, created_at=T0,
                              period_end=start + timedelta(days=7))
                )  # fmt: skip
        s.commit()
    login(client, expert)
    client.get("/timesheets")  # makes the current period's sheet
    with Session(engine) as s:
        mine = s.exec(select(Timesheet).where(Timesheet.expert_id == expert.id)).all()
        expected = [t.id for t in sorted(mine, key=lambda t: t.period_start, reverse=True)]
    assert len(expected) == 8  # seven past weeks and this one; none of the other expert's
    assert _walk_pages(client, "/timesheets", r'id="timesheet-(\d+)"', "") == expected
    response = client.get("/timesheets?page=-3")
    assert "'-3' is not a page number; this is page 1." in html.unescape(response.text)
