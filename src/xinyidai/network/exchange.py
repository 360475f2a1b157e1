"""What neighbouring nodes exchange besides the records themselves: quality feedback going down to the node
that sent the data, reconciliation (对账) between a child and the node above it, banks' data needs going
up, and the 先立后破 migration of a city platform linked straight to the national platform.

`inbox.apply` hands every envelope of kind `feedback`, `reconcile`, `needs` or `notice` (stored by
`notices`) to `apply` here, and any kind registered in `APPLIERS` by a layer above (`whitelist`:
credit.whitelists). Each applier checks its payload before writing anything (a refusal then leaves nothing
behind) and is idempotent: feedback notes and needs carry an `external_id` made where they were raised, so a
duplicate changes nothing.

Payloads
- feedback  {"notes": [{"id", "from_node", "about_node", "entity_code", "category", "record_key", "problem",
             "raised_at", "path": [node, …]}]}
- reconcile {"type": "figures", "run", "days": [d, …], "categories": [c, …] | null, "origins": [node, …],
             "figures": [{"category", "day", "count", "digest"}]}                       child → parent
            {"type": "verdict", "run", "results": [{"category", "day", "status", "child_count",
             "child_digest", "parent_count", "parent_digest"}]}                          parent → child
- needs     {"needs": [{"id", "origin_node", "institution_code", "institution_name", "category", "items",
             "reason", "filed_by", "filed_at"}]}

Reconciliation days are **Beijing calendar days** of `received_at` (UTC+8): the day a platform's staff and
its data providers speak of, and the same on every node because a relayed record keeps the origin's time.
The parent answers with a `verdict` envelope (not in the receipt's result): an envelope reaches the child
in every mode — pushed, pulled or carried as a file — and the child acts on it when it is applied.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.kit.principal import Principal
from xinyidai.network import notices, relay
from xinyidai.network.models import BankNeed, FeedbackNote, OutboxEnvelope, Peer, Reconciliation
from xinyidai.records.models import CreditRecord

RECONCILE_EVERY_S = 3600.0  # the relay worker's periodic reconciliation
NEEDS_PER_ENVELOPE = 1000
MAX_DAYS = 90
FEEDBACK_STATUSES = {"raised": "已发出", "open": "待处理", "forwarded": "已转下级", "closed": "已处理"}
RECONCILE_STATUSES = {"match": "一致", "mismatch": "不一致", "pending": "待核对"}
LEVEL = {"national": 0, "provincial": 1, "municipal": 2}
# Called for each feedback note stored as 'open' (this node is where the record was loaded), with the record it
# concerns, in the applying transaction: a layer above (quality.tickets) registers here to carry it on.
FEEDBACK_OPENED: list[Callable[[Session, FeedbackNote, CreditRecord | None], None]] = []


# Appliers for kinds defined by layers above the network (which imports none of them): each registers
# itself at import, e.g. credit.whitelists puts "whitelist" here. Called as (session, ctx, sender, payload).
Applier = Callable[[Session, relay.NodeContext, str, Any], dict[str, Any]]
APPLIERS: dict[str, Applier] = {}


class ExchangeRefused(DomainError):
    """A feedback, reconcile or needs payload this node cannot apply (bad shape, wrong direction)."""

    status = 400
    code = "EXCHANGE_REFUSED"
    message = "报文内容无法处理"


def apply(s: Session, ctx: relay.NodeContext, kind: str, sender: str, payload: Any) -> dict[str, Any]:
    """Apply one envelope of kind feedback / reconcile / needs from `sender` (already checked by the relay)."""
    if not isinstance(payload, Mapping):
        raise ExchangeRefused("报文载荷应为对象", code="PAYLOAD_INVALID")
    if kind == "feedback":
        return apply_feedback(s, ctx, sender, payload)
    if kind == "reconcile":
        if payload.get("type") == "figures":
            return apply_figures(s, ctx, sender, payload)
        if payload.get("type") == "verdict":
            return apply_verdict(s, ctx, sender, payload)
        raise ExchangeRefused("对账报文类型应为 figures 或 verdict", code="PAYLOAD_INVALID")
    if kind == "needs":
        return apply_needs(s, sender, payload)
    if kind == notices.KIND:
        return notices.apply_notices(s, sender, payload)
    if kind in APPLIERS:
        return APPLIERS[kind](s, ctx, sender, payload)
    raise ExchangeRefused(f"不支持的报文类型 {kind}", code="UNKNOWN_KIND")


def _new_id(ctx: relay.NodeContext, what: str) -> str:
    return f"{ctx.code}-{what}-{clock.now():%Y%m%d%H%M%S}-{secrets.token_hex(4)}"


def _peer(s: Session, code: str) -> Peer | None:
    return s.get(Peer, code) if code else None


def _is_child(peer: Peer | None) -> bool:
    return peer is not None and peer.relation == "child"


def upstreams(s: Session) -> list[Peer]:
    """The nodes this node reports to: its parent and, during a 先立后破 migration, the old direct link."""
    return list(s.execute(select(Peer).where(Peer.relation.in_(("parent", "legacy")))
                          .order_by(Peer.relation.desc())).scalars())


def _str(v: Any, limit: int, name: str, *, optional: bool = False) -> str | None:
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v.strip() or len(v) > limit:
        raise ExchangeRefused(f"字段 {name} 缺失或过长", code="PAYLOAD_INVALID")
    return v


# ── feedback: quality problems go down to the node that sent the data ───────────────────────────────────

def _current(s: Session, entity_code: str, category: str, record_key: str | None) -> CreditRecord | None:
    stmt = select(CreditRecord).where(CreditRecord.entity_code == entity_code, CreditRecord.category == category,
                                      CreditRecord.status == "current")
    if record_key:
        stmt = stmt.where(CreditRecord.record_key == record_key)
    return s.execute(stmt.order_by(CreditRecord.id.desc()).limit(1)).scalar_one_or_none()


def note_dict(n: FeedbackNote) -> dict[str, Any]:
    return {"id": n.external_id, "from_node": n.from_node, "about_node": n.about_node, "entity_code": n.entity_code,
            "category": n.category, "record_key": n.record_key, "problem": n.problem, "status": n.status,
            "status_label": FEEDBACK_STATUSES.get(n.status, n.status), "received_at": n.received_at.isoformat(),
            "outcome": n.outcome, "closed_at": n.closed_at.isoformat() if n.closed_at else None}


def _forward_target(s: Session, ctx: relay.NodeContext, rec: CreditRecord | None) -> Peer | None:
    """The child a record came from, when this node is not where it entered the network."""
    if rec is None or not rec.via_node or (rec.origin_node or ctx.code) == ctx.code:
        return None
    peer = _peer(s, rec.via_node)
    return peer if _is_child(peer) and peer.status in ("active", "rectifying") else None


def raise_feedback(s: Session, ctx: relay.NodeContext, entity_code: str, category: str, record_key: str | None,
                   problem: str, actor: str = "operator") -> FeedbackNote:
    """An operator found a problem in data received from below: note it here and send it to the child the
    record came from (which passes it on down until it reaches the node where the record was loaded)."""
    problem = (problem or "").strip()
    if len(problem) < 2:
        raise InvalidInput("请说明发现的问题", code="PROBLEM_REQUIRED")
    rec = _current(s, entity_code, category, record_key)
    if rec is None:
        raise NotFound("本节点没有这条现行记录", code="RECORD_NOT_FOUND")
    target = _forward_target(s, ctx, rec)
    if target is None:
        raise Conflict("这条记录不是由下级节点报送的，无需向下反馈", code="NOT_FROM_CHILD")
    note = FeedbackNote(external_id=_new_id(ctx, "fb"), from_node=ctx.code, about_node=rec.origin_node or "",
                        entity_code=entity_code, category=category, record_key=rec.record_key,
                        problem=problem[:2000], status="raised", received_at=clock.now())
    s.add(note)
    s.flush()
    doc = {**note_dict(note), "raised_at": note.received_at.isoformat(), "path": [ctx.code]}
    relay.queue(s, ctx, target, "feedback", {"notes": [doc]}, 1, source_ref=note.external_id)
    audit.record(s, actor, "feedback.raised", f"feedback:{note.external_id}", entity_code=entity_code,
                 to=target.code, category=category, record_key=rec.record_key)
    return note


def apply_feedback(s: Session, ctx: relay.NodeContext, sender: str, payload: Mapping[str, Any]) -> dict[str, int]:
    """Store the notes (once each) and pass on down those about records this node itself received from below;
    or, from a child, record how notes were settled below (`closures`)."""
    if "closures" in payload:
        return apply_closures(s, ctx, sender, payload)
    up = _peer(s, sender)
    if up is None or up.relation not in ("parent", "legacy"):
        raise ExchangeRefused("质量反馈只接受来自上级节点的", code="NOT_AN_UPSTREAM")
    notes = payload.get("notes")
    if not isinstance(notes, list):
        raise ExchangeRefused("反馈报文缺少 notes", code="PAYLOAD_INVALID")
    for n in notes:
        for k, limit in (("id", 60), ("entity_code", 18), ("category", 40), ("problem", 2000)):
            _str(n.get(k) if isinstance(n, Mapping) else None, limit, k)
        _str(n.get("record_key"), 300, "record_key", optional=True)
    known = set(s.execute(select(FeedbackNote.external_id)
                          .where(FeedbackNote.external_id.in_([n["id"] for n in notes]))).scalars())
    stored = forwarded = 0
    onward: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in notes:
        if n["id"] in known:
            continue
        known.add(n["id"])
        rec = _current(s, n["entity_code"], n["category"], n.get("record_key"))
        target = _forward_target(s, ctx, rec)
        note = FeedbackNote(external_id=n["id"], from_node=str(n.get("from_node") or sender)[:20],
                            about_node=str(n.get("about_node") or ctx.code)[:20], entity_code=n["entity_code"],
                            category=n["category"], record_key=n.get("record_key"), problem=n["problem"],
                            status="forwarded" if target else "open", received_at=clock.now())
        s.add(note)
        stored += 1
        if target is None:
            s.flush()
            for hook in FEEDBACK_OPENED:
                hook(s, note, rec)
        if target is not None:
            path = n.get("path") if isinstance(n.get("path"), list) else []
            onward[target.code].append({**n, "path": [*path[:10], ctx.code]})
    for code, docs in onward.items():
        relay.queue(s, ctx, s.get(Peer, code), "feedback", {"notes": docs}, len(docs))  # type: ignore[arg-type]
        forwarded += len(docs)
    return {"stored": stored, "forwarded": forwarded, "duplicates": len(notes) - stored}


def close_note(s: Session, external_id: str, outcome: str) -> FeedbackNote | None:
    """The note was settled here, where its record was loaded (the department's ticket closed): mark it, and let
    `collect_closures` report it back up the path it came down."""
    note = s.execute(select(FeedbackNote).where(FeedbackNote.external_id == external_id)).scalar_one_or_none()
    if note is not None and note.status != "closed":
        note.status, note.outcome, note.closed_at = "closed", outcome[:2000], clock.now()
    return note


def collect_closures(s: Session, ctx: relay.NodeContext) -> int:
    """Queue to the parent the closures of notes that came from above and have not been reported yet."""
    pending = list(s.execute(select(FeedbackNote).where(
        FeedbackNote.status == "closed", FeedbackNote.closure_sent_at.is_(None),
        FeedbackNote.from_node != ctx.code).order_by(FeedbackNote.id).limit(500)).scalars())
    parent = next((p for p in upstreams(s) if p.relation == "parent" and p.status in ("active", "rectifying")), None)
    if not pending or parent is None:
        return 0
    docs = [{"id": n.external_id, "outcome": n.outcome or "", "node": n.about_node or ctx.code,
             "closed_at": (n.closed_at or clock.now()).isoformat()} for n in pending]
    relay.queue(s, ctx, parent, "feedback", {"closures": docs}, len(docs))
    now = clock.now()
    for n in pending:
        n.closure_sent_at = now
    return len(docs)


def apply_closures(s: Session, ctx: relay.NodeContext, sender: str, payload: Mapping[str, Any]) -> dict[str, int]:
    """A child settled notes this node raised or passed on: mark them closed with the outcome (once each); a note
    this node only passed on goes on up at the next collection."""
    child = _peer(s, sender)
    if not _is_child(child):
        raise ExchangeRefused("整改结果只接受来自下级节点的", code="NOT_A_CHILD")
    closures = payload.get("closures")
    if not isinstance(closures, list) or not closures:
        raise ExchangeRefused("整改结果报文缺少 closures", code="PAYLOAD_INVALID")
    for c in closures:
        for k, limit in (("id", 60), ("node", 20)):
            _str(c.get(k) if isinstance(c, Mapping) else None, limit, k)
        _str(c.get("outcome") or "—", 2000, "outcome")
    closed = unknown = 0
    for c in closures:
        note = s.execute(select(FeedbackNote).where(FeedbackNote.external_id == c["id"])).scalar_one_or_none()
        if note is None or note.status not in ("raised", "forwarded"):
            unknown += note is None
            continue
        # `node` is where the record was loaded and the note settled (the note's about_node all the way up).
        note.status, note.closed_at = "closed", clock.now()
        note.outcome = str(c.get("outcome") or "已处理")[:2000]
        if note.from_node == ctx.code:
            note.closure_sent_at = note.closed_at  # raised here: the closure has arrived where it was wanted
        closed += 1
    return {"closed": closed, "unknown": unknown, "duplicates": len(closures) - closed - unknown}


def list_feedback(s: Session, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    stmt = select(FeedbackNote)
    if status in FEEDBACK_STATUSES:
        stmt = stmt.where(FeedbackNote.status == status)
    rows = s.execute(stmt.order_by(FeedbackNote.received_at.desc()).limit(min(limit, 1000))).scalars()
    return [note_dict(n) for n in rows]


# ── reconciliation (对账) ────────────────────────────────────────────────────────────────────────────────

@dataclass
class Figure:
    """Count and digest of one (category, Beijing day) of current records."""

    lines: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.lines)

    @property
    def digest(self) -> str:
        return sm3_hex("\n".join(sorted(self.lines)).encode("utf-8"))


def window(days: int) -> list[date]:
    """The last `days` Beijing days, oldest first, today included."""
    today = clock.today()
    return [today - timedelta(days=i) for i in range(max(1, min(days, MAX_DAYS)) - 1, -1, -1)]


def _start_utc(first: date) -> datetime:
    return datetime.combine(first, time.min, clock.CHINA_TZ).astimezone(UTC)


def _beijing_day(t: datetime) -> date:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(clock.CHINA_TZ).date()


def _figures(s: Session, where: list[Any], days: list[date], categories: list[str] | None
             ) -> tuple[dict[tuple[str, date], Figure], set[str]]:
    """Figures per (category, day) over current records matching `where`, and the origins seen."""
    stmt = (select(CreditRecord.entity_code, CreditRecord.category, CreditRecord.record_key,
                   CreditRecord.fingerprint, CreditRecord.received_at, CreditRecord.origin_node)
            .where(CreditRecord.status == "current", CreditRecord.received_at >= _start_utc(days[0]), *where))
    if categories:
        stmt = stmt.where(CreditRecord.category.in_(categories))
    wanted = set(days)
    out: dict[tuple[str, date], Figure] = defaultdict(Figure)
    origins: set[str] = set()
    for ent, cat, key, fp, received, origin in s.execute(stmt.execution_options(yield_per=10_000)):
        day = _beijing_day(received)
        if day in wanted:
            out[(cat, day)].lines.append(f"{ent}|{cat}|{key}|{fp}")
            if origin:
                origins.add(origin)
    return out, origins


def _sent_up_filter(s: Session) -> list[Any]:
    """Records this node passes up: loaded here or relayed from below — never what came from above."""
    above = [p.code for p in upstreams(s)]
    return [CreditRecord.via_node.is_(None) | CreditRecord.via_node.not_in(above)]


def _in_flight(s: Session, peer: str) -> int:
    return s.execute(select(func.count()).select_from(OutboxEnvelope).where(
        OutboxEnvelope.recipient == peer, OutboxEnvelope.kind == "records",
        OutboxEnvelope.status.in_(("pending", "exported")))).scalar_one()


def start_reconciliation(s: Session, ctx: relay.NodeContext, days: int = 7, *, force: bool = False,
                         peer_code: str | None = None) -> list[dict[str, Any]]:
    """Child side: send the figures of the last `days` Beijing days to each node above (the parent, and the
    old direct link during a migration). Deferred while records to that node are still in flight — they
    would show as a difference that resolves itself — unless `force`."""
    done = []
    for up in upstreams(s):
        if up.status not in ("active", "rectifying") or (peer_code and up.code != peer_code):
            continue
        backlog = _in_flight(s, up.code)
        if backlog and not force:
            done.append({"peer": up.code, "status": "deferred", "in_flight": backlog})
            continue
        d = window(days)
        figs, origins = _figures(s, _sent_up_filter(s), d, up.upload_categories)
        run = _new_id(ctx, "rc")
        payload = {"type": "figures", "run": run, "days": [x.isoformat() for x in d],
                   "categories": up.upload_categories, "origins": sorted(origins | {ctx.code}),
                   "figures": [{"category": c, "day": day.isoformat(), "count": f.count, "digest": f.digest}
                               for (c, day), f in sorted(figs.items())]}
        relay.queue(s, ctx, up, "reconcile", payload, len(figs), source_ref=run)
        done.append({"peer": up.code, "status": "sent", "run": run, "buckets": len(figs),
                     "records": sum(f.count for f in figs.values())})
    return done


def _parse_figures(payload: Mapping[str, Any]) -> tuple[list[date], list[str] | None, list[str],
                                                         dict[tuple[str, date], tuple[int, str]]]:
    try:
        days = [date.fromisoformat(x) for x in payload["days"]][:MAX_DAYS]
        cats = payload.get("categories")
        if cats is not None and not all(isinstance(c, str) for c in cats):
            raise ValueError("categories")
        origins = [str(o)[:20] for o in payload["origins"]]
        figs = {(str(f["category"]), date.fromisoformat(f["day"])): (int(f["count"]), str(f["digest"]))
                for f in payload["figures"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise ExchangeRefused(f"对账报文格式不正确（{exc}）", code="PAYLOAD_INVALID") from None
    if not days:
        raise ExchangeRefused("对账报文没有日期", code="PAYLOAD_INVALID")
    return sorted(days), cats, origins, figs


def apply_figures(s: Session, ctx: relay.NodeContext, sender: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Parent side: compare a child's figures with the records held here that entered the network at or
    below that child (by origin, so a record delivered by either path of a migration counts once), store
    the results and send the verdict back."""
    child = _peer(s, sender)
    if not _is_child(child):
        raise ExchangeRefused("只接受下级节点的对账数据", code="NOT_A_CHILD")
    days, cats, origins, theirs = _parse_figures(payload)
    mine, _ = _figures(s, [CreditRecord.origin_node.in_(origins)], days, cats)
    now = clock.now()
    results = []
    for cat, day in sorted(set(theirs) | set(mine)):
        c_count, c_digest = theirs.get((cat, day), (0, Figure().digest))
        p = mine.get((cat, day), Figure())
        status = "match" if (c_count, c_digest) == (p.count, p.digest) else "mismatch"
        diff = {} if status == "match" else _difference(c_count, p.count, payload.get("run"))
        s.add(Reconciliation(peer=sender, category=cat, day=day, local_count=p.count, local_digest=p.digest,
                             remote_count=c_count, remote_digest=c_digest, status=status, difference=diff, at=now))
        results.append({"category": cat, "day": day.isoformat(), "status": status, "child_count": c_count,
                        "child_digest": c_digest, "parent_count": p.count, "parent_digest": p.digest})
    verdict = {"type": "verdict", "run": payload.get("run"), "results": results}
    relay.queue(s, ctx, child, "reconcile", verdict, len(results), source_ref=str(payload.get("run"))[:60])  # type: ignore[arg-type]
    bad = sum(r["status"] == "mismatch" for r in results)
    return {"compared": len(results), "mismatched": bad}


def _difference(child_count: int, parent_count: int, run: Any) -> dict[str, Any]:
    return {"run": run, "child_count": child_count, "parent_count": parent_count,
            "missing_at_parent": max(0, child_count - parent_count),
            "extra_at_parent": max(0, parent_count - child_count),
            "message": "条数或摘要不一致：下级将重发该类别当日的记录"}


def apply_verdict(s: Session, ctx: relay.NodeContext, sender: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Child side: record the parent's verdict and resend the records of every mismatching (category, day);
    applying is idempotent above, so records it already holds cost nothing but the transfer."""
    up = _peer(s, sender)
    if up is None or up.relation not in ("parent", "legacy"):
        raise ExchangeRefused("只接受上级节点的对账结论", code="NOT_AN_UPSTREAM")
    try:
        results = [(r["category"], date.fromisoformat(r["day"]), r["status"], int(r["child_count"]),
                    r["child_digest"], int(r["parent_count"]), r["parent_digest"]) for r in payload["results"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ExchangeRefused(f"对账结论格式不正确（{exc}）", code="PAYLOAD_INVALID") from None
    now, resent_total = clock.now(), 0
    for cat, day, status, c_count, c_digest, p_count, p_digest in results:
        resent = resend(s, ctx, up, cat, day) if status == "mismatch" else 0
        resent_total += resent
        s.add(Reconciliation(peer=sender, category=cat, day=day, local_count=c_count, local_digest=c_digest,
                             remote_count=p_count, remote_digest=p_digest, status=status, resent=resent, at=now,
                             difference={} if status == "match" else
                             _difference(c_count, p_count, payload.get("run"))))
    if resent_total:
        audit.record(s, sender, "reconcile.resent", f"peer:{sender}", run=payload.get("run"), records=resent_total)
    return {"results": len(results), "resent": resent_total}


def resend(s: Session, ctx: relay.NodeContext, up: Peer, category: str, day: date) -> int:
    """Queue again, for `up`, the current records of one category and Beijing day that this node passes up."""
    lo, hi = _start_utc(day), _start_utc(day + timedelta(days=1))
    where = [CreditRecord.status == "current", CreditRecord.category == category, CreditRecord.received_at >= lo,
             CreditRecord.received_at < hi, *_sent_up_filter(s)]
    n, last = 0, 0
    while True:
        rows = relay.read_records(s, [CreditRecord.id > last, *where], relay.BATCH)
        if not rows:
            return n
        relay.queue(s, ctx, up, "records", relay.records_payload(s, rows, ctx.code), len(rows),
                    source_ref=f"resend:{category}:{day.isoformat()}")
        n, last = n + len(rows), rows[-1][0]


def list_reconciliations(s: Session, peer: str | None = None, status: str | None = None,
                         limit: int = 200) -> list[dict[str, Any]]:
    stmt = select(Reconciliation)
    if peer:
        stmt = stmt.where(Reconciliation.peer == peer)
    if status:
        stmt = stmt.where(Reconciliation.status == status)
    rows = s.execute(stmt.order_by(Reconciliation.at.desc(), Reconciliation.id.desc()).limit(min(limit, 1000)))
    return [{"peer": r.peer, "category": r.category, "day": r.day.isoformat(), "status": r.status,
             "status_label": RECONCILE_STATUSES.get(r.status, r.status),
             "local_count": r.local_count, "remote_count": r.remote_count, "local_digest": r.local_digest,
             "remote_digest": r.remote_digest, "difference": r.difference, "resent": r.resent,
             "at": r.at.isoformat()} for r in rows.scalars()]


def latest_verdict(s: Session, peer: str) -> dict[str, int] | None:
    """The outcome of the most recent reconciliation with `peer`: counts of match and mismatch."""
    last = s.execute(select(func.max(Reconciliation.at)).where(Reconciliation.peer == peer)).scalar_one()
    if last is None:
        return None
    rows = s.execute(select(Reconciliation.status, func.count()).where(Reconciliation.peer == peer,
                                                                       Reconciliation.at == last)
                     .group_by(Reconciliation.status)).all()
    return {"match": 0, "mismatch": 0, **{k: int(v) for k, v in rows}}


# ── banks' data needs (point 4) ──────────────────────────────────────────────────────────────────────────

def file_need(s: Session, ctx: relay.NodeContext, actor: Principal, *, category: str, items: list[str],
              reason: str, institution_code: str | None = None, catalog: Catalog | None = None) -> BankNeed:
    """An institution states which items of a category it needs and why. A bank user files for its own
    institution; an operator files on an institution's behalf."""
    if actor.role == "bank":
        institution_code = actor.org_code
    elif actor.role != "operator":
        raise Forbidden("只有金融机构用户或运营人员可以登记数据需求", code="ROLE_FORBIDDEN")
    inst = s.get(FinancialInstitution, institution_code) if institution_code else None
    if inst is None:
        raise NotFound("未找到该金融机构", code="INSTITUTION_NOT_FOUND")
    items = [i.strip() for i in items if i and i.strip()]
    reason = (reason or "").strip()
    if not items or len(reason) < 2:
        raise InvalidInput("请列出所需数据项并说明用途", code="NEED_INCOMPLETE")
    if catalog is not None:
        _check_items(catalog, category, items)
    need = BankNeed(origin_node=ctx.code, institution_code=inst.code, institution_name=inst.name,
                    category=category, items=items, reason=reason[:2000], filed_by=actor.username,
                    filed_at=clock.now(), external_id=_new_id(ctx, "need"))
    s.add(need)
    s.flush()
    audit.record(s, actor.username, "need.filed", f"need:{need.external_id}", institution_code=inst.code,
                 category=category, items=items)
    return need


def _check_items(catalog: Catalog, category: str, items: list[str]) -> None:
    try:
        cat = catalog.category(category)
    except KeyError:
        raise InvalidInput(f"信息目录中没有类别 {category}", code="UNKNOWN_CATEGORY") from None
    known = {i.code for i in cat.items} | {i.name for i in cat.items}
    unknown = [i for i in items if i not in known]
    if unknown:
        raise InvalidInput(f"类别 {cat.name} 中没有数据项：{'、'.join(unknown)}", code="UNKNOWN_ITEM")


def need_doc(n: BankNeed) -> dict[str, Any]:
    return {"id": n.external_id, "origin_node": n.origin_node, "institution_code": n.institution_code,
            "institution_name": n.institution_name, "category": n.category, "items": list(n.items),
            "reason": n.reason, "filed_by": n.filed_by, "filed_at": n.filed_at.isoformat()}


def forward_needs(s: Session, ctx: relay.NodeContext) -> int:
    """Pass up to the parent, in one envelope, the needs filed here or received from below not yet sent."""
    up = relay.parent(s)
    if up is None or up.status not in ("active", "rectifying"):
        return 0
    rows = list(s.execute(select(BankNeed).where(BankNeed.forwarded_at.is_(None)).order_by(BankNeed.id)
                          .limit(NEEDS_PER_ENVELOPE)).scalars())
    if not rows:
        return 0
    relay.queue(s, ctx, up, "needs", {"needs": [need_doc(n) for n in rows]}, len(rows))
    now = clock.now()
    for n in rows:
        n.forwarded_at = now
    return len(rows)


def apply_needs(s: Session, sender: str, payload: Mapping[str, Any]) -> dict[str, int]:
    """Store the needs a child passed up (once each); the next `forward_needs` passes them on up."""
    if not _is_child(_peer(s, sender)):
        raise ExchangeRefused("只接受下级节点报送的数据需求", code="NOT_A_CHILD")
    docs = payload.get("needs")
    if not isinstance(docs, list):
        raise ExchangeRefused("需求报文缺少 needs", code="PAYLOAD_INVALID")
    try:
        parsed = [_need_from_doc(d) for d in docs]
    except (KeyError, TypeError, ValueError, ExchangeRefused) as exc:
        raise ExchangeRefused(f"需求报文格式不正确（{exc}）", code="PAYLOAD_INVALID") from None
    ids = [n.external_id for n in parsed]
    known = set(s.execute(select(BankNeed.external_id).where(BankNeed.external_id.in_(ids))).scalars())
    new = [n for n in {n.external_id: n for n in parsed}.values() if n.external_id not in known]
    s.add_all(new)
    return {"stored": len(new), "duplicates": len(parsed) - len(new)}


def _need_from_doc(d: Mapping[str, Any]) -> BankNeed:
    items = d["items"]
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError("items")
    return BankNeed(external_id=_str(d["id"], 60, "id"), origin_node=_str(d["origin_node"], 20, "origin_node"),
                    institution_code=_str(d["institution_code"], 18, "institution_code"),
                    institution_name=_str(d["institution_name"], 200, "institution_name"),
                    category=_str(d["category"], 40, "category"), items=items,
                    reason=_str(d["reason"], 2000, "reason"), filed_by=_str(d["filed_by"], 64, "filed_by"),
                    filed_at=datetime.fromisoformat(d["filed_at"]))


def needs_register(s: Session, actor: Principal, category: str | None = None, limit: int = 500) -> dict[str, Any]:
    """The register: the needs this node holds, newest first (a bank user sees its own institution's only),
    with counts per category and per (category, item) over all of them."""
    stmt = select(BankNeed)
    if actor.role == "bank":
        stmt = stmt.where(BankNeed.institution_code == (actor.org_code or ""))
    if category:
        stmt = stmt.where(BankNeed.category == category)
    rows = list(s.execute(stmt.order_by(BankNeed.filed_at.desc())).scalars())
    per_cat: Counter[str] = Counter(n.category for n in rows)
    insts: dict[str, set[str]] = defaultdict(set)
    per_item: Counter[tuple[str, str]] = Counter()
    for n in rows:
        insts[n.category].add(n.institution_code)
        per_item.update((n.category, i) for i in n.items)
    return {"needs": [{**need_doc(n), "forwarded_at": n.forwarded_at.isoformat() if n.forwarded_at else None}
                      for n in rows[:limit]],
            "total": len(rows),
            "by_category": [{"category": c, "needs": k, "institutions": len(insts[c])}
                            for c, k in per_cat.most_common()],
            "by_item": [{"category": c, "item": i, "needs": k} for (c, i), k in per_item.most_common()]}


# ── 先立后破: a city linked straight to the national platform moves under the province ──────────────────

def link_legacy(s: Session, my_role: str, info: Mapping[str, Any], endpoint: str) -> Peer:
    """Record the old direct link between a city and the national platform, as it stood before the city
    was onboarded under its province. At the national node the city becomes a child with `legacy_path`
    (already admitted under the old arrangement, so active); at the city the national node becomes its
    `legacy` upstream, to which it keeps uploading until the path is cut. Downloads keep to the tree."""
    theirs = LEVEL.get(str(info.get("role")))
    if theirs is None or theirs == LEVEL.get(my_role):
        raise InvalidInput("直连的两端应分属不同层级", code="WRONG_LEVEL")
    above = theirs < LEVEL[my_role]
    peer = s.get(Peer, info["code"])
    if peer is not None and peer.relation == "parent":
        raise Conflict("该节点已是本节点的上级", code="ALREADY_CONNECTED")
    if peer is None:
        peer = Peer(code=info["code"], applied_at=clock.now())
        s.add(peer)
    peer.name, peer.role, peer.endpoint, peer.mode = info["name"], info["role"], endpoint, "push"
    peer.suite, peer.public_key = info["suite"], info["public_key"]
    peer.key_id = get_suite(info["suite"]).key_id(info["public_key"])
    peer.relation = "legacy" if above else "child"
    peer.legacy_path, peer.status, peer.status_reason = True, "active", "先立后破：原直连通道，过渡期内并行"
    peer.assessment = peer.assessment or {}
    peer.region_prefix = None  # downloads go down the tree (via the province), not the old link
    s.flush()
    audit.record(s, "cli", "peer.legacy_linked", f"peer:{peer.code}", relation=peer.relation, endpoint=endpoint)
    return peer


def collect_legacy_uploads(s: Session, ctx: relay.NodeContext) -> int:
    """Queue for the old direct upstream what is also passed up the tree. Once that node has cut the path
    (its refusals say PEER_REVOKED), mark the link revoked here too and stop."""
    queued = 0
    for up in s.execute(select(Peer).where(Peer.relation == "legacy", Peer.status == "active")).scalars().all():
        cut = s.execute(select(func.count()).select_from(OutboxEnvelope).where(
            OutboxEnvelope.recipient == up.code, OutboxEnvelope.status == "failed",
            OutboxEnvelope.last_error.like("PEER_REVOKED%"))).scalar_one()
        if cut:
            up.status, up.status_reason = "revoked", "先立后破：上级已切断原直连通道"
            audit.record(s, "network", "peer.legacy_cut_seen", f"peer:{up.code}")
            continue
        where = [CreditRecord.status != "withdrawn", *_sent_up_filter(s)]
        if up.upload_categories:
            where.append(CreditRecord.category.in_(up.upload_categories))
        queued += relay.collect(s, ctx, up, "up", where, 20)  # the same batching as uploads
    return queued


def new_path_for(s: Session, code: str) -> Peer | None:
    """The child through which a legacy city now reaches this node: the one whose region covers its code."""
    digits = code.split("-")[-1]
    for p in s.execute(select(Peer).where(Peer.relation == "child", Peer.legacy_path.is_(False),
                                          Peer.status == "active")).scalars():
        if p.region_prefix and digits.startswith(p.region_prefix):
            return p
    return None


def cut_legacy_path(s: Session, actor: Principal, code: str, reason: str = "先立后破：新路径对账一致，切断原直连",
                    *, force: bool = False) -> Peer:
    """End the migration: revoke the direct link once the latest reconciliations of both paths — the city
    itself and the province it now reports through — found no difference (unless `force`)."""
    if actor.role != "security":
        raise Forbidden("只有安全管理员可以切断直连通道", code="ROLE_FORBIDDEN")
    peer = s.get(Peer, code)
    if peer is None or not peer.legacy_path or peer.relation != "child":
        raise NotFound(f"{code} 不是本节点的原直连下级", code="NOT_LEGACY")
    if peer.status == "revoked":
        raise Conflict("原直连通道已切断", code="BAD_STATE")
    new = new_path_for(s, code)
    verdicts = {code: latest_verdict(s, code), **({new.code: latest_verdict(s, new.code)} if new else {})}
    if not force:
        if new is None:
            raise Conflict("新路径（省级节点）尚未接入，不能切断原直连", code="NEW_PATH_MISSING")
        unsettled = [c for c, v in verdicts.items() if v is None or v["mismatch"]]
        if unsettled:
            raise Conflict(f"对账尚未一致：{'、'.join(unsettled)}", code="RECONCILIATION_UNSETTLED", detail=verdicts)
    peer.status, peer.status_reason = "revoked", reason.strip()[:1000] or "先立后破"
    audit.record(s, actor.username, "peer.legacy_cut", f"peer:{code}", reason=peer.status_reason,
                 new_path=new.code if new else None, verdicts=verdicts, forced=force)
    return peer


# ── the relay worker's periodic chores ───────────────────────────────────────────────────────────────────

_last_reconcile: dict[str, float] = {}


def periodic(db: Database, ctx: relay.NodeContext, now_s: float, every_s: float = RECONCILE_EVERY_S, *,
             collect: bool = True) -> dict[str, int]:
    """One round: uploads on the old direct link and needs passed up (unless not `collect`: the caller knows
    the database unchanged since a round that found none), and — every `every_s` seconds, the first time
    one interval after start — a reconciliation with the nodes above."""
    done = {"queued_legacy": 0, "needs_forwarded": 0, "reconciliations": 0}
    if collect:
        with db.session() as s:
            done["queued_legacy"] = collect_legacy_uploads(s, ctx)
        with db.session() as s:
            done["needs_forwarded"] = forward_needs(s, ctx)
    last = _last_reconcile.setdefault(ctx.code, now_s)
    if now_s - last >= every_s:
        _last_reconcile[ctx.code] = now_s
        with db.session() as s:
            done["reconciliations"] = sum(r["status"] == "sent" for r in start_reconciliation(s, ctx))
    return done

