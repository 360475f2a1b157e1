"""The incident register (notice point 十): a security officer records an incident after connection — what,
how serious, which party, who is responsible, the audit entries that show it, the enterprises whose data it
touched — adds the steps taken, and a second officer closes it with the findings and the responsibility
pursued. A closed incident does not change.

Who sees what: the platform's staff (operator, regulator, security) read every incident; an enterprise
sees only those that name it (`visible`); only security officers write. Each write is audited in its own
transaction and marks the incident for reporting up to the parent node (`reporting`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from xinyidai.entities.codes import InvalidUSCC, validate_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.incidents.models import (
    INCIDENT_KINDS,
    INCIDENT_STATES,
    PARTY_KINDS,
    SEVERITIES,
    Incident,
    IncidentAction,
    IncidentAuditLink,
    IncidentEntity,
)
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.network.models import Peer

MAX_AUDIT_LINKS = 50
MAX_ENTITIES = 200
SORTS = {"found_at": Incident.found_at, "severity": Incident.severity, "kind": Incident.kind,
         "state": Incident.state, "number": Incident.number, "reported_at": Incident.reported_at}


@dataclass
class IncidentDraft:
    """What an officer states when recording an incident (validated by `record`, not here)."""

    kind: str
    severity: str
    title: str
    description: str
    found_at: datetime
    responsible_unit: str
    party_kind: str = "platform"
    party_code: str | None = None
    occurred_at: datetime | None = None
    data_affected: str = ""
    audit_event_ids: list[int] = field(default_factory=list)
    entity_codes: list[str] = field(default_factory=list)


def officer(p: Principal) -> str:
    """The username of a security officer, or a refusal: only they write to the register."""
    if p.role != "security":
        raise Forbidden("只有安全管理员可以登记和处置安全事件", code="ROLE_FORBIDDEN")
    return p.username


def node_region(node_code: str) -> str:
    """The region prefix a node covers: CN → all, CN-230000 → 23, CN-230100 → 2301, CN-230102 → 230102."""
    digits = node_code.split("-", 1)[1] if "-" in node_code else ""
    while digits.endswith("00"):
        digits = digits[:-2]
    return digits


def visible(p: Principal) -> Select:
    """The incidents `p` may read, as a query: staff all, an enterprise those naming it, others none."""
    q = select(Incident)
    if p.role in STAFF:
        return q
    if p.role == "enterprise" and p.org_code:
        named = select(IncidentEntity.incident_id).where(IncidentEntity.entity_code == p.org_code)
        return q.where(Incident.id.in_(named))
    return q.where(Incident.id < 0)


def get(s: Session, p: Principal, number: str) -> Incident:
    inc = s.execute(visible(p).where(Incident.number == number)).scalar_one_or_none()
    if inc is None:
        raise NotFound(f"未找到安全事件 {number}", code="INCIDENT_NOT_FOUND")
    return inc


def listing(s: Session, p: Principal, req: PageRequest, *, state: str | None = None,
            severity: str | None = None, kind: str | None = None) -> Page:
    stmt = visible(p)
    if state in INCIDENT_STATES:
        stmt = stmt.where(Incident.state == state)
    if severity in SEVERITIES:
        stmt = stmt.where(Incident.severity == severity)
    if kind in INCIDENT_KINDS:
        stmt = stmt.where(Incident.kind == kind)
    return paginate(s, stmt, req, SORTS, "found_at")


# ── recording ───────────────────────────────────────────────────────────────────────────────────────────

def _text(value: str | None, limit: int, code: str, what: str, *, required: bool = True) -> str:
    v = (value or "").strip()
    if required and len(v) < 2:
        raise InvalidInput(f"请填写{what}", code=code)
    if len(v) > limit:
        raise InvalidInput(f"{what}不能超过 {limit} 字", code=code)
    return v


def _moments(draft: IncidentDraft, now: datetime) -> None:
    slack = timedelta(minutes=5)  # a form typed to the minute in another tab must not read as the future
    if draft.found_at.tzinfo is None or (draft.occurred_at is not None and draft.occurred_at.tzinfo is None):
        raise InvalidInput("时间须带时区", code="BAD_TIME")
    if draft.found_at > now + slack:
        raise InvalidInput("发现时间不能晚于现在", code="FOUND_IN_FUTURE")
    if draft.occurred_at is not None:
        if draft.occurred_at > now + slack:
            raise InvalidInput("发生时间不能晚于现在", code="OCCURRED_IN_FUTURE")
        if draft.occurred_at > draft.found_at:
            raise InvalidInput("发生时间不能晚于发现时间", code="OCCURRED_AFTER_FOUND")


def _party(s: Session, kind: str, code: str | None) -> str | None:
    if kind not in PARTY_KINDS:
        raise InvalidInput("涉事方类型应为本平台、接入节点或金融机构", code="BAD_PARTY")
    if kind == "platform":
        return None
    code = (code or "").strip().upper()
    known = s.get(Peer, code) if kind == "peer" else s.get(FinancialInstitution, code)
    if not code or known is None:
        what = "接入节点" if kind == "peer" else "金融机构"
        raise InvalidInput(f"本节点没有{what} {code or '（未填写代码）'}", code="PARTY_UNKNOWN", detail={"code": code})
    return code


def _audit_ids(s: Session, ids: list[int]) -> list[int]:
    wanted = sorted(set(ids))
    if len(wanted) > MAX_AUDIT_LINKS:
        raise InvalidInput(f"关联的审计记录不能超过 {MAX_AUDIT_LINKS} 条", code="TOO_MANY_AUDIT_EVENTS")
    if any(i <= 0 or i >= 2**63 for i in wanted):
        raise InvalidInput("审计记录编号应为正整数", code="AUDIT_EVENT_UNKNOWN", detail={"unknown": wanted})
    found = set(s.execute(select(audit.AuditEvent.id).where(audit.AuditEvent.id.in_(wanted))).scalars()) \
        if wanted else set()
    unknown = [i for i in wanted if i not in found]
    if unknown:
        raise InvalidInput(f"本节点没有这些审计记录：{'、'.join(map(str, unknown))}", code="AUDIT_EVENT_UNKNOWN",
                           detail={"unknown": unknown})
    return wanted


def _entities(s: Session, codes: list[str], node_code: str) -> list[str]:
    normal: list[str] = []
    for raw in codes:
        try:
            code = validate_uscc(raw)
        except InvalidUSCC as exc:
            raise InvalidInput(f"统一社会信用代码 {raw} 不正确：{exc.message}", code="INVALID_USCC",
                               detail={"code": raw}) from None
        if code not in normal:
            normal.append(code)
    if len(normal) > MAX_ENTITIES:
        raise InvalidInput(f"涉及企业不能超过 {MAX_ENTITIES} 家", code="TOO_MANY_ENTITIES")
    regions = dict(s.execute(select(MarketEntity.code, MarketEntity.region_code)
                             .where(MarketEntity.code.in_(normal))).all()) if normal else {}
    missing = [c for c in normal if c not in regions]
    if missing:
        raise InvalidInput(f"市场主体名录中没有：{'、'.join(missing)}", code="ENTITY_UNKNOWN", detail={"unknown": missing})
    prefix = node_region(node_code)
    foreign = [c for c in normal if not regions[c].startswith(prefix)]
    if foreign:
        raise InvalidInput(f"这些企业不属于本节点辖区，应由其所在地节点登记：{'、'.join(foreign)}",
                           code="ENTITY_NOT_OURS", detail={"foreign": foreign})
    return normal


def proposed_entities(s: Session, audit_ids: list[int], node_code: str) -> list[str]:
    """The enterprises the given audit entries concern, in this node's region: offered on the form."""
    if not audit_ids:
        return []
    prefix = node_region(node_code)
    rows = s.execute(select(audit.AuditEvent.entity_code).join(MarketEntity, MarketEntity.code ==
                                                               audit.AuditEvent.entity_code)
                     .where(audit.AuditEvent.id.in_(audit_ids[:MAX_AUDIT_LINKS]),
                            MarketEntity.region_code.like(f"{prefix}%")).distinct()).scalars()
    return sorted(c for c in rows if c)


def _number(s: Session, now: datetime) -> str:
    """AQ-YYYYMMDD-NNN by Beijing day; the unique index settles a race (the loser's transaction fails)."""
    day = now.astimezone(clock.CHINA_TZ).strftime("%Y%m%d")
    prefix = f"AQ-{day}-"
    n = s.execute(select(func.count()).select_from(Incident).where(Incident.number.like(f"{prefix}%"))).scalar_one()
    return f"{prefix}{n + 1:03d}"


def record(s: Session, actor: Principal, draft: IncidentDraft, node_code: str) -> Incident:
    """Check everything first, then write: a refusal leaves nothing behind."""
    who = officer(actor)
    now = clock.now()
    if draft.kind not in INCIDENT_KINDS:
        raise InvalidInput("事件类型不正确", code="BAD_KIND")
    if draft.severity not in SEVERITIES:
        raise InvalidInput("事件级别不正确", code="BAD_SEVERITY")
    title = _text(draft.title, 200, "TITLE_REQUIRED", "事件标题")
    description = _text(draft.description, 10_000, "DESCRIPTION_REQUIRED", "事件经过")
    unit = _text(draft.responsible_unit, 200, "UNIT_REQUIRED", "责任单位")
    data_affected = _text(draft.data_affected, 4_000, "DATA_AFFECTED_TOO_LONG", "涉及的数据", required=False)
    _moments(draft, now)
    party_code = _party(s, draft.party_kind, draft.party_code)
    audit_ids = _audit_ids(s, draft.audit_event_ids)
    entity_codes = _entities(s, draft.entity_codes, node_code)
    inc = Incident(number=_number(s, now), kind=draft.kind, severity=draft.severity, title=title,
                   description=description, occurred_at=draft.occurred_at, found_at=draft.found_at,
                   party_kind=draft.party_kind, party_code=party_code, responsible_unit=unit,
                   data_affected=data_affected, state="open", reported_by=who, reported_at=now)
    s.add(inc)
    s.flush()
    s.add_all([IncidentAuditLink(incident_id=inc.id, audit_event_id=i) for i in audit_ids])
    s.add_all([IncidentEntity(incident_id=inc.id, entity_code=c) for c in entity_codes])
    audit.record(s, who, "incident.recorded", f"incident:{inc.number}", kind=inc.kind, severity=inc.severity,
                 party_kind=inc.party_kind, party_code=party_code, audit_events=audit_ids, entities=entity_codes)
    return inc


# ── steps and closure ───────────────────────────────────────────────────────────────────────────────────

def _changeable(s: Session, actor: Principal, number: str) -> tuple[str, Incident]:
    who = officer(actor)
    inc = get(s, actor, number)
    if inc.origin_node:
        raise Conflict(f"该事件由下级节点 {inc.origin_node} 报告，由其处置和结案", code="REPORTED_BY_CHILD")
    if inc.state == "closed":
        raise Conflict("事件已结案，不能再修改", code="INCIDENT_CLOSED")
    return who, inc


def add_action(s: Session, actor: Principal, number: str, text: str) -> IncidentAction:
    who, inc = _changeable(s, actor, number)
    text = _text(text, 4_000, "ACTION_REQUIRED", "处置措施")
    at = clock.now()
    # One step per (incident, moment, officer): two steps typed in the same instant are kept apart by a tick.
    last = s.execute(select(func.max(IncidentAction.at)).where(IncidentAction.incident_id == inc.id,
                                                              IncidentAction.by == who)).scalar_one()
    if last is not None and last >= at:
        at = last + timedelta(microseconds=1)
    step = IncidentAction(incident_id=inc.id, at=at, by=who, text=text)
    s.add(step)
    inc.reported_up_at = None  # the parent hears of the step in the next report
    s.flush()
    audit.record(s, who, "incident.action", f"incident:{inc.number}", text=text)
    return step


def close(s: Session, actor: Principal, number: str, closure: str) -> Incident:
    """Closing takes a second officer: the one who recorded the incident does not judge its handling."""
    who, inc = _changeable(s, actor, number)
    if who == inc.reported_by:
        raise Forbidden("登记该事件的安全管理员不能结案，须由另一名安全管理员结案", code="SAME_OFFICER")
    closure = _text(closure, 10_000, "CLOSURE_REQUIRED", "调查结论和责任追究情况")
    inc.state, inc.closed_by, inc.closed_at, inc.closure = "closed", who, clock.now(), closure
    inc.reported_up_at = None
    audit.record(s, who, "incident.closed", f"incident:{inc.number}", closure=closure)
    return inc


def actions(s: Session, inc: Incident) -> list[IncidentAction]:
    return list(s.execute(select(IncidentAction).where(IncidentAction.incident_id == inc.id)
                          .order_by(IncidentAction.at, IncidentAction.id)).scalars())


def entity_codes(s: Session, inc: Incident) -> list[str]:
    return list(s.execute(select(IncidentEntity.entity_code).where(IncidentEntity.incident_id == inc.id)
                          .order_by(IncidentEntity.entity_code)).scalars())


def audit_links(s: Session, inc: Incident) -> list[audit.AuditEvent]:
    ids = select(IncidentAuditLink.audit_event_id).where(IncidentAuditLink.incident_id == inc.id)
    return list(s.execute(select(audit.AuditEvent).where(audit.AuditEvent.id.in_(ids))
                          .order_by(audit.AuditEvent.id)).scalars())


def is_serious(inc: Incident) -> bool:
    return inc.severity in ("serious", "critical")


def labels() -> dict[str, Any]:
    return {"kinds": INCIDENT_KINDS, "severities": SEVERITIES, "parties": PARTY_KINDS, "states": INCIDENT_STATES}
