"""The default response (违约响应, notice point 十三): an overdue repayment report opens a case; the enterprise
is reminded at once (催告, by SMS to its verified administrator and on its portal) and again on the schedule
of `rules.yaml`; at 30 days past due the case is escalated to the city's credit office (约谈, recorded), and
it ends cured, restructured or non-performing (≥ 90 days).

The system's moves follow from the days past due alone (`flows.system_moves`); a person's moves go through
the same flow table. Default data never reaches the public tier, another bank or another node."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from xinyidai.accounts.models import RealNameRegistration
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import InvalidInput, NotFound
from xinyidai.kit.notify import Notifier
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.market import flows, rules
from xinyidai.market.flows import ActorKind
from xinyidai.market.models import CaseEvent, DefaultCase, Loan, Reminder
from xinyidai.market.money import wan

SORTABLE = {"opened_at": DefaultCase.opened_at, "latest_dpd": DefaultCase.latest_dpd, "state": DefaultCase.state}
# Set by the application factory and the CLI (the node's notifier); None: reminders go to the portal only.
NOTIFIER: dict[str, Notifier] = {}
QUIET = "market.quiet"  # a session flag: moves are being tried and may all be undone, so send no SMS


@contextmanager
def quiet(s: Session) -> Iterator[None]:
    """Within: reminders are recorded but not texted (a bank's file is tried row by row, then undone)."""
    s.info[QUIET] = True
    try:
        yield
    finally:
        s.info.pop(QUIET, None)


def _mask(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def _event(s: Session, case: DefaultCase, action: str, old: str, new: str, kind: ActorKind, actor: str,
           payload: dict[str, Any]) -> None:
    seq = (s.execute(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case.id)).scalar() or 0) + 1
    s.add(CaseEvent(case_id=case.id, seq=seq, action=action, from_state=old, to_state=new, actor_kind=kind.value,
                    actor=actor[:64], at=clock.now(), payload=payload))


def _move(s: Session, case: DefaultCase, action: str, kind: ActorKind, actor: str, payload: dict[str, Any]) -> None:
    old = case.state
    new = flows.DEFAULT_CASE.check(old, action, kind, dpd=case.latest_dpd, last_action=case.last_action)
    case.state, case.last_action = new, action
    now = clock.now()
    if action == "escalate":
        case.escalated_at = now
    if flows.DEFAULT_CASE.is_final(new) or new in (flows.CURED, flows.RESTRUCTURED, flows.NPL):
        case.ended_at = case.ended_at or now
    _event(s, case, action, old, new, kind, actor, payload)
    audit.record(s, actor, f"market.case.{action}", f"case:{case.number}", entity_code=case.entity_code,
                 institution_code=case.institution_code, state=new, dpd=case.latest_dpd)


def _remind(s: Session, case: DefaultCase, step: str, loan: Loan) -> None:
    """One 催告 per step (unique): an SMS to the verified administrator when there is one, else the portal."""
    if s.execute(select(Reminder.id).where(Reminder.case_id == case.id, Reminder.step == step)).first():
        return
    bank = s.execute(select(FinancialInstitution.name).where(
        FinancialInstitution.code == case.institution_code)).scalar() or case.institution_code
    message = (f"【信易贷】贵企业在{bank}的贷款已逾期 {case.latest_dpd} 天，逾期金额 {wan(case.overdue_fen)}，"
               "请尽快还款或与银行联系；如有异议可登录平台说明情况。")
    phone = s.execute(select(RealNameRegistration.phone).where(
        RealNameRegistration.entity_code == case.entity_code, RealNameRegistration.status == "completed")
        .order_by(RealNameRegistration.id.desc()).limit(1)).scalar()
    notifier = None if s.info.get(QUIET) else NOTIFIER.get("node")
    delivered = bool(phone and notifier)
    if delivered:
        notifier.send(phone, message, kind="market.default")  # type: ignore[union-attr]
    s.add(Reminder(case_id=case.id, step=step, channel="sms" if delivered else "portal",
                   to_masked=_mask(phone) if phone else None, message=message, at=clock.now(),
                   delivered=int(delivered)))


def on_report(s: Session, loan: Loan, dpd: int, overdue_fen: int, as_of: date) -> DefaultCase | None:
    """A status report's consequences: open a case on the first overdue report, remind, escalate, classify,
    cure — exactly the moves `flows.system_moves` names for the new days past due."""
    case = s.execute(select(DefaultCase).where(DefaultCase.loan_id == loan.id,
                                               DefaultCase.state.in_(flows.CASE_OPEN))).scalar_one_or_none()
    state = case.state if case is not None else flows.START
    moves = flows.system_moves(state, dpd)
    if case is None and not moves:
        return None
    now = clock.now()
    if case is None:
        from xinyidai.market.products import number_of

        case = DefaultCase(number=number_of("WY", loan.origin_node), loan_id=loan.id, entity_code=loan.entity_code,
                           institution_code=loan.institution_code, city_code=loan.city_code, state=flows.START,
                           last_action="", opened_at=now, dpd_at_open=dpd, latest_dpd=dpd, max_dpd=dpd,
                           overdue_fen=overdue_fen)
        s.add(case)
        s.flush()
    case.latest_dpd, case.max_dpd, case.overdue_fen = dpd, max(case.max_dpd, dpd), overdue_fen
    for action in moves:
        if action == "open":
            case.state = flows.DEFAULT_CASE.check(flows.START, "open", ActorKind.SYSTEM)
            case.last_action = "open"
            _event(s, case, "open", flows.START, case.state, ActorKind.SYSTEM, "system",
                   {"dpd": dpd, "as_of": as_of.isoformat(), "overdue_fen": overdue_fen})
            audit.record(s, "system", "market.case.open", f"case:{case.number}", entity_code=case.entity_code,
                         institution_code=case.institution_code, dpd=dpd)
            continue
        _move(s, case, action, ActorKind.SYSTEM, "system", {"dpd": dpd, "as_of": as_of.isoformat()})
        if action == "remind":
            _remind(s, case, "d1", loan)
    if case.state in flows.CASE_OPEN:
        for day in rules.load().reminders:
            if dpd >= day:
                _remind(s, case, f"d{day}", loan)
    return case


def visible(p: Principal) -> Select:
    """Cases `p` may see: the lending bank its own, the enterprise its own, staff all (the city's office)."""
    stmt = select(DefaultCase)
    if p.role == "bank":
        return stmt.where(DefaultCase.institution_code == (p.org_code or "-"))
    if p.role == "enterprise":
        return stmt.where(DefaultCase.entity_code == (p.org_code or "-"))
    return stmt if p.role in STAFF else stmt.where(False)


def search(s: Session, p: Principal, req: PageRequest, *, state: str | None = None, city: str | None = None,
           open_only: bool = False) -> Page:
    stmt = visible(p)
    if state:
        stmt = stmt.where(DefaultCase.state == state)
    if open_only:
        stmt = stmt.where(DefaultCase.state.in_(flows.CASE_OPEN))
    if city:
        stmt = stmt.where(DefaultCase.city_code == city)
    return paginate(s, stmt, req, SORTABLE, "opened_at")


def get(s: Session, p: Principal, number: str) -> DefaultCase:
    case = s.execute(visible(p).where(DefaultCase.number == number)).scalar_one_or_none()
    if case is None:
        raise NotFound(f"未找到违约案件 {number}", code="CASE_NOT_FOUND")
    return case


def act(s: Session, p: Principal, number: str, action: str, body: dict[str, Any]) -> DefaultCase:
    """A person's move: the city office reminds, escalates or records the 约谈 it held (with its record), or
    closes; the bank cures, restructures or classifies; the enterprise explains (说明情况) or sends a plan."""
    from xinyidai.market.products import actor_kind

    case = get(s, p, number)
    kind = actor_kind(p)
    note = (body.get("note") or "").strip()[:4000]
    payload: dict[str, Any] = {"note": note or None}
    if action in ("escalate", "interview"):
        interview = {k: (body.get(k) or "").strip()[:500] for k in ("held_on", "place", "attendees", "agreed")}
        if not (interview["held_on"] and interview["attendees"] and (interview["agreed"] or note)):
            raise InvalidInput("升级督办须记录约谈时间、参加人和约谈内容", code="INTERVIEW_NOTE_REQUIRED")
        payload["interview"] = interview
    if action == "respond" and not note:
        raise InvalidInput("请填写情况说明或还款计划", code="NOTE_REQUIRED")
    _move(s, case, action, kind, p.username, payload)
    if action == "remind":
        loan = s.get(Loan, case.loan_id)
        _remind(s, case, f"m{clock.now():%m%d%H%M}", loan)  # type: ignore[arg-type]
    return case


def timeline(s: Session, case: DefaultCase) -> list[CaseEvent]:
    return list(s.execute(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)).scalars())


def reminders(s: Session, case: DefaultCase) -> list[Reminder]:
    return list(s.execute(select(Reminder).where(Reminder.case_id == case.id).order_by(Reminder.at)).scalars())


def case_dict(case: DefaultCase) -> dict[str, Any]:
    return {"number": case.number, "state": case.state, "state_label": flows.DEFAULT_CASE.label(case.state),
            "entity_code": case.entity_code, "institution_code": case.institution_code, "city_code": case.city_code,
            "opened_at": case.opened_at.isoformat(), "dpd": case.latest_dpd, "max_dpd": case.max_dpd,
            "overdue": case.overdue_fen / 100,
            "escalated_at": case.escalated_at.isoformat() if case.escalated_at else None,
            "next": [{"action": m.action, "label": m.label, "by": sorted(m.actors)}
                     for m in flows.DEFAULT_CASE.moves_from(case.state)]}


def excluded_entities(now: datetime) -> Select:
    """Entities with an open default case or a non-performing one: what a white list may exclude."""
    return select(DefaultCase.entity_code).where(DefaultCase.state.in_((*flows.CASE_OPEN, flows.NPL))).distinct()
