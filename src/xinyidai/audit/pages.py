"""The audit log page: every write that matters, newest first, and a check of the chain on request."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.accounts.people import names_of
from xinyidai.kit import audit
from xinyidai.kit.pagination import PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.network.checkpoints import verify_node
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo
from xinyidai.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, page: PageNo = 1, action: str = "", verify: bool = False,
               p: Principal = Depends(require("security", "operator")),
               s: Session = Depends(db_session, scope="function")) -> Response:
    stmt = select(audit.AuditEvent)
    if action:
        stmt = stmt.where(audit.AuditEvent.action.like(f"{action.replace('%', '')[:40]}%"))
    result = paginate(s, stmt, PageRequest(page, 50, "id", True), {"id": audit.AuditEvent.id}, "id")
    chain = verify_node(s, node(request).settings) if verify else None
    return render(request, "audit/log.html", page=result, action=action, chain=chain,
                  people=names_of(s, {e.actor for e in result.items}))
