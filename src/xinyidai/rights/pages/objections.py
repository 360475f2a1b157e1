"""(being built) Pages of the rights domain: objections."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
