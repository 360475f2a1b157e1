"""What someone who can write the database can do to the audit chain, for the tests that show it is found."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyidai.kit.audit import GENESIS, AuditEvent, AuditHead, _digest


def rewrite_chain(s: Session, change: Callable[[AuditEvent], None] = lambda ev: None) -> None:
    """Apply `change` to each entry, recompute every digest and move the head: each entry then checks."""
    prev, n, last = GENESIS, 0, 0
    for ev in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        change(ev)
        ev.prev_digest = prev
        ev.digest = _digest(prev, ev.at.isoformat(), ev.actor, ev.action, ev.target, ev.detail,
                            (ev.entity_code, ev.institution_code, ev.request_id))
        prev, n, last = ev.digest, n + 1, ev.id
    s.execute(update(AuditHead).values(last_id=last, digest=prev, count=n))


def mallory_at_2(ev: AuditEvent) -> None:
    """Entry 2 now says someone else acted."""
    if ev.id == 2:
        ev.actor = "mallory"
