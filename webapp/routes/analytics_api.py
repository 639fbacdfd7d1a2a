"""The dataset for scripts: runs and score log as CSV, Parquet or JSONL with the analyst page's
filters, and agent runs imported from files, for API tokens of analysts and admins. Errors are
JSON with a reason; an import with any bad row writes nothing and lists the rows at fault."""

import csv
import re
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from sqlmodel import Session

from analytics import formats, importing
from analytics.formats import FormatError
from baselines.audit import AuditLog
from baselines.users import Role, User
from environments.catalogue import discover
from webapp import analyses
from webapp.deps import NowDep, SessionDep, SettingsDep, TokenUser

api = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class DataFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


def analyst_token(user: TokenUser) -> User:
    if user.role not in (Role.analyst, Role.admin):
        raise HTTPException(status_code=403, detail="Your role cannot open this page.")
    return user


AnalystToken = Annotated[User, Depends(analyst_token)]
FormatQuery = Annotated[DataFormat, Query(alias="format", description="File format.")]
TaskQuery = Annotated[str, Query(description="FAMILY/TASK; all tasks when left out.")]
AgentQuery = Annotated[
    list[str] | None, Query(description="'human' or an agent's name; repeatable.")
]
SourceQuery = Annotated[
    list[str] | None, Query(description="baseliner, vivaria, inspect or csv; repeatable.")
]
SinceQuery = Annotated[str, Query(description="Runs started at or after (ISO date or time).")]
UntilQuery = Annotated[str, Query(description="Runs started before (ISO date or time).")]
IncludeQuery = Annotated[str, Query(description="include (default) or exclude.")]


def _table(
    request: Request, session: Session, settings, now, table: str, fmt: DataFormat
) -> Response:
    catalogue = discover(settings.environment_dirs)
    asked = analyses.ask(request.query_params, session, catalogue, figures=False)
    if asked.errors:
        field, message = next(iter(asked.errors.items()))
        body = {"detail": message, "field": field, "errors": asked.errors}
        return JSONResponse(body, status_code=400)
    data = analyses.export(
        session, key=settings.session_secret, now=now, query=asked.query, table=table,
        fmt=fmt.value,
    )  # fmt: skip
    session.commit()  # the token's last use
    name = "runs" if table == "runs" else "score_log"
    return Response(
        data,
        media_type=formats.MEDIA_TYPES[fmt.value],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt.value}"'},
    )


@api.get("/runs")
def runs(
    request: Request,
    user: AnalystToken,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    fmt: FormatQuery = DataFormat.csv,
    task: TaskQuery = "",
    agent: AgentQuery = None,
    source: SourceQuery = None,
    since: SinceQuery = "",
    until: UntilQuery = "",
    overridden: IncludeQuery = "include",
    cpu_mode: IncludeQuery = "include",
):
    """The ``runs`` table: humans of this portal (pseudonymous) and imported agent runs."""
    return _table(request, session, settings, now, "runs", fmt)


@api.get("/score-log")
def score_log(
    request: Request,
    user: AnalystToken,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    fmt: FormatQuery = DataFormat.csv,
    task: TaskQuery = "",
    agent: AgentQuery = None,
    source: SourceQuery = None,
    since: SinceQuery = "",
    until: UntilQuery = "",
    overridden: IncludeQuery = "include",
    cpu_mode: IncludeQuery = "include",
):
    """The ``score_log`` table: every scored submission of the runs the filters keep."""
    return _table(request, session, settings, now, "score-log", fmt)


def _refuse(status: int, detail: str, **more) -> JSONResponse:
    return JSONResponse({"detail": detail, **more}, status_code=status)


async def _save(
    upload: UploadFile, folder: Path, fallback: str, beside: Path | None = None
) -> Path:
    """The upload under its own (cleaned) name, so messages name the file the caller sent and
    its extension says the format; renamed if ``beside`` (the other upload) has that name."""
    name = SAFE_NAME.sub("_", Path(upload.filename or fallback).name)[:100].strip("._") or fallback
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(status_code=413, detail=f"{name} is larger than 64 MiB.")
    path = folder / name
    if path == beside:
        path = path.with_stem(path.stem + "-score-log")
    path.write_bytes(data)
    return path


@api.post("/import")
async def import_runs(
    user: AnalystToken,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    runs: Annotated[UploadFile, File(description="Runs: our schema as .csv, .jsonl or .parquet.")],
    score_log: Annotated[UploadFile | None, File(description="Their score log.")] = None,
    y_s: Annotated[float | None, Form(description="Normalise with this starting score.")] = None,
    y_r: Annotated[float | None, Form(description="Normalise with this reference score.")] = None,
):
    """Import agent runs and their score logs. The same (source, run_id) imported again replaces
    the earlier copy; any bad row rejects the whole import (422, with every line at fault)."""
    catalogue = discover(settings.environment_dirs)
    with tempfile.TemporaryDirectory(prefix="baseliner-import-") as folder:
        runs_path = await _save(runs, Path(folder), "runs.csv")
        log_path = None
        if score_log is not None:
            log_path = await _save(score_log, Path(folder), "score_log.csv", beside=runs_path)
        try:
            numbers = importing.numbers_with(analyses.numbers(session, catalogue), y_s, y_r)
            batch = importing.read_files(runs_path, log_path)
            result = importing.store(session, batch, now, numbers)
        except importing.ImportRejected as exc:
            session.rollback()
            detail = f"Nothing imported: {len(exc.problems)} problem(s)."
            return _refuse(422, detail, problems=exc.problems[: importing.MAX_PROBLEMS])
        except (FormatError, ValueError) as exc:
            session.rollback()
            return _refuse(400, str(exc).replace(folder + "/", ""))
        except (csv.Error, RecursionError) as exc:
            # A CSV field past csv's size limit, or a JSONL line nested too deep for json.
            session.rollback()
            return _refuse(400, f"The files could not be read: {exc}.")
        except (OverflowError, DataError) as exc:
            # A value past what Python's dates or the database's columns hold: a time near
            # year 1 or 9999, an integer past 32 bits (PostgreSQL) or 64 (SQLite), a NUL in text.
            session.rollback()
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            return _refuse(400, f"Nothing imported: a value cannot be stored ({reason}).")
    counts = {"added": result.added, "replaced": result.replaced, "entries": result.entries}
    session.add(
        AuditLog(
            at=now,
            actor_id=user.id,
            action="analytics.import",
            object_type="analytics_runs",
            object_id=runs_path.name[:80],
            after=counts,
        )
    )
    session.commit()
    return {**counts, "message": str(result)}
