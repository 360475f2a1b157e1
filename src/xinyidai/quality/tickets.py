"""Tickets that carry a quality problem to the providing department until it is put right (整改工单).

A ticket moves open → answered → closed; a re-check that still finds the problem sends it back to open
(`reopened`). It is opened from a rule's finding above the active rule set's threshold (the run's AFTER_RUN
hook; one live ticket per rule and department, a later run only updates the count), by an operator from any
finding or from their own judgement, or from a feedback note of a node above about a record loaded here.
The department answers its own tickets only — every query a department user's request makes is limited to
its code, so another department's ticket is simply not there. Every step is a TicketStep and an audit entry
in the same transaction."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog
from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.notify import Notifier
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.network import exchange
from xinyidai.network.models import FeedbackNote
from xinyidai.quality import departments, rules, runs
from xinyidai.quality.models import (
    SEVERITIES,
    TICKET_STATES,
    Department,
    Finding,
    QualityRun,
    Ticket,
    TicketStep,
)
from xinyidai.records.models import CreditRecord, Delivery

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}
LIVE = ("open", "answered")
DEFAULT_DUE_DAYS = 15
REMIND_DAYS = 2
READERS = ("operator", "regulator")
STEP_LABELS = {"opened": "开单", "updated": "检查更新", "answered": "以新报送答复", "corrected": "以更正答复",
               "explained": "说明情况", "rechecked": "复核", "closed": "关闭", "reopened": "重新打开",
               "reminded": "到期提醒", "escalated": "逾期督办"}
ANSWER_KINDS = {"delivery": "answered", "correction": "corrected", "explanation": "explained"}
SYSTEM = "system"


@dataclass(frozen=True)
class Policy:
    open_at: str = "high"  # high | medium | low | never
    due_days: int = DEFAULT_DUE_DAYS
    rule_names: dict[str, str] = field(default_factory=dict)
    no_ticket: frozenset[str] = frozenset()  # rules marked `ticket: false`


def policy(s: Session) -> Policy:
    """When a finding opens a ticket and how long the department has, from the active rule set."""
    rs = rules.active(s)
    return Policy(rs.open_at, rs.due_days, {r.id: r.name for r in rs.rules},
                  frozenset(r.id for r in rs.rules if not r.ticket))


# ── reading: authorization inside the query ─────────────────────────────────────────────────────────────

def readable(p: Principal) -> Select[Any]:
    """The tickets `p` may see: all for the platform's operators and regulators, a department's own for its
    staff, none for anyone else."""
    stmt = select(Ticket)
    if p.role in READERS:
        return stmt
    if p.role == "department" and p.org_code:
        return stmt.where(Ticket.department == p.org_code)
    raise Forbidden(f"当前角色（{p.role_label}）无权查看整改工单", code="ROLE_FORBIDDEN")


def get(s: Session, p: Principal, number: str) -> Ticket:
    t = s.execute(readable(p).where(Ticket.number == (number or "").strip()[:30])).scalar_one_or_none()
    if t is None:
        who = "，或它不属于本部门" if p.role == "department" else ""
        raise NotFound(f"没有编号为 {number[:30]} 的整改工单{who}", code="TICKET_NOT_FOUND")
    return t


def steps(s: Session, t: Ticket) -> list[TicketStep]:
    return list(s.execute(select(TicketStep).where(TicketStep.ticket_id == t.id).order_by(TicketStep.id)).scalars())


def listing(s: Session, p: Principal, req: PageRequest, *, state: str | None = None,
            department: str | None = None, overdue: bool = False, today: date | None = None) -> Page:
    stmt = readable(p)
    if state in ("open", "answered", "closed"):
        stmt = stmt.where(Ticket.state == state)
    elif state == "live":
        stmt = stmt.where(Ticket.state.in_(LIVE))
    if department:
        stmt = stmt.where(Ticket.department == department)
    if overdue:
        stmt = stmt.where(Ticket.state.in_(LIVE), Ticket.due_on < (today or clock.today()))
    sortable = {"number": Ticket.id, "due_on": Ticket.due_on, "state": Ticket.state, "opened_at": Ticket.opened_at,
                "department": Ticket.department, "severity": Ticket.severity}
    return paginate(s, stmt, req, sortable, "opened_at")


def is_overdue(t: Ticket, today: date | None = None) -> bool:
    return t.state in LIVE and t.due_on < (today or clock.today())


# ── steps and opening ──────────────────────────────────────────────────────────────────────────────────

def _step(s: Session, t: Ticket, actor: str, action: str, note: str | None = None, *,
          delivery_id: int | None = None, affected: int | None = None) -> TicketStep:
    st = TicketStep(ticket_id=t.id, at=clock.now(), actor=actor, action=action, note=note, delivery_id=delivery_id,
                    affected=affected)
    s.add(st)
    detail: dict[str, Any] = {"department": t.department, "state": t.state}
    if delivery_id is not None:
        detail["delivery_id"] = delivery_id
    if affected is not None:
        detail["affected"] = affected
    audit.record(s, actor, f"quality.ticket.{action}", f"ticket:{t.number}", **detail)
    return st


def _due(days: int) -> date:
    if not (1 <= days <= 365):
        raise InvalidInput("整改期限应为 1–365 天", code="BAD_DUE_DAYS")
    return clock.today() + timedelta(days=days)


def _open(s: Session, *, department: str, origin: str, severity: str, title: str, description: str, due_on: date,
          actor: str, rule_id: str | None = None, finding_id: int | None = None, feedback_id: str | None = None,
          category: str | None = None, entity_code: str | None = None, record_key: str | None = None,
          affected: int | None = None) -> Ticket:
    now = clock.now()
    t = Ticket(number=f"tmp-{secrets.token_hex(8)}", department=department, origin=origin, rule_id=rule_id,
               finding_id=finding_id, feedback_id=feedback_id, category=category, entity_code=entity_code,
               record_key=record_key, severity=severity, title=title[:200], description=description,
               state="open", due_on=due_on, affected=affected, opened_by=actor, opened_at=now)
    s.add(t)
    s.flush()
    # The number is the row's id, so two nodes' operators opening at once never draw the same one.
    t.number = f"QT-{now.astimezone(clock.CHINA_TZ).year}-{t.id:06d}"
    _step(s, t, actor, "opened", description[:2000], affected=affected)
    return t


def live_for_rule(s: Session, rule_id: str, department: str) -> Ticket | None:
    return s.execute(select(Ticket).where(Ticket.rule_id == rule_id, Ticket.department == department,
                                          Ticket.state.in_(LIVE)).order_by(Ticket.id.desc()).limit(1)
                     ).scalar_one_or_none()


def _finding_text(f: Finding, names: dict[str, str] | None) -> tuple[str, str]:
    name = (names or {}).get(f.rule_id, f.rule_id)
    title = f"{name}：{f.provider}"
    pop = f" / {f.population}" if f.population else ""
    # A finding's message usually opens with the rule's name, which the title already carries.
    message = f.message.removeprefix(f"{name}：")
    return title, f"{message}\n（规则 {f.rule_id}，涉及 {f.affected}{pop} 条）"


def _require_operator(p: Principal) -> None:
    if p.role != "operator":
        raise Forbidden(f"当前角色（{p.role_label}）不能办理整改工单", code="ROLE_FORBIDDEN")


def open_from_finding(s: Session, p: Principal, finding_id: int, note: str = "", due_days: int | None = None
                      ) -> Ticket:
    """An operator sends any finding to its provider's department."""
    _require_operator(p)
    f = s.get(Finding, finding_id)
    if f is None:
        raise NotFound("没有这条检查发现", code="FINDING_NOT_FOUND")
    dept = departments.by_name(s, f.provider)
    if dept is None:
        raise Conflict(f"提供单位“{f.provider}”尚未登记为数据提供部门，无法派发工单；请先在部门管理中登记",
                       code="NO_DEPARTMENT")
    live = live_for_rule(s, f.rule_id, dept.code)
    if live is not None:
        raise Conflict(f"该部门此规则已有未关闭的工单 {live.number}", code="TICKET_EXISTS", detail={"number": live.number})
    pol = policy(s)
    title, text = _finding_text(f, pol.rule_names)
    note = (note or "").strip()
    return _open(s, department=dept.code, origin="finding", severity=f.severity, title=title,
                 description=f"{text}\n{note}" if note else text, due_on=_due(due_days or pol.due_days),
                 actor=p.username, rule_id=f.rule_id, finding_id=f.id, category=f.category, affected=f.affected)


def open_by_judgement(s: Session, p: Principal, *, department: str, title: str, description: str,
                      due_days: int, severity: str = "medium", category: str | None = None,
                      entity_code: str | None = None, record_key: str | None = None,
                      catalog: Catalog | None = None) -> Ticket:
    """An operator's own judgement about a department's data."""
    _require_operator(p)
    dept = departments.get(s, department)
    title, description = (title or "").strip(), (description or "").strip()
    if not (2 <= len(title) <= 200):
        raise InvalidInput("请填写 2–200 字的工单标题", code="TITLE_REQUIRED")
    if len(description) < 2:
        raise InvalidInput("请说明需要整改的问题", code="DESCRIPTION_REQUIRED")
    if severity not in SEVERITIES:
        raise InvalidInput(f"严重程度须为 {'、'.join(SEVERITIES.values())} 之一", code="BAD_SEVERITY")
    category = (category or "").strip() or None
    if category and catalog is not None and category not in {c.code for c in catalog.categories}:
        raise InvalidInput(f"信息清单中没有类别“{category[:40]}”", code="UNKNOWN_CATEGORY")
    entity_code = (entity_code or "").strip().upper() or None
    if entity_code and len(entity_code) != 18:
        raise InvalidInput("统一社会信用代码应为 18 位", code="BAD_ENTITY_CODE")
    return _open(s, department=dept.code, origin="operator", severity=severity, title=title,
                 description=description[:10000], due_on=_due(due_days), actor=p.username, category=category,
                 entity_code=entity_code, record_key=((record_key or "").strip()[:300] or None))


# ── the hooks: a run's findings and a feedback note ─────────────────────────────────────────────────────

def after_run(s: Session, run: QualityRun) -> None:
    """Inside a run's last transaction: open tickets for findings at or above the threshold (one live ticket
    per rule and department), update the count on those already open, and after a full run close the answered
    rule tickets whose finding is gone."""
    pol = policy(s)
    threshold = SEVERITY_RANK.get(pol.open_at, 99)
    found = list(s.execute(select(Finding).where(Finding.run_id == run.id)).scalars())
    depts = {d.name: d for d in departments.listing(s)}
    seen: set[tuple[str, str]] = set()
    for f in found:
        dept = depts.get(f.provider)
        if dept is None:
            continue
        seen.add((f.rule_id, dept.code))
        live = live_for_rule(s, f.rule_id, dept.code)
        if live is not None:
            if live.state == "open" and live.affected != f.affected:
                live.affected, live.finding_id = f.affected, f.id
                _step(s, live, SYSTEM, "updated", f"第 {run.id} 次检查：涉及 {f.affected} 条", affected=f.affected)
            continue
        if SEVERITY_RANK.get(f.severity, 0) < threshold or f.affected <= 0 or f.rule_id in pol.no_ticket:
            continue
        title, text = _finding_text(f, pol.rule_names)
        _open(s, department=dept.code, origin="finding", severity=f.severity, title=title, description=text,
              due_on=clock.today() + timedelta(days=pol.due_days), actor=SYSTEM, rule_id=f.rule_id,
              finding_id=f.id, category=f.category, affected=f.affected)
    if run.scope != "all":
        return
    answered = s.execute(select(Ticket).where(Ticket.state == "answered", Ticket.rule_id.is_not(None))).scalars()
    for t in list(answered):
        if (t.rule_id, t.department) not in seen:
            _close(s, t, SYSTEM, f"第 {run.id} 次全量检查未再发现规则 {t.rule_id} 的问题，自动关闭。", affected=0)


def on_feedback(s: Session, note: FeedbackNote, rec: CreditRecord | None) -> None:
    """A node above found a problem in a record loaded here: a ticket to the department that provided it. No
    department of that name: the note stays open and the operators' page lists it as 未匹配部门."""
    dept = departments.by_name(s, rec.provider if rec is not None else None)
    if dept is None:
        return
    if s.execute(select(Ticket.id).where(Ticket.feedback_id == note.external_id)).first():
        return
    _open(s, department=dept.code, origin="feedback", severity="medium",
          title=f"上级节点 {note.from_node} 反馈的数据问题", description=note.problem, actor=SYSTEM,
          due_on=clock.today() + timedelta(days=policy(s).due_days), feedback_id=note.external_id,
          category=note.category, entity_code=note.entity_code, record_key=note.record_key)


def unmatched_feedback(s: Session, limit: int = 100) -> list[FeedbackNote]:
    """Open feedback notes no ticket carries: their record's provider is no known department."""
    return list(s.execute(select(FeedbackNote).outerjoin(Ticket, Ticket.feedback_id == FeedbackNote.external_id)
                          .where(FeedbackNote.status == "open", Ticket.id.is_(None))
                          .order_by(FeedbackNote.received_at.desc()).limit(limit)).scalars())


def raised_feedback(s: Session, node_code: str, limit: int = 100) -> list[FeedbackNote]:
    """Notes this node raised about records from below, newest first, with how they were settled there."""
    return list(s.execute(select(FeedbackNote).where(FeedbackNote.from_node == node_code)
                          .order_by(FeedbackNote.received_at.desc(), FeedbackNote.id.desc()).limit(limit)).scalars())


def providers_without_department(s: Session) -> list[str]:
    """Providers named in the latest run's findings that no department carries: their findings open nothing."""
    last = s.execute(select(func.max(QualityRun.id)).where(QualityRun.scope == "all")).scalar()
    if last is None:
        return []
    return list(s.execute(select(Finding.provider).outerjoin(Department, Department.name == Finding.provider)
                          .where(Finding.run_id == last, Department.code.is_(None))
                          .group_by(Finding.provider).order_by(Finding.provider)).scalars())


# ── the department answers ─────────────────────────────────────────────────────────────────────────────

def answerable_deliveries(s: Session, t: Ticket) -> list[Delivery]:
    """The department's own deliveries received since the ticket opened: what it may answer with."""
    dept = departments.get(s, t.department)
    return list(s.execute(select(Delivery).where(Delivery.provider == dept.name, Delivery.received_at >= t.opened_at)
                          .order_by(Delivery.id.desc()).limit(50)).scalars())


def answer(s: Session, p: Principal, number: str, *, kind: str, delivery_id: int | None = None,
           text: str = "") -> Ticket:
    """A department's answer to its own open ticket: a new delivery, a correction (a delivery of corrected
    records) or an explanation."""
    if p.role != "department":
        raise Forbidden("只有数据提供部门可以答复工单", code="ROLE_FORBIDDEN")
    t = get(s, p, number)  # another department's ticket is not found: nothing changes
    if t.state != "open":
        raise Conflict(f"工单当前状态为“{TICKET_STATES.get(t.state, t.state)}”，不能再答复", code="TICKET_NOT_OPEN")
    if kind not in ANSWER_KINDS:
        raise InvalidInput("答复方式须为新报送、更正或情况说明", code="BAD_ANSWER_KIND")
    text = (text or "").strip()
    if kind == "explanation":
        if len(text) < 2:
            raise InvalidInput("请填写情况说明", code="EXPLANATION_REQUIRED")
        delivery_id = None
    else:
        dept = departments.get(s, t.department)
        d = s.get(Delivery, delivery_id) if delivery_id else None
        if d is None or d.provider != dept.name:
            raise NotFound("没有本部门的这次报送", code="DELIVERY_NOT_FOUND")
        if d.received_at < t.opened_at:
            raise InvalidInput(f"报送 #{d.id} 早于工单开单时间，请选择开单后的新报送", code="DELIVERY_TOO_OLD")
    t.state, t.answered_at = "answered", clock.now()
    _step(s, t, p.username, ANSWER_KINDS[kind], text[:4000] or None, delivery_id=delivery_id)
    return t


# ── re-check, close, reopen ───────────────────────────────────────────────────────────────────────────

def _close(s: Session, t: Ticket, actor: str, closure: str, *, affected: int | None = None) -> None:
    t.state, t.closed_at, t.closure = "closed", clock.now(), closure
    if affected is not None:
        t.affected = affected
    _step(s, t, actor, "closed", closure, affected=affected)
    if t.feedback_id:  # the node that raised the note hears how it was settled (network.exchange reports it up)
        exchange.close_note(s, t.feedback_id, f"整改工单 {t.number} 已关闭：{closure}")


def _reopen(s: Session, t: Ticket, actor: str, note: str, *, affected: int | None = None) -> None:
    t.state, t.closed_at, t.closure = "open", None, None
    if affected is not None:
        t.affected = affected
    _step(s, t, actor, "reopened", note, affected=affected)


def recheck(db: Database, catalog: Catalog, p: Principal, number: str) -> Ticket:
    """Run the ticket's rule again over its department's data: nothing found closes it, a finding sends it
    back to the department with the new count. The run commits on its own, so this takes the database."""
    _require_operator(p)
    with db.session() as s:
        t = get(s, p, number)
        if t.rule_id is None:
            raise Conflict("此工单不是由规则发现的，请审阅答复后关闭或重新打开", code="NO_RULE_TO_RECHECK")
        if t.state == "closed":
            raise Conflict("工单已关闭", code="TICKET_CLOSED")
        rule_id, dept_name = t.rule_id, departments.get(s, t.department).name
    run_id = runs.run_rules(db, catalog, p.username, rule_ids=[rule_id], provider=dept_name)
    with db.session() as s:
        t = get(s, p, number)
        f = runs.finding_for(s, run_id, rule_id, dept_name)
        affected = int(f.affected) if f is not None else 0
        _step(s, t, p.username, "rechecked", f"第 {run_id} 次检查（规则 {rule_id}）：涉及 {affected} 条",
              affected=affected)
        if affected == 0:
            _close(s, t, p.username, f"复核通过：第 {run_id} 次检查未再发现规则 {rule_id} 的问题。", affected=0)
        else:
            if f is not None:
                t.finding_id = f.id
            _reopen(s, t, p.username, f"复核未通过：仍有 {affected} 条不符合规则 {rule_id}，请继续整改。",
                    affected=affected)
        s.flush()
        s.expunge(t)
    return t


def close(s: Session, p: Principal, number: str, reason: str) -> Ticket:
    """An operator accepts the answer (or otherwise settles the ticket) with a reason."""
    _require_operator(p)
    t = get(s, p, number)
    if t.state == "closed":
        raise Conflict("工单已关闭", code="TICKET_CLOSED")
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise InvalidInput("请填写关闭理由", code="REASON_REQUIRED")
    _close(s, t, p.username, reason[:4000])
    return t


def reopen(s: Session, p: Principal, number: str, reason: str) -> Ticket:
    _require_operator(p)
    t = get(s, p, number)
    if t.state == "open":
        raise Conflict("工单本就处于待整改状态", code="TICKET_ALREADY_OPEN")
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise InvalidInput("请填写重新打开的理由", code="REASON_REQUIRED")
    _reopen(s, t, p.username, reason[:4000])
    return t


# ── deadlines ─────────────────────────────────────────────────────────────────────────────────────────

def escalate_overdue(s: Session, today: date, notifier: Notifier | None = None) -> int:
    """Escalate each live ticket past its due date (once), and remind the department two days before (once).
    Returns how many were escalated."""
    depts = {d.code: d for d in departments.listing(s)}

    def tell(t: Ticket, message: str) -> None:
        d = depts.get(t.department)
        if notifier is not None and d is not None and d.contact:
            notifier.send(d.contact, message, kind="quality_ticket")

    late = list(s.execute(select(Ticket).where(Ticket.state.in_(LIVE), Ticket.escalated_at.is_(None),
                                               Ticket.due_on < today)).scalars())
    for t in late:
        t.escalated_at = clock.now()
        _step(s, t, SYSTEM, "escalated", f"已超过整改期限 {t.due_on.isoformat()}，升级督办")
        tell(t, f"【信易贷平台】整改工单 {t.number} 已逾期（期限 {t.due_on.isoformat()}），已升级督办，请尽快整改。")
    reminded = select(TicketStep.ticket_id).where(TicketStep.action == "reminded")
    soon = list(s.execute(select(Ticket).where(
        Ticket.state.in_(LIVE), Ticket.escalated_at.is_(None),
        and_(Ticket.due_on >= today, Ticket.due_on <= today + timedelta(days=REMIND_DAYS)),
        Ticket.id.not_in(reminded))).scalars())
    for t in soon:
        _step(s, t, SYSTEM, "reminded", f"整改期限 {t.due_on.isoformat()} 将至")
        tell(t, f"【信易贷平台】整改工单 {t.number} 将于 {t.due_on.isoformat()} 到期，请及时答复。")
    return len(late)


def figures(s: Session, start: datetime, end: datetime, today: date) -> dict[str, int]:
    """The node's own ticket figures for a period: live now, overdue now, closed in the period."""
    live = s.execute(select(func.count()).select_from(Ticket).where(Ticket.state.in_(LIVE))).scalar_one()
    overdue = s.execute(select(func.count()).select_from(Ticket).where(Ticket.state.in_(LIVE),
                                                                       Ticket.due_on < today)).scalar_one()
    closed = s.execute(select(func.count()).select_from(Ticket).where(
        Ticket.state == "closed", Ticket.closed_at >= start, Ticket.closed_at < end)).scalar_one()
    return {"open": int(live), "overdue": int(overdue), "closed": int(closed)}


def _register() -> None:
    hooks: list[Callable[..., None]] = exchange.FEEDBACK_OPENED
    if on_feedback not in hooks:
        hooks.append(on_feedback)
    if after_run not in runs.AFTER_RUN:
        runs.AFTER_RUN.append(after_run)


_register()
