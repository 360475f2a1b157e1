"""Notices a node receives from its parent in signed envelopes of kind `notice` (a rectification deadline
near or passed, a re-assessment due): stored once each by the id the parent gave them, shown on the network
page, unread first, until an officer marks them read.

Payload  {"notices": [{"id", "kind", "title", "body", "due_on": "YYYY-MM-DD" | null}]}        parent → child
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, DomainError, Forbidden, NotFound
from xinyidai.kit.principal import Principal
from xinyidai.network.models import NodeNotice, Peer

KIND = "notice"
READERS = ("operator", "security")  # who may mark a notice read
MAX_PER_ENVELOPE = 100


class NoticeRefused(DomainError):
    status = 400
    code = "PAYLOAD_INVALID"
    message = "通知报文内容无法处理"


def _text(v: Any, limit: int, name: str) -> str:
    if not isinstance(v, str) or not v.strip() or len(v) > limit:
        raise NoticeRefused(f"通知字段 {name} 缺失或过长")
    return v.strip()


def _parse(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, Mapping):
        raise NoticeRefused("每条通知应为对象")
    due = doc.get("due_on")
    try:
        due_on = date.fromisoformat(due) if due else None
    except (TypeError, ValueError):
        raise NoticeRefused("通知的期限日期格式不正确") from None
    return {"external_id": _text(doc.get("id"), 60, "id"), "kind": _text(doc.get("kind"), 20, "kind"),
            "title": _text(doc.get("title"), 200, "title"), "body": _text(doc.get("body"), 4000, "body"),
            "due_on": due_on}


def apply_notices(s: Session, sender: str, payload: Mapping[str, Any]) -> dict[str, int]:
    """Store the parent's notices (each once); everything is checked before anything is written."""
    up = s.get(Peer, sender) if sender else None
    if up is None or up.relation not in ("parent", "legacy"):
        raise NoticeRefused("通知只接受来自上级节点的", code="NOT_AN_UPSTREAM")
    docs = payload.get("notices")
    if not isinstance(docs, list) or not 1 <= len(docs) <= MAX_PER_ENVELOPE:
        raise NoticeRefused(f"notices 应为 1–{MAX_PER_ENVELOPE} 条通知的列表")
    parsed = [_parse(d) for d in docs]
    ids = [p["external_id"] for p in parsed]
    known = set(s.execute(select(NodeNotice.external_id).where(NodeNotice.external_id.in_(ids))).scalars())
    stored = 0
    for p in parsed:
        if p["external_id"] in known:
            continue
        known.add(p["external_id"])
        s.add(NodeNotice(from_node=sender, received_at=clock.now(), **p))
        stored += 1
    s.flush()
    return {"notices": stored, "duplicates": len(parsed) - stored}


def listing(s: Session, limit: int = 50) -> list[NodeNotice]:
    """The newest notices, unread first."""
    return list(s.execute(select(NodeNotice).order_by(NodeNotice.read_at.is_not(None), NodeNotice.id.desc())
                          .limit(limit)).scalars())


def unread(s: Session) -> int:
    return int(s.execute(select(func.count()).select_from(NodeNotice).where(NodeNotice.read_at.is_(None)))
               .scalar_one())


def mark_read(s: Session, actor: Principal, notice_id: int) -> NodeNotice:
    if actor.role not in READERS:
        raise Forbidden("只有平台运营人员或安全管理员可以处理上级通知", code="ROLE_FORBIDDEN")
    n = s.get(NodeNotice, notice_id)
    if n is None:
        raise NotFound("未找到该通知", code="NOTICE_NOT_FOUND")
    if n.read_at is not None:
        raise Conflict("该通知已标记为已读", code="ALREADY_READ")
    n.read_by, n.read_at = actor.username, clock.now()
    audit.record(s, actor.username, "notice.read", f"notice:{n.external_id}", from_node=n.from_node, kind=n.kind)
    return n
