"""The node-to-node interface (GB/T 39443 service mode) and the staff API of the network.

Public to other nodes (authenticated by what they carry, not by a session): this node's identity, the
application endpoint, the inbox for envelopes, and — for pull-mode children — the outbox they poll and the
receipts they return. Staff: peers and their review, transfers; quality feedback, reconciliation, banks'
data needs and the 先立后破 cut.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as Path_
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import STAFF, Principal
from xinyidai.network import assessments, checkpoints, exchange, notices, peers, relay, runtime, sanctions
from xinyidai.network import inbox as envelopes_in
from xinyidai.network.models import OUTBOX_STATUSES, InboxEnvelope, OutboxEnvelope, Peer, RefusedEnvelope
from xinyidai.network.schemas import (
    AssessmentsDue,
    CutIn,
    Decision,
    FeedbackIn,
    NeedIn,
    PeerAssessment,
    ProposalDecision,
    ProposalIn,
    ProposalOut,
    ProposalPage,
    ProposalStep,
    ReassessmentDecision,
    ReconcileIn,
)
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import INT64_MAX, PageNo, PageSize

router = APIRouter(prefix="/api/v1/network", tags=["节点网络"])


@router.get("/node", summary="本节点的身份与公钥")
def whoami(request: Request) -> dict[str, Any]:
    st = node(request).settings
    ctx = runtime.context(request.app)
    return {"code": st.node_code, "name": st.node_name, "role": st.node_role, "suite": ctx.identity.suite,
            "key_id": ctx.identity.key_id, "public_key": ctx.identity.public_bundle(), "endpoint": st.public_url}


@router.post("/applications", status_code=201, summary="下级平台提交接入申请（含安全自评估，申请方签名）")
def apply(request: Request, doc: dict[str, Any] = Body(...)) -> dict[str, Any]:
    n = node(request)
    with n.db.session() as s:
        p = peers.receive_application(s, n.settings.node_role, doc, n.settings.assessment_valid_days)
        if p.reassessment is not None and p.status in assessments.CONNECTED:  # a connected child re-assessed
            return {"code": p.code, "status": p.status, "reassessment": True,
                    "message": "重新评估已受理，等待审核；审核期间接入不受影响"}
        return {"code": p.code, "status": p.status, "message": "接入申请已受理，等待审核"}


def _receive(request: Request, wire: bytes, via: str) -> dict[str, Any]:
    n = node(request)
    ctx = runtime.context(request.app)
    with n.db.sessions() as s:
        try:
            receipt = envelopes_in.receive(s, ctx, wire, via)
            s.commit()
            return receipt
        except DomainError:
            s.commit()  # keeps the record of the refusal; nothing of the envelope was applied
            raise
        except BaseException:
            s.rollback()
            raise


@router.post("/inbox", summary="接收报文：校验对端状态、签名、摘要、时间窗与随机数后应用，返回签名回执")
async def inbox(request: Request) -> dict[str, Any]:
    wire = await request.body()
    return await run_in_threadpool(_receive, request, wire, "push")


@router.post("/receipts", summary="交回回执（拉取与文件方式）")
def receipts(request: Request, body: list[dict[str, Any]] = Body(...)) -> dict[str, int]:
    with node(request).db.session() as s:
        return {"accepted": relay.accept_receipts(s, body[:1000])}


@router.get("/pull", summary="下级节点拉取待收报文（请求须由下级节点签名）")
def pull(request: Request) -> dict[str, Any]:
    from xinyidai.network import pull as pull_mode

    with node(request).db.session() as s:
        return pull_mode.serve_pull(s, request.headers)


# ── staff ────────────────────────────────────────────────────────────────────────────────────────────────

@router.get("/peers", summary="相邻节点")
def list_peers(status: str | None = None, relation: str | None = None, page: PageNo = 1, size: PageSize = 50,
               p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
               ) -> dict[str, Any]:
    result = peers.list_peers(s, PageRequest(page, size, "applied_at", True), status, relation)
    return result.as_dict([peers.peer_dict(x) for x in result.items])


@router.post("/peers/{code}/check", summary="登记审核人员审核接入申请")
def check(code: str, body: Decision, p: Principal = Depends(require("operator")),
          s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return peers.peer_dict(peers.check(s, p, code, body.reason))


@router.post("/peers/{code}/{action}", summary="安全管理员：approve / reject / rectify / restore / revoke")
def act(request: Request, code: str, action: str, body: Decision, p: Principal = Depends(require("security")),
        s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    if action in ("approve", "reject"):
        peer = peers.decide(s, p, code, action == "approve", body.reason, node(request).settings.assessment_valid_days)
    elif action == "rectify":
        if body.deadline is None:
            raise DomainError("请给出整改期限", code="BAD_DEADLINE")
        peer = peers.rectify(s, p, code, body.deadline, body.reason)
    elif action == "restore":
        peer = peers.restore(s, p, code, body.reason)
    elif action == "revoke":
        peer = peers.revoke(s, p, code, body.reason)
    else:
        raise DomainError("未知操作", code="UNKNOWN_ACTION")
    return peers.peer_dict(peer)


@router.get("/assessments/due", summary="安全评估即将到期（默认 30 天内）或已过期的下级节点", response_model=AssessmentsDue)
def assessments_due(request: Request, within_days: int = Query(assessments.DUE_WITHIN_DAYS, ge=0, le=366),
                    page: PageNo = 1, size: PageSize = 50, p: Principal = Depends(require(*STAFF)),
                    s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    days, today = node(request).settings.assessment_valid_days, clock.today()
    result = assessments.due(s, today, within_days, PageRequest(page, size, "valid_until", False), days)
    return result.as_dict([assessments.validity_dict(x, today, days) for x in result.items])


@router.post("/peers/{code}/reassessment/check", summary="登记审核人员审核重新评估", response_model=PeerAssessment)
def check_reassessment(request: Request, code: str, body: ReassessmentDecision,
                       p: Principal = Depends(require("operator")),
                       s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    peer = assessments.check_reassessment(s, p, code, body.reason)
    return assessments.validity_dict(peer, clock.today(), node(request).settings.assessment_valid_days)


@router.post("/peers/{code}/reassessment/{decision}", summary="安全管理员决定重新评估：approve / reject",
             response_model=PeerAssessment)
def decide_reassessment(request: Request, code: str, decision: str, body: ReassessmentDecision,
                        p: Principal = Depends(require("security")),
                        s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    if decision not in ("approve", "reject"):
        raise DomainError("未知操作", code="UNKNOWN_ACTION")
    days = node(request).settings.assessment_valid_days
    peer = assessments.decide_reassessment(s, p, code, decision == "approve", body.reason, days)
    return assessments.validity_dict(peer, clock.today(), days)


@router.get("/transfers", summary="发送队列（报文状态与重试）")
def transfers(status: str | None = None, peer: str | None = None, page: PageNo = 1, size: PageSize = 50,
              p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
              ) -> dict[str, Any]:
    from xinyidai.kit.pagination import paginate

    stmt = select(OutboxEnvelope)
    if status in OUTBOX_STATUSES:
        stmt = stmt.where(OutboxEnvelope.status == status)
    if peer:
        stmt = stmt.where(OutboxEnvelope.recipient == peer)
    result = paginate(s, stmt, PageRequest(page, size, "created_at", True),
                      {"created_at": OutboxEnvelope.created_at, "attempts": OutboxEnvelope.attempts}, "created_at")
    return result.as_dict([{"id": o.id, "recipient": o.recipient, "kind": o.kind, "items": o.items, "size": o.size,
                            "status": o.status, "status_label": OUTBOX_STATUSES.get(o.status, o.status),
                            "attempts": o.attempts, "last_error": o.last_error,
                            "created_at": o.created_at.isoformat(),
                            "acked_at": o.acked_at.isoformat() if o.acked_at else None} for o in result.items])


@router.get("/topology", summary="网络拓扑：本节点、上下级节点的状态、最近联系、积压与流量")
def topology(request: Request, p: Principal = Depends(require(*STAFF)),
             s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return topology_data(request, s)


def topology_data(request: Request, s: Session) -> dict[str, Any]:
    st = node(request).settings
    backlog = dict(s.execute(select(OutboxEnvelope.recipient, func.coalesce(func.sum(OutboxEnvelope.items), 0))
                             .where(OutboxEnvelope.status == "pending").group_by(OutboxEnvelope.recipient)).all())
    sent = dict(s.execute(select(OutboxEnvelope.recipient, func.coalesce(func.sum(OutboxEnvelope.items), 0))
                          .where(OutboxEnvelope.status == "sent").group_by(OutboxEnvelope.recipient)).all())
    oldest = dict(s.execute(select(OutboxEnvelope.recipient, func.min(OutboxEnvelope.created_at))
                            .where(OutboxEnvelope.status == "pending").group_by(OutboxEnvelope.recipient)).all())
    received = dict(s.execute(select(InboxEnvelope.sender, func.coalesce(func.sum(InboxEnvelope.items), 0))
                              .group_by(InboxEnvelope.sender)).all())
    refused = dict(s.execute(select(RefusedEnvelope.claimed_sender, func.count())
                             .group_by(RefusedEnvelope.claimed_sender)).all())
    from xinyidai.kit import clock

    now = clock.now()
    out = []
    for peer in s.execute(select(Peer).order_by(Peer.relation.desc(), Peer.code)).scalars():
        d = peers.peer_dict(peer)
        lag = (now - oldest[peer.code]).total_seconds() if peer.code in oldest else 0.0
        d.update(backlog=int(backlog.get(peer.code, 0)), sent=int(sent.get(peer.code, 0)),
                 received=int(received.get(peer.code, 0)), refused=int(refused.get(peer.code, 0)), lag_s=lag)
        out.append(d)
    return {"self": {"code": st.node_code, "name": st.node_name, "role": st.node_role}, "peers": out}


# ── what neighbouring nodes exchange besides records: quality feedback, reconciliation (对账), banks' data
# needs and the 先立后破 cut. Thin: each handler calls a function of `exchange`. ──────────────────────────


@router.post("/feedback", status_code=201, summary="就下级报送的记录提出质量问题（逐级反馈到数据来源节点）")
def raise_feedback(request: Request, body: FeedbackIn, p: Principal = Depends(require("operator")),
                   s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    note = exchange.raise_feedback(s, runtime.context(request.app), body.entity_code, body.category,
                                   body.record_key, body.problem, actor=p.username)
    return exchange.note_dict(note)


@router.get("/feedback", summary="质量反馈：本节点发出的与收到的")
def list_feedback(status: str | None = None, p: Principal = Depends(require(*STAFF)),
                  s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return {"items": exchange.list_feedback(s, status)}


@router.post("/reconciliations", status_code=202, summary="向上级节点发起对账（结论异步返回，不一致自动重发）")
def start_reconciliation(request: Request, body: ReconcileIn, p: Principal = Depends(require("operator")),
                         s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return {"started": exchange.start_reconciliation(s, runtime.context(request.app), body.days, force=body.force,
                                                     peer_code=body.peer)}


@router.get("/reconciliations", summary="对账结果（按类别与日期）")
def list_reconciliations(peer: str | None = None, status: str | None = None, limit: int = Query(200, ge=1, le=1000),
                         p: Principal = Depends(require(*STAFF)), s: Session = Depends(db_session, scope="function")
                         ) -> dict[str, Any]:
    return {"items": exchange.list_reconciliations(s, peer, status, limit)}


@router.post("/needs", status_code=201, summary="金融机构登记数据需求（所需类别、数据项与用途）")
def file_need(request: Request, body: NeedIn, p: Principal = Depends(require("bank", "operator")),
              s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    n = exchange.file_need(s, runtime.context(request.app), p, category=body.category, items=body.items,
                           reason=body.reason, institution_code=body.institution_code,
                           catalog=node(request).catalog)
    return exchange.need_doc(n)


@router.get("/needs", summary="数据需求登记簿：按类别与数据项统计")
def needs_register(category: str | None = None, p: Principal = Depends(require("bank", *STAFF)),
                   s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return exchange.needs_register(s, p, category)


@router.post("/legacy/{code}/cut", summary="先立后破：两条路径对账一致后切断原直连通道（安全管理员）")
def cut_legacy(code: str, body: CutIn, p: Principal = Depends(require("security")),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    from xinyidai.network import peers

    return peers.peer_dict(exchange.cut_legacy_path(s, p, code, body.reason, force=body.force))


@router.get("/checkpoints", summary="下级节点取回本节点为它保存的审计检查点（请求须由下级节点签名）")
def held_checkpoints(request: Request, after: int = Query(0, ge=0, le=INT64_MAX)) -> dict[str, Any]:
    n = node(request)
    with n.db.session() as s:
        peer = checkpoints.authenticate_child(s, request.headers, after)
        heads, more = checkpoints.held_heads(s, peer.code, after)
        return {"holder": n.settings.node_code, "node": peer.code, "heads": heads, "more": more}


# ── sanction proposals: suspend or revoke, agreed by one security officer and decided by another ───────────

@router.get("/sanctions", summary="暂停、取消接入的处置提议（分页、可排序，可按状态筛选）", response_model=ProposalPage)
def list_sanctions(state: str | None = None, target_kind: str | None = None, target_code: str | None = None,
                   page: PageNo = 1, size: PageSize = 50, sort: str | None = None, desc: bool = True,
                   p: Principal = Depends(require(*STAFF)),
                   s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = sanctions.listing(s, p, PageRequest(page, size, sort, desc), state=state, target_kind=target_kind,
                               target_code=target_code)
    return result.as_dict([sanctions.proposal_dict(x) for x in result.items])


@router.post("/sanctions", status_code=201, summary="提议暂停或取消接入（运营人员、安全管理员）",
             response_model=ProposalOut)
def propose_sanction(body: ProposalIn, p: Principal = Depends(require("operator", "security")),
                     s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return sanctions.proposal_dict(sanctions.propose(s, p, body.target_kind, body.target_code, body.action,
                                                     body.reason, body.source, body.source_ref))


@router.post("/sanctions/{number}/agree", summary="安全管理员初审同意（不能是提议人）", response_model=ProposalOut)
def agree_sanction(number: str, body: ProposalStep, p: Principal = Depends(require("security")),
                   s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return sanctions.proposal_dict(sanctions.agree(s, p, number, body.reason))


@router.post("/sanctions/{number}/decide",
             summary="另一名安全管理员决定：批准即执行（暂停或取消接入），或否决", response_model=ProposalOut)
def decide_sanction(number: str, body: ProposalDecision, p: Principal = Depends(require("security")),
                    s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return sanctions.proposal_dict(sanctions.decide(s, p, number, body.approve, body.reason))


@router.post("/notices/{notice_id}/read", summary="将上级节点发来的通知标记为已读")
def read_notice(notice_id: int = Path_(ge=1, le=INT64_MAX), p: Principal = Depends(require("operator", "security")),
                s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    n = notices.mark_read(s, p, notice_id)
    return {"id": n.id, "read_by": n.read_by, "read_at": n.read_at.isoformat() if n.read_at else None}
