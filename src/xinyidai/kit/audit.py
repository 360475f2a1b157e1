"""An append-only audit trail chained by SM3 digests, with signed checkpoints checked against what is kept
outside the database.

Each entry's digest covers the previous entry's digest, so changing, inserting or removing an entry breaks
every digest after it. Writes that matter call `record()` inside their own transaction, so the entry commits
with the change or not at all. Accesses to an entity's data name the entity, the institution and the
request id in columns of their own (covered by the digest), so an enterprise's "who looked at my data" and
the anomaly rules are indexed queries.

The chain's head lives in a one-row table that each writer updates first: that takes the write lock
(SQLite) or the row lock (PostgreSQL) before the previous digest is read, so concurrent writers, in any
number of processes, chain one after another and never fork.

Whoever can write the database can recompute every digest, so the chain alone proves nothing against them.
What `verify_chain` trusts comes from elsewhere (`Anchors`):

* **Keys.** A checkpoint signs the head (last event id, digest, count) with the node's key. Its signature is
  checked with the public keys the node has published — read from its key directory
  (`kit.node_key`), never the public key stored in the checkpoint's own row — so a checkpoint re-signed
  with a key planted in the database does not verify, while one signed by an older key of this node does.
* **Checkpoints form a chain.** They are numbered 1, 2, 3, … (`seq`) and each signs its number and the last
  event id of the checkpoint before it (`prev_event_id`, 0 for the first): checkpoint k covers the events
  (prev_event_id, last_event_id]. A checkpoint is *missing* when (a) the numbers do not run 1, 2, … without
  a gap, (b) a checkpoint's signed predecessor is not the checkpoint before it, or (c) a checkpoint that
  the node's own journal or its parent holds (below) is not in the database. Events after the newest
  checkpoint — the tail, at most ten minutes' worth while the server runs — are covered by the head row
  only; that is the window the next checkpoint closes. (Checkpoints made before migration 0006 keep the
  head-only signature: their numbers were assigned by the migration and are not signed.)
* **The head.** The event the head row names must exist, with the head's digest, at the head's position:
  deleting the newest entries shows, and rewriting the head to match shows wherever a checkpoint covered
  the deleted entries.
* **Heads kept elsewhere.** Each checkpoint, once committed, is appended to the node's journal in its key
  directory (`Signer.journal`) and sent to the parent node, which keeps it (`network.checkpoints`). Every
  head held there must be in the database unchanged, and the chain must still pass through it: deleting all
  checkpoints, or the newest ones, and rewriting what they covered is caught by the journal against anyone
  who can write only the database, and by the parent against the node's own operator.

`verify_chain` reports every break it finds (up to `MAX_BREAKS`), each with a code, what is wrong and what
to do, in Chinese; and notes that are not breaks (the unsigned tail, a parent that could not be asked).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, bindparam, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from xinyidai.kit import clock
from xinyidai.kit.db import Base, UTCDateTime, savepoint
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.prepared import Prepared
from xinyidai.kit.types import BigId

GENESIS = "0" * 64
MAX_BREAKS = 20  # a rewrite can break every checkpoint after it; the first few say enough
log = logging.getLogger(__name__)


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
    """A signed statement of the chain's head at a moment, and of the checkpoint before it."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)  # 1, 2, 3, … with no gap
    # The last event of the checkpoint before (0 for the first); None: made before 0006, head-only signature.
    prev_event_id: Mapped[int | None] = mapped_column(BigId)
    last_event_id: Mapped[int] = mapped_column(BigId, nullable=False)
    head_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    events: Mapped[int] = mapped_column(BigId, nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    suite: Mapped[str] = mapped_column(String(10), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    public_key: Mapped[dict] = mapped_column(JSON, nullable=False)  # shown, never trusted (see the docstring)
    signature: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ux_audit_checkpoints_seq", "seq", unique=True),)


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

Verifier = Callable[[str, Mapping[str, str], bytes, bytes], bool]  # (suite, public key, message, signature) -> valid


@dataclass(frozen=True)
class Signer:
    """What a checkpoint needs of the node's key, without this module knowing the crypto suite. `journal`, when
    set, keeps each checkpoint's head outside the database once the transaction that made it has committed."""

    suite: str
    key_id: str
    public_key: dict
    sign: Callable[[bytes], bytes]
    journal: Callable[[dict[str, Any]], None] | None = None


def checkpoint_message(last_event_id: int, head_digest: str, events: int, signed_at: datetime,
                       seq: int | None = None, prev_event_id: int | None = None) -> bytes:
    """What a checkpoint signs. With `prev_event_id` (every checkpoint since migration 0006) also its number
    and the last event of the one before it; without, the head-only form of older checkpoints."""
    body: dict[str, Any] = {"kind": "xinyidai.audit.checkpoint", "last_event_id": last_event_id,
                            "head_digest": head_digest, "events": events, "signed_at": signed_at.isoformat()}
    if prev_event_id is not None:
        body.update(seq=seq, prev_event_id=prev_event_id)
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _int(doc: Mapping[str, Any], key: str, low: int) -> int:
    v = doc.get(key)
    if type(v) is not int or v < low:  # bool is an int: refused too
        raise ValueError(key)
    return v


def _text_field(doc: Mapping[str, Any], key: str, limit: int, chars: str | None = None) -> str:
    v = doc.get(key)
    if not isinstance(v, str) or not 0 < len(v) <= limit or (chars is not None and not set(v) <= set(chars)):
        raise ValueError(key)
    return v


_HEX = "0123456789abcdef"


@dataclass(frozen=True)
class SignedHead:
    """A checkpoint as it is kept outside the database — the node's journal, its parent — and compared."""

    seq: int
    prev_event_id: int | None
    last_event_id: int
    head_digest: str
    events: int
    signed_at: datetime
    suite: str
    key_id: str
    signature: str

    @classmethod
    def of(cls, cp: AuditCheckpoint) -> SignedHead:
        return cls(cp.seq, cp.prev_event_id, cp.last_event_id, cp.head_digest, cp.events, cp.signed_at, cp.suite,
                   cp.key_id, cp.signature)

    @classmethod
    def from_doc(cls, doc: Any) -> SignedHead:
        """A head from its JSON form (`doc`); ValueError names the first field that is not right."""
        if not isinstance(doc, Mapping):
            raise ValueError("head")
        prev = doc.get("prev_event_id")
        signed_at = datetime.fromisoformat(_text_field(doc, "signed_at", 40))
        if signed_at.tzinfo is None:
            raise ValueError("signed_at")
        return cls(_int(doc, "seq", 1), None if prev is None else _int(doc, "prev_event_id", 0),
                   _int(doc, "last_event_id", 1), _text_field(doc, "head_digest", 64, _HEX), _int(doc, "events", 1),
                   signed_at, _text_field(doc, "suite", 10), _text_field(doc, "key_id", 64),
                   _text_field(doc, "signature", 600, _HEX))

    def doc(self) -> dict[str, Any]:
        return {"seq": self.seq, "prev_event_id": self.prev_event_id, "last_event_id": self.last_event_id,
                "head_digest": self.head_digest, "events": self.events, "signed_at": self.signed_at.isoformat(),
                "suite": self.suite, "key_id": self.key_id, "signature": self.signature}

    def message(self) -> bytes:
        return checkpoint_message(self.last_event_id, self.head_digest, self.events, self.signed_at, self.seq,
                                  self.prev_event_id)

    def same_head(self, other: SignedHead) -> bool:
        """Whether both state the same head (a signature of it may differ: signing is randomized)."""
        return (self.last_event_id, self.head_digest, self.events) == (other.last_event_id, other.head_digest,
                                                                        other.events)


# An UPDATE that changes nothing, to take the head's lock (as `record` does) before the head is read.
_LOCK_HEAD = update(AuditHead).where(AuditHead.id == 1).values(last_id=AuditHead.last_id)


def make_checkpoint(session: Session, signer: Signer) -> AuditCheckpoint | None:
    """Sign the current head as the next checkpoint, unless nothing was written since the last one. The head is
    locked first, so it is final while signed and two processes never make the same number."""
    session.flush()
    session.execute(_LOCK_HEAD, execution_options={"synchronize_session": False})
    head = session.execute(select(AuditHead.last_id, AuditHead.digest, AuditHead.count)
                           .where(AuditHead.id == 1)).first()
    if head is None or head.last_id == 0:
        return None
    last = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).scalar_one_or_none()
    if last is not None and last.last_event_id == head.last_id:
        return None
    seq, prev = (last.seq + 1, last.last_event_id) if last is not None else (1, 0)
    at = clock.now()
    sig = signer.sign(checkpoint_message(head.last_id, head.digest, head.count, at, seq, prev))
    cp = AuditCheckpoint(seq=seq, prev_event_id=prev, last_event_id=head.last_id, head_digest=head.digest,
                         events=head.count, signed_at=at, suite=signer.suite, key_id=signer.key_id,
                         public_key=signer.public_key, signature=sig.hex())
    session.add(cp)
    session.flush()
    if signer.journal is not None:
        _journal_on_commit(session, signer.journal, SignedHead.of(cp).doc())
    return cp


# ── the journal: heads handed over only once their transaction has committed ──────────────────────────────

_JOURNAL = "audit.journal"  # session.info: {"pending": [(write, doc)], "committed": bool}


def _journal_on_commit(session: Session, write: Callable[[dict[str, Any]], None], doc: dict[str, Any]) -> None:
    """Give `doc` to `write` when the session's transaction commits, and drop it when it does not: a journal then
    never holds a checkpoint the database did not keep."""
    state = session.info.get(_JOURNAL)
    if state is None:
        state = session.info[_JOURNAL] = {"pending": [], "committed": False}
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_transaction_end", _transaction_ended)
    state["pending"].append((write, doc))


def _committed(session: Session) -> None:
    session.info[_JOURNAL]["committed"] = True


def _transaction_ended(session: Session, transaction: Any) -> None:
    state = session.info[_JOURNAL]
    if transaction.nested or transaction.parent is not None:
        state["committed"] = False  # a savepoint's release also fires after_commit: only the outermost counts
        return
    pending, committed = state["pending"], state["committed"]
    state["pending"], state["committed"] = [], False
    for write, doc in pending if committed else ():
        try:
            write(doc)
        except OSError:  # the checkpoint stands; a journal short of one head only protects a little less
            log.exception("could not journal audit checkpoint %s", doc.get("seq"))


# ── verification ─────────────────────────────────────────────────────────────────────────────────────────

ADVICE = {
    "AUDIT_DIGEST_BROKEN": "记录被绕过平台直接改动：对照数据库备份找出改动的内容，并排查谁能直接写入数据库。",
    "AUDIT_HEAD_MISSING": "链头表被人为清空：从备份恢复数据库，并排查数据库的直接写入权限。",
    "AUDIT_HEAD_MISMATCH": "最新的审计记录被删除或链头被改写：从备份恢复被删除的记录，并排查数据库的直接写入权限。",
    "AUDIT_CHECKPOINT_MISMATCH": "检查点签名之前的记录被改写、插入或删除：从备份恢复，并与上级节点保存的检查点核对。",
    "AUDIT_CHECKPOINT_TRUNCATED": "检查点覆盖的记录被删除：从备份恢复被删除的记录，并排查数据库的直接写入权限。",
    "AUDIT_CHECKPOINT_MISSING": "签名检查点被删除（常用来掩盖对记录的改写）：从备份恢复，并与上级节点保存的检查点核对。",
    "AUDIT_CHECKPOINT_FOREIGN_KEY": "检查点被人用不属于本节点的密钥伪造或重签：按篡改处理，从备份恢复并排查数据库写入权限。"
                                    "若本节点确曾更换密钥，请把旧公钥补记到 var/keys/published.jsonl。",
    "AUDIT_CHECKPOINT_BAD_SIGNATURE": "检查点在签名后被改动：从备份恢复，并排查数据库的直接写入权限。",
    "AUDIT_CHECKPOINT_REPLACED": "数据库中的检查点被替换：以本节点密钥目录或上级节点保存的检查点为准，从备份恢复并排查数据库写入权限。",
    "AUDIT_WITNESS_MISMATCH": "审计链在数据库之外保存的检查点之前被改写或截断（数据库中的检查点可能被一并重签）："
                              "以外部保存的检查点为准从备份恢复，并报告安全管理员。若是有意重建或恢复了较早的数据库备份，"
                              "请核实后把 var/keys/checkpoints.jsonl 归档，并告知上级节点。",
    "AUDIT_WITNESS_UNVERIFIED": "外部保存的检查点无法用本节点发布过的公钥验证：核对本节点密钥目录（var/keys）是否被替换，"
                                "并联系上级节点的运营人员。",
}


@dataclass(frozen=True)
class Break:
    """One way the chain is not what was signed: a code, what is wrong (Chinese) and the entry it shows at."""

    code: str
    message: str
    event_id: int | None = None

    @property
    def advice(self) -> str:
        return ADVICE.get(self.code, "")


@dataclass(frozen=True)
class Witness:
    """Heads kept outside the database, and who keeps them (named in messages)."""

    source: str
    heads: Sequence[SignedHead]


@dataclass(frozen=True)
class Anchors:
    """What verification trusts because the database cannot change it: the public keys the node has published
    (key id → public bundle, suite included), how to check a signature, and heads kept elsewhere."""

    keys: Mapping[str, Mapping[str, str]]
    verify: Verifier
    witnesses: Sequence[Witness] = ()
    notes: Sequence[str] = ()


@dataclass
class ChainReport:
    entries: int
    checkpoints: int = 0
    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def first_broken(self) -> int | None:
        """The earliest entry a break shows at."""
        ids = [b.event_id for b in self.breaks if b.event_id is not None]
        return min(ids) if ids else None

    @property
    def reason(self) -> str:
        return self.breaks[0].message if self.breaks else ""

    def __iter__(self):  # noqa: ANN204 - keeps `ok, broken, n = verify_chain(s)` working
        return iter((self.intact, self.first_broken, self.entries))


def verify_chain(session: Session, anchors: Anchors | None = None) -> ChainReport:
    """Check every digest, the checkpoints' sequence, the head, and — given `anchors` — each checkpoint's
    signature by a published key of this node and the heads kept outside the database (module docstring).

    Read in this order — head, checkpoints, then entries — so that what a writer appends meanwhile is seen
    after, never before, what it extends."""
    head = session.execute(select(AuditHead.last_id, AuditHead.digest, AuditHead.count)
                           .where(AuditHead.id == 1)).first()
    cps = [SignedHead.of(cp) for cp in session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars()]
    witnesses = anchors.witnesses if anchors is not None else ()
    wanted = {cp.last_event_id for cp in cps} | {h.last_event_id for w in witnesses for h in w.heads}
    if head is not None:
        wanted.add(head.last_id)
    found: list[Break] = []
    entries, passes, unlisted = _walk(session, wanted, found)
    _check_sequence(cps, found)
    if anchors is not None:
        _check_signatures(cps, anchors, found)
    _check_passes(cps, passes, found)
    _check_head(head, entries, passes, found)
    by_seq = {cp.seq: cp for cp in cps}
    for w in witnesses:
        _check_witness(w, by_seq, passes, anchors, found)  # type: ignore[arg-type] - witnesses imply anchors
    report = ChainReport(entries, len(cps), found[:MAX_BREAKS], _notes(cps, entries, anchors))
    unlisted += max(0, len(found) - MAX_BREAKS)
    if unlisted:
        report.notes.append(f"另有 {unlisted:,} 处问题未列出")
    return report


_WALK = select(AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.target,
               AuditEvent.detail, AuditEvent.prev_digest, AuditEvent.digest, AuditEvent.entity_code,
               AuditEvent.institution_code, AuditEvent.request_id).order_by(AuditEvent.id)


def _walk(session: Session, wanted: set[int], found: list[Break]) -> tuple[int, dict[int, tuple[str, int]], int]:
    """Check every entry's digest, in order: the number of entries, (digest, position) of the `wanted` ones, and
    how many broken entries were not listed. After a break the walk goes on from the stored digest, so each
    altered entry is named once."""
    prev, n, unlisted = GENESIS, 0, 0
    passes: dict[int, tuple[str, int]] = {}
    for ev in session.execute(_WALK.execution_options(yield_per=10_000)):
        n += 1
        problem = None
        if ev.prev_digest != prev:
            problem = f"第 {ev.id} 条记录没有接续它前面的记录：前面的记录被删除、插入或改动"
        elif ev.digest != _digest(prev, ev.at.isoformat(), ev.actor, ev.action, ev.target, ev.detail,
                                  (ev.entity_code, ev.institution_code, ev.request_id)):
            problem = f"第 {ev.id} 条记录的内容与它的摘要不符：该记录被改动"
        if problem is not None:
            if len(found) < MAX_BREAKS:
                found.append(Break("AUDIT_DIGEST_BROKEN", problem, ev.id))
            else:
                unlisted += 1
        prev = ev.digest
        if ev.id in wanted:
            passes[ev.id] = (ev.digest, n)
    return n, passes, unlisted


def _check_sequence(cps: Sequence[SignedHead], found: list[Break]) -> None:
    """Checkpoints number 1, 2, … and each names the one before it (module docstring, "missing")."""
    prev: SignedHead | None = None
    for cp in cps:
        expected, prev_last = (prev.seq + 1, prev.last_event_id) if prev else (1, 0)
        if cp.seq != expected:
            span = f"第 {expected} 个" if cp.seq == expected + 1 else f"第 {expected}–{cp.seq - 1} 个"
            found.append(Break("AUDIT_CHECKPOINT_MISSING", f"缺少{span}检查点（截至第 {prev_last} 条与截至第 "
                                                           f"{cp.last_event_id} 条的检查点之间）", prev_last + 1))
        elif cp.prev_event_id is not None and cp.prev_event_id != prev_last:
            found.append(Break("AUDIT_CHECKPOINT_MISSING", f"第 {cp.seq} 个检查点签名时接续截至第 {cp.prev_event_id} 条"
                                                           f"的检查点，数据库中它前面的却截至第 {prev_last} 条："
                                                           "中间的检查点被删除后重新编号", cp.prev_event_id))
        if prev is not None and (cp.last_event_id <= prev.last_event_id or cp.events <= prev.events):
            found.append(Break("AUDIT_CHECKPOINT_MISMATCH", f"第 {cp.seq} 个检查点（截至第 {cp.last_event_id} 条）"
                                                            f"没有排在第 {prev.seq} 个（截至第 {prev.last_event_id} 条）之后",
                               cp.last_event_id))
        prev = cp


def _signed_by(head: SignedHead, anchors: Anchors) -> str | None:
    """None when a published key of this node signed `head`; else the code of what is wrong."""
    key = anchors.keys.get(head.key_id)
    if key is None:
        return "AUDIT_CHECKPOINT_FOREIGN_KEY"
    try:
        ok = key.get("suite") == head.suite and anchors.verify(head.suite, key, head.message(),
                                                               bytes.fromhex(head.signature))
    except ValueError:
        ok = False
    return None if ok else "AUDIT_CHECKPOINT_BAD_SIGNATURE"


def _check_signatures(cps: Sequence[SignedHead], anchors: Anchors, found: list[Break]) -> None:
    for cp in cps:
        problem = _signed_by(cp, anchors)
        if problem == "AUDIT_CHECKPOINT_FOREIGN_KEY":
            found.append(Break(problem, f"第 {cp.seq} 个检查点由密钥 {cp.key_id} 签名，它不是本节点发布过的密钥："
                                        "检查点是用别的密钥伪造或重签的", cp.last_event_id))
        elif problem is not None:
            found.append(Break(problem, f"第 {cp.seq} 个检查点的签名无效：检查点在签名后被改动", cp.last_event_id))


def _check_passes(cps: Iterable[SignedHead], passes: Mapping[int, tuple[str, int]], found: list[Break]) -> None:
    """The chain still goes through the head each checkpoint signed."""
    for cp in cps:
        seen = passes.get(cp.last_event_id)
        if seen is None:
            found.append(Break("AUDIT_CHECKPOINT_TRUNCATED", f"第 {cp.seq} 个检查点签名时链截至第 {cp.last_event_id} "
                                                             "条，这条记录已不存在：链被截断", cp.last_event_id))
        elif seen != (cp.head_digest, cp.events):
            found.append(Break("AUDIT_CHECKPOINT_MISMATCH", f"与第 {cp.seq} 个检查点签名的链头（截至第 {cp.last_event_id} "
                                                            f"条，共 {cp.events:,} 条）不符：它之前的记录被改写、插入或删除",
                               cp.last_event_id))


def _check_head(head: Any, entries: int, passes: Mapping[int, tuple[str, int]], found: list[Break]) -> None:
    """The chain ends where the head row says (entries written after it was read may follow)."""
    if head is None or head.last_id == 0:
        if entries:
            found.append(Break("AUDIT_HEAD_MISSING", f"链头记录缺失或为空，但链中有 {entries:,} 条记录：无法确认最新的记录是否完整"))
        return
    seen = passes.get(head.last_id)
    if seen is None:
        found.append(Break("AUDIT_HEAD_MISMATCH", f"链头记录指向第 {head.last_id} 条，链中已没有这条记录：最新的记录被删除",
                           head.last_id))
    elif seen != (head.digest, head.count):
        found.append(Break("AUDIT_HEAD_MISMATCH", f"链头记录（截至第 {head.last_id} 条，共 {head.count:,} 条）与链不符："
                                                  "最新的记录或链头被改写", head.last_id))


def _check_witness(w: Witness, by_seq: Mapping[int, SignedHead], passes: Mapping[int, tuple[str, int]],
                   anchors: Anchors, found: list[Break]) -> None:
    """Each head kept elsewhere is in the database unchanged, and the chain still goes through it."""
    for h in w.heads:
        cp = by_seq.get(h.seq)
        if cp is None:
            found.append(Break("AUDIT_CHECKPOINT_MISSING", f"{w.source}保存的第 {h.seq} 个检查点（截至第 {h.last_event_id} "
                                                           "条）不在数据库中：检查点被删除", h.last_event_id))
        elif not cp.same_head(h):
            found.append(Break("AUDIT_CHECKPOINT_REPLACED", f"数据库中的第 {h.seq} 个检查点（截至第 {cp.last_event_id} 条）"
                                                            f"与{w.source}保存的（截至第 {h.last_event_id} 条）不同："
                                                            "检查点被替换", h.last_event_id))
        if passes.get(h.last_event_id) != (h.head_digest, h.events):
            found.append(Break("AUDIT_WITNESS_MISMATCH", f"链与{w.source}保存的第 {h.seq} 个检查点（截至第 "
                                                         f"{h.last_event_id} 条，共 {h.events:,} 条）不符："
                                                         "此前的记录被改写或删除", h.last_event_id))
        if (cp is None or cp.signature != h.signature) and _signed_by(h, anchors) is not None:
            found.append(Break("AUDIT_WITNESS_UNVERIFIED", f"{w.source}保存的第 {h.seq} 个检查点无法用本节点发布过的"
                                                           "公钥验证", h.last_event_id))


def _notes(cps: Sequence[SignedHead], entries: int, anchors: Anchors | None) -> list[str]:
    """What a reader should know that is not a break."""
    notes = list(anchors.notes) if anchors is not None else ["未校验检查点签名：没有提供本节点发布过的公钥"]
    if not cps:
        if entries:
            notes.append("尚无签名检查点：服务运行时每 10 分钟自动签名一次，也可运行 xinyidai audit checkpoint")
    elif entries > cps[-1].events:
        notes.append(f"最后一个检查点（第 {cps[-1].seq} 个，截至第 {cps[-1].last_event_id} 条）之后的 "
                     f"{entries - cps[-1].events:,} 条记录尚未签名，由下一个检查点覆盖")
    for w in anchors.witnesses if anchors is not None else ():
        newest = f"，最新为第 {max(h.seq for h in w.heads)} 个" if w.heads else ""
        notes.append(f"已与{w.source}保存的 {len(w.heads):,} 个检查点核对{newest}")
    return notes
