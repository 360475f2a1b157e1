"""Envelopes between nodes: a signed header and a payload sealed for the recipient.

Wire form (JSON, UTF-8):
    {"header": {...}, "payload": base64(sealed bytes), "signature": hex}
The header carries id, sender, recipient, kind, created (UTC ISO), nonce, the suite and sender's key id,
the SM3/SHA-256 digest of the plaintext payload, its size and its item count. The signature covers the
header's canonical JSON (sorted keys, no spaces), prefixed by a label so that no other signed object of
the platform can be passed off as an envelope header. The payload is compressed JSON sealed with the
recipient's public key (SM2-wrapped SM4-GCM key | X25519+HKDF → AES-GCM), with the canonical header as the
associated data: a payload cannot be moved under another header.

`open_envelope` checks, in this order, and refuses with a code at the first failure: shape and size
(ENVELOPE_MALFORMED, ENVELOPE_TOO_LARGE), recipient (WRONG_RECIPIENT), the sender's standing
(UNKNOWN_PEER, PEER_REVOKED, PEER_SUSPENDED, PEER_NOT_ACTIVE), the time window (ENVELOPE_STALE), the sender's
key named in the header (KEY_RETIRED: an earlier key of the peer whose overlap has ended), the signature
(SIGNATURE_INVALID), then decryption and the digest (PAYLOAD_TAMPERED).

Key rotation (network.keys): a peer has one current key and, for an overlap after it rotated, the key before
it (`PeerKey.retiring`); the header's key id picks which one verifies. A key id the peer never announced is
checked against the current key and so fails as SIGNATURE_INVALID, like any forgery. The payload is sealed
to the recipient's current key; the recipient also tries its earlier keys (`earlier`), for envelopes sealed
before the sender learnt of its rotation. Replays (ENVELOPE_REPLAYED) are
refused by the inbox, which knows the nonces it has seen.
"""

from __future__ import annotations

import base64
import secrets
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from xinyidai.kit import clock
from xinyidai.kit.crypto.errors import CryptoError
from xinyidai.kit.crypto.suite import Identity, canonical_json, get_suite
from xinyidai.kit.errors import DomainError

SIGN_LABEL = b"xinyidai.envelope.v1\n"
RECEIPT_LABEL = b"xinyidai.receipt.v1\n"
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024
MAX_SKEW = timedelta(minutes=10)
# Files travel through a front-end machine (前置机) and may wait there; the inbox's nonces still stop replays.
FILE_MAX_AGE = timedelta(days=7)
KINDS = ("records", "feedback", "reconcile", "needs", "ping", "whitelist", "checkpoint", "products", "loans",
         "notice", "incident", "progress_report", "key_rotation")


class EnvelopeRefused(DomainError):
    """An envelope that must not be applied; `code` says why (see the module docstring)."""

    status = 400
    code = "ENVELOPE_REFUSED"
    message = "报文被拒收"


def _refuse(code: str, message: str, status: int = 400) -> EnvelopeRefused:
    e = EnvelopeRefused(message, code=code)
    e.status = status
    return e


@dataclass(frozen=True)
class RetiringKey:
    """A peer's key before its last rotation, accepted before `until`."""

    key_id: str
    public_key: Mapping[str, str]
    until: datetime


@dataclass(frozen=True)
class PeerKey:
    """What the receiver knows of a sender: its code, standing, suite, current public key and, during the
    overlap after a rotation, the key before it."""

    code: str
    status: str
    suite: str
    public_key: Mapping[str, str]
    retiring: RetiringKey | None = None

    def key_for(self, key_id: str) -> Mapping[str, str]:
        """The public key that must have signed something naming `key_id`: the retiring key while its overlap
        lasts (KEY_RETIRED after), else the current key (an unknown id then fails the signature check)."""
        r = self.retiring
        if r is not None and key_id == r.key_id:
            if clock.now() >= r.until:
                raise _refuse("KEY_RETIRED", f"发送方 {self.code} 的密钥 {key_id} 已停用（重叠期至 "
                                             f"{r.until.isoformat()}），请使用其新密钥", 401)
            return r.public_key
        return self.public_key


@dataclass(frozen=True)
class Opened:
    header: dict[str, Any]
    payload: Any
    digest: str  # of the whole wire form, named in the receipt
    packed: bytes  # the payload as the sender packed it (`pack`), to pass on unchanged without packing again


def pack(payload: Any) -> bytes:
    """A payload as an envelope carries it before sealing: compressed JSON."""
    return zlib.compress(orjson.dumps(payload), 3)


def make_envelope(identity: Identity, sender: str, recipient: str, recipient_key: Mapping[str, str], kind: str,
                  payload: Any, *, items: int = 0, envelope_id: str | None = None, packed: bytes | None = None
                  ) -> tuple[str, bytes]:
    """(envelope id, wire bytes). `packed`, when given, is `pack(payload)` already made."""
    suite = get_suite(identity.suite)
    plain = pack(payload) if packed is None else packed
    header = {
        "id": envelope_id or f"{sender}-{clock.now():%Y%m%d%H%M%S}-{secrets.token_hex(6)}",
        "sender": sender, "recipient": recipient, "kind": kind, "created": clock.now().isoformat(),
        "nonce": secrets.token_hex(16), "suite": identity.suite, "key_id": identity.key_id,
        "payload_digest": suite.hexdigest(plain), "payload_size": len(plain), "items": items,
    }
    head = canonical_json(header)
    sealed = suite.seal_for(recipient_key, plain, head)
    signature = suite.sign(identity, SIGN_LABEL + head)
    wire = orjson.dumps({"header": header, "payload": base64.b64encode(sealed).decode("ascii"),
                         "signature": signature.hex()})
    return header["id"], wire


def wire_digest(wire: bytes, suite_name: str) -> str:
    return get_suite(suite_name).hexdigest(wire)


def parse(wire: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """The header, sealed payload and signature, or ENVELOPE_MALFORMED / ENVELOPE_TOO_LARGE."""
    if len(wire) > MAX_ENVELOPE_BYTES:
        raise _refuse("ENVELOPE_TOO_LARGE", f"报文超过 {MAX_ENVELOPE_BYTES // 1024 // 1024} MB 上限", 413)
    try:
        doc = orjson.loads(wire)
        header = doc["header"]
        sealed = base64.b64decode(doc["payload"], validate=True)
        signature = bytes.fromhex(doc["signature"])
        for k in ("id", "sender", "recipient", "kind", "created", "nonce", "suite", "key_id", "payload_digest"):
            if not isinstance(header[k], str) or not header[k] or len(header[k]) > 200:
                raise ValueError(k)
        if header["kind"] not in KINDS:
            raise ValueError("kind")
        created = datetime.fromisoformat(header["created"])
        if created.tzinfo is None:
            raise ValueError("created")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _refuse("ENVELOPE_MALFORMED", f"报文格式不正确（{exc}）") from None
    return header, sealed, signature


def open_envelope(wire: bytes, me: str, identity: Identity, peers: Mapping[str, PeerKey],
                  max_skew: timedelta = MAX_SKEW, *, earlier: Callable[[], Sequence[Identity]] | None = None
                  ) -> Opened:
    """Check everything about an envelope addressed to `me` and return its payload (see the docstring);
    `earlier` gives this node's earlier keys, tried when the current one cannot open the payload."""
    header, sealed, signature = parse(wire)
    if header["recipient"] != me:
        raise _refuse("WRONG_RECIPIENT", f"报文的接收方是 {header['recipient']}，不是本节点 {me}", 421)
    peer = peers.get(header["sender"])
    if peer is None:
        raise _refuse("UNKNOWN_PEER", f"发送方 {header['sender']} 不是本节点的已登记节点", 403)
    if peer.status == "revoked":
        raise _refuse("PEER_REVOKED", f"发送方 {peer.code} 的接入已被撤销", 403)
    if peer.status == "suspended":
        raise _refuse("PEER_SUSPENDED", f"发送方 {peer.code} 的接入已被暂停，恢复前不接收其报文", 403)
    if peer.status not in ("active", "rectifying"):
        raise _refuse("PEER_NOT_ACTIVE", f"发送方 {peer.code} 尚未获准接入（当前状态：{peer.status}）", 403)
    created = datetime.fromisoformat(header["created"])
    if abs(clock.now() - created) > max_skew:
        raise _refuse("ENVELOPE_STALE", f"报文时间 {header['created']} 超出允许的时间窗口（±{max_skew}）")
    if header["suite"] != peer.suite:
        raise _refuse("SIGNATURE_INVALID", "报文使用的密码套件与登记的不一致", 401)
    suite = get_suite(peer.suite)
    head = canonical_json(header)
    if not suite.verify(peer.key_for(header["key_id"]), SIGN_LABEL + head, signature):
        raise _refuse("SIGNATURE_INVALID", "报文签名验证失败（伪造、被篡改或使用了未登记的密钥）", 401)
    plain = _unseal(suite, identity, earlier, sealed, head)
    if suite.hexdigest(plain) != header["payload_digest"]:
        raise _refuse("PAYLOAD_TAMPERED", "报文载荷摘要不符（被篡改）")
    try:
        payload = orjson.loads(zlib.decompress(plain))
    except (zlib.error, orjson.JSONDecodeError):
        raise _refuse("ENVELOPE_MALFORMED", "报文载荷不是有效的压缩 JSON") from None
    return Opened(header, payload, suite.hexdigest(wire), plain)


def _unseal(suite: Any, identity: Identity, earlier: Callable[[], Sequence[Identity]] | None, sealed: bytes,
            head: bytes) -> bytes:
    try:
        return suite.open_sealed(identity, sealed, head)
    except CryptoError:
        pass
    for other in earlier() if earlier is not None else ():
        if other.suite != identity.suite:
            continue
        try:
            return suite.open_sealed(other, sealed, head)
        except CryptoError:
            continue
    raise _refuse("PAYLOAD_TAMPERED", "报文载荷无法解密（被篡改或不是发给本节点的）")


def make_receipt(identity: Identity, me: str, header: Mapping[str, Any], digest: str, status: str,
                 result: Mapping[str, Any]) -> dict[str, Any]:
    """A signed acknowledgement naming the envelope's digest."""
    body = {"envelope_id": header["id"], "envelope_digest": digest, "from": me, "to": header["sender"],
            "status": status, "result": dict(result), "at": clock.now().isoformat()}
    sig = get_suite(identity.suite).sign(identity, RECEIPT_LABEL + canonical_json(body))
    return {"receipt": body, "suite": identity.suite, "key_id": identity.key_id, "signature": sig.hex()}


def check_receipt(receipt: Mapping[str, Any], peer: PeerKey, envelope_id: str, digest: str) -> bool:
    body = receipt.get("receipt") or {}
    if body.get("envelope_id") != envelope_id or body.get("envelope_digest") != digest:
        return False
    try:
        sig = bytes.fromhex(receipt.get("signature", ""))
    except ValueError:
        return False
    try:
        key = peer.key_for(str(receipt.get("key_id", "")))
    except EnvelopeRefused:
        return False
    return get_suite(peer.suite).verify(key, RECEIPT_LABEL + canonical_json(body), sig)
