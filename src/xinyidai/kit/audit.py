"""An append-only audit trail chained by SM3 digests: each entry's digest covers the previous one's.

Writes that matter call `record()` inside their own transaction, so the entry commits with the change or
not at all. `verify_chain()` names the first entry whose digest does not follow.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from xinyidai.kit import clock
from xinyidai.kit.db import Base, UTCDateTime
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.types import BigId

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[Any] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(200), nullable=False, default="", index=True)
    detail: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    prev_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)


def _digest(prev: str, at: str, actor: str, action: str, target: str, detail: dict) -> str:
    body = json.dumps([prev, at, actor, action, target, detail], ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"), default=str)
    return sm3_hex(body.encode("utf-8"))


def record(session: Session, actor: str, action: str, target: str = "", **detail: Any) -> AuditEvent:
    """Append one entry. On PostgreSQL the previous row is locked so concurrent writers chain in order."""
    q = select(AuditEvent.digest).order_by(AuditEvent.id.desc()).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    prev = session.execute(q).scalar_one_or_none() or GENESIS
    at = clock.now()
    detail = json.loads(json.dumps(detail, default=str))
    ev = AuditEvent(at=at, actor=actor, action=action, target=target, detail=detail, prev_digest=prev,
                    digest=_digest(prev, at.isoformat(), actor, action, target, detail))
    session.add(ev)
    session.flush()
    return ev


def verify_chain(session: Session) -> tuple[bool, int | None, int]:
    """(intact, first broken id, entries checked)."""
    prev = GENESIS
    n = 0
    for ev in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        n += 1
        at = ev.at.isoformat()
        if ev.prev_digest != prev or ev.digest != _digest(prev, at, ev.actor, ev.action, ev.target, ev.detail):
            return False, ev.id, n
        prev = ev.digest
    return True, None, n
