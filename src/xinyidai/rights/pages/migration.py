"""(being built) Pages of the rights domain: migration."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
