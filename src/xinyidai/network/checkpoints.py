"""Audit checkpoint heads kept by the parent node, so that a node's operator — who holds the node's key and
its var directory — still cannot rewrite the node's audit history unnoticed (see `kit.audit`).

Child side
- `forward` queues for the parent, in one `checkpoint` envelope, the checkpoints made since the last ones
  queued for it (a relay cursor per parent, direction "audit"), with the last one queued before: rewritten
  since, it would contradict what the parent holds. The relay worker calls it every round and `xinyidai audit
  checkpoint` right after signing, so a checkpoint leaves within a round of being made. A national node (no
  parent) queues nothing.
- `verify_node` checks the chain against the node's published keys and journal (`kit.node_key`) and — when
  the configuration names a parent (`parent_url`, from the var directory, not the database) — against the
  heads the parent holds for it, fetched from `GET /api/v1/network/checkpoints` (`network.api`) with a
  request this node signs, as a pull-mode poll is signed. A parent that cannot be reached is a note, not a
  break: the local checks still stand.

Parent side
- `held_heads` answers a child that asks for the heads kept for it (`GET /api/v1/network/checkpoints`,
  `network.api`), its request signed as a pull-mode poll is (`authenticate_child`).
- `apply_checkpoints`, the applier of the `checkpoint` kind, keeps each head once (`child_checkpoints`). It
  refuses the whole envelope when a head's signature does not verify with the key it names
  (CHECKPOINT_SIGNATURE_INVALID), and when a head contradicts one it holds for that child
  (CHECKPOINT_CONFLICT): the same number or the same last event with another head, a predecessor other than
  the held checkpoint before it, or an order that goes backwards (a later number ending at an earlier event
  or count, or the reverse). A conflict leaves an audit entry `checkpoint.conflict` (target `peer:<code>`,
  shown in the peer's history) naming both heads, kept though the envelope is refused — the receiving
  paths commit what a refusal recorded — and the child's outbox shows the refusal.

Payload  {"heads": [SignedHead.doc() with "public_key", …]}                        child → parent, by number
Answer   {"holder": parent code, "node": child code, "heads": [SignedHead.doc(), …], "more": bool}
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.config import Settings
from xinyidai.kit import audit, clock
from xinyidai.kit.audit import AuditCheckpoint, ChainReport, SignedHead, Witness
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.errors import DomainError
from xinyidai.kit.node_key import node_anchors, node_identity, node_signer, verify_signature
from xinyidai.network import child_requests, relay
from xinyidai.network.exchange import ExchangeRefused
from xinyidai.network.models import ChildCheckpoint, Peer, RelayCursor

KIND = "checkpoint"
CURSOR = "audit"  # relay_cursors.direction: the last checkpoint number queued for that parent
PER_ENVELOPE = 500
PER_ANSWER = 2000
REQUEST_LABEL = b"xinyidai.checkpoints.v1\n"
T = TypeVar("T")


class ParentUnavailable(DomainError):
    status = 502
    code = "PARENT_UNAVAILABLE"
    message = "无法从上级节点取得检查点"


# ── child: sending heads up ─────────────────────────────────────────────────────────────────────────────

def forward(s: Session, ctx: relay.NodeContext) -> int:
    """Queue for the parent the checkpoints made since the last ones queued for it; how many. The last one
    queued before goes again with them: a checkpoint rewritten after it was sent then contradicts what the
    parent holds, and the parent refuses and records it."""
    up = relay.parent(s)
    if up is None or up.status not in ("active", "rectifying"):
        return 0
    cursor = s.get(RelayCursor, (up.code, CURSOR))
    if cursor is None:
        cursor = RelayCursor(peer=up.code, direction=CURSOR, last_id=0)
        s.add(cursor)
    rows = list(s.execute(select(AuditCheckpoint).where(AuditCheckpoint.seq >= cursor.last_id)
                          .order_by(AuditCheckpoint.seq).limit(PER_ENVELOPE)).scalars())
    new = [cp for cp in rows if cp.seq > cursor.last_id]
    if not new:
        return 0
    heads = [{**SignedHead.of(cp).doc(), "public_key": cp.public_key} for cp in rows]
    relay.queue(s, ctx, up, KIND, {"heads": heads}, len(rows), source_ref=f"checkpoints:{new[0].seq}-{new[-1].seq}")
    cursor.last_id = new[-1].seq
    return len(new)


def checkpoint_now(s: Session, settings: Settings) -> tuple[AuditCheckpoint | None, int]:
    """Sign the head with the node's key (journaled in its var directory) and queue for the parent what it has
    not had yet: the checkpoint made, if any, and how many were queued."""
    ctx = relay.NodeContext(settings.node_code, settings.node_role,
                            node_identity(settings.var_dir, settings.crypto_suite))
    cp = audit.make_checkpoint(s, node_signer(settings.var_dir, settings.crypto_suite))
    return cp, forward(s, ctx)


# ── parent: keeping them ────────────────────────────────────────────────────────────────────────────────

def _refuse(message: str, code: str = "PAYLOAD_INVALID", detail: Any = None) -> ExchangeRefused:
    return ExchangeRefused(message, code=code, detail=detail)


def _parse(payload: Mapping[str, Any]) -> list[tuple[SignedHead, dict[str, str] | None]]:
    docs = payload.get("heads")
    if not isinstance(docs, list) or not 0 < len(docs) <= PER_ENVELOPE:
        raise _refuse("检查点报文缺少 heads 或条数超限")
    out = []
    for d in docs:
        try:
            head = SignedHead.from_doc(d)
        except ValueError as exc:
            raise _refuse(f"检查点报文格式不正确（{exc}）") from None
        key = d.get("public_key")
        if key is not None and not (isinstance(key, Mapping) and all(isinstance(v, str) for v in key.values())):
            raise _refuse("检查点报文格式不正确（public_key）")
        out.append((head, dict(key) if key is not None else None))
    if len({h.seq for h, _ in out}) != len(out):
        raise _refuse("检查点报文中有重复的编号")
    return sorted(out, key=lambda x: x[0].seq)


def _signed(peer: Peer, head: SignedHead, bundle: Mapping[str, str] | None) -> bool:
    """Signed by the child's registered key, or by another key of the same suite whose bundle it sent (an older
    key of the child: the envelope, signed by the registered key, vouches for it)."""
    key: Mapping[str, str] | None = peer.public_key if head.key_id == peer.key_id else None
    if key is None and bundle is not None and bundle.get("suite") == head.suite:
        try:
            key = bundle if get_suite(head.suite).key_id(bundle) == head.key_id else None
        except Exception:  # noqa: BLE001 - a bundle that is not a key vouches for nothing
            key = None
    try:
        return key is not None and verify_signature(head.suite, key, head.message(), bytes.fromhex(head.signature))
    except ValueError:
        return False


class _Held:
    """The heads held for one child: the stored ones and those accepted earlier in the same envelope."""

    def __init__(self, s: Session, node: str) -> None:
        self.s, self.node = s, node
        self.new: dict[int, SignedHead] = {}

    def _one(self, *where: Any, order: Any = None) -> SignedHead | None:
        stmt = select(ChildCheckpoint).where(ChildCheckpoint.node == self.node, *where)
        row = self.s.execute(stmt.order_by(order).limit(1) if order is not None else stmt).scalar_one_or_none()
        return row.head() if row is not None else None

    def by_seq(self, seq: int) -> SignedHead | None:
        return self.new.get(seq) or self._one(ChildCheckpoint.seq == seq)

    def by_event(self, event_id: int) -> SignedHead | None:
        mine = [h for h in self.new.values() if h.last_event_id == event_id]
        return mine[0] if mine else self._one(ChildCheckpoint.last_event_id == event_id)

    def below(self, seq: int) -> SignedHead | None:
        stored = self._one(ChildCheckpoint.seq < seq, order=ChildCheckpoint.seq.desc())
        mine = [h for h in (*self.new.values(), stored) if h is not None and h.seq < seq]
        return max(mine, key=lambda h: h.seq, default=None)

    def above(self, seq: int) -> SignedHead | None:
        stored = self._one(ChildCheckpoint.seq > seq, order=ChildCheckpoint.seq)
        mine = [h for h in (*self.new.values(), stored) if h is not None and h.seq > seq]
        return min(mine, key=lambda h: h.seq, default=None)


def _at(h: SignedHead) -> str:
    return f"第 {h.seq} 个检查点（截至第 {h.last_event_id} 条，共 {h.events:,} 条，摘要 {h.head_digest[:12]}…）"


def _contradiction(held: _Held, h: SignedHead) -> tuple[str, SignedHead] | None:
    """What a received head contradicts among the held ones, if anything: (why, the held head)."""
    same = held.by_seq(h.seq)
    if same is not None:
        return None if same.same_head(h) else ("同一编号的检查点内容不同", same)
    other = held.by_event(h.last_event_id)
    if other is not None:
        return ("截至同一条记录的检查点已以另一编号保存", other)
    below, above = held.below(h.seq), held.above(h.seq)
    if below is not None and (below.last_event_id >= h.last_event_id or below.events >= h.events):
        return ("检查点倒退：编号更大，所截至的记录或条数却没有增加", below)
    if above is not None and (above.last_event_id <= h.last_event_id or above.events <= h.events):
        return ("检查点倒退：编号更小，所截至的记录或条数却不更少", above)
    if h.prev_event_id is not None and below is not None and below.seq == h.seq - 1 \
            and h.prev_event_id != below.last_event_id:
        return ("检查点接续的不是已保存的前一个检查点", below)
    if above is not None and above.seq == h.seq + 1 and above.prev_event_id not in (None, h.last_event_id):
        return ("已保存的后一个检查点接续的不是这个检查点", above)
    return None


def apply_checkpoints(s: Session, ctx: relay.NodeContext, sender: str, payload: Any) -> dict[str, Any]:
    """Keep the heads a child sent (each once); refuse the envelope when one is not signed or contradicts a
    held head, recording a contradiction as `checkpoint.conflict` (see the module docstring)."""
    peer = s.get(Peer, sender) if sender else None
    if peer is None or peer.relation != "child":
        raise _refuse("只接受下级节点报送的检查点", code="NOT_A_CHILD")
    heads = _parse(payload)
    for h, bundle in heads:
        if not _signed(peer, h, bundle):
            raise _refuse(f"第 {h.seq} 个检查点的签名无法用下级节点 {sender} 的公钥验证",
                          code="CHECKPOINT_SIGNATURE_INVALID")
    held = _Held(s, sender)
    fresh: list[SignedHead] = []
    for h, _ in heads:
        found = _contradiction(held, h)
        if found is not None:
            why, other = found
            message = f"下级节点 {sender} 报送的{_at(h)}与本节点保存的{_at(other)}矛盾：{why}"
            audit.record(s, f"node:{sender}", "checkpoint.conflict", f"peer:{sender}", reason=message,
                         received=h.doc(), held=other.doc())
            raise _refuse(message, code="CHECKPOINT_CONFLICT", detail={"received": h.doc(), "held": other.doc()})
        if held.by_seq(h.seq) is None:
            held.new[h.seq] = h
            fresh.append(h)
    now = clock.now()
    s.add_all(ChildCheckpoint(node=sender, seq=h.seq, prev_event_id=h.prev_event_id, last_event_id=h.last_event_id,
                              head_digest=h.head_digest, events=h.events, signed_at=h.signed_at, suite=h.suite,
                              key_id=h.key_id, signature=h.signature, received_at=now) for h in fresh)
    s.flush()
    return {"stored": len(fresh), "duplicates": len(heads) - len(fresh), "last_seq": heads[-1][0].seq}


def held_heads(s: Session, node: str, after: int = 0, limit: int = PER_ANSWER) -> tuple[list[dict[str, Any]], bool]:
    """The heads held for `node` numbered after `after`, in order, and whether more follow."""
    rows = list(s.execute(select(ChildCheckpoint).where(ChildCheckpoint.node == node, ChildCheckpoint.seq > after)
                          .order_by(ChildCheckpoint.seq).limit(limit + 1)).scalars())
    return [r.head().doc() for r in rows[:limit]], len(rows) > limit


# ── the signed request for them ─────────────────────────────────────────────────────────────────────────

def _request_message(code: str, ts: str, nonce: str, after: int) -> bytes:
    return REQUEST_LABEL + f"{code}\n{ts}\n{nonce}\n{after}".encode()


def signed_headers(ctx: relay.NodeContext, after: int) -> dict[str, str]:
    ts, nonce = clock.now().isoformat(), secrets.token_hex(16)
    sig = get_suite(ctx.identity.suite).sign(ctx.identity, _request_message(ctx.code, ts, nonce, after))
    return {"X-XYD-Node": ctx.code, "X-XYD-Timestamp": ts, "X-XYD-Nonce": nonce, "X-XYD-Signature": sig.hex()}


def authenticate_child(s: Session, headers: Mapping[str, str], after: int) -> Peer:
    """The child that signed this request (checked as a pull-mode poll is: see `child_requests`)."""
    return child_requests.authenticate(s, headers, lambda code, ts, nonce: _request_message(code, ts, nonce, after))


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def fetch_parent_heads(client: httpx.Client, parent_url: str, ctx: relay.NodeContext) -> tuple[str, list[SignedHead]]:
    """The parent's code and the heads it holds for this node, page by page; `ParentUnavailable` otherwise."""
    url = f"{parent_url.rstrip('/')}/api/v1/network/checkpoints"
    heads: list[SignedHead] = []
    holder, after = "", 0
    while True:
        try:
            r = client.get(url, params={"after": after}, headers=signed_headers(ctx, after))
        except httpx.HTTPError as exc:
            raise ParentUnavailable(f"无法连接上级节点 {parent_url}（{type(exc).__name__}）") from None
        body = _json(r)
        if r.status_code != 200:
            raise ParentUnavailable(f"上级节点拒绝提供检查点：{body.get('message') or r.status_code}"
                                    f"（{body.get('error') or 'HTTP ' + str(r.status_code)}）")
        try:
            page = [SignedHead.from_doc(d) for d in body["heads"]]
        except (KeyError, TypeError, ValueError):
            raise ParentUnavailable("上级节点返回的检查点格式不正确") from None
        holder = str(body.get("holder") or holder)[:20]
        heads += page
        if not body.get("more") or not page:
            return holder, heads
        after = page[-1].seq


def _with_client(client: httpx.Client | None, call: Callable[[httpx.Client], T]) -> T:
    if client is not None:
        return call(client)
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0)) as own:
        return call(own)


def verify_node(s: Session, settings: Settings, *, ask_parent: bool = True,
                client: httpx.Client | None = None) -> ChainReport:
    """Verify this node's audit chain against what the database cannot change: the node's published keys and
    journal, and the heads its parent holds for it (asked when configured and `ask_parent`)."""
    anchors = node_anchors(settings.var_dir, settings.crypto_suite)
    notes: list[str] = []
    if not settings.parent_url:
        notes.append("本节点没有上级节点：检查点只保存在本节点（数据库与 var/keys/checkpoints.jsonl）")
    elif not ask_parent:
        notes.append("本次未与上级节点保存的检查点核对")
    else:
        ctx = relay.NodeContext(settings.node_code, settings.node_role,
                                node_identity(settings.var_dir, settings.crypto_suite))
        try:
            holder, heads = _with_client(client, lambda c: fetch_parent_heads(c, settings.parent_url, ctx))
            source = f"上级节点 {holder or settings.parent_url} "
            anchors = replace(anchors, witnesses=(*anchors.witnesses, Witness(source, heads)))
        except ParentUnavailable as exc:
            notes.append(f"{exc.message}：本次未能与上级节点保存的检查点核对")
    return audit.verify_chain(s, replace(anchors, notes=(*notes, *anchors.notes)))
