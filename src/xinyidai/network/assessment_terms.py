"""The terms of a child node's security assessment (notice point 10, issue 25): how long it holds, which
children are due, and a connected child's new assessment filed for review.

An assessment holds for `Settings.assessment_valid_days` (365 by default) from the security officer's approval:
valid through `Peer.assessment_valid_until`, expired the day after. Within 30 days of that date a connected child
may file a new one through the same signed application it joined with; it waits in `Peer.reassessment` while
the peer keeps its status and keys. A new 等保 level or certificate is a new document and may be filed at any
time. Kept apart from `assessments` (the check, decision and daily reminders) because `peers` needs these
functions and `sanctions`, which the reminders use, needs `peers`: one module would close a circle of imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.network.models import Peer

DEFAULT_VALID_DAYS = 365
DUE_WITHIN_DAYS = 30
VALIDITY = {"valid": "有效", "due": "即将到期", "expired": "已过期", "none": "未生效"}
# Children whose assessment ages: connected, under rectification, or suspended (still counted as expired).
LIVE = ("active", "rectifying", "suspended")
# Who may file a re-assessment: a suspended child is restored first, through the sanctions flow.
CONNECTED = ("active", "rectifying")
# A new level or certificate is a new document: it may be filed before the old one is due.
DOCUMENT_KEYS = ("mlps_level", "mlps_certificate")


@dataclass(frozen=True)
class Validity:
    state: str  # valid / due / expired / none
    valid_until: date | None
    days_left: int | None

    @property
    def label(self) -> str:
        return VALIDITY[self.state]

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "label": self.label, "days_left": self.days_left,
                "valid_until": self.valid_until.isoformat() if self.valid_until else None}


def china_date(at: datetime) -> date:
    return at.astimezone(clock.CHINA_TZ).date()


def start(peer: Peer, at: datetime, valid_days: int = DEFAULT_VALID_DAYS) -> None:
    """An approved assessment starts a new validity (first approval or an approved re-assessment)."""
    peer.assessed_at = at
    peer.assessment_valid_until = china_date(at) + timedelta(days=valid_days)


def valid_until(peer: Peer, valid_days: int = DEFAULT_VALID_DAYS) -> date | None:
    """The last day the assessment holds; peers connected before validity was recorded (migration 0012) date
    theirs from the decision, or from the application when even that is missing."""
    if peer.relation != "child" or peer.status not in LIVE:
        return None
    if peer.assessment_valid_until is not None:
        return peer.assessment_valid_until
    since = peer.assessed_at or peer.decided_at or peer.applied_at
    return china_date(since) + timedelta(days=valid_days) if since else None


def status(peer: Peer, today: date, valid_days: int = DEFAULT_VALID_DAYS) -> Validity:
    until = valid_until(peer, valid_days)
    if until is None:
        return Validity("none", None, None)
    left = (until - today).days
    return Validity("expired" if left < 0 else "due" if left <= DUE_WITHIN_DAYS else "valid", until, left)


def _until_by(limit: date, valid_days: int) -> ColumnElement[bool]:
    """SQL for 'holds no later than `limit`', with the same fallback as `valid_until` for migrated peers."""
    # date(since) + valid_days <= limit  ⇔  since < the start (Beijing) of limit - valid_days + 1
    cutoff = datetime.combine(limit - timedelta(days=valid_days - 1), time(), clock.CHINA_TZ)
    since = func.coalesce(Peer.assessed_at, Peer.decided_at, Peer.applied_at)
    return or_(Peer.assessment_valid_until <= limit,
               and_(Peer.assessment_valid_until.is_(None), since < cutoff))


def due_statement(today: date, within_days: int = DUE_WITHIN_DAYS, valid_days: int = DEFAULT_VALID_DAYS,
                  statuses: tuple[str, ...] = LIVE) -> Select:
    """Children whose assessment expires within `within_days` days, or already has."""
    return select(Peer).where(Peer.relation == "child", Peer.status.in_(statuses),
                              _until_by(today + timedelta(days=within_days), valid_days))


def due(s: Session, today: date, within_days: int = DUE_WITHIN_DAYS, req: PageRequest | None = None,
        valid_days: int = DEFAULT_VALID_DAYS) -> Page:
    """One page of `due_statement`, soonest expiry first."""
    sortable = {"valid_until": Peer.assessment_valid_until, "code": Peer.code, "status": Peer.status}
    return paginate(s, due_statement(today, within_days, valid_days), req or PageRequest(1, 50, None, False),
                    sortable, "valid_until")


def expired_count(s: Session, today: date, valid_days: int = DEFAULT_VALID_DAYS) -> int:
    """How many children's assessments have expired (for the oversight indicators)."""
    stmt = due_statement(today - timedelta(days=1), 0, valid_days)
    return int(s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


# ── a connected child files a new assessment ────────────────────────────────────────────────────────────

def _document(assessment: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(assessment.get(k, "")).strip() for k in DOCUMENT_KEYS)


def receive(s: Session, peer: Peer, body: dict[str, Any], key_id: str, valid_days: int = DEFAULT_VALID_DAYS
            ) -> Peer:
    """A connected child's new application (already validated and its signature verified by `peers`), kept
    as a pending re-assessment. Its status, keys and other particulars stay as they are."""
    if peer.status not in CONNECTED:
        raise Conflict(f"{peer.code} 当前不能提交重新评估", code="BAD_STATE")
    if body["suite"] != peer.suite or key_id != peer.key_id:
        raise Forbidden("重新评估申请所用密钥与登记的节点密钥不一致；更换密钥须另行办理", code="KEY_MISMATCH")
    if peer.reassessment is not None:
        raise Conflict(f"{peer.code} 已有一份重新评估正在审核（{day_of(peer.reassessment_at)} 提交）",
                       code="REASSESSMENT_PENDING")
    v = status(peer, clock.today(), valid_days)
    new_document = _document(body["assessment"]) != _document(peer.assessment or {})
    if v.state == "valid" and not new_document:
        raise Conflict(f"安全评估有效期至 {v.valid_until.isoformat() if v.valid_until else ''}，"
                       f"到期前 {DUE_WITHIN_DAYS} 天内方可重新评估（等保级别或测评报告变更除外）",
                       code="REASSESSMENT_NOT_DUE")
    peer.reassessment, peer.reassessment_at = dict(body["assessment"]), clock.now()
    peer.reassessment_checked_by = peer.reassessment_checked_at = None
    audit.record(s, peer.code, "peer.reassessment_filed", f"peer:{peer.code}", key_id=key_id,
                 mlps_level=str(body["assessment"].get("mlps_level")), new_document=new_document,
                 valid_until=v.valid_until.isoformat() if v.valid_until else None)
    return peer


def day_of(at: datetime | None) -> str:
    return china_date(at).isoformat() if at else ""
