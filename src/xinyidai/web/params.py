"""Bounded integers for route parameters and request bodies.

The databases store 64-bit integers: an id or page number beyond that made the driver raise and the caller
got a 500. A route declares its integers with these types instead, so such a value is refused with a 422 in
the one error shape before any query runs — and the OpenAPI document says what is accepted."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from xinyidai.kit.pagination import MAX_PAGE, MAX_PAGE_SIZE

INT64_MAX = 2**63 - 1

RowId = Annotated[int, Path(ge=1, le=INT64_MAX, description="记录编号（正整数）")]
"""A stored row named by its integer primary key in the path."""

PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"页码（从 1 开始，至多 {MAX_PAGE}）")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"每页条数（1–{MAX_PAGE_SIZE}）")]

Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""A non-negative count or cursor in a request body or query that the database compares with its own."""
