"""Rotating the node's signing key with no downtime (issue 24), and learning of a neighbour's rotation.

Here: `rotate` makes a new key (kit.node_key.rotate: written, published, then switched to) and, before the
switch, queues a `key_rotation` envelope to every neighbour, signed with the OLD key, carrying the new public
bundle and a proof of possession (the new key's signature over node, old and new key ids and the overlap's
end). Processes already running move to the new key within seconds (the pointer file), with no restart.
`retire` ends the overlap early: recorded locally and announced (signed with the new key).

At a neighbour: `apply_announcement` checks that the envelope was signed by the sender's registered current
key and that the proof verifies with the announced key, then makes the new key current and keeps the old one
as `retiring` until the overlap's end (capped at MAX_OVERLAP). After that moment the old key is refused
(KEY_RETIRED, `envelope.PeerKey.key_for`) without any chore. A duplicate announcement changes nothing.

Payload (kind `key_rotation`)
    {"type": "rotate", "node", "suite", "old_key_id", "new_key_id", "public_key", "overlap_until", "proof"}
    {"type": "retire", "node", "key_id"}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.config import Settings
from xinyidai.kit import audit, clock, node_key
from xinyidai.kit.crypto.errors import KeystoreError
from xinyidai.kit.crypto.keystore import key_files
from xinyidai.kit.crypto.suite import Identity, canonical_json, get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, DomainError, InvalidInput
from xinyidai.network import relay
from xinyidai.network.models import Peer

KIND = "key_rotation"
PROOF_LABEL = b"xinyidai.key-rotation.v1\n"
MAX_OVERLAP = timedelta(days=90)
# Every neighbour that may still send to us or receive from us (not a refused or cut-off one).
_ANNOUNCE_TO = ("pending", "active", "rectifying", "suspended")


class AnnouncementRefused(DomainError):
    status = 400
    code = "KEY_ANNOUNCEMENT_INVALID"
    message = "密钥轮换通知无效"


def node_context(settings: Settings) -> relay.NodeContext:
    """This node for the relay: its current key, and its earlier ones for envelopes sealed to them."""
    var_dir, suite = settings.var_dir, settings.crypto_suite
    return relay.NodeContext(settings.node_code, settings.node_role, node_key.node_identity(var_dir, suite),
                             lambda: node_key.earlier_identities(var_dir, suite))


def proof_message(node: str, old_key_id: str, new_key_id: str, overlap_until: str) -> bytes:
    return PROOF_LABEL + canonical_json({"node": node, "old_key_id": old_key_id, "new_key_id": new_key_id,
                                         "overlap_until": overlap_until})


def announcement(node: str, rotation: node_key.Rotation) -> dict[str, Any]:
    until = rotation.overlap_until.isoformat()
    proof = get_suite(rotation.new.suite).sign(rotation.new, proof_message(node, rotation.old.key_id,
                                                                            rotation.new.key_id, until))
    return {"type": "rotate", "node": node, "suite": rotation.new.suite, "old_key_id": rotation.old.key_id,
            "new_key_id": rotation.new.key_id, "public_key": rotation.new.public_bundle(), "overlap_until": until,
            "proof": proof.hex()}


def _neighbours(s: Session) -> list[Peer]:
    return list(s.execute(select(Peer).where(Peer.status.in_(_ANNOUNCE_TO)).order_by(Peer.code)).scalars())


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise InvalidInput("请填写密钥轮换的理由", code="REASON_REQUIRED")
    return reason[:1000]


def rotate(db: Database, settings: Settings, actor: str, reason: str, overlap_hours: int | None = None
           ) -> tuple[node_key.Rotation, list[str]]:
    """Rotate this node's key; (the rotation, the neighbours it was announced to). The announcements and the
    audit entry are committed before the switch: should that fail, nothing was switched and the old key,
    which every neighbour still holds as current, keeps working."""
    reason = _reason(reason)
    hours = settings.key_overlap_hours if overlap_hours is None else overlap_hours
    if not 1 <= hours <= MAX_OVERLAP // timedelta(hours=1):
        raise InvalidInput(f"重叠期应在 1 至 {MAX_OVERLAP // timedelta(hours=1)} 小时之间", code="BAD_OVERLAP")
    told: list[str] = []

    def announce(rotation: node_key.Rotation) -> None:
        signed_by_old = relay.NodeContext(settings.node_code, settings.node_role, rotation.old)
        payload = announcement(settings.node_code, rotation)
        with db.session() as s:
            for peer in _neighbours(s):
                relay.queue(s, signed_by_old, peer, KIND, payload, 1, source_ref=f"key:{rotation.new.key_id[:20]}")
                told.append(peer.code)
            audit.record(s, actor, "node.key_rotated", f"node:{settings.node_code}", reason=reason,
                         old_key_id=rotation.old.key_id, new_key_id=rotation.new.key_id, suite=rotation.new.suite,
                         overlap_until=rotation.overlap_until.isoformat(), announced_to=told)

    rotation = node_key.rotate(settings.var_dir, settings.crypto_suite, timedelta(hours=hours), announce)
    return rotation, told


def retire(db: Database, settings: Settings, actor: str, reason: str) -> tuple[list[str], list[str]]:
    """End the overlap of the node's earlier key(s) now; (key ids retired, neighbours told)."""
    reason = _reason(reason)
    ids = node_key.retiring_key_ids(settings.var_dir, settings.crypto_suite)
    if not ids:
        raise Conflict("没有处于重叠期的旧密钥", code="NO_RETIRING_KEY")
    current = node_key.node_identity(settings.var_dir, settings.crypto_suite)
    ctx = relay.NodeContext(settings.node_code, settings.node_role, current)
    told: list[str] = []
    with db.session() as s:
        for peer in _neighbours(s):
            for kid in ids:
                relay.queue(s, ctx, peer, KIND, {"type": "retire", "node": settings.node_code, "key_id": kid}, 1,
                            source_ref=f"retire:{kid[:20]}")
            told.append(peer.code)
        audit.record(s, actor, "node.key_retired", f"node:{settings.node_code}", reason=reason, key_ids=ids,
                     current_key_id=current.key_id, announced_to=told)
    node_key.retire(settings.var_dir, ids)
    return ids, told


# ── at a neighbour ──────────────────────────────────────────────────────────────────────────────────────

def _str(payload: Mapping[str, Any], name: str) -> str:
    v = payload.get(name)
    if not isinstance(v, str) or not v or len(v) > 200:
        raise AnnouncementRefused(f"密钥轮换通知缺少或字段无效：{name}")
    return v


def apply_announcement(s: Session, header: Mapping[str, Any], payload: Any) -> dict[str, Any]:
    """Apply a `key_rotation` envelope already opened by the inbox (signature, sender standing checked)."""
    sender = header["sender"]
    peer = s.get(Peer, sender)
    if peer is None or not isinstance(payload, Mapping) or payload.get("node") != sender:
        raise AnnouncementRefused("密钥轮换通知的节点与发送方不符")
    if payload.get("type") == "retire":
        return _apply_retire(s, peer, header, _str(payload, "key_id"))
    if payload.get("type") != "rotate":
        raise AnnouncementRefused("密钥轮换通知类型应为 rotate 或 retire")
    new_id, old_id = _str(payload, "new_key_id"), _str(payload, "old_key_id")
    if peer.key_id == new_id:
        return {"key_id": new_id, "unchanged": True}  # already applied (a resend after a lost receipt)
    if header["key_id"] != peer.key_id or old_id != peer.key_id:
        raise AnnouncementRefused("密钥轮换通知必须由该节点当前登记的密钥签名", code="KEY_ANNOUNCEMENT_NOT_CURRENT")
    if payload.get("suite") != peer.suite:
        raise AnnouncementRefused("密钥轮换不能更换密码套件", code="KEY_SUITE_CHANGE")
    suite = get_suite(peer.suite)
    bundle = payload.get("public_key")
    until_text = _str(payload, "overlap_until")
    try:
        if not isinstance(bundle, Mapping) or suite.key_id(bundle) != new_id:
            raise ValueError("key_id")
        until = datetime.fromisoformat(until_text)
        if until.tzinfo is None:
            raise ValueError("overlap_until")
        proof = bytes.fromhex(_str(payload, "proof"))
        ok = suite.verify(bundle, proof_message(sender, old_id, new_id, until_text), proof)
    except Exception:  # noqa: BLE001 - a bundle or proof that does not parse proves nothing
        ok = False
    if not ok:
        raise AnnouncementRefused("新密钥的持有证明无效（公钥与标识不符或签名错误）", code="KEY_PROOF_INVALID")
    now = clock.now()
    until = max(now, min(until, now + MAX_OVERLAP))
    peer.retiring_key_id, peer.retiring_public_key, peer.retiring_until = peer.key_id, dict(peer.public_key), until
    peer.public_key, peer.key_id, peer.key_rotated_at = dict(bundle), new_id, now
    audit.record(s, sender, "peer.key_rotated", f"peer:{sender}", old_key_id=old_id, new_key_id=new_id,
                 overlap_until=until.isoformat())
    return {"key_id": new_id, "overlap_until": until.isoformat()}


def _apply_retire(s: Session, peer: Peer, header: Mapping[str, Any], key_id: str) -> dict[str, Any]:
    if header["key_id"] != peer.key_id:
        raise AnnouncementRefused("停用旧密钥的通知必须由该节点的新密钥签名", code="KEY_ANNOUNCEMENT_NOT_CURRENT")
    if peer.retiring_key_id != key_id or peer.retiring_until is None or peer.retiring_until <= clock.now():
        return {"retired": key_id, "unchanged": True}
    peer.retiring_until = clock.now()
    audit.record(s, peer.code, "peer.key_retired", f"peer:{peer.code}", key_id=key_id)
    return {"retired": key_id}


def peer_key_rows(s: Session) -> list[dict[str, Any]]:
    """Neighbours' keys as the page shows them: current, and the earlier one while it is still accepted."""
    now = clock.now()
    out = []
    for p in _neighbours(s):
        out.append({"peer": p.code, "name": p.name, "key_id": p.key_id, "status": "current",
                    "since": p.key_rotated_at, "until": None})
        if p.retiring_key_id and p.retiring_until and p.retiring_until > now:
            out.append({"peer": p.code, "name": p.name, "key_id": p.retiring_key_id, "status": "retiring",
                        "since": None, "until": p.retiring_until})
    return out


def own_keys(settings: Settings) -> list[dict[str, Any]]:
    """This node's keys (`node_key.key_list`); none before the node has a key (a page must not create one)."""
    if not key_files(Path(settings.var_dir) / "keys"):
        return []
    try:
        return node_key.key_list(settings.var_dir, settings.crypto_suite)
    except KeystoreError:
        return []


def identity_of(settings: Settings) -> Identity:
    return node_key.node_identity(settings.var_dir, settings.crypto_suite)
