"""Pages: entity search, one entity's records by category with version history, the enterprise's own page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.entities import service
from xinyidai.entities.accounts import Principal
from xinyidai.entities.api import STAFF, may_view_entity
from xinyidai.entities.regions import HEILONGJIANG_PREFECTURES
from xinyidai.kit.errors import NotFound
from xinyidai.kit.pagination import PageRequest
from xinyidai.records import service as records_service
from xinyidai.web.app import render
from xinyidai.web.deps import db_session, node, require

router = APIRouter(include_in_schema=False)


@router.get("/entities", response_class=HTMLResponse)
def entity_search(request: Request, q: str = "", region: str = "", page: int = 1, size: int = Query(20, le=200),
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


@router.get("/entities/{code}", response_class=HTMLResponse)
def entity_page(code: str, request: Request, category: str | None = None, history: bool = False,
                p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> Response:
    may_view_entity(p, code)
    e = service.get_entity(s, code)
    counts = records_service.entity_category_counts(s, e.code)
    catalog = node(request).catalog
    if category is None:
        category = next((c.code for c in catalog.categories if counts.get(c.code)), catalog.categories[0].code)
    try:
        cat = catalog.category(category)
    except KeyError:
        raise NotFound(f"信息清单中没有类别「{category}」", code="UNKNOWN_CATEGORY") from None
    rows = records_service.entity_records(s, e.code, cat.code, include_history=history)
    records = [records_service.record_dict(r) for r in rows]
    return render(request, "entities/entity.html", entity=e, info=service.entity_dict(e), counts=counts, cat=cat,
                  records=records, history=history)
