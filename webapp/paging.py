"""How every long list pages, as a page and as JSON: one page of rows in a stable order (the
row's id breaks ties, so no row shows twice or never while a list is walked), the total, and
Previous/Next addresses that keep the list's filters.

Pages forgive a bad ``page`` (not a number, below 1, past the end) by showing the nearest page
with a line that says so; the JSON API refuses it with a 4xx that names the parameter, so a
script never mistakes a wrong address for an empty list."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, select

from baselines.errors import DomainError

PER_PAGE = 50
MAX_PER_PAGE = 200
# OFFSET is a 64-bit number in the databases; a page far past any list is refused before it.
MAX_PAGE = 2**31 - 1

T = TypeVar("T")

PageQuery = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description="Which page, from 1. Past the last page: 400.")
]
PerPageQuery = Annotated[
    int, Query(ge=1, le=MAX_PER_PAGE, description=f"Rows a page, 1 to {MAX_PER_PAGE}.")
]


@dataclass(frozen=True)
class Listing:
    """A list's rows (``query``, its filters applied) and their order: ``order``, then ``key``,
    the id column with its direction, so rows that tie on the rest keep one place."""

    query: Any
    order: tuple
    key: Any


@dataclass(frozen=True)
class Ask:
    """The page asked for, and a line saying why another was shown ('' when none)."""

    page: int = 1
    per_page: int = PER_PAGE
    notice: str = ""


def _whole(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else None


def read(params: Mapping[str, str], prefix: str = "") -> Ask:
    """A page's ``page`` and ``per_page`` as sent, forgiving: what cannot be used is replaced by
    the nearest sensible value and the notice says so."""
    notes = []
    per_text = params.get(f"{prefix}per_page")
    per_page = PER_PAGE if per_text is None else _whole(per_text)
    if per_page is None or not 1 <= per_page <= MAX_PER_PAGE:
        notes.append(f"Rows a page must be 1 to {MAX_PER_PAGE} (not {per_text[:20]!r}).")
        per_page = PER_PAGE if per_page is None or per_page < 1 else MAX_PER_PAGE
    page_text = params.get(f"{prefix}page")
    page = 1 if page_text is None else _whole(page_text)
    if page is None or page < 1:
        notes.append(f"{page_text[:20]!r} is not a page number; this is page 1.")
        page = 1
    return Ask(page, per_page, " ".join(notes))


@dataclass
class Page(Generic[T]):
    """One page of a list: its rows, where it lies in the whole, and the links around it."""

    items: list[T]
    page: int
    per_page: int
    total: int
    path: str
    params: list[tuple[str, str]]  # the address's other parameters: the list's filters
    prefix: str = ""
    notice: str = ""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The 1-based number of the first row shown (0 for an empty list)."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0

    def link(self, page: int) -> str:
        """This list's address at another page, with the same filters and page size."""
        params = [(k, v) for k, v in self.params if k != f"{self.prefix}page"]
        if page != 1:
            params.append((f"{self.prefix}page", str(page)))
        return self.path + (f"?{urlencode(params)}" if params else "")

    @property
    def previous(self) -> str | None:
        return self.link(self.page - 1) if self.page > 1 else None

    @property
    def next(self) -> str | None:
        return self.link(self.page + 1) if self.page < self.pages else None


def _count(session: Session, listing: Listing) -> int:
    counted = listing.query.order_by(None).subquery()
    return session.exec(select(func.count()).select_from(counted)).one()


def _rows(session: Session, listing: Listing, page: int, per_page: int) -> list:
    ordered = listing.query.order_by(*listing.order, listing.key)
    return list(session.exec(ordered.offset((page - 1) * per_page).limit(per_page)).all())


def page_of(request: Request, session: Session, listing: Listing, prefix: str = "") -> Page:
    """One page of ``listing`` for an HTML list. A page past the end shows the last page, and
    says so. ``prefix`` tells two lists on one page apart (``live_page``, ``page``)."""
    ask = read(request.query_params, prefix)
    total = _count(session, listing)
    pages = max(1, -(-total // ask.per_page))
    page, notice = ask.page, ask.notice
    if page > pages:
        notice = f"There is no page {page}; this is the last page, {pages}."
        page = pages
    return Page(
        items=_rows(session, listing, page, ask.per_page),
        page=page,
        per_page=ask.per_page,
        total=total,
        path=request.url.path,
        params=list(request.query_params.multi_items()),
        prefix=prefix,
        notice=notice,
    )


def api_page(
    request: Request, session: Session, listing: Listing, page: int, per_page: int
) -> Page:
    """One page of ``listing`` for a JSON list (``page`` and ``per_page`` already checked by
    ``PageQuery`` and ``PerPageQuery``); a page past the end is refused (400)."""
    total = _count(session, listing)
    pages = max(1, -(-total // per_page))
    if page > pages:
        rows = "no rows" if total == 0 else f"{total} row{'s' if total != 1 else ''}"
        raise DomainError(
            f"There is no page {page}: {rows} at {per_page} a page make {pages} "
            f"page{'s' if pages != 1 else ''}.",
            field="page",
        )
    return Page(
        items=_rows(session, listing, page, per_page),
        page=page,
        per_page=per_page,
        total=total,
        path=request.url.path,
        params=list(request.query_params.multi_items()),
    )


class Paged(BaseModel, Generic[T]):
    """One page of a JSON list. Follow ``next`` until it is null to read the whole list."""

    items: list[T]
    total: int = Field(description="Rows matching the filters, on all pages together.")
    page: int = Field(description="This page's number, from 1.")
    per_page: int = Field(description="Rows a page (the last page may hold fewer).")
    pages: int = Field(description="How many pages the list has (1 for an empty list).")
    next: str | None = Field(
        description="The next page's address with the same filters; null on the last page."
    )
    previous: str | None = Field(description="The previous page's address; null on page 1.")


def paged(page: Page, items: list[Any]) -> dict[str, Any]:
    """The JSON body of ``page`` with its rows already shaped as ``items``."""
    return {
        "items": items,
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
        "pages": page.pages,
        "next": page.next,
        "previous": page.previous,
    }
