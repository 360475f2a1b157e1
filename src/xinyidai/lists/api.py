"""JSON API of white lists and key-project lists: published lists and their entries (staff: all; a bank: those
delivered to its institution), and for banks the deliveries themselves — fetching them marks them seen, so
a lender's system can poll for new lists. Same services and rules as the pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.lists import whitelists
from xinyidai.web.deps import db_session, require
from xinyidai.web.params import PageNo, PageSize

router = APIRouter(prefix="/api/v1/whitelists", tags=["白名单与重点项目"])
VIEWERS = (*whitelists.READERS, "bank")


@router.get("", summary="已发布的名单（金融机构：推送给本机构的）")
def list_lists(kind: str | None = Query(None, description="whitelist（白名单）/ key_projects（重点项目清单）"),
               page: PageNo = 1, size: PageSize = 20, sort: str | None = None, desc: bool = True,
               p: Principal = Depends(require(*VIEWERS)), s: Session = Depends(db_session, scope="function")
               ) -> dict[str, Any]:
    result = whitelists.visible_lists(s, p, PageRequest(page, size, sort, desc), kind=kind)
    return result.as_dict([whitelists.list_dict(wl) for wl in result.items])


@router.get("/delivered", summary="金融机构：推送给本机构的名单（new 表示首次取得；取得后标记为已查看）")
def delivered(page: PageNo = 1, size: PageSize = 20, p: Principal = Depends(require("bank")),
              s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = whitelists.delivered_to(s, p, PageRequest(page, size, "delivered_at", True))
    items = [{**whitelists.list_dict(wl), "delivered_at": d.delivered_at.isoformat(),
              "new": d.seen_at is None} for d, wl in result.items]
    whitelists.mark_seen(s, p, [wl for _, wl in result.items])
    return result.as_dict(items)


@router.get("/{number}", summary="一份名单及其条目（分页；可按名称或代码检索）")
def one_list(number: str, q: str | None = None, page: PageNo = 1, size: PageSize = 50,
             sort: str | None = None, desc: bool = False, p: Principal = Depends(require(*VIEWERS)),
             s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    wl = whitelists.get_list(s, p, number)
    entries = whitelists.entries_page(s, wl, PageRequest(page, size, sort, desc), q)
    whitelists.mark_seen(s, p, [wl])
    prev = whitelists.previous_version(s, wl)
    return {**whitelists.list_dict(wl), "previous": prev.number if prev else None,
            "entries": entries.as_dict([whitelists.entry_dict(e) for e in entries.items])}
