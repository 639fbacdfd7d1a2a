"""Analyst pages: human and agent curves side by side without writing code. One GET form (so the
address can be shared) chooses the task, agents, limits and which runs count; the page shows the
summary table, the three figures as images with the CSV of the numbers behind each, and links to
download the dataset with the same filters. The environment catalogue is a sub-page."""

from enum import StrEnum
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from analytics import formats, reports
from environments.catalogue import discover
from webapp import analyses, demo_sample
from webapp.analyses import ask
from webapp.analysis_query import SOURCES, Asked
from webapp.deps import AnalystUser, NowDep, SessionDep, SettingsDep
from webapp.routes import pages_router
from webapp.routes.environments import rows
from webapp.templating import render

router = pages_router(prefix="/analyst")


class Figure(StrEnum):
    curve = "curve"
    best_of_k = "best-of-k"
    cost = "cost"


class FigureFormat(StrEnum):
    png = "png"
    svg = "svg"
    csv = "csv"


class Table(StrEnum):
    runs = "runs"
    score_log = "score-log"


class DataFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


def _refuse(asked: Asked) -> None:
    """Bad input on an image or a download: a 400 page that says what to fix."""
    if asked.errors:
        detail = " ".join(f"{name}: {message}" for name, message in asked.errors.items())
        raise HTTPException(status_code=400, detail=detail)


def _download(data: bytes, media_type: str, filename: str) -> Response:
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("")
def analyses_page(
    request: Request, user: AnalystUser, session: SessionDep, settings: SettingsDep, now: NowDep
):
    catalogue = discover(settings.environment_dirs)
    asked = ask(request.query_params, session, catalogue, figures=True)
    query = asked.query
    context = {
        "choices": asked.choices,
        "task_options": [("", "All tasks (summary only)")] + [(t, t) for t in asked.choices.tasks],
        "source_options": [("", "any")] + [(s, s) for s in SOURCES],
        "filter_query": query.query(figures=False, by_task=False),
        "values": asked.values,
        "errors": asked.errors,
        "query": query,
        "summary": [],
        "figures": [],
        "summary_link": "",
        "downloads": [],
        "counts": [],
        "sample": None,
    }
    if asked.errors:
        return render(request, "analyst/analyses.html", context, status_code=400)
    key = settings.session_secret
    context["summary"] = analyses.summary_rows(
        session, key=key, now=now, query=query, catalogue=catalogue
    )
    # A first visit (no question asked yet) opens on the task with the most to compare.
    if not request.query_params and (task := analyses.busiest_task(context["summary"])):
        return RedirectResponse(f"/analyst?task={quote(task, safe='/')}", status_code=303)
    context["sample"] = demo_sample.present(session)
    context["summary_link"] = f"/analyst/summary.csv?{query.query(figures=False, by_task=False)}"
    context["downloads"] = [
        (table.value, fmt.value, f"/analyst/data/{table}.{fmt}?{query.query(figures=False)}")
        for table in Table
        for fmt in DataFormat
    ]
    if query.task:
        context["counts"] = analyses.counts(session, key=key, now=now, query=query)
        agents = ", ".join(query.agents) or "every agent"
        context["figures"] = [
            {
                "name": figure.value,
                "title": analyses.TITLES[figure.value],
                "alt": f"{analyses.TITLES[figure.value]} for {query.task}: {agents}",
                "links": {
                    fmt.value: f"/analyst/plots/{figure}.{fmt}?{query.query()}"
                    for fmt in FigureFormat
                },
            }
            for figure in Figure
        ]
    return render(request, "analyst/analyses.html", context)


@router.get("/plots/{figure}.{fmt}")
def figure_file(
    figure: Figure,
    fmt: FigureFormat,
    request: Request,
    user: AnalystUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    """One figure for the query's task as PNG or SVG, or the CSV of the numbers drawn."""
    catalogue = discover(settings.environment_dirs)
    asked = ask(request.query_params, session, catalogue, figures=True)
    if not asked.errors and not asked.query.task:
        asked.errors["task"] = "Choose a task."
    _refuse(asked)
    query = asked.query
    found = analyses.figure_rows(
        figure.value, session, key=settings.session_secret, now=now, query=query,
        catalogue=catalogue,
    )  # fmt: skip
    if fmt == FigureFormat.csv:
        text = analyses.as_csv(figure.value, found)
        return _download(text.encode(), formats.MEDIA_TYPES["csv"], f"{figure.value}.csv")
    plot = analyses.draw(figure.value, found, fmt.value, query.task)
    return Response(plot.image, media_type=plot.media_type)


@router.get("/summary.csv")
def summary_csv(
    request: Request, user: AnalystUser, session: SessionDep, settings: SettingsDep, now: NowDep
):
    """The summary table per task (runs, mean and median final score, shares), as CSV."""
    catalogue = discover(settings.environment_dirs)
    asked = ask(request.query_params, session, catalogue, figures=False)
    _refuse(asked)
    found = analyses.summary_rows(
        session, key=settings.session_secret, now=now, query=asked.query, catalogue=catalogue
    )
    text = reports.to_csv(found, analyses.SUMMARY_COLUMNS)
    return _download(text.encode(), formats.MEDIA_TYPES["csv"], "summary.csv")


@router.get("/data/{table}.{fmt}")
def data_file(
    table: Table,
    fmt: DataFormat,
    request: Request,
    user: AnalystUser,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
):
    """The runs or score log table, filtered like the page, as CSV, Parquet or JSONL."""
    asked = ask(request.query_params, session, discover(settings.environment_dirs), figures=False)
    _refuse(asked)
    data = analyses.export(session, key=settings.session_secret, now=now, query=asked.query,
                           table=table.value, fmt=fmt.value)  # fmt: skip
    name = "runs" if table == Table.runs else "score_log"
    return _download(data, formats.MEDIA_TYPES[fmt.value], f"{name}.{fmt.value}")


@router.get("/environments")
def catalogue(request: Request, user: AnalystUser, session: SessionDep, settings: SettingsDep):
    """The environment catalogue the score data is grouped by (read only)."""
    found = discover(settings.environment_dirs)
    context = {"catalogue": found, "rows": rows(session, found), "links": False}
    return render(request, "environments.html", context)
