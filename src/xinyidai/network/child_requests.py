"""A child node's signed request to its parent outside the envelopes — a pull-mode poll, a fetch of the audit
checkpoint heads the parent keeps for it. Each names the child (X-XYD-Node) and carries a timestamp, a nonce
and a signature over a message of its own kind; the parent checks the child's standing, the time window,
the signature by the child's registered key, and that the nonce was never used."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai.institutions.models import RequestNonce
from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import savepoint
from xinyidai.kit.errors import Forbidden, Unauthenticated
from xinyidai.network.models import Peer

WINDOW = timedelta(minutes=5)
# (child code, timestamp, nonce) → the bytes its signature covers, one form per kind of request
Message = Callable[[str, str, str], bytes]


def authenticate(s: Session, headers: Mapping[str, str], message: Message, what: str = "请求") -> Peer:
    """The child that signed this request; refused with a code naming what failed. `what` names the request
    in the refusals (拉取请求 …)."""
    code, ts, nonce = headers.get("x-xyd-node", ""), headers.get("x-xyd-timestamp", ""), headers.get("x-xyd-nonce", "")
    peer = s.get(Peer, code) if code else None
    if peer is None or peer.relation != "child":
        raise Unauthenticated("未登记的下级节点", code="UNKNOWN_PEER")
    if peer.status == "suspended":
        raise Forbidden(f"节点 {code} 的接入已被暂停，恢复前不能办理此{what}", code="PEER_SUSPENDED")
    if peer.status not in ("active", "rectifying"):
        raise Forbidden(f"节点 {code} 当前不能办理此{what}（{peer.status}）", code="PEER_NOT_ACTIVE")
    try:
        when = datetime.fromisoformat(ts)
        sig = bytes.fromhex(headers.get("x-xyd-signature", ""))
    except ValueError:
        raise Unauthenticated(f"{what}的签名头格式不正确", code="SIGNATURE_INVALID") from None
    if when.tzinfo is None or abs(clock.now() - when) > WINDOW:
        raise Unauthenticated(f"{what}的时间超出允许窗口", code="REQUEST_EXPIRED")
    suite = get_suite(peer.suite)
    # The headers name no key: during the overlap after a rotation (network.keys) the one before it serves too.
    retiring = peer.retiring_public_key if peer.retiring_until and clock.now() < peer.retiring_until else None
    if not any(k and suite.verify(k, message(code, ts, nonce), sig) for k in (peer.public_key, retiring)):
        raise Unauthenticated(f"{what}签名无效", code="SIGNATURE_INVALID")
    key = f"node:{code}"[:40]
    if not nonce or s.get(RequestNonce, (key, nonce[:64])) is not None:
        raise Unauthenticated(f"{what}被重放", code="REQUEST_REPLAYED")
    try:
        with savepoint(s):
            s.add(RequestNonce(key_id=key, nonce=nonce[:64], seen_at=clock.now()))
            s.flush()
    except IntegrityError:
        raise Unauthenticated(f"{what}被重放", code="REQUEST_REPLAYED") from None
    peer.last_contact_at = clock.now()
    return peer
