"""Reading the access log: an enterprise's "who looked at my data" and the operators' search.

Both read the audit chain itself (its access columns are indexed), so what an enterprise sees is exactly
what `xinyidai audit verify` proves intact.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.entities.accounts import Principal
from xinyidai.entities.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.errors import Forbidden
from xinyidai.kit.pagination import Page, PageRequest, paginate

ACTION_LABELS = {
    "access.profile": "查询信用概况", "access.detail": "查看原始明细", "access.verify": "核验比对",
    "access.export": "导出明细", "access.report": "生成授权版信用报告", "access.refused": "访问被拒绝",
    "authorization.granted": "授权",
    "authorization.revoked": "撤销授权",
}
RESULT_LABELS = {"access.refused": "已拒绝"}


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=clock.CHINA_TZ)


def my_accesses(s: Session, p: Principal, req: PageRequest, *, action: str | None = None) -> Page:
    """Every access to the enterprise's data and every authorization event, newest first."""
    if p.role != "enterprise" or not p.org_code:
        raise Forbidden("只有企业用户可以查看本企业的被查询记录", code="ROLE_FORBIDDEN")
    stmt = select(AuditEvent).where(AuditEvent.entity_code == p.org_code,
                                    AuditEvent.action.in_(list(ACTION_LABELS)))
    if action in ACTION_LABELS:
        stmt = stmt.where(AuditEvent.action == action)
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


def institution_names(s: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = s.execute(select(FinancialInstitution.code, FinancialInstitution.name)
                     .where(FinancialInstitution.code.in_(codes))).all()
    return dict(rows)


def access_dict(ev: AuditEvent, names: dict[str, str]) -> dict[str, Any]:
    d = ev.detail or {}
    return {
        "id": ev.id, "at": ev.at.isoformat(), "action": ev.action, "action_label": ACTION_LABELS.get(ev.action, ev.action),
        "institution_code": ev.institution_code, "institution_name": names.get(ev.institution_code or "", ""),
        "user": ev.actor, "purpose": d.get("purpose"), "authorizations": d.get("authorizations", []),
        "categories": d.get("categories"), "result": "已拒绝" if ev.action == "access.refused" else "成功",
        "code": d.get("code"), "request_id": ev.request_id,
    }
