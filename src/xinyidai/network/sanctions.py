"""Suspending or revoking a connected node or institution (point 10: 整改不到位或发生安全事件的，取消接入) is never
one person's act. A proposal is raised — by the daily job when a rectification deadline passed, by an
incident, by a re-assessment that lapsed, or by an officer — then agreed by one security officer and
decided by another, neither of them the proposer. Approval carries the sanction out at once, through the
same service functions an officer would use (`peers.suspend` / `peers.revoke`, `onboarding.sanction`), in the
caller's transaction: the proposal's new state, the target's new status and every audit entry are stored
together or not at all.

待初审 (proposed) → 待决定 (agreed) → 已执行 (executed) | 已否决 (rejected); a proposal can also be rejected while
still proposed (the first officer disagrees).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.institutions import onboarding
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.network import peers
from xinyidai.network.models import (
    SANCTION_ACTIONS,
    SANCTION_SOURCES,
    SANCTION_STATES,
    SANCTION_TARGETS,
    Peer,
    SanctionProposal,
)

SYSTEM = "system"  # the daily job, as the proposer
PROPOSERS = ("operator", "security")
OPEN = ("proposed", "agreed")
SORTABLE = {"proposed_at": SanctionProposal.proposed_at, "number": SanctionProposal.number,
            "state": SanctionProposal.state, "target_code": SanctionProposal.target_code,
            "action": SanctionProposal.action, "decided_at": SanctionProposal.decided_at}


def _security(actor: Principal) -> None:
    if actor.role != "security":
        raise Forbidden("只有安全管理员可以审核和决定暂停、取消接入", code="ROLE_FORBIDDEN")


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) < 2:
        raise InvalidInput("请填写理由（至少 2 个字）", code="REASON_REQUIRED")
    return text[:1000]


def target_status(s: Session, target_kind: str, target_code: str) -> str:
    """The target's current status, or NotFound."""
    if target_kind == "peer":
        peer = s.get(Peer, target_code)
        if peer is None or peer.relation != "child":
            raise NotFound(f"未找到下级节点 {target_code}", code="PEER_NOT_FOUND")
        return peer.status
    if target_kind == "institution":
        inst = s.get(FinancialInstitution, target_code)
        if inst is None:
            raise NotFound(f"未找到金融机构 {target_code}", code="INSTITUTION_NOT_FOUND")
        return inst.status
    raise InvalidInput("对象类型须为 peer 或 institution", code="BAD_TARGET")


def open_proposal(s: Session, target_kind: str, target_code: str, action: str) -> SanctionProposal | None:
    return s.execute(select(SanctionProposal).where(
        SanctionProposal.target_kind == target_kind, SanctionProposal.target_code == target_code,
        SanctionProposal.action == action, SanctionProposal.state.in_(OPEN))
        .order_by(SanctionProposal.id).limit(1)).scalar_one_or_none()


def propose(s: Session, actor: Principal | None, target_kind: str, target_code: str, action: str, reason: str,
            source: str, source_ref: str | None = None) -> SanctionProposal:
    """Raise a proposal (actor None: the daily job). While one for the same target and action is open, that
    one is returned instead of a second."""
    if actor is not None and actor.role not in PROPOSERS:
        raise Forbidden("只有平台运营人员或安全管理员可以提议暂停或取消接入", code="ROLE_FORBIDDEN")
    if target_kind not in SANCTION_TARGETS:
        raise InvalidInput("对象类型须为 peer 或 institution", code="BAD_TARGET")
    if action not in SANCTION_ACTIONS:
        raise InvalidInput("处置须为 suspend（暂停接入）或 revoke（取消接入）", code="BAD_ACTION")
    if source not in SANCTION_SOURCES:
        raise InvalidInput(f"提议来源须为 {'、'.join(SANCTION_SOURCES)} 之一", code="BAD_SOURCE")
    code = (target_code or "").strip().upper()[:20]
    status = target_status(s, target_kind, code)
    if status == "revoked":
        raise Conflict(f"{SANCTION_TARGETS[target_kind]} {code} 已撤销接入", code="ALREADY_REVOKED")
    existing = open_proposal(s, target_kind, code, action)
    if existing is not None:
        return existing
    if action == "suspend" and status == "suspended":
        raise Conflict(f"{SANCTION_TARGETS[target_kind]} {code} 已处于暂停状态", code="ALREADY_SUSPENDED")
    why = _reason(reason)
    by = actor.username if actor is not None else SYSTEM
    now = clock.now()
    p = SanctionProposal(number=f"CZ{now.astimezone(clock.CHINA_TZ):%Y%m%d}-{secrets.token_hex(3).upper()}",
                         target_kind=target_kind, target_code=code, action=action, reason=why, source=source,
                         source_ref=(source_ref or None) and str(source_ref)[:60], state="proposed",
                         proposed_by=by, proposed_at=now)
    s.add(p)
    s.flush()
    audit.record(s, by, "sanction.proposed", f"sanction:{p.number}", about=f"{target_kind}:{code}",
                 sanction=action, source=source, source_ref=p.source_ref, reason=why)
    return p


def get(s: Session, actor: Principal, number: str) -> SanctionProposal:
    if actor.role not in STAFF:
        raise Forbidden("无权查看处置提议", code="ROLE_FORBIDDEN")
    p = s.execute(select(SanctionProposal).where(SanctionProposal.number == (number or "").strip()[:40])
                  ).scalar_one_or_none()
    if p is None:
        raise NotFound(f"未找到处置提议 {number}", code="PROPOSAL_NOT_FOUND")
    return p


def agree(s: Session, actor: Principal, number: str, reason: str) -> SanctionProposal:
    """The first security officer agrees (初审同意); the proposer cannot."""
    _security(actor)
    p = get(s, actor, number)
    if p.state != "proposed":
        raise Conflict(f"该提议当前为「{SANCTION_STATES[p.state]}」，不能初审", code="BAD_STATE")
    if actor.username == p.proposed_by:
        raise Forbidden("提议人不能初审自己的提议", code="SAME_OFFICER")
    why = _reason(reason)
    p.state, p.agreed_by, p.agreed_at = "agreed", actor.username, clock.now()
    audit.record(s, actor.username, "sanction.agreed", f"sanction:{p.number}",
                 about=f"{p.target_kind}:{p.target_code}", sanction=p.action, reason=why)
    return p


def decide(s: Session, actor: Principal, number: str, approve: bool, reason: str) -> SanctionProposal:
    """The second security officer decides: approval executes the sanction at once. A proposal still waiting
    for its first officer may be rejected (not approved) here, by someone other than the proposer."""
    _security(actor)
    p = get(s, actor, number)
    if p.state not in OPEN:
        raise Conflict(f"该提议已{SANCTION_STATES[p.state]}，不能再决定", code="ALREADY_DECIDED")
    if approve and p.state != "agreed":
        raise Conflict("该提议尚未经另一名安全管理员初审同意", code="NOT_AGREED")
    if actor.username in (p.proposed_by, p.agreed_by):
        raise Forbidden("决定须由提议人和初审人以外的另一名安全管理员作出", code="SAME_OFFICER")
    why = _reason(reason)
    if approve:
        text = f"处置提议 {p.number}：{why}"
        if p.target_kind == "peer":
            (peers.suspend if p.action == "suspend" else peers.revoke)(s, actor, p.target_code, text)
        else:
            onboarding.sanction(s, actor, p.target_code, p.action, text)
    p.state = "executed" if approve else "rejected"
    p.decided_by, p.decided_at, p.decision_reason = actor.username, clock.now(), why
    audit.record(s, actor.username, f"sanction.{p.state}", f"sanction:{p.number}",
                 about=f"{p.target_kind}:{p.target_code}", sanction=p.action, reason=why)
    return p


def listing(s: Session, actor: Principal, req: PageRequest, *, state: str | None = None,
            target_kind: str | None = None, target_code: str | None = None) -> Page:
    """Proposals the platform's staff may read, newest first by default."""
    if actor.role not in STAFF:
        raise Forbidden("无权查看处置提议", code="ROLE_FORBIDDEN")
    stmt = select(SanctionProposal)
    if state in SANCTION_STATES:
        stmt = stmt.where(SanctionProposal.state == state)
    elif state == "open":
        stmt = stmt.where(SanctionProposal.state.in_(OPEN))
    if target_kind in SANCTION_TARGETS:
        stmt = stmt.where(SanctionProposal.target_kind == target_kind)
    if target_code:
        stmt = stmt.where(SanctionProposal.target_code == target_code.strip().upper()[:20])
    return paginate(s, stmt, req, SORTABLE, "proposed_at")


def for_target(s: Session, target_kind: str, target_code: str, limit: int = 20) -> list[SanctionProposal]:
    """A target's proposals, open ones first (its file shows them)."""
    return list(s.execute(select(SanctionProposal).where(
        SanctionProposal.target_kind == target_kind, SanctionProposal.target_code == target_code)
        .order_by(SanctionProposal.state.not_in(OPEN), SanctionProposal.id.desc()).limit(limit)).scalars())


def proposal_dict(p: SanctionProposal) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        return v.isoformat() if v is not None else None

    return {"number": p.number, "target_kind": p.target_kind,
            "target_kind_label": SANCTION_TARGETS.get(p.target_kind, p.target_kind),
            "target_code": p.target_code, "action": p.action,
            "action_label": SANCTION_ACTIONS.get(p.action, p.action), "reason": p.reason, "source": p.source,
            "source_label": SANCTION_SOURCES.get(p.source, p.source), "source_ref": p.source_ref,
            "state": p.state, "state_label": SANCTION_STATES.get(p.state, p.state),
            "proposed_by": p.proposed_by, "proposed_at": iso(p.proposed_at), "agreed_by": p.agreed_by,
            "agreed_at": iso(p.agreed_at), "decided_by": p.decided_by, "decided_at": iso(p.decided_at),
            "decision_reason": p.decision_reason}
