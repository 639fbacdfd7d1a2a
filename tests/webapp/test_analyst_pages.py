"""The analyst page, its images and downloads, and the analytics API: real runs and imported agent
runs in the test database, requested as an analyst would (a GET form, links, an API token)."""

import csv
import html
import io
import json
import re
from datetime import timedelta
from urllib.parse import urlencode

import pyarrow.parquet as pq
import pytest
from sqlmodel import Session, select

from analytics import importing
from analytics.imported import ImportedRun, ImportedScore
from baselines import tokens
from baselines.audit import AuditLog
from baselines.users import Role, User
from tests.analytics.conftest import T0, human_run, rate
from tests.conftest import login
from timetracking.utc import utcnow

TASK = "triton_cumsum/main"
AGENT_RUNS = """run_id,task_id,agent,started_at,working_s,status,cost_usd,source
a1,triton_cumsum/main,claude-bot,2026-11-03T09:00:00+00:00,28800,submitted,3.5,csv
a2,triton_cumsum/main,claude-bot,2026-11-04T09:00:00+00:00,28800,submitted,4.5,csv
a3,triton_cumsum/main,claude-bot,2026-11-05T09:00:00+00:00,28800,submitted,2.5,csv
"""
AGENT_LOG = """run_id,elapsed_s,score,score_normalized
a1,600,1.5,0.05
a1,7200,0.9,0.28
a2,4000,0.2,0.54
a3,20000,1.2,0.16
"""
NAMES = (b"Ada", b"Lovelace", b"ada@example.org", b"example.org")


def import_agents(engine, tmp_path, runs: str = AGENT_RUNS, log: str = AGENT_LOG):
    (tmp_path / "runs.csv").write_text(runs)
    (tmp_path / "score_log.csv").write_text(log)
    with Session(engine) as s:
        batch = importing.read_files(tmp_path / "runs.csv", tmp_path / "score_log.csv")
        result = importing.store(s, batch, utcnow())
        s.commit()
        return result


@pytest.fixture
def seeded(engine, make_user, tmp_path):
    """Three finished human runs with score logs (Ada, paid $60 an hour) and three agent runs."""
    ada = make_user(Role.expert, email="ada@example.org", name="Ada Lovelace")
    with Session(engine) as s:
        rate(s, ada.id, 6000)
        human_run(s, ada.id, hours=8, scores=[(1800, 1.0, 0.24), (5400, 0.0, 0.62)])
        human_run(s, ada.id, hours=8, scores=[(3600, -0.5, 0.81), (9000, -0.6, 1.05)])
        human_run(s, ada.id, hours=6, start=T0 + timedelta(days=9), scores=[(7200, 1.2, 0.16)])
        s.commit()
    import_agents(engine, tmp_path)
    return ada


@pytest.fixture
def analyst(client, make_user):
    user = make_user(Role.analyst)
    login(client, user)
    return user


def page(client, **params) -> str:
    return "/analyst?" + urlencode(params, doseq=True)


def test_the_page_shows_humans_and_agents_side_by_side(client, analyst, seeded):
    response = client.get(page(client, task=TASK))
    assert response.status_code == 200
    text = response.text
    for name in ("human", "claude-bot"):
        assert f'value="{name}"' in text  # offered as a choice
        assert f"<td>{name}</td>" in text  # in the summary table
    for figure in ("curve", "best-of-k", "cost"):
        assert f'id="figure-{figure}"' in text
        assert f"/analyst/plots/{figure}.png?" in text and f"/analyst/plots/{figure}.svg?" in text
    # The defaults are in the form: the task's 8-hour limit, budgets of 1, 2, 4 and 8 runs.
    assert 'value="8"' in text and 'value="8, 16, 32, 64"' in text
    assert "Ada" not in text.split("</header>")[1]


def test_images_are_real_png_and_svg_with_their_numbers(client, analyst, seeded):
    query = urlencode({"task": TASK, "limit": "2,8", "budget": "8,16"})
    png = client.get(f"/analyst/plots/curve.png?{query}")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = client.get(f"/analyst/plots/best-of-k.svg?{query}")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content and b"claude-bot" in svg.content and b"human" in svg.content
    assert client.get(f"/analyst/plots/cost.png?{query}").content.startswith(b"\x89PNG")
    rows = list(csv.DictReader(io.StringIO(client.get(f"/analyst/plots/curve.csv?{query}").text)))
    assert {r["agent"] for r in rows} == {"human", "claude-bot"}
    assert list(rows[0]) == ["agent", "elapsed_s", "mean", "lo", "hi", "n"]
    best = list(
        csv.DictReader(io.StringIO(client.get(f"/analyst/plots/best-of-k.csv?{query}").text))
    )
    pairs = {(r["agent"], float(r["limit_hours"]), float(r["budget_hours"])) for r in best}
    assert pairs == {
        (a, lim, b) for a in ("human", "claude-bot") for lim in (2, 8) for b in (8, 16)
    }
    # k = B / L: the best of one 8-hour human run is the mean of their final scores.
    one = next(r for r in best if r["agent"] == "human" and r["limit_hours"] == "8.0"
               and r["budget_hours"] == "8.0")  # fmt: skip
    assert float(one["k"]) == 1 and float(one["mean"]) == pytest.approx((0.62 + 1.05 + 0.16) / 3)
    cost = list(csv.DictReader(io.StringIO(client.get(f"/analyst/plots/cost.csv?{query}").text)))
    assert sorted(float(r["cost_usd"]) for r in cost if r["agent"] == "human") == [360, 480, 480]


def test_choosing_an_agent_narrows_every_figure(client, analyst, seeded):
    query = urlencode({"task": TASK, "agent": "claude-bot"})
    rows = list(csv.DictReader(io.StringIO(client.get(f"/analyst/plots/curve.csv?{query}").text)))
    assert {r["agent"] for r in rows} == {"claude-bot"}
    response = client.get(f"/analyst?{query}")
    assert 'value="claude-bot" checked' in response.text
    assert 'value="human" checked' not in response.text


def test_overridden_runs_can_be_left_out(client, analyst, seeded, engine):
    from baselines.runs import Run

    with Session(engine) as s:
        first = s.exec(select(Run).order_by(Run.id)).first()
        first.overridden = True
        s.add(first)
        s.commit()
    base = {"task": TASK, "agent": "human"}
    summary = client.get("/analyst/summary.csv?" + urlencode(base)).text
    left_out = client.get("/analyst/summary.csv?" + urlencode({**base, "overridden": "exclude"}))
    assert [r["runs"] for r in csv.DictReader(io.StringIO(summary))] == ["3"]
    assert [r["runs"] for r in csv.DictReader(io.StringIO(left_out.text))] == ["2"]


BAD_INPUT = [
    ({"task": TASK, "limit": "-2"}, "limit", "a number above 0"),
    ({"task": TASK, "limit": "eight"}, "limit", "a number above 0"),
    ({"task": TASK, "limit": "nan"}, "limit", "a number above 0"),
    ({"task": TASK, "limit": "1e400"}, "limit", "a number above 0"),
    ({"task": TASK, "limit": "20000"}, "limit", "At most 10000 hours"),
    ({"task": TASK, "limit": "8", "budget": "4, 16"}, "budget", "at least the per-run limit (8 h)"),
    ({"task": TASK, "budget": "0"}, "budget", "a number above 0"),
    ({"task": TASK, "curve_hours": "-1"}, "curve_hours", "a number above 0"),
    ({"task": "nope/main"}, "task", "not installed here"),
    ({"task": TASK, "agent": "gpt-9"}, "agent", "No runs of 'gpt-9'"),
    ({"task": TASK, "source": "paper"}, "source", "Choose a source"),
    ({"task": TASK, "since": "last week"}, "since", "YYYY-MM-DD"),
    ({"task": TASK, "since": "2026-11-10", "until": "2026-11-01"}, "until", "later than"),
    ({"task": TASK, "until": "9999-12-31T23:00:00-05:00"}, "until", "YYYY-MM-DD"),
    ({"task": TASK, "overridden": "maybe"}, "overridden", "include or exclude"),
]


@pytest.mark.parametrize(("params", "field", "message"), BAD_INPUT)
def test_bad_input_is_refused_beside_its_field(client, analyst, seeded, params, field, message):
    response = client.get(page(client, **params))
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert f'id="{field}-error"' in text
    error = text.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert message in error
    assert f'aria-describedby="{field}-error"' in text
    assert 'id="figure-curve"' not in text  # no figures from bad input
    # The images and downloads refuse the same input with the same message, never a 500.
    query = urlencode(params)
    for url in (f"/analyst/plots/curve.png?{query}", f"/analyst/plots/cost.csv?{query}"):
        refused = client.get(url)
        assert refused.status_code == 400 and message in html.unescape(refused.text)
    if field not in ("limit", "budget", "curve_hours"):
        refused = client.get(f"/analyst/data/runs.csv?{query}")
        assert refused.status_code == 400 and message in html.unescape(refused.text)


def test_a_figure_needs_a_task(client, analyst, seeded):
    response = client.get("/analyst/plots/curve.png")
    assert response.status_code == 400 and "Choose a task." in response.text
    assert client.get("/analyst/plots/nope.png?task=" + TASK).status_code == 404
    assert client.get("/analyst/plots/curve.gif?task=" + TASK).status_code == 404


def test_an_installed_task_without_runs_draws_empty_figures(client, analyst):
    response = client.get(page(client, task=TASK))
    assert response.status_code == 200 and 'id="no-runs"' in response.text
    assert client.get(f"/analyst/plots/curve.png?task={TASK}").content.startswith(b"\x89PNG")
    assert client.get(f"/analyst/plots/best-of-k.csv?task={TASK}").text.strip() == (
        "agent,limit_hours,budget_hours,k,mean,lo,hi,n_runs"
    )


def read_table(fmt: str, data: bytes) -> list[dict]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(data.decode())))
    if fmt == "jsonl":
        return [json.loads(line) for line in data.decode().splitlines()]
    return pq.read_table(io.BytesIO(data)).to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_downloads_parse_and_carry_no_names_or_emails(client, analyst, seeded, fmt):
    runs = client.get(f"/analyst/data/runs.{fmt}?task={TASK}")
    log = client.get(f"/analyst/data/score-log.{fmt}?task={TASK}")
    assert runs.status_code == log.status_code == 200
    assert f'filename="runs.{fmt}"' in runs.headers["content-disposition"]
    run_rows, log_rows = read_table(fmt, runs.content), read_table(fmt, log.content)
    assert sorted(r["agent"] for r in run_rows) == ["claude-bot"] * 3 + ["human"] * 3
    assert {r["participant_id"] for r in run_rows if r["agent"] == "human"} != {None}
    assert len(log_rows) == 5 + 4
    for secret in NAMES:
        assert secret not in runs.content and secret not in log.content


def test_downloads_follow_the_filters(client, analyst, seeded):
    def agents(**params) -> list[str]:
        data = client.get("/analyst/data/runs.csv?" + urlencode(params, doseq=True)).content
        return sorted(r["agent"] for r in read_table("csv", data))

    assert agents(agent="claude-bot") == ["claude-bot"] * 3
    assert agents(source="baseliner") == ["human"] * 3
    assert agents(since="2026-11-04", until="2026-11-06") == ["claude-bot"] * 2
    assert agents(since="2026-11-10") == ["human"]  # the run started on 11 November
    assert agents(agent=["human", "claude-bot"], until="2026-11-03") == ["human", "human"]


def test_the_summary_lists_every_task_with_a_link_to_choose_it(client, analyst, seeded):
    response = client.get("/analyst?task=")  # "All tasks (summary only)"
    assert response.status_code == 200 and 'id="choose-task"' in response.text
    assert f'href="/analyst?task={TASK}' in response.text
    rows = list(csv.DictReader(io.StringIO(client.get("/analyst/summary.csv").text)))
    assert [(r["task_id"], r["agent"], r["runs"]) for r in rows] == [
        (TASK, "human", "3"),
        (TASK, "claude-bot", "3"),
    ]


def test_a_first_visit_opens_on_the_task_with_most_to_compare(client, analyst, seeded):
    response = client.get("/analyst")
    assert response.status_code == 303 and response.headers["location"] == f"/analyst?task={TASK}"
    assert 'id="figure-curve"' in client.get(response.headers["location"]).text


def test_with_nothing_ended_the_first_visit_asks_for_a_task(client, analyst):
    response = client.get("/analyst")
    assert response.status_code == 200 and 'id="choose-task"' in response.text


def _counts_row(text: str, agent: str) -> str:
    table = text.split('id="run-counts-table"', 1)[1].split("</table>", 1)[0]
    return table.split(f'data-agent="{agent}"', 1)[1].split("</tr>", 1)[0]


def _cells(row: str) -> list[str]:
    cells = [c.split(">", 1)[1] for c in row.split("<td")[1:]]
    return [" ".join(re.sub(r"<[^>]+>", "", c).split()) for c in cells]


def test_each_figure_says_which_runs_it_counts_and_why(client, analyst, seeded, engine, make_user):
    """The issue's case: a human run still going (3 in the curve, 2 in cost and summary), one
    ended without a score (0 in the mean), one without a rate (not on the cost figure)."""
    other = make_user(Role.expert, email="x@example.org", name="No Rate")
    with Session(engine) as s:
        human_run(s, seeded.id, hours=None, status="active", start=utcnow() - timedelta(hours=3),
                  scores=[(1800, 1.0, 0.3)])  # fmt: skip
        human_run(s, seeded.id, hours=5, start=T0 + timedelta(days=3))  # never scored
        human_run(s, other.id, hours=4, start=T0 + timedelta(days=4), scores=[(600, 1.0, 0.3)])
        s.commit()
    text = html.unescape(client.get(page(client, task=TASK, limit="2, 8")).text)
    assert "A run without a valid normalised score counts as 0" in text
    summary = text.split('id="summary-table"', 1)[1].split("</table>", 1)[0]
    human = summary.split("<td>human</td>", 1)[1].split("</tr>", 1)[0]
    # 5 ended runs, 1 of them never scored: the mean divides by 5 with that one as 0.
    assert _cells(human)[:3] == ["5", "1", f"{(0.62 + 1.05 + 0.16 + 0 + 0.3) / 5:.3f}"]
    cells = _cells(_counts_row(text, "human"))
    assert cells[:6] == ["human", "6", "5", "1", "1", "0"]
    assert cells[6].startswith("6") and "1 still going" in cells[6]
    assert cells[7] == "6 at 2 h; 5 at 8 h (1 still going, not yet at 8 h)"  # 3 h worked
    assert cells[8] == "4 (left out: 1 still going, 1 without a cost above $0)"
    assert cells[9] == "5 (left out: 1 still going)"
    bot = _cells(_counts_row(text, "claude-bot"))
    assert bot[:6] == ["claude-bot", "3", "3", "0", "0", "0"] and bot[8] == "3"
    # The figures' numbers agree with the table.
    query = urlencode({"task": TASK, "limit": "2, 8"})
    cost = list(csv.DictReader(io.StringIO(client.get(f"/analyst/plots/cost.csv?{query}").text)))
    assert sum(r["agent"] == "human" for r in cost) == 4
    curve = csv.DictReader(io.StringIO(client.get(f"/analyst/plots/curve.csv?{query}").text))
    assert max(int(r["n"]) for r in curve if r["agent"] == "human") == 6
    best = csv.DictReader(io.StringIO(client.get(f"/analyst/plots/best-of-k.csv?{query}").text))
    n_runs = {(r["agent"], r["limit_hours"]): r["n_runs"] for r in best}
    assert n_runs[("human", "2.0")] == "6" and n_runs[("human", "8.0")] == "5"
    summary_csv = client.get(f"/analyst/summary.csv?task={TASK}").text
    first = next(csv.DictReader(io.StringIO(summary_csv)))
    assert (first["agent"], first["runs"], first["never_scored"]) == ("human", "5", "1")


def test_the_catalogue_is_a_sub_page(client, analyst):
    response = client.get("/analyst/environments")
    assert response.status_code == 200 and "triton_cumsum" in response.text
    assert 'href="/analyst/environments"' in client.get("/analyst").text


@pytest.mark.parametrize("role", [Role.expert, Role.coordinator, Role.finance])
def test_other_roles_are_refused(client, make_user, role):
    login(client, make_user(role))
    for url in ("/analyst", f"/analyst/plots/curve.png?task={TASK}", "/analyst/data/runs.csv"):
        response = client.get(url)
        assert response.status_code == 403 and "Your role cannot open this page." in response.text


# --- the API ---------------------------------------------------------------------------------


def bearer(engine, user: User) -> dict[str, str]:
    with Session(engine) as s:
        _, plain = tokens.create(s, s.get(User, user.id), "script", utcnow(), user.id)
        s.commit()
    return {"Authorization": f"Bearer {plain}"}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_the_api_serves_the_same_tables(client, engine, make_user, seeded, fmt):
    headers = bearer(engine, make_user(Role.analyst))
    for table in ("runs", "score-log"):
        query = urlencode({"format": fmt, "task": TASK, "agent": "claude-bot"})
        response = client.get(f"/api/v1/analytics/{table}?{query}", headers=headers)
        assert response.status_code == 200
        rows = read_table(fmt, response.content)
        assert rows and {r["agent"] for r in rows} == {"claude-bot"}
    response = client.get(f"/api/v1/analytics/runs?format={fmt}", headers=headers)
    assert len(read_table(fmt, response.content)) == 6
    assert not any(secret in response.content for secret in NAMES)


def test_the_api_refuses_other_roles_and_bad_input_with_json(client, engine, make_user, seeded):
    expert = client.get("/api/v1/analytics/runs", headers=bearer(engine, make_user(Role.expert)))
    assert expert.status_code == 403
    assert expert.json() == {"detail": "Your role cannot open this page."}
    assert client.get("/api/v1/analytics/runs").status_code == 401
    headers = bearer(engine, make_user(Role.admin))
    bad_format = client.get("/api/v1/analytics/runs?format=xlsx", headers=headers)
    assert bad_format.status_code == 422 and bad_format.json()["detail"][0]["field"] == "format"
    bad_date = client.get("/api/v1/analytics/score-log?since=yesterday", headers=headers)
    assert bad_date.status_code == 400
    assert bad_date.json()["field"] == "since" and "YYYY-MM-DD" in bad_date.json()["detail"]
    unknown = client.get("/api/v1/analytics/runs?task=nope/main", headers=headers)
    assert unknown.status_code == 400 and unknown.json()["field"] == "task"


def _imported(engine) -> tuple[int, int]:
    with Session(engine) as s:
        return len(s.exec(select(ImportedRun)).all()), len(s.exec(select(ImportedScore)).all())


def upload(client, headers, runs: str, log: str | None = None, names=("runs.csv", "log.csv")):
    files = {"runs": (names[0], runs.encode(), "text/csv")}
    if log is not None:
        files["score_log"] = (names[1], log.encode(), "text/csv")
    return client.post("/api/v1/analytics/import", files=files, headers=headers)


def test_the_api_imports_agent_runs_once(client, engine, make_user):
    headers = bearer(engine, make_user(Role.analyst))
    first = upload(client, headers, AGENT_RUNS, AGENT_LOG)
    assert first.status_code == 200, first.text
    assert first.json()["added"] == 3 and first.json()["entries"] == 4
    again = upload(client, headers, AGENT_RUNS, AGENT_LOG)
    assert again.json()["added"] == 0 and again.json()["replaced"] == 3
    assert _imported(engine) == (3, 4)
    with Session(engine) as s:
        audits = s.exec(select(AuditLog).where(AuditLog.action == "analytics.import")).all()
        assert [a.after["replaced"] for a in audits] == [0, 3]


def test_a_bad_import_lists_its_lines_and_writes_nothing(client, engine, make_user):
    headers = bearer(engine, make_user(Role.analyst))
    bad_runs = AGENT_RUNS + "a4,triton_cumsum/main,claude-bot,,-5,submitted,x,csv\n"
    bad_log = AGENT_LOG + "a9,10,1.0,0.1\n"
    response = upload(client, headers, bad_runs, bad_log, names=("agents.csv", "scores.csv"))
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("Nothing imported")
    problems = "\n".join(body["problems"])
    assert "agents.csv line 5: cost_usd must be a number" in problems
    assert "agents.csv line 5: working_s is negative" in problems
    assert "scores.csv line 6: run_id a9 is not in the runs file" in problems
    assert _imported(engine) == (0, 0)
    unreadable = upload(client, headers, "x", names=("runs.xlsx", "log.csv"))
    assert unreadable.status_code == 400 and "cannot tell the format" in unreadable.json()["detail"]
    expert = upload(client, bearer(engine, make_user(Role.expert)), AGENT_RUNS, AGENT_LOG)
    assert expert.status_code == 403 and _imported(engine) == (0, 0)


def test_files_past_what_the_readers_take_are_refused_with_a_reason(client, engine, make_user):
    """A CSV field past the csv module's size limit, a JSONL line nested past json's depth, a
    time near year 1 and an integer past 64 bits are the sender's to fix: 400 with a reason,
    nothing imported (each was a 500)."""
    headers = bearer(engine, make_user(Role.analyst))
    head, row = AGENT_RUNS.splitlines()[:2]
    year_one = row.replace("2026-11-03T09:00:00+00:00", "0001-01-01T00:00+05:00")
    unreadable, unstorable = "The files could not be read:", "Nothing imported: a value cannot"
    cases = [
        ('run_id,task_id\n"' + "a" * 200_000 + '",b\n', "runs.csv", unreadable),
        ("[" * 100_000 + "]" * 100_000 + "\n", "runs.jsonl", unreadable),
        (f"{head}\n{year_one}\n", "runs.csv", unstorable),
        (f"{head},time_limit_s\n{row},{10**20}\n", "runs.csv", unstorable),
    ]
    for runs, name, reason in cases:
        response = upload(client, headers, runs, names=(name, "log.csv"))
        assert response.status_code == 400, response.text
        assert response.json()["detail"].startswith(reason), response.json()
    assert _imported(engine) == (0, 0)
