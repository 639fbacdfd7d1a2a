"""The dataset as files: CSV, Parquet and JSONL, written so that reading them back gives exactly
the same values (floats as their shortest exact text, times as ISO 8601 in UTC, JSON columns as
compact JSON with sorted keys), and read back with each row's line number for error messages.

In CSV an empty cell is null; message and details are JSON text there and in Parquet, and JSON
values in JSONL.
"""

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from analytics.dataset import RUN_COLUMNS, SCORE_LOG_COLUMNS

FORMATS = ("csv", "parquet", "jsonl")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/x-ndjson",
}
# Each column's kind: str (required text), text (optional text), time, int, float, bool, json.
KINDS: dict[str, str] = {
    "run_id": "str",
    "task_id": "str",
    "task_family": "str",
    "task_version": "text",
    "agent": "str",
    "participant_id": "text",
    "started_at": "time",
    "finished_at": "time",
    "time_limit_s": "int",
    "working_s": "float",
    "status": "text",
    "final_score": "float",
    "final_score_normalized": "float",
    "cost_usd": "float",
    "source": "str",
    "comparable": "bool",
    "condition": "text",
    "elapsed_s": "float",
    "scored_at": "time",
    "score": "float",
    "score_normalized": "float",
    "valid": "bool",
    "message": "json",
    "details": "json",
}


class FormatError(ValueError):
    """A file that cannot be read as the dataset at all (not a row's fault)."""


def format_of(path: str | Path, given: str | None = None) -> str:
    """The format named, or the one the file's extension says."""
    if given:
        if given not in FORMATS:
            raise FormatError(f"unknown format {given!r}; use one of {', '.join(FORMATS)}")
        return given
    suffix = Path(path).suffix.lower().lstrip(".")
    suffix = {"ndjson": "jsonl", "json": "jsonl", "pq": "parquet"}.get(suffix, suffix)
    if suffix not in FORMATS:
        raise FormatError(
            f"{path}: cannot tell the format from the name; use .csv, .jsonl or .parquet"
        )
    return suffix


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _time(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _cell(kind: str, value: Any) -> str:
    """A CSV cell: '' for null."""
    if value is None:
        return ""
    if kind == "time":
        return _time(value).isoformat()
    if kind == "float":
        number = _float(value)
        return "" if number is None else repr(number)
    if kind == "int":
        return str(int(value))
    if kind == "bool":
        return "true" if value else "false"
    if kind == "json":
        return _json_text(value)
    return str(value)


def _plain(kind: str, value: Any) -> Any:
    """A JSONL value."""
    if value is None:
        return None
    if kind == "time":
        return _time(value).isoformat()
    if kind == "float":
        return _float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return value


def _arrow_schema(columns: tuple[str, ...]):
    import pyarrow as pa

    types = {
        "str": pa.string(),
        "text": pa.string(),
        "time": pa.timestamp("us", tz="UTC"),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "json": pa.string(),
    }
    return pa.schema([pa.field(name, types[KINDS[name]]) for name in columns])


def write(
    rows: Iterable[dict[str, Any]], columns: tuple[str, ...], fmt: str, out: BinaryIO
) -> None:
    """Write ``rows`` (dataset dicts) with exactly ``columns`` to a binary stream."""
    rows = list(rows)
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(KINDS[c], row.get(c)) for c in columns])
        text.flush()
        text.detach()
    elif fmt == "jsonl":
        for row in rows:
            plain = {c: _plain(KINDS[c], row.get(c)) for c in columns}
            out.write((json.dumps(plain, ensure_ascii=False, allow_nan=False) + "\n").encode())
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = {
            c: [
                _json_text(r.get(c))
                if KINDS[c] == "json" and r.get(c) is not None
                else (_float(r.get(c)) if KINDS[c] == "float" else r.get(c))
                for r in rows
            ]
            for c in columns
        }
        table = pa.Table.from_pydict(data, schema=_arrow_schema(columns))
        sink = io.BytesIO()
        pq.write_table(table, sink)
        out.write(sink.getvalue())
    else:
        raise FormatError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def to_bytes(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], fmt: str) -> bytes:
    sink = io.BytesIO()
    write(rows, columns, fmt, sink)
    return sink.getvalue()


def runs_bytes(rows: Iterable[dict[str, Any]], fmt: str) -> bytes:
    return to_bytes(rows, RUN_COLUMNS, fmt)


def score_log_bytes(rows: Iterable[dict[str, Any]], fmt: str) -> bytes:
    return to_bytes(rows, SCORE_LOG_COLUMNS, fmt)


def read(path: str | Path, fmt: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, raw row) for each row: CSV cells as text (line 1 is the header), JSONL
    objects as parsed, Parquet rows numbered from 1 with JSON columns as text."""
    path = Path(path)
    fmt = format_of(path, fmt)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None:
                raise FormatError(f"{path}: empty file (no header line)")
            line = 1
            for raw in reader:
                yield line + 1, raw
                line = reader.line_num
    elif fmt == "jsonl":
        with path.open(encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield number, {"__error__": f"not JSON ({exc.msg})"}
                    continue
                yield number, value if isinstance(value, dict) else {"__error__": "not an object"}
    else:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several kinds for a damaged file
            raise FormatError(f"{path}: not a Parquet file ({exc})") from exc
        for number, raw in enumerate(table.to_pylist(), start=1):
            yield number, raw
