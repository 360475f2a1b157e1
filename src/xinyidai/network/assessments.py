"""Periodic re-assessment of connected children (notice point 10, issue 25): the service the pages, API and
daily job use. A re-assessment a child filed (`assessment_terms.receive`, reached through
`peers.receive_application`) goes to the same two people as a first application: a registration officer
checks it, another security officer decides. The daily pass reminds each child 30 and 7 days before its
assessment expires and once it has, and on expiry proposes a suspension that two officers then decide.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.notify import Notifier
from xinyidai.kit.principal import Principal
from xinyidai.network import deadlines, sanctions
from xinyidai.network.assessment_terms import (
    CONNECTED,
    DEFAULT_VALID_DAYS,
    DUE_WITHIN_DAYS,
    VALIDITY,
    Validity,
    due,
    due_statement,
    expired_count,
    start,
    status,
    valid_until,
)
from xinyidai.network.models import Peer

# Days before the last valid day at which the child is reminded (tightest first), and the step recorded.
BEFORE = ((0, "d0"), (7, "d-7"), (30, "d-30"))
EXPIRED_STEP = "d+1"

__all__ = ["DEFAULT_VALID_DAYS", "DUE_WITHIN_DAYS", "VALIDITY", "Validity", "check_reassessment", "daily",
           "decide_reassessment", "due", "expired_count", "status", "valid_until", "validity_dict"]


def _pending(s: Session, code: str) -> Peer:
    peer = s.get(Peer, code)
    if peer is None:
        raise NotFound(f"未找到节点 {code}", code="PEER_NOT_FOUND")
    if peer.reassessment is None:
        raise Conflict(f"{code} 没有待审核的重新评估", code="NO_REASSESSMENT")
    return peer


def check_reassessment(s: Session, actor: Principal, code: str, note: str) -> Peer:
    """The registration officer's check, as for a first application."""
    if actor.role != "operator":
        raise Forbidden("只有登记审核人员（运营）可以审核重新评估", code="ROLE_FORBIDDEN")
    peer = _pending(s, code)
    if peer.reassessment_checked_by:
        raise Conflict(f"重新评估已由 {peer.reassessment_checked_by} 审核", code="BAD_STATE")
    peer.reassessment_checked_by, peer.reassessment_checked_at = actor.username, clock.now()
    audit.record(s, actor.username, "peer.reassessment_checked", f"peer:{code}", note=(note or "").strip()[:1000])
    return peer


def decide_reassessment(s: Session, actor: Principal, code: str, approve: bool, reason: str,
                        valid_days: int = DEFAULT_VALID_DAYS) -> Peer:
    """A security officer other than the checker decides. Approval replaces the assessment and starts a new
    validity; rejection drops the filing. The peer stays connected either way: an expired assessment is
    handled by a sanction proposal, not here."""
    if actor.role != "security":
        raise Forbidden("只有安全管理员可以决定重新评估", code="ROLE_FORBIDDEN")
    peer = _pending(s, code)
    if not peer.reassessment_checked_by:
        raise Conflict("重新评估尚未经登记审核人员审核", code="NOT_CHECKED")
    if peer.reassessment_checked_by == actor.username:
        raise Forbidden("审核与决定不能由同一人完成", code="SEPARATION_OF_DUTIES")
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise InvalidInput("请填写理由", code="REASON_REQUIRED")
    before = peer.assessment_valid_until or valid_until(peer, valid_days)
    if approve:
        peer.assessment = peer.reassessment
        start(peer, clock.now(), valid_days)
    checker = peer.reassessment_checked_by
    peer.reassessment = peer.reassessment_at = None
    peer.reassessment_checked_by = peer.reassessment_checked_at = None
    audit.record(s, actor.username, "peer.reassessment_approved" if approve else "peer.reassessment_rejected",
                 f"peer:{code}", reason=reason[:1000], checked_by=checker,
                 valid_until_before=before.isoformat() if before else None,
                 valid_until=peer.assessment_valid_until.isoformat() if peer.assessment_valid_until else None)
    return peer


def validity_dict(peer: Peer, today: date, valid_days: int = DEFAULT_VALID_DAYS) -> dict[str, Any]:
    """What the API shows of a peer's assessment: validity, and the pending re-assessment if any."""
    return {"code": peer.code, "name": peer.name, "status": peer.status,
            "assessed_at": peer.assessed_at.isoformat() if peer.assessed_at else None,
            "validity": status(peer, today, valid_days).as_dict(),
            "reassessment": None if peer.reassessment is None else {
                "assessment": peer.reassessment,
                "filed_at": peer.reassessment_at.isoformat() if peer.reassessment_at else None,
                "checked_by": peer.reassessment_checked_by}}


def daily(s: Session, today: date, notifier: Notifier | None = None,
          send_notice: deadlines.SendNotice | None = None, valid_days: int = DEFAULT_VALID_DAYS) -> dict[str, int]:
    """One day's pass over connected children whose assessment is due: a reminder 30 and 7 days before the last
    valid day and on it, and the day after, an expiry notice with a proposal to suspend (two security officers
    decide). Each step is recorded once by `deadlines.remind`, so running twice, or every day, is harmless."""
    done = {"checked": 0, "reminders": 0, "proposals": 0}
    stmt = due_statement(today, DUE_WITHIN_DAYS, valid_days, CONNECTED).order_by(Peer.code)
    for peer in s.execute(stmt).scalars().all():
        v = status(peer, today, valid_days)
        if v.valid_until is None or v.days_left is None:
            continue
        done["checked"] += 1
        until = v.valid_until.isoformat()
        if v.state == "expired":
            # The reminder row says the expiry was handled: a proposal the officers rejected is not raised again.
            sent = deadlines.remind(
                s, "peer", peer.code, "assessment_expired", v.valid_until, EXPIRED_STEP, "安全评估已过期",
                f"{peer.name}（{peer.code}）的安全评估已于 {until} 到期，未见重新评估获批；已提议暂停其接入，"
                "待两名安全管理员审核决定。请尽快提交重新评估。", notifier=notifier, send_notice=send_notice)
            if sent:
                done["reminders"] += 1
                sanctions.propose(s, None, "peer", peer.code, "suspend",
                                  f"安全评估有效期至 {until}，已过期且未重新评估", "assessment", until)
                done["proposals"] += 1
            continue
        if peer.reassessment is not None:
            continue  # already filed: the officers have it, the child needs no reminder
        step = next(st for days, st in BEFORE if v.days_left <= days)
        when = "今天到期" if v.days_left == 0 else f"将于 {v.days_left} 天后（{until}）到期"
        sent = deadlines.remind(
            s, "peer", peer.code, "assessment_due", v.valid_until, step, "安全评估将到期",
            f"{peer.name}（{peer.code}）的安全评估{when}，请按原接入申请方式提交重新评估"
            "（xinyidai node reassess）。过期未重新评估将被提议暂停接入。",
            notifier=notifier, send_notice=send_notice)
        done["reminders"] += int(sent)
    return done
