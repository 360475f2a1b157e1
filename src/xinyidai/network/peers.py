"""Connecting platforms (point 10 of the notice): a lower platform applies with its identity, endpoint,
public key, contact and security self-assessment; at the parent a registration officer checks the
application and a security officer decides — never the same person. 待审核 → 已接入 / 已驳回;
已接入 → 整改中 (with a deadline) → 已接入 or 已撤销;
已接入 / 整改中 → 已暂停 (a decided sanction proposal, see `sanctions`) → 已接入 (restore) or 已撤销.
A revoked or suspended peer's envelopes are refused at once, because `open_envelope` reads the peer's status
on every envelope. Every change is audited.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.kit import audit, clock
from xinyidai.kit.crypto.suite import Identity, canonical_json, get_suite
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.network import assessment_terms
from xinyidai.network.models import MODES, PEER_STATUSES, Peer

APPLY_LABEL = b"xinyidai.node-application.v1\n"
ROLES = ("national", "provincial", "municipal")
CHILD_ROLE = {"national": "provincial", "provincial": "municipal"}
# The security self-assessment a platform files (GB/T 22239 等级保护 and the notice's point 10).
ASSESSMENT = {
    "mlps_level": "网络安全等级保护级别（2/3/4）",
    "mlps_certificate": "等级保护测评报告编号",
    "security_officer": "数据安全负责人及联系方式",
    "encryption_at_rest": "存储加密措施",
    "encryption_in_transit": "传输加密措施",
    "access_control": "访问控制与权限管理",
    "logging": "日志审计与留存期限",
    "incident_response": "安全事件应急预案",
}


def application(settings: Any, identity: Identity, *, endpoint: str | None, contact: str,
                assessment: dict[str, str], mode: str = "push", region_prefix: str | None = None) -> dict[str, Any]:
    """A child's application, signed with its own key (proof that it holds the private half)."""
    body = {"code": settings.node_code, "name": settings.node_name, "role": settings.node_role,
            "endpoint": endpoint, "mode": mode, "suite": identity.suite, "public_key": identity.public_bundle(),
            "contact": contact, "assessment": assessment, "region_prefix": region_prefix,
            "at": clock.now().isoformat()}
    sig = get_suite(identity.suite).sign(identity, APPLY_LABEL + canonical_json(body))
    return {"application": body, "signature": sig.hex()}


def _validate(body: dict[str, Any], my_role: str) -> None:
    for k in ("code", "name", "role", "suite", "public_key", "contact", "assessment"):
        if not body.get(k):
            raise InvalidInput(f"接入申请缺少 {k}", code="APPLICATION_INCOMPLETE")
    if body["role"] != CHILD_ROLE.get(my_role):
        raise InvalidInput(f"本节点（{my_role}）只接受 {CHILD_ROLE.get(my_role, '（无）')} 级平台的接入申请",
                           code="WRONG_LEVEL")
    if body.get("mode", "push") not in MODES:
        raise InvalidInput("接入方式须为 push / pull / file 之一", code="BAD_MODE")
    if body.get("mode", "push") == "push" and not body.get("endpoint"):
        raise InvalidInput("服务接口方式须提供接口地址", code="APPLICATION_INCOMPLETE")
    missing = [label for k, label in ASSESSMENT.items() if not str(body["assessment"].get(k, "")).strip()]
    if missing:
        raise InvalidInput(f"安全自评估缺少：{'、'.join(missing)}", code="ASSESSMENT_INCOMPLETE")
    prefix = body.get("region_prefix")
    if prefix and not (prefix.isdigit() and 2 <= len(prefix) <= 6):
        raise InvalidInput("辖区行政区划前缀应为 2–6 位数字", code="BAD_REGION")


def receive_application(s: Session, my_role: str, doc: dict[str, Any],
                        valid_days: int = assessment_terms.DEFAULT_VALID_DAYS) -> Peer:
    """Record (or refresh, while still pending or rejected) an application after checking its signature; from
    a connected child it is a re-assessment (`assessment_terms.receive`), which leaves the peer as it is."""
    body, sig_hex = doc.get("application") or {}, doc.get("signature") or ""
    _validate(body, my_role)
    suite = get_suite(body["suite"])
    try:
        ok = suite.verify(body["public_key"], APPLY_LABEL + canonical_json(body), bytes.fromhex(sig_hex))
    except Exception:  # noqa: BLE001 - any malformed key or signature is simply not a valid application
        ok = False
    if not ok:
        raise Forbidden("接入申请的签名无效", code="SIGNATURE_INVALID")
    peer = s.get(Peer, body["code"])
    if peer is not None and peer.relation == "child" and peer.status in assessment_terms.CONNECTED:
        return assessment_terms.receive(s, peer, body, suite.key_id(body["public_key"]), valid_days)
    if peer is not None and peer.status not in ("pending", "rejected"):
        raise Conflict(f"{body['code']} 已是本节点的{PEER_STATUSES[peer.status]}节点", code="ALREADY_CONNECTED")
    now = clock.now()
    if peer is None:
        peer = Peer(code=body["code"], relation="child", applied_at=now)
        s.add(peer)
    peer.name, peer.role, peer.endpoint = body["name"], body["role"], body.get("endpoint")
    peer.mode, peer.suite, peer.public_key = body.get("mode", "push"), body["suite"], body["public_key"]
    peer.key_id = suite.key_id(body["public_key"])
    peer.contact, peer.assessment = body["contact"], body["assessment"]
    peer.region_prefix = body.get("region_prefix")
    peer.status, peer.status_reason, peer.applied_at = "pending", None, now
    peer.checked_by = peer.checked_at = peer.decided_by = peer.decided_at = None
    s.flush()
    audit.record(s, body["code"], "peer.applied", f"peer:{peer.code}", role=peer.role, mode=peer.mode,
                 key_id=peer.key_id, mlps_level=str(body["assessment"].get("mlps_level")))
    return peer


def register_parent(s: Session, info: dict[str, Any], endpoint: str, mode: str = "push",
                    upload_categories: list[str] | None = None) -> Peer:
    """At a child: the parent it reports to, as the parent describes itself (its key is then pinned), and
    which categories this level passes up to it (None: all)."""
    suite = get_suite(info["suite"])
    peer = s.get(Peer, info["code"]) or Peer(code=info["code"], relation="parent", applied_at=clock.now())
    peer.name, peer.role, peer.endpoint, peer.mode = info["name"], info["role"], endpoint, mode
    peer.suite, peer.public_key, peer.key_id = info["suite"], info["public_key"], suite.key_id(info["public_key"])
    peer.status, peer.assessment, peer.relation = "active", {}, "parent"
    peer.upload_categories = sorted(set(upload_categories)) if upload_categories else None
    s.merge(peer)
    s.flush()
    audit.record(s, "cli", "peer.parent_registered", f"peer:{peer.code}", endpoint=endpoint, key_id=peer.key_id,
                 upload_categories=peer.upload_categories)
    return peer


def get_peer(s: Session, code: str) -> Peer:
    p = s.get(Peer, code)
    if p is None:
        raise NotFound(f"未找到节点 {code}", code="PEER_NOT_FOUND")
    return p


def check(s: Session, actor: Principal, code: str, note: str) -> Peer:
    """The registration officer's check of a pending application."""
    if actor.role != "operator":
        raise Forbidden("只有登记审核人员（运营）可以审核接入申请", code="ROLE_FORBIDDEN")
    p = get_peer(s, code)
    if p.status != "pending":
        raise Conflict(f"该节点当前状态为{PEER_STATUSES[p.status]}，不能审核", code="BAD_STATE")
    p.checked_by, p.checked_at = actor.username, clock.now()
    audit.record(s, actor.username, "peer.checked", f"peer:{code}", note=note.strip()[:1000])
    return p


def _security(actor: Principal) -> None:
    if actor.role != "security":
        raise Forbidden("只有安全管理员可以决定接入、整改与撤销", code="ROLE_FORBIDDEN")


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise InvalidInput("请填写理由", code="REASON_REQUIRED")
    return reason[:1000]


def decide(s: Session, actor: Principal, code: str, approve: bool, reason: str,
           valid_days: int = assessment_terms.DEFAULT_VALID_DAYS) -> Peer:
    """The security officer's decision on a checked application; approval starts the assessment's validity."""
    _security(actor)
    p = get_peer(s, code)
    if p.status != "pending":
        raise Conflict(f"该节点当前状态为{PEER_STATUSES[p.status]}，不能决定", code="BAD_STATE")
    if not p.checked_by:
        raise Conflict("申请尚未经登记审核人员审核", code="NOT_CHECKED")
    if p.checked_by == actor.username:
        raise Forbidden("审核与决定不能由同一人完成", code="SEPARATION_OF_DUTIES")
    p.status = "active" if approve else "rejected"
    p.status_reason = _reason(reason)
    p.decided_by, p.decided_at = actor.username, clock.now()
    if approve:
        assessment_terms.start(p, p.decided_at, valid_days)
    audit.record(s, actor.username, "peer.approved" if approve else "peer.rejected", f"peer:{code}",
                 reason=p.status_reason,
                 valid_until=p.assessment_valid_until.isoformat() if approve and p.assessment_valid_until else None)
    return p


def rectify(s: Session, actor: Principal, code: str, deadline: date, reason: str) -> Peer:
    _security(actor)
    p = get_peer(s, code)
    if p.status != "active":
        raise Conflict("只有已接入的节点可以要求整改", code="BAD_STATE")
    if deadline <= clock.now().astimezone(clock.CHINA_TZ).date():
        raise InvalidInput("整改期限须晚于今天", code="BAD_DEADLINE")
    p.status, p.status_reason, p.rectify_deadline = "rectifying", _reason(reason), deadline
    audit.record(s, actor.username, "peer.rectifying", f"peer:{code}", reason=p.status_reason,
                 deadline=deadline.isoformat())
    return p


def restore(s: Session, actor: Principal, code: str, reason: str) -> Peer:
    """Back to 已接入 from 整改中 (rectified) or 已暂停 (the suspension lifted)."""
    _security(actor)
    p = get_peer(s, code)
    if p.status not in ("rectifying", "suspended"):
        raise Conflict("只有整改中或已暂停的节点可以恢复", code="BAD_STATE")
    before = p.status
    p.status, p.status_reason, p.rectify_deadline = "active", _reason(reason), None
    audit.record(s, actor.username, "peer.restored", f"peer:{code}", reason=p.status_reason, before=before)
    return p


def suspend(s: Session, actor: Principal, code: str, reason: str) -> Peer:
    """已暂停: its envelopes and requests are refused (PEER_SUSPENDED) until restored. Reached through a
    sanction proposal (`sanctions.decide`), which the caller audits as well."""
    _security(actor)
    p = get_peer(s, code)
    if p.status not in ("active", "rectifying"):
        raise Conflict(f"该节点当前状态为{PEER_STATUSES[p.status]}，不能暂停", code="BAD_STATE")
    p.status, p.status_reason = "suspended", _reason(reason)
    audit.record(s, actor.username, "peer.suspended", f"peer:{code}", reason=p.status_reason)
    return p


def revoke(s: Session, actor: Principal, code: str, reason: str) -> Peer:
    _security(actor)
    p = get_peer(s, code)
    if p.status == "revoked":
        raise Conflict("该节点已撤销", code="BAD_STATE")
    p.status, p.status_reason = "revoked", _reason(reason)
    audit.record(s, actor.username, "peer.revoked", f"peer:{code}", reason=p.status_reason)
    return p


def list_peers(s: Session, req: PageRequest, status: str | None = None, relation: str | None = None) -> Page:
    stmt = select(Peer)
    if status in PEER_STATUSES:
        stmt = stmt.where(Peer.status == status)
    if relation in ("parent", "child"):
        stmt = stmt.where(Peer.relation == relation)
    return paginate(s, stmt, req, {"code": Peer.code, "applied_at": Peer.applied_at, "status": Peer.status,
                                   "last_contact_at": Peer.last_contact_at}, "applied_at")


def peer_dict(p: Peer) -> dict[str, Any]:
    return {"code": p.code, "name": p.name, "role": p.role, "relation": p.relation, "endpoint": p.endpoint,
            "mode": p.mode, "suite": p.suite, "key_id": p.key_id, "region_prefix": p.region_prefix,
            "status": p.status, "status_label": PEER_STATUSES.get(p.status, p.status),
            "status_reason": p.status_reason,
            "rectify_deadline": p.rectify_deadline.isoformat() if p.rectify_deadline else None,
            "contact": p.contact, "assessment": p.assessment, "applied_at": p.applied_at.isoformat(),
            "checked_by": p.checked_by, "decided_by": p.decided_by,
            "last_contact_at": p.last_contact_at.isoformat() if p.last_contact_at else None,
            "assessment_valid_until": (v.isoformat() if (v := assessment_terms.valid_until(p)) else None),
            "reassessment_pending": p.reassessment is not None}
