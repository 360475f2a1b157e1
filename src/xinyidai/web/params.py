"""Parameter and field types that accept what the OpenAPI document says, and only that.

The databases store 64-bit integers: an id or page number beyond that made the driver raise and the caller
got a 500. A route declares its integers with these types instead, so such a value is refused with a 422 in
the one error shape before any query runs — and the OpenAPI document says what is accepted.

Dates are documented as ISO 8601 text, but pydantic also reads a number (or a numeric string) as a Unix
time; `Day` and `Moment` refuse those, so `from=0` is an error rather than 1970-01-01."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator

from xinyidai.kit.pagination import MAX_PAGE, MAX_PAGE_SIZE

INT64_MAX = 2**63 - 1

INT32_MAX = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=INT64_MAX, description="记录编号（正整数）")]
"""A stored row named by its integer primary key in the path."""

SmallRowId = Annotated[int, Path(ge=1, le=INT32_MAX, description="编号（正整数，至多 2147483647）")]
"""A row named by a key stored as INTEGER (32 bits on PostgreSQL): users, models, runs, lists, versions."""

PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"页码（从 1 开始，至多 {MAX_PAGE}）")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"每页条数（1–{MAX_PAGE_SIZE}）")]

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    if isinstance(value, str) and _ISO_DAY.fullmatch(value) or isinstance(value, date):
        return value
    raise ValueError("应为日期，格式 YYYY-MM-DD")


def _iso_moment(value: Any) -> Any:
    if isinstance(value, str) and _ISO_DAY.match(value) or isinstance(value, datetime):
        return value
    raise ValueError("应为含时区的时间，格式 YYYY-MM-DDTHH:MM:SS+08:00")


Day = Annotated[date, BeforeValidator(_iso_day)]
Moment = Annotated[datetime, BeforeValidator(_iso_moment)]
