"""An append-only audit trail chained by SM3 digests, with signed checkpoints.

Each entry's digest covers the previous entry's digest, so changing, inserting or removing an entry breaks
every digest after it. Writes that matter call `record()` inside their own transaction, so the entry commits
with the change or not at all. Accesses to an entity's data name the entity, the institution and the
request id in columns of their own (covered by the digest), so an enterprise's "who looked at my data" and
the anomaly rules are indexed queries.

The chain's head lives in a one-row table that each writer updates first: that takes the write lock
(SQLite) or the row lock (PostgreSQL) before the previous digest is read, so concurrent writers, in any
number of processes, chain one after another and never fork.

A checkpoint signs the head (last id, digest, count) with the node's key; `verify_chain` checks every
digest and every checkpoint's signature and that the chain still passes through each signed head, so even
a rewrite of the whole chain (recomputing every digest) is caught at the last checkpoint before it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from xinyidai.kit import clock
from xinyidai.kit.db import Base, UTCDateTime, savepoint
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.prepared import Prepared
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
    # Set for accesses to an entity's data (and refusals of them).
    entity_code: Mapped[str | None] = mapped_column(String(18))
    institution_code: Mapped[str | None] = mapped_column(String(18))
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_events_entity_at", "entity_code", "at"),
        Index("ix_audit_events_institution_at", "institution_code", "at"),
    )


class AuditHead(Base):
    """The chain's head: one row, updated by every writer before it reads the previous digest."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigId, nullable=False, default=0)
    digest: Mapped[str] = mapped_column(String(64), nullable=False, default=GENESIS)
    count: Mapped[int] = mapped_column(BigId, nullable=False, default=0)


class AuditCheckpoint(Base):
    """A signed statement of the chain's head at a moment."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    last_event_id: Mapped[int] = mapped_column(BigId, nullable=False)
    head_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    events: Mapped[int] = mapped_column(BigId, nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    suite: Mapped[str] = mapped_column(String(10), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    public_key: Mapped[dict] = mapped_column(JSON, nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)


def _digest(prev: str, at: str, actor: str, action: str, target: str, detail: dict,
            access: tuple[str | None, str | None, str | None] = (None, None, None)) -> str:
    fields: list[Any] = [prev, at, actor, action, target, detail]
    if any(access):  # entries without access columns keep the original form, so older chains still verify
        fields.append(list(access))
    body = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return sm3_hex(body.encode("utf-8"))


# Every access writes an entry: these three statements run as `Prepared` (see that module for why).
_TAKE_HEAD = Prepared(update(AuditHead).where(AuditHead.id == 1).values(count=AuditHead.count + 1)
                      .returning(AuditHead.digest, AuditHead.count))
_ENTRY = ("at", "actor", "action", "target", "detail", "prev_digest", "digest", "entity_code", "institution_code",
          "request_id")
_INSERT = Prepared(insert(AuditEvent).values({k: bindparam(k) for k in _ENTRY}).returning(AuditEvent.id))
_MOVE_HEAD = Prepared(update(AuditHead).where(AuditHead.id == 1)
                      .values(last_id=bindparam("last_id"), digest=bindparam("digest")))


def _take_head(session: Session) -> tuple[str, int]:
    """Lock the chain and count the entry about to be written; returns the previous digest."""
    row = _TAKE_HEAD.first(session)
    if row is None:  # the migration creates the row; this covers a table emptied by hand
        last = session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).scalar_one_or_none()
        count = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        try:
            with savepoint(session):
                session.connection().execute(insert(AuditHead).values(
                    id=1, last_id=last.id if last else 0, digest=last.digest if last else GENESIS, count=count))
        except IntegrityError:  # another writer created it first: take it as they left it
            pass
        row = _TAKE_HEAD.first(session)
    return row[0], row[1]


@dataclass(frozen=True)
class Entry:
    """What the writer of an entry gets back (an ORM object cost more to build than the insert)."""

    id: int
    at: datetime
    digest: str


def record(session: Session, actor: str, action: str, target: str = "", *, entity_code: str | None = None,
           institution_code: str | None = None, request_id: str | None = None, **detail: Any) -> Entry:
    """Append one entry in the caller's transaction (Core statements: this runs on every access)."""
    session.flush()  # pending ORM changes first, so the entry follows what it records
    prev, _ = _take_head(session)
    at = clock.now()
    detail = json.loads(json.dumps(detail, default=str))
    digest = _digest(prev, at.isoformat(), actor, action, target, detail, (entity_code, institution_code, request_id))
    values = {"at": at, "actor": actor, "action": action, "target": target, "detail": detail,
              "prev_digest": prev, "digest": digest, "entity_code": entity_code,
              "institution_code": institution_code, "request_id": request_id}
    event_id = _INSERT.first(session, values)[0]
    _MOVE_HEAD.run(session, {"last_id": event_id, "digest": digest})
    return Entry(event_id, at, digest)


# ── checkpoints ──────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Signer:
    """What a checkpoint needs of the node's key, without this module knowing the crypto suite."""

    suite: str
    key_id: str
    public_key: dict
    sign: Callable[[bytes], bytes]


Verifier = Callable[[str, dict, bytes, bytes], bool]  # (suite, public key, message, signature) -> valid


def checkpoint_message(last_event_id: int, head_digest: str, events: int, signed_at: datetime) -> bytes:
    body = {"kind": "xinyidai.audit.checkpoint", "last_event_id": last_event_id, "head_digest": head_digest,
            "events": events, "signed_at": signed_at.isoformat()}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def make_checkpoint(session: Session, signer: Signer) -> AuditCheckpoint | None:
    """Sign the current head, unless nothing was written since the last checkpoint."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None or head.last_id == 0:
        return None
    last = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).scalar_one_or_none()
    if last is not None and last.last_event_id == head.last_id:
        return None
    at = clock.now()
    sig = signer.sign(checkpoint_message(head.last_id, head.digest, head.count, at))
    cp = AuditCheckpoint(last_event_id=head.last_id, head_digest=head.digest, events=head.count, signed_at=at,
                         suite=signer.suite, key_id=signer.key_id, public_key=signer.public_key,
                         signature=sig.hex())
    session.add(cp)
    session.flush()
    return cp


@dataclass
class ChainReport:
    intact: bool
    entries: int
    first_broken: int | None = None
    reason: str = ""
    checkpoints: int = 0

    def __iter__(self):  # noqa: ANN204 - keeps `ok, broken, n = verify_chain(s)` working
        return iter((self.intact, self.first_broken, self.entries))


def verify_chain(session: Session, verifier: Verifier | None = None,
                 trusted_keys: set[str] | None = None) -> ChainReport:
    """Check every digest in order, then each checkpoint (its signature when a verifier is given, and that
    the chain passes through the head it signed). `trusted_keys` limits which key ids may sign."""
    checkpoints = {cp.last_event_id: cp for cp in session.execute(select(AuditCheckpoint)).scalars()}
    prev = GENESIS
    n = 0
    seen_checkpoints = 0
    for ev in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        n += 1
        access = (ev.entity_code, ev.institution_code, ev.request_id)
        if ev.prev_digest != prev or ev.digest != _digest(prev, ev.at.isoformat(), ev.actor, ev.action, ev.target,
                                                          ev.detail, access):
            return ChainReport(False, n, ev.id, "摘要不连续：该条目或其之前的条目被改动、插入或删除",
                               seen_checkpoints)
        prev = ev.digest
        cp = checkpoints.pop(ev.id, None)
        if cp is not None:
            seen_checkpoints += 1
            if cp.head_digest != ev.digest or cp.events != n:
                return ChainReport(False, n, ev.id, f"与第 {cp.id} 号签名检查点记录的链头不一致", seen_checkpoints)
            if trusted_keys is not None and cp.key_id not in trusted_keys:
                return ChainReport(False, n, ev.id, f"第 {cp.id} 号检查点由未受信任的密钥 {cp.key_id} 签名",
                                   seen_checkpoints)
            if verifier is not None and not verifier(
                    cp.suite, cp.public_key, checkpoint_message(cp.last_event_id, cp.head_digest, cp.events,
                                                                cp.signed_at), bytes.fromhex(cp.signature)):
                return ChainReport(False, n, ev.id, f"第 {cp.id} 号检查点的签名无效", seen_checkpoints)
    if checkpoints:  # a checkpoint names an entry that is no longer there: the chain was cut short
        first = min(checkpoints)
        return ChainReport(False, n, first, f"签名检查点指向的第 {first} 条记录已不存在（链被截断）",
                           seen_checkpoints)
    return ChainReport(True, n, None, "", seen_checkpoints)
