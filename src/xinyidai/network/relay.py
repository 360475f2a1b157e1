"""Relaying credit records between nodes: what to send (upload to the parent, download to the child where
an entity is registered), the outbox with retries, the inbox that applies each envelope once.

Batches, not rows: one envelope carries up to BATCH records and is signed once. Applying is idempotent and
monotone: a record already held with the same fingerprint is unchanged; one held with a later origin time
is kept (an older version never overwrites a newer one); otherwise the held version is superseded and the
new one stored, with the origin node and the neighbour it came from. What a child sends is passed up to
the parent in the transaction that stores it (`_forward_up`), without being read back; and what any
neighbour sends is passed over by the cursor that collects for that neighbour (`_pass_sender`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import httpx
from sqlalchemy import Row, String, bindparam, exists, func, literal_column, select, text, type_coerce, update
from sqlalchemy.orm import Session, aliased

from xinyidai.entities.models import MarketEntity
from xinyidai.kit import audit, bulk, clock
from xinyidai.kit.crypto.suite import Identity
from xinyidai.network.envelope import (
    PeerKey,
    RetiringKey,
    check_receipt,
    make_envelope,
    wire_digest,
)
from xinyidai.network.horizon import HORIZON, contiguous, settled_moment
from xinyidai.network.models import OutboxEnvelope, Peer, RelayCursor
from xinyidai.records.models import CreditRecord

BATCH = 10000
SCAN_WINDOW = BATCH * 2  # ids considered per step (matching or not)
MAX_PENDING = 8  # envelopes waiting for one peer before collecting for it pauses
MAX_BACKOFF_S = 300
_IN_CHUNK = 500


def _no_earlier() -> tuple[Identity, ...]:
    return ()


@dataclass(frozen=True)
class NodeContext:
    """This node as the relay needs it; `earlier` gives its keys before the current one (network.keys)."""

    code: str
    role: str
    identity: Identity
    earlier: Callable[[], Sequence[Identity]] = _no_earlier


def peer_key(p: Peer) -> PeerKey:
    """A peer's keys as envelopes are checked against them: the current one and, after a rotation, the one
    before it with the end of its overlap (network.keys)."""
    retiring = RetiringKey(p.retiring_key_id, p.retiring_public_key, p.retiring_until) \
        if p.retiring_key_id and p.retiring_public_key and p.retiring_until else None
    return PeerKey(p.code, p.status, p.suite, p.public_key, retiring)


def peer_keys(s: Session) -> dict[str, PeerKey]:
    return {p.code: peer_key(p) for p in s.execute(select(Peer)).scalars()}


def parent(s: Session) -> Peer | None:
    return s.execute(select(Peer).where(Peer.relation == "parent")).scalar_one_or_none()


# ── what to send ─────────────────────────────────────────────────────────────────────────────────────────

def _cursor(s: Session, peer: str, direction: str) -> RelayCursor:
    c = s.get(RelayCursor, (peer, direction))
    if c is None:
        c = RelayCursor(peer=peer, direction=direction, last_id=0)
        s.add(c)
        s.flush()
    return c


# What the relay reads of a record, as the driver returns it: the ORM's and even Core's row processing
# cost more than the rest of a batch together. Dates and times then come as ISO text on SQLite and as
# date/datetime objects on PostgreSQL (see `_iso`).
_R = CreditRecord.__table__.c
_E = MarketEntity.__table__.c
_READ = (_R.id, _R.entity_code, _R.category, _R.record_key, _R.fingerprint, _R.content,
         type_coerce(_R.period_start, String), type_coerce(_R.period_end, String), _R.provider,
         type_coerce(_R.received_at, String), _R.origin_node, _R.note)


def read_records(s: Session, where: list, limit: int | None = None, order: Any = _R.id) -> list[Row[Any]]:
    """The records matching `where` (the columns of `_READ`), in `order`."""
    stmt = select(*_READ).where(*where).order_by(order)
    return list(s.connection().execute(stmt if limit is None else stmt.limit(limit)).all())


# Lookups by a batch's codes: one statement, compiled once, whose IN list is expanded per execution (an IN
# of literal values would build, and key for the statement cache, one parameter object per value).
_ENTITIES_OF = select(_E.code, _E.name, _E.kind, _E.region_code, _E.industry_code, _E.status,
                      type_coerce(_E.registered_on, String)).where(_E.code.in_(bindparam("codes", expanding=True)))


def _entity_rows(s: Session, codes: set[str]) -> dict[str, list[Any]]:
    """The register's rows of the entities of a batch (a join would look each up once per record)."""
    out: dict[str, list[Any]] = {}
    codes_l = sorted(codes)
    for i in range(0, len(codes_l), _IN_CHUNK):
        for e in s.connection().execute(_ENTITIES_OF, {"codes": codes_l[i:i + _IN_CHUNK]}):
            out[e[0]] = [e[1], e[2], e[3], e[4], e[5], _iso(e[6])]
    return out


def _iso(v: str | date | None) -> str | None:
    return v if v is None or isinstance(v, str) else v.isoformat()


def _iso_utc(v: str | datetime) -> str:
    """A stored time as the wire carries it: ISO 8601 with the UTC offset. SQLite holds UTC as
    'YYYY-MM-DD HH:MM:SS.ffffff' (see kit.bulk.sqlite_value)."""
    return v.replace(" ", "T", 1) + "+00:00" if isinstance(v, str) else v.astimezone(UTC).isoformat()


def _record_row(r: Sequence[Any], here: str) -> list[Any]:
    return [r[1], r[2], r[3], r[4], r[5], _iso(r[6]), _iso(r[7]), r[8], _iso_utc(r[9]), r[10] or here]


def records_payload(s: Session, rows: Sequence[Sequence[Any]], here: str, *, withdrawn: bool = False
                    ) -> dict[str, Any]:
    """The payload of a `records` envelope carrying `rows` of `read_records` (withdrawals add a status
    and the note)."""
    records = [[*_record_row(r, here), "withdrawn", r[11] or ""] for r in rows] if withdrawn \
        else [_record_row(r, here) for r in rows]
    return _wire_payload(s, records)


def _wire_payload(s: Session, records: list[list[Any]]) -> dict[str, Any]:
    """A `records` payload: the wire rows with the register's rows of their entities (a row's first field)."""
    return {"entities": _entity_rows(s, {r[0] for r in records}), "records": records}


def _payload(records: list[list[Any]], register: Mapping[str, list[Any]]) -> dict[str, Any]:
    """A `records` payload with the register's rows already at hand (`register` may hold more entities)."""
    codes = {r[0] for r in records}
    return {"entities": {c: e for c, e in register.items() if c in codes}, "records": records}


def queue(s: Session, ctx: NodeContext, peer: Peer, kind: str, payload: Any, items: int,
          source_ref: str | None = None, packed: bytes | None = None) -> OutboxEnvelope:
    env_id, wire = make_envelope(ctx.identity, ctx.code, peer.code, peer.public_key, kind, payload, items=items,
                                 packed=packed)
    now = clock.now()
    ob = OutboxEnvelope(id=env_id, recipient=peer.code, kind=kind, created_at=now, items=items, size=len(wire),
                        wire=wire, digest=wire_digest(wire, ctx.identity.suite), status="pending", attempts=0,
                        next_attempt_at=now, source_ref=source_ref)
    s.add(ob)
    s.flush()
    return ob


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold off the cycle collector while a batch is read, built or applied: its tens of thousands of
    rows, lists and tuples are acyclic and short-lived, yet allocating them triggers collections over the
    server's whole heap several times per envelope (a fifth of a receiver's work, measured). When
    threads overlap here, the one that found the collector on turns it back on."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _pending(s: Session, peer: str) -> int:
    return s.execute(select(func.count()).select_from(OutboxEnvelope).where(
        OutboxEnvelope.status == "pending", OutboxEnvelope.recipient == peer)).scalar_one()


def collect(s: Session, ctx: NodeContext, peer: Peer, direction: str, where: list, limit_batches: int) -> int:
    """Queue the records after the cursor that satisfy `where`, and move the cursor past every record
    considered — matching or not — so a round never rescans what an earlier round already judged.

    Records are considered in windows of ids. On SQLite ids become visible in commit order, so a window
    never skips a record; on PostgreSQL a transaction can commit a lower id after a higher one is seen, so
    a window with a gap is read only as far as ids are settled (see network.horizon).

    Each envelope is committed with the cursor that covers it, so the write lock is not held while the
    next is built (the inbox applies meanwhile). Nothing is queued while MAX_PENDING envelopes already
    wait for the peer: the sender is behind (or the peer away), and the records keep in the table. The
    cursor only moves from where this round found it: the inbox may have forwarded records itself."""
    last = _cursor(s, peer.code, direction).last_id
    queued = 0
    pg = s.get_bind().dialect.name == "postgresql"
    for _ in range(limit_batches):
        settled = HORIZON.settled(s) if pg else 0  # before the window is read (see network.horizon)
        ids = select(CreditRecord.id).where(CreditRecord.id > last).order_by(CreditRecord.id) \
            .limit(SCAN_WINDOW).subquery()
        end, considered = s.connection().execute(select(func.max(ids.c.id), func.count())).one()
        if not considered or _pending(s, peer.code) >= MAX_PENDING:  # the outbox is counted only when needed
            break
        if pg and not contiguous(last, end, considered):
            # A gap, which a row some transaction has not committed yet may fill: read only what is settled.
            end = min(end, settled)
            if end <= last:
                break
            considered = SCAN_WINDOW  # a cut window: the next step goes on from its end
        with _gc_paused():
            rows = read_records(s, [_R.id > last, _R.id <= end, *where])
            for i in range(0, len(rows), BATCH):
                part = rows[i:i + BATCH]
                if not _advance(s, peer.code, direction, last, part[-1][0]):
                    return queued
                queue(s, ctx, peer, "records", records_payload(s, part, ctx.code), len(part),
                      source_ref=f"{direction}:{part[0][0]}-{part[-1][0]}")
                last = part[-1][0]
                queued += len(part)
                s.commit()
        if not _advance(s, peer.code, direction, last, end):
            return queued
        last = end
        if considered < SCAN_WINDOW:
            break
    return queued


def _advance(s: Session, peer: str, direction: str, old: int, new: int) -> bool:
    """Move a cursor from `old` to `new`, unless the inbox moved it meanwhile (see `_judge_fresh`): then
    what was read is left for the next round, which starts where the inbox left the cursor."""
    moved = s.execute(update(RelayCursor).where(RelayCursor.peer == peer, RelayCursor.direction == direction,
                                                RelayCursor.last_id == old).values(last_id=new),
                      execution_options={"synchronize_session": False})
    return moved.rowcount == 1


def collect_uploads(s: Session, ctx: NodeContext, limit_batches: int = 4) -> int:
    """Queue new record versions for the parent: those loaded here or received from a child, of the
    categories this level passes up — never what came from the parent itself."""
    p = parent(s)
    if p is None or p.status != "active":
        return 0
    where = [CreditRecord.status != "withdrawn",
             (CreditRecord.via_node.is_(None)) | (CreditRecord.via_node != p.code)]
    if p.upload_categories:
        where.append(CreditRecord.category.in_(p.upload_categories))
    return collect(s, ctx, p, "up", where, limit_batches) + _collect_withdrawals(s, ctx, p, "up", where[1:])


def collect_downloads(s: Session, ctx: NodeContext, limit_batches: int = 4) -> int:
    """Queue for each active child the new record versions of entities registered in its region — not
    the ones that came from that child."""
    queued = 0
    children = s.execute(select(Peer).where(Peer.relation == "child", Peer.status == "active",
                                            Peer.region_prefix.is_not(None))).scalars().all()
    # On SQLite a plain entity_code here makes the planner walk every record of the region through the
    # entity index, each round; the unary + leaves it the id range (new versions) and the partial index of
    # withdrawn records (withdrawals), which is what a round needs.
    entity = literal_column("+credit_records.entity_code") if s.get_bind().dialect.name == "sqlite" \
        else CreditRecord.entity_code
    for child in children:
        in_region = select(MarketEntity.code).where(MarketEntity.region_code.like(f"{child.region_prefix}%"))
        # The column tests first: SQLite tests the terms in this order, and builds the region's set of codes
        # (a scan of the register) only once a record gets that far.
        where = [CreditRecord.status != "withdrawn",
                 (CreditRecord.via_node.is_(None)) | (CreditRecord.via_node != child.code),
                 (CreditRecord.origin_node.is_(None)) | (CreditRecord.origin_node != child.code),
                 entity.in_(in_region)]
        queued += collect(s, ctx, child, "down", where, limit_batches)
        queued += _collect_withdrawals(s, ctx, child, "down", where[1:])
    return queued


# A literal, not a bound parameter: only then can the planner see that the partial index of withdrawn
# records (status = 'withdrawn') applies.
_WITHDRAWN = text("credit_records.status = 'withdrawn'")


def _collect_withdrawals(s: Session, ctx: NodeContext, peer: Peer, direction: str, where: list) -> int:
    """Queue the withdrawals made since the last round (a withdrawal changes a row, it adds none, so the id
    cursor does not see it: a second cursor follows the withdrawal time, in microseconds). The cursor
    stops at the settled moment (see horizon.settled_moment), and never inside a group of withdrawals of
    one moment (a relayed envelope's are): a batch cut there would leave the rest of the group behind it."""
    cur = _cursor(s, peer.code, f"wd-{direction}")
    window = [_WITHDRAWN, _R.superseded_at > _from_us(cur.last_id), _R.superseded_at <= settled_moment(s), *where]
    # The moment of the withdrawal just after a batch, if there is more than a batch: the batch ends
    # before it, or, when the whole batch shares that moment, with every withdrawal of that moment.
    cut = s.execute(select(_R.superseded_at).where(*window).order_by(_R.superseded_at).offset(BATCH).limit(1)
                    ).scalar()
    if cut is not None:
        first = s.execute(select(func.min(_R.superseded_at)).where(*window)).scalar_one()
        window.append(_R.superseded_at < cut if first < cut else _R.superseded_at == cut)
    rows = read_records(s, window, None, _R.superseded_at)
    if not rows:
        return 0
    queue(s, ctx, peer, "records", records_payload(s, rows, ctx.code, withdrawn=True), len(rows),
          source_ref=f"withdrawals:{direction}")
    last = s.execute(select(_R.superseded_at).where(_R.id == rows[-1][0])).scalar_one()
    cur.last_id = _to_us(last)
    return len(rows)


def withdrawals_unsettled(s: Session) -> bool:
    """Whether a withdrawal was made after the settled moment: the collectors have not passed it yet."""
    return s.execute(select(_R.id).where(_WITHDRAWN, _R.superseded_at > settled_moment(s)).limit(1)).first() \
        is not None


_EPOCH = datetime.fromtimestamp(0, UTC)


def _to_us(moment: datetime) -> int:
    """A withdrawal cursor's value: microseconds since 1970, exactly (a float timestamp can round down,
    and the last withdrawal would then be sent again every round)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


# ── sending ──────────────────────────────────────────────────────────────────────────────────────────────

def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_S, 2 ** min(attempts, 9)))


_ANNOUNCE = aliased(OutboxEnvelope)


def send_due(s: Session, ctx: NodeContext, client: httpx.Client, limit: int = 50) -> tuple[int, int]:
    """Push due envelopes to push-mode peers; (acknowledged, failed for now). Each outcome is committed
    before the next envelope, so a crash loses at most the envelope in flight (which is then resent, and
    the receiver's inbox drops the duplicate)."""
    now = clock.now()
    rows = s.execute(select(OutboxEnvelope, Peer).join(Peer, Peer.code == OutboxEnvelope.recipient)
                     .where(OutboxEnvelope.status == "pending", OutboxEnvelope.next_attempt_at <= now,
                            Peer.endpoint.is_not(None), Peer.status != "revoked", Peer.mode != "file",
                            # a pull-mode child is behind a firewall and fetches its own; a pull-mode
                            # node still pushes up to its parent (outbound calls are allowed)
                            ~((Peer.relation == "child") & (Peer.mode == "pull")),
                            # signed by a new key: not before the peer has the announcement of it
                            ~exists().where(_ANNOUNCE.recipient == OutboxEnvelope.recipient,
                                            _ANNOUNCE.kind == "key_rotation", _ANNOUNCE.status == "pending",
                                            _ANNOUNCE.created_at < OutboxEnvelope.created_at))
                     .order_by(OutboxEnvelope.created_at).limit(limit)).all()
    ok = bad = 0
    for ob, peer in rows:
        ob.attempts += 1
        try:
            r = client.post(f"{peer.endpoint.rstrip('/')}/api/v1/network/inbox", content=ob.wire,
                            headers={"Content-Type": "application/octet-stream"})
        except httpx.HTTPError as exc:
            ob.next_attempt_at = clock.now() + _backoff(ob.attempts)
            ob.last_error = f"连接失败：{type(exc).__name__}"
            bad += 1
            s.commit()
            continue
        if r.status_code == 200 and _accept_receipt(s, ob, peer, r.json()):
            ok += 1
        elif 400 <= r.status_code < 500 and r.status_code not in (408, 429):
            body = _json(r)
            ob.last_error = f"{body.get('error', r.status_code)}：{body.get('message', '')}"[:500]
            ob.next_attempt_at = clock.now() + _backoff(ob.attempts)
            # not yet approved, or suspended until restored: keep retrying (with the backoff) rather than drop
            if body.get("error") not in ("PEER_NOT_ACTIVE", "PEER_SUSPENDED"):
                ob.status = "failed"
                audit.record(s, "network", "envelope.refused_by_peer", f"envelope:{ob.id}", peer=peer.code,
                             code=body.get("error"))
            bad += 1
        else:
            ob.next_attempt_at = clock.now() + _backoff(ob.attempts)
            ob.last_error = f"HTTP {r.status_code}"
            bad += 1
        s.commit()
    return ok, bad


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
        return body if isinstance(body, dict) else {}
    except ValueError:
        return {}


def _accept_receipt(s: Session, ob: OutboxEnvelope, peer: Peer, receipt: Mapping[str, Any]) -> bool:
    if not check_receipt(receipt, peer_key(peer), ob.id, ob.digest):
        ob.last_error = "回执签名无效或不对应本报文"
        ob.next_attempt_at = clock.now() + _backoff(ob.attempts)
        return False
    ob.status = "sent"
    ob.acked_at = clock.now()
    ob.receipt = dict(receipt)
    ob.wire = b""  # delivered: the bytes are no longer needed (the digest and receipt remain)
    peer.last_contact_at = clock.now()
    return True


def accept_receipts(s: Session, receipts: list[Mapping[str, Any]]) -> int:
    """Receipts that came back another way (pull mode, files)."""
    n = 0
    for rc in receipts:
        body = rc.get("receipt") or {}
        ob = s.get(OutboxEnvelope, str(body.get("envelope_id", "")))
        if ob is None or ob.status == "sent":
            continue
        peer = s.get(Peer, ob.recipient)
        if peer is not None and _accept_receipt(s, ob, peer, rc):
            n += 1
    return n


# ── receiving ────────────────────────────────────────────────────────────────────────────────────────────

@_gc_paused()
def _stored_date(v: str | None, pg: bool) -> str | date | None:
    """A wire date as the driver takes it: ISO text is SQLite's stored form (once checked)."""
    if not v:
        return None
    d = date.fromisoformat(v)
    return d if pg else d.isoformat()


_ENTITY_COLS = ("code", "name", "kind", "region_code", "industry_code", "status", "registered_on", "updated_at")
_APPLY_COLS = ("entity_code", "category", "record_key", "version", "status", "content", "fingerprint",
               "period_start", "period_end", "provider", "received_at", "origin_node", "via_node")


class Applied(NamedTuple):
    """What applying a `records` envelope did: the counts (for the receipt), the wire rows of the versions
    stored, and the register's rows (wire form) of the entities of the envelope's records."""

    result: dict[str, int]
    stored: list[list[Any]]
    register: dict[str, list[Any]]


def apply_records(s: Session, sender: str, payload: Mapping[str, Any]) -> Applied:
    """Store the records of an envelope (see the module docstring); set-based per envelope."""
    now = clock.now()
    pg = s.connection().dialect.name == "postgresql"
    incoming, withdrawals = _latest(payload.get("records") or [])
    withdrawn = _apply_withdrawals(s, withdrawals, now) if withdrawals else 0
    codes = {k[0] for k in incoming}
    register, added = _register(s, codes, payload.get("entities") or {}, now, pg)
    held, top = _held(s, sorted(codes), {k[1] for k in incoming}, incoming)
    new = changed = unchanged = older = 0
    supersede: list[int] = []
    rows: list[tuple[Any, ...]] = []
    stored: list[list[Any]] = []
    times: dict[str, tuple[datetime, Any]] = {}  # a batch's records mostly share one origin time
    for k, r in incoming.items():
        t = times.get(r[8])
        if t is None:
            received = datetime.fromisoformat(r[8])  # also checks the text _sqlite_time may keep
            t = times[r[8]] = (received, received if pg else _sqlite_time(r[8], received))
        cur = held.get(k)
        if cur is not None:
            if cur[2] == r[3]:
                unchanged += 1
                continue
            if cur[3] > t[0]:
                older += 1
                continue
            supersede.append(cur[0])
            changed += 1
        else:
            new += 1
        rows.append((k[0], k[1], k[2], top.get(k, 0) + 1, "current", r[4], r[3], r[5] or None, r[6] or None, r[7],
                     t[1], r[9], sender))
        stored.append(r)
    for i in range(0, len(supersede), _IN_CHUNK):
        s.execute(update(CreditRecord).where(CreditRecord.id.in_(supersede[i:i + _IN_CHUNK]))
                  .values(status="superseded", superseded_at=now), execution_options={"synchronize_session": False})
    if rows:  # the driver's executemany (SQLite) or COPY (PostgreSQL): tuples, no per-row parameter building
        bulk.insert_rows(s.connection(), "credit_records", _APPLY_COLS, rows)
    return Applied({"new": new, "changed": changed, "unchanged": unchanged, "older": older,
                    "entities_added": added, "withdrawn": withdrawn}, stored, register)


def _latest(records: Sequence[list[Any]]) -> tuple[dict[tuple[str, str, str], list[Any]], list[list[Any]]]:
    """The wire rows by record (entity, category, key), the latest where one repeats; and the withdrawals."""
    incoming: dict[tuple[str, str, str], list[Any]] = {}
    withdrawals: list[list[Any]] = []
    for row in records:
        if len(row) > 10 and row[10] == "withdrawn":
            withdrawals.append(row)
            continue
        k = (row[0], row[1], row[2])
        if k not in incoming or row[8] > incoming[k][8]:
            incoming[k] = row
    return incoming, withdrawals


def _register(s: Session, codes: set[str], entities: Mapping[str, list[Any]], now: datetime, pg: bool
              ) -> tuple[dict[str, list[Any]], int]:
    """The register's rows of `codes` after adding the entities unknown here from the envelope (the local
    register wins otherwise), and how many were added."""
    register = _entity_rows(s, codes)
    stamp = bulk.constant(s.connection(), now)
    new = [(c, e[0], e[1], e[2], e[3], e[4], _stored_date(e[5], pg), stamp)
           for c, e in entities.items() if c in codes and c not in register]
    if new:
        bulk.insert_rows(s.connection(), "entities", _ENTITY_COLS, new)
        register.update(_entity_rows(s, {e[0] for e in new}))  # as stored, not as sent
    return register, len(new)


_VERSIONS_OF = select(_R.id, _R.entity_code, _R.category, _R.record_key, _R.version, _R.status, _R.fingerprint,
                      _R.received_at).where(_R.entity_code.in_(bindparam("codes", expanding=True)),
                                            _R.category.in_(bindparam("categories", expanding=True)))


def _held(s: Session, codes: list[str], categories: set[str], incoming: Mapping[tuple[str, str, str], Any]
          ) -> tuple[dict[tuple[str, str, str], tuple[int, int, str, datetime]], dict[tuple[str, str, str], int]]:
    """Of the records in `incoming`: the current versions held here (id, version, fingerprint, origin
    time), and the highest version of each held in any status."""
    held: dict[tuple[str, str, str], tuple[int, int, str, datetime]] = {}
    top: dict[tuple[str, str, str], int] = {}
    cats = sorted(categories)
    for i in range(0, len(codes), _IN_CHUNK):
        for rid, ent, cat, key, ver, status, fp, rec in s.connection().execute(
                _VERSIONS_OF, {"codes": codes[i:i + _IN_CHUNK], "categories": cats}):
            k = (ent, cat, key)
            if k not in incoming:
                continue
            top[k] = max(top.get(k, 0), ver)
            if status == "current":
                held[k] = (rid, ver, fp, rec)
    return held, top


def forward_up(s: Session, ctx: NodeContext, sender: str, applied: Applied, received: Any = None,
                packed: bytes | None = None) -> None:
    """Queue for the parent, in the transaction that stored them, the versions a neighbour just sent —
    rather than reading them back in the next collection round — when the upload cursor has judged every
    record before them (else the collector passes them up with the rest) and the parent is not behind.
    The cursor moves past them here, as the collector would move it (see `_judge_fresh`). When what goes up
    equals the payload `received` (every record stored and passed on as it came, the register agreeing with
    the sender's), it goes in the bytes it came in (`packed`), not packed again."""
    up = parent(s)
    if not applied.stored or up is None or up.status != "active" or sender == up.code \
            or _pending(s, up.code) >= MAX_PENDING:
        return
    moved = _judge_fresh(s, up.code, "up", len(applied.stored))
    if moved is None:
        return
    categories = up.upload_categories  # read once: an ORM attribute costs a lookup per row
    rows = [r if r[9] else [*r[:9], ctx.code] for r in applied.stored if not categories or r[1] in categories]
    if rows:
        payload = _payload(rows, applied.register)
        queue(s, ctx, up, "records", payload, len(rows), source_ref=f"forward:{moved[0] + 1}-{moved[1]}",
              packed=packed if payload == received else None)


def pass_sender(s: Session, sender: str, fresh: int) -> None:
    """Move the sender's own cursor past the `fresh` versions it just sent: the collectors leave out what
    came via the peer they collect for, so scanning them again (every record, at a node whose records all
    come from its one child) would only judge them unwanted. Only on SQLite, where this transaction is the
    only writer: on PostgreSQL a concurrent one may hold lower ids not visible yet, which the move would
    pass over, and downloads have no reconciliation to resend them."""
    if s.get_bind().dialect.name != "sqlite":
        return
    relation = s.execute(select(Peer.relation).where(Peer.code == sender)).scalar_one_or_none()
    direction = {"parent": "up", "child": "down"}.get(relation or "")
    if fresh and direction is not None:
        _judge_fresh(s, sender, direction, fresh)


def _judge_fresh(s: Session, peer: str, direction: str, fresh: int) -> tuple[int, int] | None:
    """Move a cursor past the `fresh` versions this transaction just stored, when they are all that lies
    after it (else the collector judges them with the rest); (old, new) position, or None when it stays.
    The move is guarded (`_advance`), so whichever of the inbox and the collector comes second leaves the
    records to the other. (On SQLite this transaction is the only writer; on PostgreSQL it moves only over
    ids with no gap among them, see network.horizon.)"""
    last = s.execute(select(RelayCursor.last_id).where(RelayCursor.peer == peer,
                                                       RelayCursor.direction == direction)).scalar_one_or_none()
    if last is None:
        return None
    after, end = s.connection().execute(select(func.count(), func.max(_R.id)).where(_R.id > last)).one()
    # On PostgreSQL a gap below them may be another transaction's row, not committed yet (network.horizon).
    gap = s.get_bind().dialect.name == "postgresql" and not contiguous(last, end, after)
    if after != fresh or gap or not _advance(s, peer, direction, last, end):
        return None
    return last, end


def _sqlite_time(text: str, parsed: datetime) -> str:
    """A wire time in SQLite's stored form. Nodes send UTC with microseconds, which differs from that form
    only by the 'T' and the offset ('YYYY-MM-DDTHH:MM:SS.ffffff+00:00'): slicing spares a strftime a row."""
    if len(text) == 32 and text[10] == "T" and text[19] == "." and text.endswith("+00:00"):
        return f"{text[:10]} {text[11:26]}"
    return bulk.sqlite_value(parsed)


def _apply_withdrawals(s: Session, rows: list[list[Any]], now: datetime) -> int:
    """Withdraw the held current version when it is the one withdrawn at the source (same fingerprint);
    a record changed since, or never received, is left as it is."""
    n = 0
    for r in rows:
        res = s.execute(update(CreditRecord).where(
            CreditRecord.entity_code == r[0], CreditRecord.category == r[1], CreditRecord.record_key == r[2],
            CreditRecord.status == "current", CreditRecord.fingerprint == r[3])
            .values(status="withdrawn", superseded_at=now, note=(r[11] if len(r) > 11 else "")[:2000] or "上游撤回"),
            execution_options={"synchronize_session": False})
        n += res.rowcount or 0
    return n
