"""Paging and sorting of list queries, with sortable columns whitelisted by each caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, inspect, select
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_PAGE_SIZE = 200
# The databases count in 64 bits: beyond this the offset of a page ((page − 1) × size) would not fit, and
# the driver would raise instead of answering. A billion pages of 200 is far past any table here.
MAX_PAGE = 1_000_000_000


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    size: int = 20
    sort: str | None = None
    desc: bool = False

    def clamp(self) -> PageRequest:
        return PageRequest(max(1, min(MAX_PAGE, self.page)), max(1, min(MAX_PAGE_SIZE, self.size)), self.sort,
                           self.desc)


@dataclass
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int
    sort: str | None
    desc: bool

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    def as_dict(self, items: list[Any]) -> dict[str, Any]:
        return {"items": items, "total": self.total, "page": self.page, "size": self.size,
                "pages": self.pages, "sort": self.sort, "desc": self.desc}


def paginate(session: Session, stmt: Select, req: PageRequest, sortable: dict[str, Any],
             default_sort: str, scalars: bool = True) -> Page:
    """Run `stmt` for one page. `sortable` maps public sort names to columns; others are refused silently
    in favour of the default, so a crafted sort parameter can never reach SQL."""
    req = req.clamp()
    key = req.sort if req.sort in sortable else default_sort
    col = sortable[key]
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    order = [col, *_tiebreak(stmt)]
    ordered = stmt.order_by(*(c.desc() if req.desc else c.asc() for c in order))
    rows = session.execute(ordered.limit(req.size).offset((req.page - 1) * req.size))
    items = list(rows.scalars()) if scalars else list(rows)
    return Page(items, total, req.page, req.size, key, req.desc)


def _tiebreak(stmt: Select) -> list[Any]:
    """The primary key of the entity a statement selects whole: rows that tie on the sort column (a status, a
    category, a day) then keep one order from page to page. PostgreSQL guarantees none for ties, so without
    it a row could show on two pages and another on none."""
    described = stmt.column_descriptions
    if len(described) != 1 or described[0].get("entity") is None or described[0]["expr"] is not described[0]["entity"]:
        return []
    return list(inspect(described[0]["entity"]).primary_key)
