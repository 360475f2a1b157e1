"""JSON API for market entities and their records (operators, regulators, security officers; an enterprise
user sees its own entity only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from xinyidai.entities import service
from xinyidai.entities.accounts import Principal
from xinyidai.kit.errors import Forbidden
from xinyidai.kit.pagination import PageRequest
from xinyidai.records import service as records_service
from xinyidai.web.deps import db_session, require

router = APIRouter(prefix="/api/v1/entities", tags=["市场主体"])
STAFF = ("operator", "regulator", "security")


def may_view_entity(p: Principal, code: str) -> None:
    """Staff see the register; an enterprise user sees only the entity it is the administrator of."""
    if p.role in STAFF:
        return
    if p.role == "enterprise" and p.org_code and p.org_code == code.strip().upper():
        return
    raise Forbidden("无权查看该市场主体的信息", code="ENTITY_FORBIDDEN")


@router.get("", summary="查询市场主体（统一社会信用代码前缀或名称关键字）")
def search(q: str = "", region: str | None = None, page: int = 1, size: int = Query(20, le=200),
           sort: str | None = None, desc: bool = False, p: Principal = Depends(require(*STAFF)),
           s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = service.search_entities(s, q, region=region, req=PageRequest(page, size, sort, desc))
    return result.as_dict([service.entity_dict(e) for e in result.items])


@router.get("/{code}", summary="一个市场主体的登记信息与各类记录数")
def get_one(code: str, p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    may_view_entity(p, code)
    e = service.get_entity(s, code)
    return {**service.entity_dict(e), "record_counts": records_service.entity_category_counts(s, e.code)}


@router.get("/{code}/records", summary="一个市场主体的信用记录（可含历史版本）")
def records(code: str, request: Request, category: str | None = None, history: bool = False,
            p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    may_view_entity(p, code)
    e = service.get_entity(s, code)
    rows = records_service.entity_records(s, e.code, category, include_history=history)
    return {"entity_code": e.code, "items": [records_service.record_dict(r) for r in rows]}
