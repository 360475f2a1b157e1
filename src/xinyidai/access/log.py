"""Reading the access log: an enterprise's "who looked at my data" and the operators' search.

Both read the audit chain itself (its access columns are indexed), so what an enterprise sees is exactly
what `xinyidai audit verify` proves intact.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.access import sharing
from xinyidai.accounts.people import names_of
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.errors import Forbidden
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal

ACTION_LABELS = {
    "access.profile": "查询信用概况", "access.detail": "查看原始明细", "access.verify": "核验比对",
    "access.export": "导出明细", "access.report": "生成授权版信用报告", "access.refused": "访问被拒绝",
    "authorization.granted": "授权",
    "authorization.revoked": "撤销授权",
}
RESULT_LABELS = {"access.refused": "已拒绝"}
# An access that read the public tier only (served under no authorization) is named as such: it is not the
# enterprise's authorized detail, and it spent none of its uses.
PUBLIC_LABELS = {"access.detail": "查看公开信息", "access.export": "导出公开信息"}
SERVED_ACTIONS = ("access.profile", "access.detail", "access.export", "access.report")
# Why an access was refused, for people: the one place a refusal's code becomes words on a page. The JSON API
# keeps the code (programs branch on it) and carries this reason beside it.
REFUSAL_REASONS = {
    "NO_AUTHORIZATION": "未获授权", "AUTHORIZATION_EXPIRED": "授权已过期", "AUTHORIZATION_REVOKED": "授权已撤销",
    "AUTHORIZATION_EXHAUSTED": "授权次数已用尽", "OUT_OF_SCOPE": "超出授权范围",
    "MODE_NOT_ALLOWED": "授权方式不允许", "UNKNOWN_CATEGORY": "信息类别不存在", "UNKNOWN_ITEM": "信息项不存在",
    "BAD_CLAIMS": "核验声明有误", "INVALID_CLAIM": "核验声明有误", "BAD_PERIOD": "期间格式有误",
    "INVALID_USCC": "统一社会信用代码无效", "ENTITY_NOT_FOUND": "企业不存在",
    "INSTITUTION_SUSPENDED": "机构已暂停接入", "PROBING_LIMITED": "疑似试探数值，已暂停",
    "REQUEST_ID_REQUIRED": "缺少请求编号", "REQUEST_ID_REUSED": "请求编号重复使用",
    "ROLE_FORBIDDEN": "无权查询", "RATE_LIMITED": "请求过于频繁",
}


def refusal_reason(code: str | None) -> str:
    return REFUSAL_REASONS.get(code or "", "其他原因")


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=clock.CHINA_TZ)


def my_accesses(s: Session, p: Principal, req: PageRequest, *, action: str | None = None,
                institution: str | None = None) -> Page:
    """Every access to the enterprise's data and every authorization event, newest first (optionally only
    one institution's)."""
    if p.role != "enterprise" or not p.org_code:
        raise Forbidden("只有企业用户可以查看本企业的被查询记录", code="ROLE_FORBIDDEN")
    stmt = select(AuditEvent).where(AuditEvent.entity_code == p.org_code,
                                    AuditEvent.action.in_(list(ACTION_LABELS)))
    if action in ACTION_LABELS:
        stmt = stmt.where(AuditEvent.action == action)
    if institution and institution.strip():
        stmt = stmt.where(AuditEvent.institution_code == institution.strip().upper()[:18])
    return paginate(s, stmt, req, {"at": AuditEvent.at, "id": AuditEvent.id}, "id")


def search(s: Session, req: PageRequest, *, entity: str | None = None, institution: str | None = None,
           action: str | None = None, actor: str | None = None, day_from: date | None = None,
           day_to: date | None = None) -> Page:
    """The operators' and security officers' search over the whole chain (values are bound, never
    interpolated; `action` is a prefix)."""
    stmt = select(AuditEvent)
    if entity:
        stmt = stmt.where(AuditEvent.entity_code == entity.strip().upper()[:18])
    if institution:
        stmt = stmt.where(AuditEvent.institution_code == institution.strip().upper()[:18])
    if action:
        safe = action.replace("%", "").replace("_", "")[:40]
        stmt = stmt.where(AuditEvent.action.like(f"{safe}%"))
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor.strip()[:100])
    if day_from:
        stmt = stmt.where(AuditEvent.at >= _day_start(day_from))
    if day_to:
        stmt = stmt.where(AuditEvent.at < _day_start(day_to + timedelta(days=1)))
    return paginate(s, stmt, req, {"id": AuditEvent.id, "at": AuditEvent.at, "action": AuditEvent.action}, "id")


def entity_names(s: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(s.execute(select(MarketEntity.code, MarketEntity.name).where(MarketEntity.code.in_(codes))).all())


def institution_names(s: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = s.execute(select(FinancialInstitution.code, FinancialInstitution.name)
                     .where(FinancialInstitution.code.in_(codes))).all()
    return dict(rows)


def _authorizations(ev: AuditEvent, d: dict[str, Any]) -> list[str]:
    """The authorizations an entry was made under; a grant or revocation is about the one it names."""
    if d.get("authorizations"):
        return list(d["authorizations"])
    if ev.action.startswith("authorization.") and (ev.target or "").startswith("authorization:"):
        return [ev.target.split(":", 1)[1]]
    return []


def _public(ev: AuditEvent, d: dict[str, Any], authorizations: list[str]) -> bool:
    """Served under no authorization, the public tier only: said so by the entry, or (entries logged before
    they said it) every category it names served as 公开."""
    if ev.action not in SERVED_ACTIONS or authorizations:
        return False
    tiers = d.get("categories")
    return d.get("basis") == sharing.PUBLIC_BASIS or (
        isinstance(tiers, dict) and bool(tiers) and all(t == "公开" for t in tiers.values()))


def access_dict(ev: AuditEvent, names: dict[str, str], users: dict[str, str]) -> dict[str, Any]:
    d = ev.detail or {}
    refused = ev.action == "access.refused"
    categories = d.get("categories")
    if categories is None and d.get("category"):  # exports logged before they named their tier
        categories = [d["category"]]
    auths = _authorizations(ev, d)
    public = _public(ev, d, auths)
    label = (PUBLIC_LABELS if public else ACTION_LABELS).get(ev.action) or ACTION_LABELS.get(ev.action, ev.action)
    return {
        "id": ev.id, "at": ev.at.isoformat(), "action": ev.action, "action_label": label,
        "institution_code": ev.institution_code, "institution_name": names.get(ev.institution_code or "", ""),
        "user": ev.actor, "user_name": users.get(ev.actor, ev.actor), "purpose": d.get("purpose"),
        "authorizations": auths, "basis": sharing.PUBLIC_BASIS if public else None, "categories": categories,
        "result": "已拒绝" if refused else "成功", "code": d.get("code"),
        "reason": refusal_reason(d.get("code")) if refused else None, "request_id": ev.request_id,
    }


def access_dicts(s: Session, events: list[AuditEvent]) -> list[dict[str, Any]]:
    """Entries as the pages and the API show them, the institutions and people named."""
    names = institution_names(s, {e.institution_code for e in events if e.institution_code})
    users = names_of(s, {e.actor for e in events})
    return [access_dict(e, names, users) for e in events]
