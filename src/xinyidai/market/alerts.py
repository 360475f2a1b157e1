"""Post-loan alerts (贷后预警): a bank that holds a live 贷后管理 authorization for an enterprise, covering the
category, is alerted when an adverse record about it arrives — a new penalty, enforcement or dishonesty
listing, tax, social-insurance, housing-fund or utility arrears, a change of registration to 注销 or 吊销.

The authorization is checked inside the query twice: when the alert job makes alerts, and every time the
feed serves one. Revoking the authorization therefore stops the alerts at once, even those already made;
every alert served is logged in the audit chain as an access the enterprise sees (谁查看了我的数据)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from xinyidai.access.authorizations import live_condition
from xinyidai.access.models import Authorization, AuthorizationScope
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market.models import Alert, AlertSubscription, Cursor
from xinyidai.records.models import CreditRecord

KINDS = {"penalty": "行政处罚", "enforcement": "被强制执行", "dishonesty": "列入严重失信名单",
         "tax_arrears": "欠税", "si_arrears": "社会保险欠缴", "fund_arrears": "住房公积金欠缴",
         "utility_arrears": "水电气欠费", "status_change": "登记状态异常"}
CATEGORY_KIND = {"penalty": "penalty", "judicial": "enforcement", "dishonesty": "dishonesty", "tax": "tax_arrears",
                 "social_insurance": "si_arrears", "housing_fund": "fund_arrears", "water": "utility_arrears",
                 "electricity": "utility_arrears", "gas": "utility_arrears", "registration": "status_change"}
CURSOR = "alerts"
BATCH = 5000


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def adverse(category: str, content: dict[str, Any]) -> str | None:
    """The summary of an adverse record of `category`, or None when the record is not adverse."""
    if category == "penalty":
        return f"行政处罚：{content.get('penalty_type') or ''} {content.get('reason') or ''}".strip()
    if category == "judicial":
        if content.get("enforcement_status") == "执行中":
            return f"被强制执行：案号 {content.get('case_no') or '—'}，未履行金额 {content.get('unperformed_amount') or '未知'} 元"
        return None
    if category == "dishonesty":
        return None if content.get("removed_on") else f"列入严重失信主体名单：{content.get('list_type') or ''}".strip()
    if category == "tax":
        if content.get("in_arrears") in (True, "是", "true", 1) or _num(content.get("tax_arrears")) > 0:
            return f"{content.get('period') or ''} 存在欠税".strip()
        return None
    if category in ("social_insurance", "housing_fund", "water", "electricity", "gas"):
        if _num(content.get("arrears")) > 0 or content.get("status") in ("欠缴", "欠费", "催缴", "中断"):
            return f"{content.get('period') or ''} {KINDS[CATEGORY_KIND[category]]}（{content.get('status') or '欠缴'}）".strip()
        return None
    if category == "registration":
        return f"登记状态变为“{content['status']}”" if content.get("status") in ("注销", "吊销", "撤销") else None
    return None


def _live_post_loan(institution: Any, entity: Any, category: Any, now: datetime) -> Any:
    """EXISTS a live 贷后管理 authorization of `institution` by `entity` covering `category`."""
    return exists().where(Authorization.institution_code == institution, Authorization.entity_code == entity,
                          Authorization.purpose == "贷后管理", *live_condition(now),
                          AuthorizationScope.authorization_id == Authorization.id,
                          AuthorizationScope.category == category)


def subscribe(s: Session, institution_code: str, entity_code: str, actor: str, kinds: list[str] | None = None
              ) -> AlertSubscription:
    """Watch an enterprise (once: a live subscription is kept as it is)."""
    if kinds is not None:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise InvalidInput(f"未知的预警类型：{'、'.join(unknown)}（可选：{'、'.join(KINDS)}）", code="UNKNOWN_ALERT_KIND")
    sub = s.execute(select(AlertSubscription).where(AlertSubscription.institution_code == institution_code,
                                                    AlertSubscription.entity_code == entity_code,
                                                    AlertSubscription.cancelled_at.is_(None))).scalars().first()
    if sub is not None:
        sub.kinds = kinds
        return sub
    sub = AlertSubscription(institution_code=institution_code, entity_code=entity_code, kinds=kinds,
                            created_by=actor, created_at=clock.now())
    s.add(sub)
    s.flush()
    audit.record(s, actor, "market.alert.subscribed", f"entity:{entity_code}", institution_code=institution_code,
                 entity_code=entity_code)
    return sub


def subscribe_as(s: Session, p: Principal, entity_code: str, kinds: list[str] | None) -> AlertSubscription:
    """A bank subscribes; refused without a live 贷后管理 authorization (nothing could be alerted)."""
    if p.role != "bank" or not p.org_code:
        raise Forbidden("只有金融机构用户可以订阅贷后预警", code="ROLE_FORBIDDEN")
    now = clock.now()
    held = s.execute(select(Authorization.id).where(
        Authorization.institution_code == p.org_code, Authorization.entity_code == entity_code,
        Authorization.purpose == "贷后管理", *live_condition(now)).limit(1)).first()
    if held is None:
        raise Forbidden("该企业未向本机构授予有效的“贷后管理”授权，不能订阅预警", code="NO_POST_LOAN_AUTHORIZATION")
    return subscribe(s, p.org_code, entity_code, p.username, kinds)


def cancel(s: Session, p: Principal, entity_code: str) -> None:
    for sub in s.execute(select(AlertSubscription).where(AlertSubscription.institution_code == p.org_code,
                                                         AlertSubscription.entity_code == entity_code,
                                                         AlertSubscription.cancelled_at.is_(None))).scalars():
        sub.cancelled_at = clock.now()
        audit.record(s, p.username, "market.alert.unsubscribed", f"entity:{entity_code}",
                     institution_code=p.org_code, entity_code=entity_code)


def scan(s: Session, now: datetime | None = None) -> int:
    """Make alerts from the records received since the last scan (one set-based candidate query, then the
    adverse test on the few candidates). Idempotent: an alert per (bank, record) at most."""
    now = now or clock.now()
    cursor = s.get(Cursor, CURSOR)
    if cursor is None:
        cursor = Cursor(name=CURSOR, last_id=s.execute(select(CreditRecord.id).order_by(CreditRecord.id.desc())
                                                       .limit(1)).scalar() or 0)
        s.add(cursor)  # a new node alerts on what arrives from now on, not on its whole history
        s.flush()
        return 0
    top = s.execute(select(CreditRecord.id).where(CreditRecord.id > cursor.last_id).order_by(CreditRecord.id)
                    .limit(BATCH).offset(BATCH - 1)).scalar()
    if top is None:
        top = s.execute(select(CreditRecord.id).order_by(CreditRecord.id.desc()).limit(1)).scalar() or cursor.last_id
    rows = s.execute(
        select(AlertSubscription.institution_code, AlertSubscription.kinds, CreditRecord.id, CreditRecord.entity_code,
               CreditRecord.category, CreditRecord.content)
        .join(AlertSubscription, and_(AlertSubscription.entity_code == CreditRecord.entity_code,
                                      AlertSubscription.cancelled_at.is_(None)))
        .join(FinancialInstitution, and_(FinancialInstitution.code == AlertSubscription.institution_code,
                                         FinancialInstitution.status == "active"))
        .where(CreditRecord.id > cursor.last_id, CreditRecord.id <= top, CreditRecord.status == "current",
               CreditRecord.category.in_(list(CATEGORY_KIND)),
               _live_post_loan(AlertSubscription.institution_code, CreditRecord.entity_code, CreditRecord.category,
                               now))).all()
    made = 0
    for inst, kinds, rid, entity, category, content in rows:
        kind = CATEGORY_KIND[category]
        if kinds and kind not in kinds:
            continue
        doc = orjson.loads(content) if isinstance(content, str | bytes) else dict(content or {})
        summary = adverse(category, doc)
        if summary is None:
            continue
        if s.execute(select(Alert.id).where(Alert.institution_code == inst, Alert.record_id == rid)).first():
            continue
        s.add(Alert(institution_code=inst, entity_code=entity, record_id=rid, category=category, kind=kind,
                    summary=summary[:500], created_at=now))
        made += 1
    cursor.last_id = top
    return made


def feed_statement(p: Principal, now: datetime) -> Any:
    """Alerts `p`'s institution may read now: only while the live 贷后管理 authorization covers them."""
    if p.role != "bank" or not p.org_code:
        raise Forbidden("只有金融机构用户可以查看贷后预警", code="ROLE_FORBIDDEN")
    return select(Alert).where(Alert.institution_code == p.org_code,
                               _live_post_loan(Alert.institution_code, Alert.entity_code, Alert.category, now))


def feed(s: Session, p: Principal, req: PageRequest, *, unread: bool = False) -> Page:
    """The bank's alerts, newest first; each served alert is logged as an access its enterprise sees."""
    now = clock.now()
    stmt = feed_statement(p, now)
    if unread:
        stmt = stmt.where(Alert.read_at.is_(None))
    page = paginate(s, stmt, req, {"id": Alert.id}, "id")
    for a in page.items:
        audit.record(s, p.username, "access.alert", f"entity:{a.entity_code}", entity_code=a.entity_code,
                     institution_code=a.institution_code, purpose="贷后管理", categories=[a.category],
                     alert_id=a.id)
    return page


def mark_read(s: Session, p: Principal, alert_id: int) -> Alert:
    a = s.execute(feed_statement(p, clock.now()).where(Alert.id == alert_id)).scalar_one_or_none()
    if a is None:
        raise NotFound("未找到该预警（或授权已不再有效）", code="ALERT_NOT_FOUND")
    if a.read_at is None:
        a.read_at, a.read_by = clock.now(), p.username
    return a


def alert_dict(a: Alert) -> dict[str, Any]:
    return {"id": a.id, "entity_code": a.entity_code, "category": a.category, "kind": a.kind,
            "kind_label": KINDS[a.kind], "summary": a.summary, "created_at": a.created_at.isoformat(),
            "read": a.read_at is not None}
