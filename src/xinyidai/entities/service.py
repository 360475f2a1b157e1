"""The register of market entities: search, one entity, statistics by region and industry."""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from xinyidai.entities.industries import industry_name
from xinyidai.entities.models import MarketEntity
from xinyidai.entities.regions import is_valid_region, prefecture_of, region_name
from xinyidai.kit.errors import Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal

SORTABLE = {
    "code": MarketEntity.code,
    "name": MarketEntity.name,
    "region": MarketEntity.region_code,
    "industry": MarketEntity.industry_code,
    "registered_on": MarketEntity.registered_on,
    "status": MarketEntity.status,
}
_CODE_LIKE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{4,18}$")


def _escape_like(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _in_region(code: str) -> ColumnElement[bool]:
    """A province or prefecture code covers the divisions below it (GB/T 2260: 230000 → 23xxxx, 230100 →
    2301xx); any other code, a county's, selects itself. A range over the column, so its index serves it."""
    if is_valid_region(code) and code.endswith("00"):
        prefix = code[:2] if code.endswith("0000") else code[:4]
        return MarketEntity.region_code.between(prefix.ljust(6, "0"), prefix.ljust(6, "9"))
    return MarketEntity.region_code == code


def search_entities(s: Session, q: str = "", *, region: str | None = None, req: PageRequest | None = None) -> Page:
    """By code (a prefix of the credit code) or by part of the name; bound parameters only."""
    stmt = select(MarketEntity)
    q = (q or "").strip()[:100]
    if q:
        up = q.upper()
        name_match = MarketEntity.name.like(f"%{_escape_like(q)}%", escape="\\")
        if _CODE_LIKE.match(up):
            stmt = stmt.where(or_(MarketEntity.code.like(f"{_escape_like(up)}%", escape="\\"), name_match))
        else:
            stmt = stmt.where(name_match)
    if region:
        stmt = stmt.where(_in_region(region))
    return paginate(s, stmt, req or PageRequest(), SORTABLE, "code")


def get_entity(s: Session, code: str) -> MarketEntity:
    e = s.get(MarketEntity, (code or "").strip().upper())
    if e is None:
        raise NotFound(f"未找到统一社会信用代码为 {code} 的市场主体", code="ENTITY_NOT_FOUND")
    return e


def entity_dict(e: MarketEntity) -> dict:
    return {
        "code": e.code, "name": e.name, "kind": e.kind, "region_code": e.region_code,
        "region_name": region_name(e.region_code), "industry_code": e.industry_code,
        "industry_name": industry_name(e.industry_code) if e.industry_code else None,
        "registered_on": e.registered_on.isoformat() if e.registered_on else None, "status": e.status,
        "registered_capital": e.registered_capital,
    }


def counts_by_region(s: Session) -> list[tuple[str, str, int]]:
    """Entities per prefecture-level division (district and county codes roll up to their prefecture)."""
    rows = s.execute(select(MarketEntity.region_code, func.count()).group_by(MarketEntity.region_code)).all()
    totals: dict[str, int] = {}
    for code, n in rows:
        try:
            pref = prefecture_of(code)
        except InvalidInput:
            pref = code
        totals[pref] = totals.get(pref, 0) + n
    return sorted(((code, region_name(code) or code, n) for code, n in totals.items()), key=lambda r: -r[2])


def counts_by_kind(s: Session) -> list[tuple[str, int]]:
    return [tuple(r) for r in s.execute(select(MarketEntity.kind, func.count()).group_by(MarketEntity.kind))]


def may_view_entity(p: Principal, code: str) -> None:
    """Staff see the register; an enterprise user sees only the entity it is the administrator of."""
    if p.role in STAFF:
        return
    if p.role == "enterprise" and p.org_code and p.org_code == code.strip().upper():
        return
    raise Forbidden("无权查看该市场主体的信息", code="ENTITY_FORBIDDEN")
