"""Pages of the node network: the topology (live), the review queue and a peer's file with the officers'
actions, the transfers (outbox), reconciliation results and the banks' data-needs register.

The pages read the network tables directly and call the onboarding services in `peers` for every change,
so the same role checks, separation of duties and audit entries apply as through the JSON API. An action
that a service refuses is shown on the peer's file in Chinese rather than on a bare error page, because the
officer needs the context (the application) to decide what to do next.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.institutions import pages as institution_pages
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.pagination import PageRequest, paginate
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.network import assessments, deadlines, keys, notices, peers, sanctions
from xinyidai.network.api import topology_data
from xinyidai.network.models import (
    MODES,
    OUTBOX_STATUSES,
    PEER_RELATIONS,
    PEER_STATUSES,
    REMINDER_KINDS,
    SANCTION_ACTIONS,
    SANCTION_SOURCES,
    SANCTION_STATES,
    SANCTION_TARGETS,
    BankNeed,
    InboxEnvelope,
    OutboxEnvelope,
    Peer,
    Reconciliation,
    RefusedEnvelope,
    SanctionProposal,
)
from xinyidai.records.models import CreditRecord
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo, PageSize, SmallRowId
from xinyidai.web.templating import render

router = APIRouter(include_in_schema=False)
OFFICERS = ("operator", "security")
ROLE_LABELS = {"national": "国家级", "provincial": "省级", "municipal": "市级"}
RECON_STATUSES = {"match": "一致", "mismatch": "不一致", "pending": "待对方回复"}
# What each action is called on screen, and the notice shown after it succeeded.
ACTIONS = {"check": ("审核通过", "已审核通过，等待安全管理员决定"), "approve": ("批准接入", "已批准接入"),
           "reject": ("驳回", "已驳回接入申请"), "rectify": ("要求整改", "已要求整改"),
           "restore": ("恢复", "已恢复接入"), "revoke": ("撤销", "已撤销接入"),
           "reassessment_check": ("审核通过", "重新评估已审核通过，等待另一位安全管理员决定"),
           "reassessment_approve": ("批准", "已批准重新评估，安全评估有效期已重新起算"),
           "reassessment_reject": ("驳回", "已驳回重新评估，原评估有效期不变")}
NOTICE_DONE = {"read": "通知已标记为已读", "rotated": "本节点密钥已轮换，新密钥已通知上下级节点；重叠期内旧密钥仍被接受"}
# The filter on the review queue that lists children whose assessment is due or expired (not a peer status).
ASSESSMENT_DUE = "assessment_due"


# ── topology ─────────────────────────────────────────────────────────────────────────────────────────────

def _here(s: Session) -> dict[str, Any]:
    """What this node holds, by where it came from: the figure that grows as records arrive."""
    rows = s.execute(select(CreditRecord.origin_node, func.count()).where(CreditRecord.status == "current")
                     .group_by(CreditRecord.origin_node)).all()
    by_origin = {(o or ""): int(n) for o, n in rows}
    backlog = s.execute(select(func.coalesce(func.sum(OutboxEnvelope.items), 0))
                        .where(OutboxEnvelope.status == "pending")).scalar_one()
    return {"records": sum(by_origin.values()), "local": by_origin.pop("", 0), "by_origin": by_origin,
            "backlog": int(backlog)}


def topology_view(request: Request, s: Session) -> dict[str, Any]:
    data = topology_data(request, s)
    data["self"].update(_here(s), role_label=ROLE_LABELS.get(data["self"]["role"], data["self"]["role"]))
    now = clock.now()
    for p in data["peers"]:
        p["role_label"] = ROLE_LABELS.get(p["role"], p["role"])
        p["relation_label"] = PEER_RELATIONS.get(p["relation"], p["relation"])
        p["mode_label"] = MODES.get(p["mode"], p["mode"])
        seen = datetime.fromisoformat(p["last_contact_at"]) if p["last_contact_at"] else None
        p["last_contact_label"] = seen.astimezone(clock.CHINA_TZ).strftime("%m-%d %H:%M:%S") if seen else ""
        p["last_contact_ago"] = _ago((now - seen).total_seconds()) if seen else ""
    return data


def _ago(seconds: float) -> str:
    """"12 秒前": the officer watching the page cares whether a neighbour is alive, not the timestamp."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} 秒前"
    if s < 3600:
        return f"{s // 60} 分钟前"
    if s < 86400:
        return f"{s // 3600} 小时前"
    return f"{s // 86400} 天前"


@router.get("/network", response_class=HTMLResponse)
def topology_page(request: Request, done: str = "", p: Principal = Depends(require(*STAFF)),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _topology_page(request, s, done=NOTICE_DONE.get(done))


def _topology_page(request: Request, s: Session, *, done: str | None = None, status_code: int = 200,
                   key_error: str | None = None, form: dict[str, str] | None = None) -> Response:
    settings = node(request).settings
    return render(request, "network/topology.html", status_code=status_code, topo=topology_view(request, s),
                  tab="topology", notices=notices.listing(s), unread=notices.unread(s), done=done,
                  own_keys=keys.own_keys(settings), peer_keys=keys.peer_key_rows(s),
                  overlap_hours=settings.key_overlap_hours, key_error=key_error, form=form or {})


@router.post("/network/keys/rotate")
def rotate_key(request: Request, reason: str = Form(""), overlap_hours: str = Form(""),
               p: Principal = Depends(require("security")),
               s: Session = Depends(db_session, scope="function")) -> Response:
    """The security officer rotates the node's key (audited with the reason); peers are told in envelopes."""
    try:
        hours = int(overlap_hours) if overlap_hours.strip() else None
    except ValueError:
        hours = 0  # refused below with the range in Chinese
    try:
        keys.rotate(node(request).db, node(request).settings, p.username, reason, hours)
    except DomainError as exc:
        return _topology_page(request, s, status_code=exc.status, key_error=f"{exc.message}（{exc.code}）",
                              form={"reason": reason, "overlap_hours": overlap_hours})
    return RedirectResponse("/network?done=rotated#node-keys", status_code=303)


@router.get("/network/_topology", response_class=HTMLResponse)
def topology_fragment(request: Request, p: Principal = Depends(require(*STAFF)),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    """The part of /network that htmx refreshes every few seconds (table and chart data)."""
    resp = render(request, "network/_topology.html", topo=topology_view(request, s))
    resp.headers["Cache-Control"] = "no-store"
    return resp


# ── review queue and a peer's file ───────────────────────────────────────────────────────────────────────

@router.get("/network/applications", response_class=HTMLResponse)
def applications(request: Request, status: str = "pending", page: PageNo = 1, sort: str | None = None,
                 desc: bool = True, p: Principal = Depends(require(*STAFF)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    status = status if status in PEER_STATUSES or status in ("all", ASSESSMENT_DUE) else "pending"
    days, today = node(request).settings.assessment_valid_days, clock.today()
    if status == ASSESSMENT_DUE:
        result = assessments.due(s, today, req=PageRequest(page, 20, sort, desc), valid_days=days)
    else:
        result = peers.list_peers(s, PageRequest(page, 20, sort, desc), None if status == "all" else status, "child")
    counts = dict(s.execute(select(Peer.status, func.count()).where(Peer.relation == "child")
                            .group_by(Peer.status)).all())
    due_count = s.execute(select(func.count()).select_from(
        assessments.due_statement(today, valid_days=days).subquery())).scalar_one()
    validity = {x.code: assessments.status(x, today, days) for x in result.items}
    return render(request, "network/applications.html", page=result, status=status, counts=counts,
                  due_count=int(due_count), validity=validity, statuses=PEER_STATUSES, roles=ROLE_LABELS,
                  modes=MODES, tab="applications")


def _traffic(s: Session, code: str) -> dict[str, Any]:
    out = {st: (int(n), int(i or 0)) for st, n, i in s.execute(
        select(OutboxEnvelope.status, func.count(), func.sum(OutboxEnvelope.items))
        .where(OutboxEnvelope.recipient == code).group_by(OutboxEnvelope.status)).all()}
    n_in, items_in, last_in = s.execute(select(func.count(), func.sum(InboxEnvelope.items),
                                               func.max(InboxEnvelope.received_at))
                                        .where(InboxEnvelope.sender == code)).one()
    refused = list(s.execute(select(RefusedEnvelope).where(RefusedEnvelope.claimed_sender == code)
                             .order_by(RefusedEnvelope.id.desc()).limit(20)).scalars())
    n_refused = s.execute(select(func.count()).select_from(RefusedEnvelope)
                          .where(RefusedEnvelope.claimed_sender == code)).scalar_one()
    return {"outbox": out, "inbox": (int(n_in), int(items_in or 0)), "last_in": last_in, "refused": refused,
            "refused_total": int(n_refused)}


def _peer_page(request: Request, s: Session, code: str, *, status_code: int = 200, error: str | None = None,
               error_code: str | None = None, done: str | None = None, form: dict[str, str] | None = None
               ) -> Response:
    peer = peers.get_peer(s, code)
    history = list(s.execute(select(audit.AuditEvent).where(audit.AuditEvent.target == f"peer:{code}")
                             .order_by(audit.AuditEvent.id.desc()).limit(100)).scalars())
    validity = assessments.status(peer, clock.today(), node(request).settings.assessment_valid_days)
    connection = {"reminders": deadlines.sent_for(s, "peer", code), "proposals": sanctions.for_target(s, "peer", code),
                  "target_kind": "peer", "target_code": code, "reminder_kinds": REMINDER_KINDS}
    return render(request, "network/peer.html", status_code=status_code, peer=peer, info=peers.peer_dict(peer),
                  connection=connection,
                  validity=validity,
                  assessment=peers.ASSESSMENT, history=history, traffic=_traffic(s, code), error=error,
                  error_code=error_code, done=done, form=form or {}, roles=ROLE_LABELS, modes=MODES,
                  outbox_statuses=OUTBOX_STATUSES, relations=PEER_RELATIONS, tab="applications")


@router.get("/network/peers/{code}", response_class=HTMLResponse)
def peer_file(code: str, request: Request, done: str = "", p: Principal = Depends(require(*STAFF)),
              s: Session = Depends(db_session, scope="function")) -> Response:
    return _peer_page(request, s, code, done=ACTIONS[done][1] if done in ACTIONS else None)


def _apply(s: Session, p: Principal, code: str, action: str, reason: str, deadline: str,
           valid_days: int = assessments.DEFAULT_VALID_DAYS) -> None:
    if action == "check":
        if len(reason.strip()) < 2:
            raise InvalidInput("请填写审核意见", code="REASON_REQUIRED")
        peers.check(s, p, code, reason)
    elif action in ("approve", "reject"):
        peers.decide(s, p, code, action == "approve", reason, valid_days)
    elif action == "rectify":
        try:
            due = date.fromisoformat(deadline)
        except ValueError:
            raise InvalidInput("请给出整改期限（日期）", code="BAD_DEADLINE") from None
        peers.rectify(s, p, code, due, reason)
    elif action == "restore":
        peers.restore(s, p, code, reason)
    elif action == "revoke":
        peers.revoke(s, p, code, reason)
    else:
        raise InvalidInput("未知操作", code="UNKNOWN_ACTION")


@router.post("/network/peers/{code}/{action}")
def peer_action(code: str, action: str, request: Request, reason: str = Form(""), deadline: str = Form(""),
                p: Principal = Depends(require(*OFFICERS)),
                s: Session = Depends(db_session, scope="function")) -> Response:
    """One officer's action through the services; a refusal is shown on the file, nothing is changed."""
    try:
        _apply(s, p, code, action, reason, deadline, node(request).settings.assessment_valid_days)
    except DomainError as exc:
        s.rollback()
        return _peer_page(request, s, code, status_code=exc.status, error=exc.message, error_code=exc.code,
                          form={"action": action, "reason": reason, "deadline": deadline})
    return RedirectResponse(f"/network/peers/{code}?done={action}", status_code=303)


@router.post("/network/peers/{code}/reassessment/{action}")
def reassessment_action(code: str, action: str, request: Request, reason: str = Form(""),
                        p: Principal = Depends(require(*OFFICERS)),
                        s: Session = Depends(db_session, scope="function")) -> Response:
    """Check (registration officer) or decide (another security officer) a connected child's re-assessment."""
    try:
        if action == "check":
            if len(reason.strip()) < 2:
                raise InvalidInput("请填写审核意见", code="REASON_REQUIRED")
            assessments.check_reassessment(s, p, code, reason)
        elif action in ("approve", "reject"):
            assessments.decide_reassessment(s, p, code, action == "approve", reason,
                                            node(request).settings.assessment_valid_days)
        else:
            raise InvalidInput("未知操作", code="UNKNOWN_ACTION")
    except DomainError as exc:
        s.rollback()
        return _peer_page(request, s, code, status_code=exc.status, error=exc.message, error_code=exc.code,
                          form={"action": f"reassessment/{action}", "reason": reason})
    return RedirectResponse(f"/network/peers/{code}?done=reassessment_{action}", status_code=303)


# ── transfers, reconciliation, bank needs ────────────────────────────────────────────────────────────────

@router.get("/network/transfers", response_class=HTMLResponse)
def transfers(request: Request, page: PageNo = 1, size: PageSize = 50, sort: str | None = None,
              desc: bool = True, status: str = "", peer: str = "", p: Principal = Depends(require(*STAFF)),
              s: Session = Depends(db_session, scope="function")) -> Response:
    stmt = select(OutboxEnvelope)
    if status in OUTBOX_STATUSES:
        stmt = stmt.where(OutboxEnvelope.status == status)
    if peer:
        stmt = stmt.where(OutboxEnvelope.recipient == peer[:20])
    sortable = {"created_at": OutboxEnvelope.created_at, "attempts": OutboxEnvelope.attempts,
                "status": OutboxEnvelope.status, "recipient": OutboxEnvelope.recipient,
                "items": OutboxEnvelope.items, "size": OutboxEnvelope.size, "acked_at": OutboxEnvelope.acked_at}
    result = paginate(s, stmt, PageRequest(page, size, sort, desc), sortable, "created_at")
    totals = {st: (int(n), int(i or 0)) for st, n, i in s.execute(
        select(OutboxEnvelope.status, func.count(), func.sum(OutboxEnvelope.items))
        .group_by(OutboxEnvelope.status)).all()}
    received = s.execute(select(func.count(), func.sum(InboxEnvelope.items))).one()
    recipients = list(s.execute(select(OutboxEnvelope.recipient).distinct().order_by(OutboxEnvelope.recipient))
                      .scalars())
    return render(request, "network/transfers.html", page=result, status=status, peer=peer, totals=totals,
                  received=(int(received[0]), int(received[1] or 0)), recipients=recipients,
                  statuses=OUTBOX_STATUSES, tab="transfers")


@router.get("/network/reconciliation", response_class=HTMLResponse)
def reconciliation(request: Request, page: PageNo = 1, sort: str | None = None, desc: bool = True,
                   status: str = "", peer: str = "", p: Principal = Depends(require(*STAFF)),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    stmt = select(Reconciliation)
    if status in RECON_STATUSES:
        stmt = stmt.where(Reconciliation.status == status)
    if peer:
        stmt = stmt.where(Reconciliation.peer == peer[:20])
    sortable = {"day": Reconciliation.day, "peer": Reconciliation.peer, "category": Reconciliation.category,
                "status": Reconciliation.status, "at": Reconciliation.at, "resent": Reconciliation.resent}
    result = paginate(s, stmt, PageRequest(page, 50, sort, desc), sortable, "day")
    counts = dict(s.execute(select(Reconciliation.status, func.count()).group_by(Reconciliation.status)).all())
    peer_codes = list(s.execute(select(Reconciliation.peer).distinct().order_by(Reconciliation.peer)).scalars())
    return render(request, "network/reconciliation.html", page=result, status=status, peer=peer, counts=counts,
                  statuses=RECON_STATUSES, peer_codes=peer_codes, tab="reconciliation")


def needs_summary(s: Session) -> list[dict[str, Any]]:
    """Per category: how many needs, from how many institutions, and how often each item is asked for."""
    by_cat: dict[str, dict[str, Any]] = {}
    for category, items, inst in s.execute(select(BankNeed.category, BankNeed.items, BankNeed.institution_code)):
        row = by_cat.setdefault(category, {"category": category, "needs": 0, "institutions": set(),
                                           "items": Counter()})
        row["needs"] += 1
        row["institutions"].add(inst)
        row["items"].update(str(i) for i in (items or []))
    out = []
    for row in sorted(by_cat.values(), key=lambda r: (-r["needs"], r["category"])):
        out.append({"category": row["category"], "needs": row["needs"], "institutions": len(row["institutions"]),
                    "items": row["items"].most_common()})
    return out


@router.get("/network/needs", response_class=HTMLResponse)
def needs(request: Request, page: PageNo = 1, sort: str | None = None, desc: bool = True, category: str = "",
          p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")) -> Response:
    stmt = select(BankNeed)
    if category:
        stmt = stmt.where(BankNeed.category == category[:40])
    sortable = {"filed_at": BankNeed.filed_at, "category": BankNeed.category,
                "institution": BankNeed.institution_name, "origin": BankNeed.origin_node,
                "forwarded_at": BankNeed.forwarded_at}
    result = paginate(s, stmt, PageRequest(page, 50, sort, desc), sortable, "filed_at")
    return render(request, "network/needs.html", page=result, category=category, summary=needs_summary(s),
                  tab="needs")


# ── sanction proposals: 暂停 / 取消接入, one security officer agrees and another decides ───────────────────

SANCTION_DONE = {"proposed": "处置提议已提出，等待安全管理员初审", "agreed": "已初审同意，等待另一名安全管理员决定",
                 "executed": "已批准并执行", "rejected": "已否决该提议"}


@router.get("/network/sanctions", response_class=HTMLResponse)
def sanctions_page(request: Request, state: str = "open", page: PageNo = 1, size: PageSize = 20,
                   sort: str | None = None, desc: bool = True, p: Principal = Depends(require(*STAFF)),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    state = state if state in SANCTION_STATES or state in ("open", "all") else "open"
    result = sanctions.listing(s, p, PageRequest(page, size, sort, desc), state=None if state == "all" else state)
    counts = dict(s.execute(select(SanctionProposal.state, func.count()).group_by(SanctionProposal.state)).all())
    return render(request, "network/sanctions.html", page=result, state=state, counts=counts,
                  states=SANCTION_STATES, targets=SANCTION_TARGETS, actions=SANCTION_ACTIONS,
                  sources=SANCTION_SOURCES, tab="sanctions")


def _proposal_page(request: Request, s: Session, p: Principal, number: str, *, status_code: int = 200,
                   error: DomainError | None = None, done: str | None = None,
                   form: dict[str, str] | None = None) -> Response:
    proposal = sanctions.get(s, p, number)
    try:
        target_status = sanctions.target_status(s, proposal.target_kind, proposal.target_code)
    except DomainError:
        target_status = ""
    history = list(s.execute(select(audit.AuditEvent).where(audit.AuditEvent.target == f"sanction:{proposal.number}")
                             .order_by(audit.AuditEvent.id)).scalars())
    return render(request, "network/sanction.html", status_code=status_code, proposal=proposal,
                  info=sanctions.proposal_dict(proposal), target_status=target_status,
                  target_status_label=PEER_STATUSES.get(target_status, target_status), history=history,
                  error=error.message if error else None, error_code=error.code if error else None,
                  done=done, form=form or {}, tab="sanctions")


@router.get("/network/sanctions/{number}", response_class=HTMLResponse)
def proposal_file(number: str, request: Request, done: str = "", p: Principal = Depends(require(*STAFF)),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _proposal_page(request, s, p, number, done=SANCTION_DONE.get(done))


@router.post("/network/sanctions")
def propose_form(request: Request, target_kind: str = Form(""), target_code: str = Form(""),
                 action: str = Form(""), reason: str = Form(""), back: str = Form(""),
                 p: Principal = Depends(require(*OFFICERS)),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    """An officer's proposal, from a peer's or an institution's file; a refusal goes back there as a flash."""
    try:
        proposal = sanctions.propose(s, p, target_kind, target_code, action, reason, "officer")
    except DomainError as exc:
        s.rollback()
        if target_kind == "peer" and s.get(Peer, target_code) is not None:
            return _peer_page(request, s, target_code, status_code=exc.status, error=exc.message,
                              error_code=exc.code, form={"action": "propose", "reason": reason})
        return render(request, "network/sanction_refused.html", status_code=exc.status, error=exc.message,
                      error_code=exc.code, back=back if back.startswith("/") and not back.startswith("//") else "")
    return RedirectResponse(f"/network/sanctions/{proposal.number}?done=proposed", status_code=303)


@router.post("/network/sanctions/{number}/{step}")
def proposal_step(number: str, step: str, request: Request, reason: str = Form(""), approve: str = Form(""),
                  p: Principal = Depends(require("security")),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        if step == "agree":
            proposal = sanctions.agree(s, p, number, reason)
        elif step == "decide" and approve in ("yes", "no"):
            proposal = sanctions.decide(s, p, number, approve == "yes", reason)
        else:
            raise InvalidInput("未知操作", code="UNKNOWN_ACTION")
    except DomainError as exc:
        s.rollback()
        return _proposal_page(request, s, p, number, status_code=exc.status, error=exc,
                              form={"step": step, "reason": reason})
    return RedirectResponse(f"/network/sanctions/{proposal.number}?done={proposal.state}", status_code=303)


@router.post("/network/notices/{notice_id}/read")
def notice_read(notice_id: SmallRowId, p: Principal = Depends(require(*OFFICERS)),
                s: Session = Depends(db_session, scope="function")) -> Response:
    notices.mark_read(s, p, notice_id)
    return RedirectResponse("/network?done=read#notices", status_code=303)


def institution_connection(s: Session, code: str) -> dict[str, Any]:
    """What an institution's file shows of its connection security (registered on the institutions page)."""
    return {"reminders": deadlines.sent_for(s, "institution", code),
            "proposals": sanctions.for_target(s, "institution", code), "target_kind": "institution",
            "target_code": code, "reminder_kinds": REMINDER_KINDS}


institution_pages.CONNECTION["panel"] = institution_connection
