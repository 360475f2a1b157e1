"""JSON API for the register of market entities (operators, regulators, security officers), and who may
see one entity (an enterprise user sees its own only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from xinyidai.entities import service
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.web.deps import db_session, require
from xinyidai.web.params import PageNo, PageSize

router = APIRouter(prefix="/api/v1/entities", tags=["市场主体"])


@router.get("", summary="查询市场主体（统一社会信用代码前缀或名称关键字）")
def search(q: str = "", region: str | None = None, page: PageNo = 1, size: PageSize = 20,
           sort: str | None = None, desc: bool = False, p: Principal = Depends(require(*STAFF)),
           s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = service.search_entities(s, q, region=region, req=PageRequest(page, size, sort, desc))
    return result.as_dict([service.entity_dict(e) for e in result.items])
