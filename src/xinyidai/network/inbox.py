"""Receiving an envelope from a neighbouring node: open and check it once (signature, freshness, replay),
apply it by its kind — credit records through the relay, feedback, reconciliation and needs through the
exchange, audit checkpoint heads through `checkpoints`, a neighbour's key rotation through `keys` (which
needs the header: an announcement must be signed by the sender's current key), and kinds that layers above
the network register there (white lists …) — and acknowledge it with a signed receipt. Used by every mode:
push (the node API), pull and file."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyidai.kit import audit, clock
from xinyidai.network import checkpoints, exchange, keys, relay
from xinyidai.network.envelope import (
    FILE_MAX_AGE,
    MAX_SKEW,
    EnvelopeRefused,
    make_receipt,
    open_envelope,
    parse,
)
from xinyidai.network.models import InboxEnvelope, Peer, RefusedEnvelope


def receive(s: Session, ctx: relay.NodeContext, wire: bytes, via: str = "push") -> dict[str, Any]:
    """Check, apply once and acknowledge an envelope. A refusal is recorded (committed by the caller) and
    raised; an exact duplicate is acknowledged again without being applied."""
    try:
        opened = open_envelope(wire, ctx.code, ctx.identity, relay.peer_keys(s),
                               FILE_MAX_AGE if via == "file" else MAX_SKEW, earlier=ctx.earlier)
    except EnvelopeRefused as exc:
        header = _claimed(wire)
        s.add(RefusedEnvelope(claimed_id=header.get("id"), claimed_sender=header.get("sender"), code=exc.code,
                              message=exc.message, via=via, at=clock.now()))
        audit.record(s, "network", "envelope.refused", f"envelope:{str(header.get('id'))[:150]}",
                     sender=header.get("sender"), code=exc.code, via=via)
        raise
    h = opened.header
    seen = s.execute(select(InboxEnvelope).where(InboxEnvelope.sender == h["sender"],
                                                 InboxEnvelope.nonce == h["nonce"])).scalar_one_or_none()
    if seen is not None:
        if seen.id == h["id"] and seen.digest == opened.digest:
            return {**seen.receipt, "duplicate": True}
        exc = EnvelopeRefused("报文的随机数已被使用（重放）", code="ENVELOPE_REPLAYED")
        s.add(RefusedEnvelope(claimed_id=h["id"], claimed_sender=h["sender"], code=exc.code, message=exc.message,
                              via=via, at=clock.now()))
        raise exc
    if s.get(InboxEnvelope, h["id"]) is not None:
        raise EnvelopeRefused("报文编号已被使用", code="ENVELOPE_REPLAYED")
    result = keys.apply_announcement(s, h, opened.payload) if h["kind"] == keys.KIND \
        else apply(s, ctx, h["kind"], h["sender"], opened.payload, opened.packed)
    receipt = make_receipt(ctx.identity, ctx.code, h, opened.digest, "applied", result)
    s.add(InboxEnvelope(id=h["id"], sender=h["sender"], kind=h["kind"], nonce=h["nonce"], digest=opened.digest,
                        received_at=clock.now(), via=via, items=int(h.get("items") or 0), result=result,
                        receipt=receipt))
    s.execute(update(Peer).where(Peer.code == h["sender"]).values(last_contact_at=clock.now()))
    audit.record(s, h["sender"], "envelope.applied", f"envelope:{h['id']}", kind=h["kind"], via=via, **result)
    return receipt


def _claimed(wire: bytes) -> dict[str, Any]:
    try:
        return parse(wire)[0]
    except EnvelopeRefused:
        return {}


def apply(s: Session, ctx: relay.NodeContext, kind: str, sender: str, payload: Any, packed: bytes | None = None
          ) -> dict[str, Any]:
    """Apply an envelope's payload (`packed`: as it came, see `envelope.pack`)."""
    if kind == "records":
        applied = relay.apply_records(s, sender, payload)
        relay.pass_sender(s, sender, len(applied.stored))
        relay.forward_up(s, ctx, sender, applied, payload, packed)
        return applied.result
    if kind == "ping":
        return {"pong": True}
    if kind == checkpoints.KIND:
        return checkpoints.apply_checkpoints(s, ctx, sender, payload)
    return exchange.apply(s, ctx, kind, sender, payload)
