"""Pull mode: a child behind a firewall polls its parent for the envelopes waiting for it, applies them and
returns the signed receipts. The poll itself is signed by the child (node code, time, nonce), so the parent
hands a child's envelopes to that child only — and they are sealed for its key anyway.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.network import child_requests, inbox, relay
from xinyidai.network.models import OutboxEnvelope

PULL_LABEL = b"xinyidai.pull.v1\n"
PER_POLL = 20


def _message(code: str, ts: str, nonce: str) -> bytes:
    return PULL_LABEL + f"{code}\n{ts}\n{nonce}".encode()


def serve_pull(s: Session, headers: Mapping[str, str]) -> dict[str, Any]:
    code = child_requests.authenticate(s, headers, _message, "拉取请求").code
    rows = s.execute(select(OutboxEnvelope).where(OutboxEnvelope.recipient == code,
                                                   OutboxEnvelope.status == "pending")
                     .order_by(OutboxEnvelope.created_at).limit(PER_POLL)).scalars().all()
    for ob in rows:
        ob.attempts += 1
    return {"envelopes": [base64.b64encode(ob.wire).decode("ascii") for ob in rows]}


def pull_from_parent(db: Database, ctx: relay.NodeContext, client: httpx.Client) -> int:
    """Poll the parent once; apply what it holds for us and hand back the receipts. Returns envelopes applied."""
    with db.session() as s:
        parent = relay.parent(s)
        if parent is None or not parent.endpoint:
            return 0
        endpoint = parent.endpoint.rstrip("/")
    ts, nonce = clock.now().isoformat(), secrets.token_hex(16)
    sig = get_suite(ctx.identity.suite).sign(ctx.identity, _message(ctx.code, ts, nonce))
    r = client.get(f"{endpoint}/api/v1/network/pull", headers={
        "X-XYD-Node": ctx.code, "X-XYD-Timestamp": ts, "X-XYD-Nonce": nonce, "X-XYD-Signature": sig.hex()})
    r.raise_for_status()
    receipts = []
    for item in r.json().get("envelopes", []):
        wire = base64.b64decode(item)
        with db.sessions() as s:
            try:
                receipts.append(inbox.receive(s, ctx, wire, "pull"))
                s.commit()
            except DomainError:
                s.commit()
    if receipts:
        client.post(f"{endpoint}/api/v1/network/receipts", json=receipts).raise_for_status()
    return len(receipts)
