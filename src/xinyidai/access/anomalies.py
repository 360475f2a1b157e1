"""Rules over the access log that flag what an operator should look at: enumeration of many entities,
bursts, off-hours activity, many refusals (and probing, raised inline by verification).

The rules run as set-based queries over the indexed access columns of the audit chain, so they cost
nothing on the request path: the server runs `scan()` every minute, the alerts page on demand, and
`xinyidai access scan` from cron. One alert per rule, institution and window (a unique key), so a rescan
never duplicates.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai.access.models import AccessAlert
from xinyidai.access.policy import Policy
from xinyidai.kit import audit, clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import savepoint
from xinyidai.kit.errors import NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate

ACCESS_ACTIONS = ("access.profile", "access.detail", "access.verify", "access.export")
RULE_NAMES = {"enumeration": "批量遍历主体", "burst": "访问突增", "off_hours": "非工作时间集中访问",
              "refusals": "频繁被拒", "probing": "核验试探"}


def raise_alert(s: Session, rule: str, institution: str | None, entity: str | None, message: str, *,
                window: str, detail: dict[str, Any] | None = None, severity: str = "warning") -> bool:
    """Insert an alert unless one exists for the same rule and window; True when new."""
    if s.execute(select(AccessAlert.id).where(AccessAlert.rule == rule, AccessAlert.window_key == window)).first():
        return False
    try:
        with savepoint(s):
            s.add(AccessAlert(rule=rule, institution_code=institution, entity_code=entity, severity=severity,
                              message=message, detail=detail or {}, window_key=window, status="open",
                              created_at=clock.now()))
    except IntegrityError:  # a concurrent scan raised it first
        return False
    audit.record(s, "system", "alert.raised", f"alert:{rule}", institution_code=institution, rule=rule,
                 window=window)
    return True


def _per_institution(s: Session, since: datetime, until: datetime, actions: tuple[str, ...],
                     distinct_entities: bool = False) -> list[tuple[str, int]]:
    measure = func.count(func.distinct(AuditEvent.entity_code)) if distinct_entities else func.count()
    stmt = (select(AuditEvent.institution_code, measure)
            .where(AuditEvent.institution_code.is_not(None), AuditEvent.at >= since, AuditEvent.at <= until,
                   AuditEvent.action.in_(actions))
            .group_by(AuditEvent.institution_code))
    return [(i, int(n)) for i, n in s.execute(stmt).all()]


def scan(s: Session, policy: Policy, now: datetime | None = None) -> int:
    """Evaluate every rule for the window ending now; returns the number of new alerts."""
    now = now or clock.now()
    rules = policy.rules
    new = 0
    r = rules.get("enumeration")
    if r:
        start = now - timedelta(minutes=r["window_minutes"])
        for inst, n in _per_institution(s, start, now, ACCESS_ACTIONS, distinct_entities=True):
            if n > r["threshold"]:
                bucket = int(now.timestamp() // (r["window_minutes"] * 60))
                new += raise_alert(s, "enumeration", inst, None,
                                   f"{r['window_minutes']} 分钟内查询了 {n} 个不同主体（阈值 {r['threshold']}）",
                                   window=f"{inst}:{bucket}", detail={"entities": n}, severity="high")
    r = rules.get("burst")
    if r:
        start = now - timedelta(minutes=r["window_minutes"])
        for inst, n in _per_institution(s, start, now, ACCESS_ACTIONS):
            if n > r["threshold"]:
                bucket = int(now.timestamp() // 60)
                new += raise_alert(s, "burst", inst, None, f"1 分钟内访问 {n} 次（阈值 {r['threshold']}）",
                                   window=f"{inst}:{bucket}", detail={"requests": n})
    r = rules.get("refusals")
    if r:
        start = now - timedelta(minutes=r["window_minutes"])
        for inst, n in _per_institution(s, start, now, ("access.refused",)):
            if n > r["threshold"]:
                bucket = int(now.timestamp() // (r["window_minutes"] * 60))
                new += raise_alert(s, "refusals", inst, None,
                                   f"{r['window_minutes']} 分钟内被拒绝 {n} 次（阈值 {r['threshold']}），可能在无授权查询",
                                   window=f"{inst}:{bucket}", detail={"refusals": n})
    r = rules.get("off_hours")
    if r:
        local = now.astimezone(clock.CHINA_TZ)
        night_start = local.replace(hour=r["start_hour"], minute=0, second=0, microsecond=0)
        if local.hour < r["end_hour"]:
            night_start -= timedelta(days=1)
        night_end = night_start + timedelta(hours=(24 - r["start_hour"] + r["end_hour"]) % 24)
        if night_start <= local:
            for inst, n in _per_institution(s, night_start, min(now, night_end), ACCESS_ACTIONS):
                if n > r["threshold"]:
                    new += raise_alert(s, "off_hours", inst, None,
                                       f"夜间（{r['start_hour']}:00–{r['end_hour']}:00）访问 {n} 次（阈值 {r['threshold']}）",
                                       window=f"{inst}:{night_start:%Y%m%d}", detail={"requests": n})
    return new


def list_alerts(s: Session, req: PageRequest, status: str | None = None, rule: str | None = None) -> Page:
    stmt = select(AccessAlert)
    if status in ("open", "closed"):
        stmt = stmt.where(AccessAlert.status == status)
    if rule in RULE_NAMES:
        stmt = stmt.where(AccessAlert.rule == rule)
    return paginate(s, stmt, req, {"created_at": AccessAlert.created_at, "rule": AccessAlert.rule,
                                   "institution_code": AccessAlert.institution_code}, "created_at")


def close_alert(s: Session, alert_id: int, actor: str, note: str) -> AccessAlert:
    a = s.get(AccessAlert, alert_id)
    if a is None:
        raise NotFound("未找到该告警", code="ALERT_NOT_FOUND")
    a.status = "closed"
    a.handled_by = actor
    a.handled_at = clock.now()
    a.note = note.strip()[:1000] or None
    audit.record(s, actor, "alert.closed", f"alert:{a.id}", institution_code=a.institution_code, note=a.note)
    return a


def alert_dict(a: AccessAlert) -> dict[str, Any]:
    return {"id": a.id, "rule": a.rule, "rule_name": RULE_NAMES.get(a.rule, a.rule),
            "institution_code": a.institution_code, "entity_code": a.entity_code, "severity": a.severity,
            "message": a.message, "detail": a.detail, "status": a.status, "created_at": a.created_at.isoformat(),
            "handled_by": a.handled_by, "note": a.note}
