"""The health probe: the process answers and its database does."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from xinyidai.web.deps import db_session

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz(s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    s.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok"})
