"""Analyses in the browser: human runs with score logs on the kernel task (one still going, one
that never scored) and an agent's runs imported through the API; the analyst chooses the task,
sees human and agent curves, reads how runs count and which runs each figure counts, sees cost on
a log axis, is refused a budget smaller than the per-run limit beside the field, and downloads
the curve's numbers and the runs (with their ``comparable`` column) as CSV and Parquet."""

import csv
import io
import random
from datetime import UTC, datetime, timedelta

import httpx
import pyarrow.parquet as pq
from playwright.sync_api import Page, expect
from sqlmodel import Session

from baselines import tokens
from baselines.runs import RunStatus
from baselines.users import Role, User
from tests.analytics.conftest import human_run, rate
from tests.browser import sign_in
from timetracking.utc import utcnow

TASK = "triton_cumsum/main"
AGENT = "claude-agent"
START = datetime(2026, 11, 2, 9, tzinfo=UTC)
Y_S, Y_R = 1.631, -1.011  # the task's manifest: ln(ms) of the starting and reference solutions


def _seed_humans(engine, make_user) -> None:
    """Six experts, one 8-hour run each, scoring better as the hours go by."""
    draw = random.Random(8)
    experts = [
        make_user(Role.expert, name=f"Expert Person {n}", email=f"person{n}@ex.org")
        for n in range(6)
    ]
    with Session(engine) as s:
        for n, expert in enumerate(experts):
            rate(s, expert.id, 6000 + 500 * n)
            best, scores = 0.0, []
            for hour in range(1, 9):
                best = min(1.3, best + draw.uniform(0.0, 0.25))
                normalised = best if draw.random() > 0.15 else best * 0.7
                raw = Y_S + normalised * (Y_R - Y_S)
                scores.append((hour * 3600 - draw.uniform(0, 1200), raw, normalised))
            human_run(s, expert.id, start=START + timedelta(days=n), hours=8.5, scores=scores)
        # The case: a run still going (in the curve, not yet in cost or summary) and
        # one that ended without a valid score (0 in every mean).
        going = utcnow() - timedelta(hours=3)
        human_run(s, experts[0].id, start=going, hours=None, status=RunStatus.active,
                  scores=[(3600, Y_S + 0.4 * (Y_R - Y_S), 0.4)])  # fmt: skip
        human_run(s, experts[1].id, start=START + timedelta(days=9), hours=2, scores=[])
        s.commit()


def _agent_files() -> tuple[str, str]:
    """Ten agent runs of 8 hours: quick early gains, then a plateau; raw scores only, so the
    import normalises them with the installed task's numbers."""
    draw = random.Random(3)
    runs = ["run_id,task_id,agent,started_at,working_s,time_limit_s,status,cost_usd,source"]
    log = ["run_id,elapsed_s,scored_at,score,valid"]
    for n in range(10):
        started = START + timedelta(days=n, hours=2)
        runs.append(f"v{n},{TASK},{AGENT},{started.isoformat()},28800,28800,submitted,"
                    f"{draw.uniform(8, 30):.2f},vivaria")  # fmt: skip
        best = 0.0
        for step in range(1, 12):
            elapsed = step * 2400 + draw.uniform(0, 600)
            best = min(0.8, best + draw.uniform(0, 0.3) / step)
            at = started + timedelta(seconds=elapsed)
            log.append(f"v{n},{elapsed:.0f},{at.isoformat()},{Y_S + best * (Y_R - Y_S):.4f},true")
    return "\n".join(runs) + "\n", "\n".join(log) + "\n"


def _import_agent(base_url: str, engine, analyst: User) -> None:
    with Session(engine) as s:
        _, plain = tokens.create(s, s.get(User, analyst.id), "import", utcnow(), analyst.id)
        s.commit()
    runs, log = _agent_files()
    response = httpx.post(
        f"{base_url}/api/v1/analytics/import",
        headers={"Authorization": f"Bearer {plain}"},
        files={"runs": ("agent-runs.csv", runs), "score_log": ("agent-log.csv", log)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["added"] == 10


def _image_loaded(page: Page, selector: str) -> None:
    image = page.locator(selector)
    expect(image).to_be_visible()
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=image.element_handle())


def _download(page: Page, link) -> bytes:
    with page.expect_download() as download:
        link.click()
    return download.value.path().read_bytes()


def test_analyst_compares_human_and_agent_curves(page, shot, live_server, make_user, engine):
    _seed_humans(engine, make_user)
    analyst = make_user(Role.analyst, name="Ana Lyst")
    _import_agent(live_server, engine, analyst)

    sign_in(page, analyst.email)
    expect(page.get_by_role("heading", name="Analyses")).to_be_visible()
    page.get_by_label("Task", exact=True).select_option(TASK)
    page.get_by_role("button", name="Show").click()
    summary = page.locator("#summary-table")
    human = summary.locator("tr", has_text="human")
    expect(human.locator("td").nth(2)).to_have_text("7")  # ended runs
    expect(human.locator("td").nth(3)).to_have_text("1")  # of which never scored, as 0
    expect(summary.locator("tr", has_text=AGENT)).to_contain_text("10")
    expect(page.locator("#scoring-rule")).to_contain_text(
        "A run without a valid normalised score counts as 0"
    )
    expect(page.locator("#agents")).to_contain_text(AGENT)
    # Which runs each figure counts: 8 human runs in the curve, 7 in cost and summary, and why.
    counts = page.locator('#run-counts-table tr[data-agent="human"]')
    expect(counts.locator(".count-curve")).to_have_text(
        "8 (1 still going: up to its working time so far)"
    )
    expect(counts.locator(".count-cost")).to_have_text("7 (left out: 1 still going)")
    expect(counts.locator(".count-summary")).to_have_text("7 (left out: 1 still going)")
    expect(
        page.locator('#run-counts-table tr[data-agent="claude-agent"] .count-cost')
    ).to_have_text("10")
    for figure in ("curve", "best-of-k", "cost"):
        _image_loaded(page, f"#figure-{figure} img")
    shot("human-and-agent-curves")
    page.locator("#run-counts").scroll_into_view_if_needed()
    page.locator("#run-counts").screenshot(
        path=str(shot("which-runs-count").with_suffix(".section.png"))
    )
    cost_svg = page.request.get(
        page.locator("#figure-cost").get_by_role("link", name="SVG").get_attribute("href")
    ).text()
    assert "cost per run (USD, log scale)" in cost_svg and ">$1,000<" in cost_svg
    # The figures themselves, at full size, to check they read well.
    folder = shot("figures-loaded").parent
    for figure in ("curve", "best-of-k", "cost"):
        src = page.locator(f"#figure-{figure} img").get_attribute("src")
        (folder / f"{figure}.png").write_bytes(page.request.get(src).body())

    curve = _download(page, page.locator("#figure-curve").get_by_role("link", name="CSV"))
    rows = list(csv.DictReader(io.StringIO(curve.decode())))
    assert {r["agent"] for r in rows} == {"human", AGENT}
    assert list(rows[0]) == ["agent", "elapsed_s", "mean", "lo", "hi", "n"]
    humans = [r for r in rows if r["agent"] == "human"]
    assert float(humans[-1]["mean"]) > float(humans[len(humans) // 4]["mean"]) > 0

    runs_csv = _download(page, page.get_by_role("link", name="Runs as CSV"))
    runs = list(csv.DictReader(io.StringIO(runs_csv.decode())))
    runs_parquet = _download(page, page.get_by_role("link", name="Runs as Parquet"))
    table = pq.read_table(io.BytesIO(runs_parquet)).to_pylist()
    for rows in (runs, table):
        assert sorted({r["agent"] for r in rows}) == [AGENT, "human"]
        assert len(rows) == 18 and {r["task_id"] for r in rows} == {TASK}
    # Scored on the task's hardware: humans true; the agents' file did not say.
    assert {r["comparable"] for r in runs if r["agent"] == "human"} == {"true"}
    assert {r["comparable"] for r in table if r["agent"] == AGENT} == {None}
    assert {r["run_id"] for r in runs} == {r["run_id"] for r in table}
    for data in (runs_csv, runs_parquet):
        assert b"Expert Person" not in data and b"@ex.org" not in data

    # A budget smaller than the per-run limit is refused beside its field.
    page.get_by_label("Total budgets (hours)").fill("4, 16")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#budget-error")).to_contain_text("at least the per-run limit (8 h)")
    expect(page.get_by_label("Total budgets (hours)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#figure-curve")).to_have_count(0)
    shot("budget-refused")
    page.get_by_label("Per-run limit (hours)").fill("2, 8")
    page.get_by_label("Total budgets (hours)").fill("8, 16, 32")
    page.get_by_role("checkbox", name=AGENT).check()
    page.get_by_role("checkbox", name="human").check()
    page.get_by_role("button", name="Show").click()
    _image_loaded(page, "#figure-best-of-k img")
    assert "budget=8%2C+16%2C+32" in page.url  # the address keeps the choices
    shot("best-of-k-two-limits")
    src = page.locator("#figure-best-of-k img").get_attribute("src")
    (folder / "best-of-k-two-limits.png").write_bytes(page.request.get(src).body())
