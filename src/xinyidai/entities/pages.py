"""Pages: entity search, and the enterprise's way to its own entity."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.entities import service
from xinyidai.entities.regions import HEILONGJIANG_PREFECTURES
from xinyidai.kit.errors import NotFound
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.web.deps import db_session, require
from xinyidai.web.params import PageNo, PageSize
from xinyidai.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/entities", response_class=HTMLResponse)
def entity_search(request: Request, q: str = "", region: str = "", page: PageNo = 1, size: PageSize = 20,
                  sort: str | None = None, desc: bool = False, p: Principal = Depends(require(*STAFF)),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    result = service.search_entities(s, q, region=region or None, req=PageRequest(page, size, sort, desc))
    return render(request, "entities/search.html", page=result, q=q, region=region,
                  regions=HEILONGJIANG_PREFECTURES)


@router.get("/my", response_class=HTMLResponse)
def my_entity(request: Request, p: Principal = Depends(require("enterprise"))) -> Response:
    if not p.org_code:
        raise NotFound("您的账户尚未关联市场主体", code="NO_ENTITY")
    return RedirectResponse(f"/entities/{p.org_code}", status_code=303)
