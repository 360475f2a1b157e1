"""An enterprise's objection to a record about it (异议), from submission to its outcome.

征信业管理条例 第二十五条: the record is marked at once (异议处理中) and the objection is verified and settled
within 20 days of its receipt (`due_on`). Within that, each stage has a working-day clock (`stage_due_on`):
acceptance by the operator in 2 working days, verification by the providing department in 10.

submitted ─accept→ routed ─department answers→ concluded
    │                 └─(network) the origin node closes the feedback note→ answered ─operator concludes→ concluded
    └─refuse→ refused                (the operator may also conclude any routed case itself)

Outcomes: corrected (a new version through records.service.correct_record), confirmed (the record stands),
undetermined (the objection mark gives way to a `disputed` mark carrying both statements). Who may see a case
is decided inside the query (`readable`): the enterprise its own, a department those routed to it, the
platform's operators and regulators all. Every step is a CaseStep and an audit entry carrying the entity's
code, so the enterprise sees each one."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from xinyidai.accounts.models import User
from xinyidai.catalog.schema import Catalog
from xinyidai.kit import attachments, audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.notify import Notifier
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.network import exchange, relay
from xinyidai.network.models import FeedbackNote
from xinyidai.quality import departments
from xinyidai.quality.models import Department
from xinyidai.records import marks
from xinyidai.records.models import CreditRecord
from xinyidai.records.service import correct_record
from xinyidai.rights import evidence, workdays
from xinyidai.rights.models import OBJECTION_OUTCOMES, OBJECTION_ROUTES, OBJECTION_STATES, CaseStep, Objection

log = logging.getLogger(__name__)

KIND = "objection"
DUE_DAYS = 20  # 征信业管理条例 第二十五条：自收到异议之日起20日内核查处理（calendar days）
ACCEPT_WORKDAYS = 2  # the operator accepts or refuses within 2 working days
VERIFY_WORKDAYS = 10  # the department (or the origin node) verifies within 10 working days
CONCLUDE_WORKDAYS = 2  # the operator concludes an answered network case within 2 working days
MAX_COMPLAINT = 2000
MAX_STATEMENT = 2000
OPEN = ("submitted", "routed", "answered")
READERS = ("operator", "regulator")
SYSTEM = "system"
STEP_LABELS = {"raised": "提出异议", "accepted": "受理", "routed": "转交核查", "refused": "不予受理",
               "answered": "来源平台答复", "concluded": "办结", "reminded": "到期提醒", "escalated": "逾期督办"}
__all__ = ["CONCLUDE_WORKDAYS", "DUE_DAYS", "OBJECTION_OUTCOMES", "OBJECTION_ROUTES", "OBJECTION_STATES", "OPEN",
           "STEP_LABELS", "Upload", "accept", "answer", "conclude", "get", "listing", "overdue", "raise_objection",
           "readable", "record_of", "refuse", "remind_and_escalate", "steps", "sync_network"]

Upload = evidence.Upload


# ── reading: authorization inside the query ─────────────────────────────────────────────────────────────

def readable(p: Principal) -> Select[Any]:
    """The objections `p` may see: the platform's operators and regulators all, an enterprise its own, a
    department those routed to it; anyone else none."""
    stmt = select(Objection)
    if p.role in READERS:
        return stmt
    if p.role == "enterprise" and p.org_code:
        return stmt.where(Objection.entity_code == p.org_code)
    if p.role == "department" and p.org_code:
        return stmt.where(Objection.department == p.org_code, Objection.route == "department")
    raise Forbidden(f"当前角色（{p.role_label}）无权查看异议", code="ROLE_FORBIDDEN")


def get(s: Session, p: Principal, number: str) -> Objection:
    number = (number or "").strip()[:30]
    o = s.execute(readable(p).where(Objection.number == number)).scalar_one_or_none()
    if o is None:
        raise NotFound(f"没有编号为 {number} 的异议，或您无权查看", code="OBJECTION_NOT_FOUND")
    return o


def steps(s: Session, o: Objection) -> list[CaseStep]:
    return list(s.execute(select(CaseStep).where(CaseStep.case_kind == KIND, CaseStep.case_id == o.id)
                          .order_by(CaseStep.id)).scalars())


def listing(s: Session, p: Principal, req: PageRequest, *, state: str | None = None, overdue: bool = False,
            route: str | None = None, today: date | None = None) -> Page:
    stmt = readable(p)
    if state in OBJECTION_STATES:
        stmt = stmt.where(Objection.state == state)
    elif state == "open":
        stmt = stmt.where(Objection.state.in_(OPEN))
    if route in OBJECTION_ROUTES:
        stmt = stmt.where(Objection.route == route)
    if overdue:
        stmt = stmt.where(Objection.state.in_(OPEN), Objection.due_on < (today or clock.today()))
    sortable = {"number": Objection.id, "raised_at": Objection.raised_at, "due_on": Objection.due_on,
                "stage_due_on": Objection.stage_due_on, "state": Objection.state,
                "entity_code": Objection.entity_code}
    return paginate(s, stmt, req, sortable, "raised_at")


def is_overdue(o: Objection, today: date | None = None) -> bool:
    return o.state in OPEN and o.due_on < (today or clock.today())


def stage_overdue(o: Objection, today: date | None = None) -> bool:
    return o.state in OPEN and o.stage_due_on is not None and o.stage_due_on < (today or clock.today())


def record_of(s: Session, o: Objection) -> CreditRecord | None:
    """The record as it stands now (the current version), else the version objected to."""
    cur = s.execute(select(CreditRecord).where(
        CreditRecord.entity_code == o.entity_code, CreditRecord.category == o.category,
        CreditRecord.record_key == o.record_key, CreditRecord.status == "current")).scalar_one_or_none()
    return cur or s.get(CreditRecord, o.record_id)


def open_for(s: Session, entity_code: str) -> list[Objection]:
    return list(s.execute(select(Objection).where(Objection.entity_code == entity_code,
                                                  Objection.state.in_(OPEN)).order_by(Objection.id)).scalars())


# ── steps ─────────────────────────────────────────────────────────────────────────────────────────────

def _step(s: Session, o: Objection, actor: str, action: str, note: str | None = None, **detail: Any) -> None:
    s.add(CaseStep(case_kind=KIND, case_id=o.id, at=clock.now(), actor=actor, action=action, note=note))
    audit.record(s, actor, f"rights.objection.{action}", f"objection:{o.number}", entity_code=o.entity_code,
                 state=o.state, category=o.category, record_key=o.record_key, **detail)


def _text(value: str | None, what: str, code: str, limit: int, *, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidInput(f"请填写{what}", code=f"{code}_REQUIRED")
        return None
    if required and len(value) < 2:
        raise InvalidInput(f"{what}过短，请具体说明", code=f"{code}_REQUIRED")
    if len(value) > limit:
        raise InvalidInput(f"{what}不能超过 {limit} 字（当前 {len(value)} 字）", code=f"{code}_TOO_LONG")
    return value


# ── the enterprise raises ─────────────────────────────────────────────────────────────────────────────

def _require_admin(s: Session, p: Principal) -> None:
    u = s.get(User, p.user_id) if p.role == "enterprise" else None
    if u is None or not u.org_admin or not u.active or not p.org_code:
        raise Forbidden("只有企业的管理员账户可以提出异议", code="OBJECTION_ADMIN_ONLY")


def raise_objection(s: Session, p: Principal, *, record_id: int, complaint: str, wanted: str | None = None,
                    files: list[evidence.Upload] | None = None) -> Objection:
    """The enterprise's administrator objects to a record about itself. A record of another entity is as not
    found as a missing one (its existence is not revealed). Evidence is checked before anything is stored."""
    _require_admin(s, p)
    # The record's row locked (PostgreSQL): two submissions at once cannot both find no open objection.
    rec = s.get(CreditRecord, record_id, with_for_update=True) if 0 < record_id < 2**63 else None
    if rec is None or rec.entity_code != p.org_code:
        raise NotFound("没有这条关于本企业的信用记录", code="OBJECTION_RECORD_NOT_FOUND")
    if rec.status != "current":
        raise Conflict("这条记录已有新版本或已撤回，请对现行版本提出异议", code="OBJECTION_RECORD_NOT_CURRENT")
    complaint_text = _text(complaint, "异议内容（记录哪里有误）", "COMPLAINT", MAX_COMPLAINT)
    wanted_text = _text(wanted, "期望更正为", "WANTED", MAX_COMPLAINT, required=False)
    files = [f for f in (files or []) if f.data or f.filename]
    if len(files) > evidence.MAX_FILES:
        raise InvalidInput(f"每件最多附 {evidence.MAX_FILES} 个证明材料文件", code="EVIDENCE_TOO_MANY")
    for f in files:  # checked here first so a bad file stores nothing at all
        attachments.check(f.data, f.filename)
    live = s.execute(select(Objection.number).where(
        Objection.entity_code == rec.entity_code, Objection.category == rec.category,
        Objection.record_key == rec.record_key, Objection.state.in_(OPEN))).scalar_one_or_none()
    if live is not None:
        raise Conflict(f"这条记录已有处理中的异议（编号 {live}），请等待其办结", code="OBJECTION_ALREADY_OPEN",
                       detail={"number": live})
    today = clock.today()
    o = Objection(number=f"tmp-{secrets.token_hex(8)}", entity_code=rec.entity_code, category=rec.category, record_key=rec.record_key,
                  record_id=rec.id, complaint=complaint_text, wanted=wanted_text, state="submitted",
                  raised_by=p.username, raised_at=clock.now(), due_on=today + timedelta(days=DUE_DAYS),
                  stage_due_on=workdays.add_workdays(today, ACCEPT_WORKDAYS))
    s.add(o)
    s.flush()
    o.number = f"YY{today:%Y%m%d}{o.id:04d}"  # the row's id: two objections raised at once never share one
    evidence.add(s, entity_code=o.entity_code, case_kind=KIND, case_id=o.id, files=files, actor=p.username)
    marks.place(s, entity_code=o.entity_code, category=o.category, record_key=o.record_key, kind="objection",
                ref=o.number, statement=complaint_text)
    _step(s, o, p.username, "raised", complaint_text, record_id=rec.id, evidence=len(files))
    return o


# ── the operator accepts (and routes) or refuses ──────────────────────────────────────────────────────

def _require_operator(p: Principal) -> None:
    if p.role != "operator":
        raise Forbidden(f"当前角色（{p.role_label}）不能办理异议", code="ROLE_FORBIDDEN")


def _state(o: Objection, *allowed: str) -> None:
    if o.state not in allowed:
        raise Conflict(f"异议当前状态为“{OBJECTION_STATES.get(o.state, o.state)}”，不能进行此操作",
                       code="OBJECTION_BAD_STATE")


def is_relayed(rec: CreditRecord | None, ctx: relay.NodeContext | None = None) -> bool:
    """A record loaded at another node and relayed here: verified there, over the network."""
    if rec is None or not rec.origin_node:
        return False
    return ctx is None or rec.origin_node != ctx.code


def suggested_department(s: Session, o: Objection) -> Department | None:
    rec = record_of(s, o)
    return departments.by_name(s, rec.provider if rec is not None else None)


def accept(s: Session, p: Principal, number: str, *, department: str | None = None,
           ctx: relay.NodeContext | None = None, note: str = "", notifier: Notifier | None = None) -> Objection:
    """Accept and route: to the department named (or the one whose name is the record's provider), or — for a
    record relayed from another node, when no department is named — over the network as a feedback note."""
    _require_operator(p)
    o = get(s, p, number)
    _state(o, "submitted")
    rec = record_of(s, o)
    note_text = _text(note, "受理说明", "NOTE", MAX_STATEMENT, required=False)
    today, now = clock.today(), clock.now()
    department = (department or "").strip()
    if not department and is_relayed(rec, ctx):
        if ctx is None:
            raise Conflict("该记录来自其他节点，需经节点网络转交；请在平台页面办理", code="OBJECTION_NEEDS_NETWORK")
        problem = f"企业异议 {o.number}：{o.complaint}" + (f"（企业期望：{o.wanted}）" if o.wanted else "")
        fb = exchange.raise_feedback(s, ctx, o.entity_code, o.category, o.record_key, problem[:2000],
                                     actor=p.username)
        o.route, o.feedback_id, o.department = "network", fb.external_id, None
        target = f"经节点网络转来源平台 {rec.origin_node if rec else ''}".strip()
    else:
        dept = departments.get(s, department) if department else suggested_department(s, o)
        if dept is None:
            raise Conflict(f"提供单位“{rec.provider if rec else ''}”尚未登记为数据提供部门，请选择核查部门",
                           code="OBJECTION_NO_DEPARTMENT")
        o.route, o.department = "department", dept.code
        target = f"转交 {dept.name} 核查"
        if notifier is not None and dept.contact:
            notifier.send(dept.contact, f"【信易贷平台】企业异议 {o.number} 已转交贵部门核查，请于 "
                          f"{workdays.add_workdays(today, VERIFY_WORKDAYS).isoformat()} 前答复。",
                          kind="rights_objection")
    o.state, o.accepted_at, o.reminded_at = "routed", now, None
    o.stage_due_on = workdays.add_workdays(today, VERIFY_WORKDAYS)
    _step(s, o, p.username, "accepted", note_text)
    _step(s, o, p.username, "routed", f"{target}，核查期限 {o.stage_due_on.isoformat()}",
          route=o.route, department=o.department, feedback_id=o.feedback_id)
    return o


def refuse(s: Session, p: Principal, number: str, reason: str) -> Objection:
    _require_operator(p)
    o = get(s, p, number)
    _state(o, "submitted")
    reason_text = _text(reason, "不予受理的理由", "REASON", MAX_STATEMENT)
    o.state, o.decision_note, o.concluded_at, o.stage_due_on = "refused", reason_text, clock.now(), None
    marks.lift(s, o.number)
    _step(s, o, p.username, "refused", reason_text)
    return o


# ── the outcome ───────────────────────────────────────────────────────────────────────────────────────

def _changes(changes: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k)[:60]: str(v)[:2000] for k, v in (changes or {}).items()}


def _settle(s: Session, catalog: Catalog, o: Objection, actor: str, outcome: str, statement: str,
            changes: Mapping[str, str] | None, *, require_changes: bool) -> None:
    if outcome not in OBJECTION_OUTCOMES:
        raise InvalidInput(f"核查结果须为 {'、'.join(OBJECTION_OUTCOMES.values())} 之一", code="OBJECTION_BAD_OUTCOME")
    new_id = None
    if outcome == "corrected":
        wanted = _changes(changes)
        if wanted:
            rec = record_of(s, o)
            if rec is None or rec.status != "current":
                raise Conflict("该记录已无现行版本，无法更正", code="OBJECTION_RECORD_NOT_CURRENT")
            new_id = correct_record(s, catalog, rec.id, wanted, actor=actor,
                                    reason=f"异议 {o.number} 核查更正：{statement}"[:1000]).id
        elif require_changes:
            raise InvalidInput("选择“已更正”时，请填写更正后的记录内容（只改有误的项目）", code="CORRECTION_REQUIRED")
    marks.lift(s, o.number, "objection")
    if outcome == "undetermined":
        marks.place(s, entity_code=o.entity_code, category=o.category, record_key=o.record_key, kind="disputed",
                    ref=o.number, statement=o.complaint, provider_statement=o.provider_statement or statement)
    o.outcome, o.corrected_record_id = outcome, new_id
    o.state, o.concluded_at, o.stage_due_on = "concluded", clock.now(), None
    _step(s, o, actor, "concluded", f"{OBJECTION_OUTCOMES[outcome]}：{statement}", outcome=outcome,
          corrected_record_id=new_id)


def answer(s: Session, p: Principal, catalog: Catalog, number: str, *, outcome: str, statement: str,
           changes: Mapping[str, str] | None = None) -> Objection:
    """The department verifies an objection routed to it; its answer concludes the case."""
    if p.role != "department":
        raise Forbidden("只有数据提供部门可以答复异议核查", code="ROLE_FORBIDDEN")
    o = get(s, p, number)  # another department's objection is not found
    _state(o, "routed")
    text = _text(statement, "部门核查说明", "STATEMENT", MAX_STATEMENT)
    assert text is not None
    o.provider_statement, o.answered_at = text, clock.now()
    _settle(s, catalog, o, p.username, outcome, text, changes, require_changes=True)
    return o


def conclude(s: Session, p: Principal, catalog: Catalog, number: str, *, outcome: str, note: str,
             changes: Mapping[str, str] | None = None) -> Objection:
    """The operator concludes: after the origin node answered (network), or itself when the department cannot
    be reached. A correction at another node arrives by relay, so `changes` are required only for a case
    routed to a department here."""
    _require_operator(p)
    o = get(s, p, number)
    _state(o, "routed", "answered")
    text = _text(note, "办结说明", "NOTE", MAX_STATEMENT)
    assert text is not None
    o.decision_note = text
    _settle(s, catalog, o, p.username, outcome, o.provider_statement or text, changes,
            require_changes=o.route == "department")
    return o


# ── chores: the network's answers, reminders and escalation ───────────────────────────────────────────

def sync_network(s: Session) -> int:
    """Objections routed over the network whose feedback note the origin has closed: answered, with its word."""
    rows = s.execute(select(Objection, FeedbackNote).join(FeedbackNote, FeedbackNote.external_id == Objection.feedback_id)
                     .where(Objection.state == "routed", Objection.route == "network",
                            FeedbackNote.closed_at.is_not(None))).all()
    today = clock.today()
    for o, note in rows:
        o.state, o.answered_at, o.reminded_at = "answered", note.closed_at, None
        o.provider_statement = (note.outcome or "来源平台已处理")[:MAX_STATEMENT]
        o.stage_due_on = workdays.add_workdays(today, CONCLUDE_WORKDAYS)
        _step(s, o, SYSTEM, "answered", o.provider_statement, feedback_id=o.feedback_id)
    return len(rows)


@dataclass
class ChoreResult:
    answered: int = 0
    reminded: int = 0
    escalated: int = 0


def remind_and_escalate(s: Session, today: date, notifier: Notifier | None = None) -> ChoreResult:
    """Once per stage, a reminder when the stage is past its working-day deadline (to the department's contact
    when the stage is its verification); once per case, escalation when the 20 days have passed."""
    out = ChoreResult(answered=sync_network(s))
    depts = {d.code: d for d in departments.listing(s)}

    def tell(o: Objection, message: str) -> None:
        d = depts.get(o.department or "")
        if notifier is not None and d is not None and d.contact and o.state == "routed" and o.route == "department":
            notifier.send(d.contact, message, kind="rights_objection")

    late_stage = list(s.execute(select(Objection).where(
        Objection.state.in_(OPEN), Objection.stage_due_on < today, Objection.reminded_at.is_(None))).scalars())
    for o in late_stage:
        o.reminded_at = clock.now()
        stage = {"submitted": "受理", "routed": "核查", "answered": "办结"}[o.state]
        _step(s, o, SYSTEM, "reminded", f"{stage}期限 {o.stage_due_on.isoformat() if o.stage_due_on else ''} 已过，请尽快办理")
        tell(o, f"【信易贷平台】企业异议 {o.number} 的核查期限（{o.stage_due_on}）已过，请尽快答复。")
        out.reminded += 1
    late = list(s.execute(select(Objection).where(
        Objection.state.in_(OPEN), Objection.due_on < today, Objection.escalated_at.is_(None))).scalars())
    for o in late:
        o.escalated_at = clock.now()
        _step(s, o, SYSTEM, "escalated", f"已超过 {DUE_DAYS} 日处理期限（{o.due_on.isoformat()}），升级督办")
        tell(o, f"【信易贷平台】企业异议 {o.number} 已超过处理期限（{o.due_on}），已升级督办，请立即答复。")
        # The operators see escalated cases first in their queue; the log line reaches the node's monitoring.
        log.warning("objection %s overdue since %s, escalated", o.number, o.due_on)
        out.escalated += 1
    return out


def overdue(s: Session, today: date, region_prefix: str | None = None) -> int:
    """Open objections past their 20 days, optionally of entities in one region (credit code positions 3–)."""
    stmt = select(func.count()).select_from(Objection).where(Objection.state.in_(OPEN), Objection.due_on < today)
    if region_prefix:
        prefix = region_prefix.strip()[:6]
        stmt = stmt.where(func.substr(Objection.entity_code, 3, len(prefix)) == prefix)
    return int(s.execute(stmt).scalar_one())
