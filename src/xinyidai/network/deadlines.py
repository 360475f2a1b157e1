"""Deadlines that bite (point 10): once a day, every node and institution under rectification (整改中) is
reminded 7 days and 1 day before its deadline and on the day; the day after it passes, a suspension is
proposed (two security officers then decide, see `sanctions`).

Each reminder is recorded once in `ConnectionReminder` (unique by target, kind, due date and step), so the
job may run twice a day, or be run again by hand, and still remind once per step. A reminder goes to the
party's contact through the node's notifier and, for a child node, as a signed `notice` envelope queued in
the outbox (the child stores it and shows it until read, see `notices`).

`remind` is public: the re-assessment job calls it with its own kinds (assessment_due, …).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.db import savepoint
from xinyidai.kit.notify import Notifier
from xinyidai.network import notices, relay, sanctions
from xinyidai.network.models import REMINDER_KINDS, ConnectionReminder, Peer

# (session, child peer, notice document {"ref", "kind", "title", "body", "due_on"}) → queues it for the child
SendNotice = Callable[[Session, Peer, dict[str, Any]], None]
# Days before the deadline at which the party is reminded, and the step each is recorded as.
BEFORE = {7: "d-7", 1: "d-1", 0: "d0"}
OVERDUE_STEP = "d+1"


def envelope_sender(ctx: relay.NodeContext) -> SendNotice:
    """Notices to a child as signed envelopes in this node's outbox; the id names the sending node so that a
    child's store of notices stays unique whoever sent them."""

    def send(s: Session, peer: Peer, doc: dict[str, Any]) -> None:
        body = {"id": f"{ctx.code}:{doc['ref']}"[:60], "kind": doc["kind"], "title": doc["title"],
                "body": doc["body"], "due_on": doc.get("due_on")}
        relay.queue(s, ctx, peer, notices.KIND, {"notices": [body]}, 1, source_ref=body["id"])

    return send


def _contact(s: Session, target_kind: str, target_code: str) -> tuple[str | None, Peer | None]:
    if target_kind == "peer":
        peer = s.get(Peer, target_code)
        return (peer.contact if peer else None), peer
    inst = s.get(FinancialInstitution, target_code)
    return (inst.contact if inst else None), None


def remind(s: Session, target_kind: str, target_code: str, kind: str, due_on: date, step: str, title: str,
           body: str, *, notifier: Notifier | None = None, send_notice: SendNotice | None = None,
           actor: str = sanctions.SYSTEM) -> bool:
    """Send one reminder once: record it (target, kind, due_on, step), tell the contact through `notifier`
    and, for a child node, queue a `notice` envelope with `send_notice`. False when it was already sent.

    The message goes out before the caller commits: should the commit fail, the next run records and sends
    it again — a reminder twice is better than none."""
    if kind not in REMINDER_KINDS:
        raise ValueError(f"unknown reminder kind {kind!r}")
    key = (ConnectionReminder.target_kind == target_kind, ConnectionReminder.target_code == target_code,
           ConnectionReminder.kind == kind, ConnectionReminder.due_on == due_on, ConnectionReminder.step == step)
    if s.execute(select(ConnectionReminder.id).where(*key)).first() is not None:
        return False
    row = ConnectionReminder(target_kind=target_kind, target_code=target_code, kind=kind, due_on=due_on,
                             step=step, sent_at=clock.now(), channels=[])
    try:
        with savepoint(s):
            s.add(row)
            s.flush()
    except IntegrityError:  # another run recorded it meanwhile
        return False
    contact, peer = _contact(s, target_kind, target_code)
    channels: list[str] = []
    if notifier is not None and contact:
        notifier.send(contact, f"【{title}】{body}", kind=f"connection.{kind}")
        channels.append("notifier")
    if send_notice is not None and peer is not None and peer.relation == "child":
        send_notice(s, peer, {"ref": f"{kind}:{due_on.isoformat()}:{step}", "kind": kind, "title": title,
                              "body": body, "due_on": due_on.isoformat()})
        channels.append("envelope")
    row.channels = channels
    audit.record(s, actor, "connection.reminded", f"{target_kind}:{target_code}", kind=kind, step=step,
                 due_on=due_on.isoformat(), channels=channels)
    return True


def sent_for(s: Session, target_kind: str, target_code: str, limit: int = 50) -> list[ConnectionReminder]:
    """The reminders sent to one party, newest first (its file shows them)."""
    return list(s.execute(select(ConnectionReminder).where(ConnectionReminder.target_kind == target_kind,
                                                           ConnectionReminder.target_code == target_code)
                          .order_by(ConnectionReminder.id.desc()).limit(limit)).scalars())


def _under_rectification(s: Session) -> list[tuple[str, str, str, date]]:
    """(kind, code, name, deadline) of every node and institution under rectification with a deadline."""
    out = [("peer", p.code, p.name, p.rectify_deadline) for p in s.execute(
        select(Peer).where(Peer.relation == "child", Peer.status == "rectifying",
                           Peer.rectify_deadline.is_not(None)).order_by(Peer.code)).scalars()]
    out += [("institution", i.code, i.name, i.rectify_deadline) for i in s.execute(
        select(FinancialInstitution).where(FinancialInstitution.status == "rectifying",
                                           FinancialInstitution.rectify_deadline.is_not(None))
        .order_by(FinancialInstitution.code)).scalars()]
    return [(k, c, n, d) for k, c, n, d in out if d is not None]


def run(s: Session, today: date, notifier: Notifier | None, send_notice: SendNotice | None) -> dict[str, int]:
    """One day's pass over every deadline; idempotent within the day and across days."""
    done = {"checked": 0, "reminders": 0, "proposals": 0}
    for kind, code, name, deadline in _under_rectification(s):
        done["checked"] += 1
        left = (deadline - today).days
        if left in BEFORE:
            when = "今天" if left == 0 else f"{left} 天后（{deadline.isoformat()}）"
            sent = remind(s, kind, code, "rectify_due", deadline, BEFORE[left], "整改期限将至",
                          f"{name}（{code}）的整改期限为{when}，请按期完成整改并报告。逾期未整改将被提议暂停接入。",
                          notifier=notifier, send_notice=send_notice)
            done["reminders"] += int(sent)
        elif left < 0:
            # Raised once, on the first run after the deadline: the reminder row is what says it was done, so a
            # proposal the officers rejected is not raised again the next day.
            sent = remind(s, kind, code, "rectify_overdue", deadline, OVERDUE_STEP, "整改已逾期",
                          f"{name}（{code}）的整改期限 {deadline.isoformat()} 已过，未见整改完成；已提议暂停其接入，"
                          "待两名安全管理员审核决定。", notifier=notifier, send_notice=send_notice)
            if sent:
                done["reminders"] += 1
                sanctions.propose(s, None, kind, code, "suspend",
                                  f"整改期限 {deadline.isoformat()} 已过，未整改完成", "deadline",
                                  deadline.isoformat())
                done["proposals"] += 1
    return done
