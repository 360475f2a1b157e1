"""Checkpoint heads kept by the parent, in process on two databases (a city and its province): the parent keeps
what the child sends, once; refuses a head that contradicts one it holds and records the conflict; and the
child's verification, asking the parent over its signed endpoint, finds a rewrite that passes every local
check — the operator's own, re-signed with the node's key and with the journal set aside."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from tests.unit.audit_tampering import mallory_at_2, rewrite_chain
from xinyidai.config import Settings, load_settings
from xinyidai.kit import audit, clock
from xinyidai.kit.audit import AuditCheckpoint, AuditEvent, SignedHead
from xinyidai.kit.crypto.suite import Identity, get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.node_key import archive_journal, node_identity, node_signer, signer_for
from xinyidai.network import checkpoints, exchange, inbox
from xinyidai.network.models import ChildCheckpoint, OutboxEnvelope, RelayCursor
from xinyidai.network.relay import NodeContext

from .nodes import peer_row

CITY, PROVINCE = "CN-230100", "CN-230000"




def _link(child_db: Database, parent_db: Database, child: Identity, parent: Identity) -> None:
    with child_db.session() as s:
        s.add(peer_row(PROVINCE, "parent", parent))
    with parent_db.session() as s:
        s.add(peer_row(CITY, "child", child))


def _write(db: Database, n: int) -> None:
    with db.session() as s:
        for i in range(n):
            audit.record(s, "alice", "test.write", f"t:{i}")


def _sent(child_db: Database) -> bytes:
    """The newest checkpoint envelope the child queued."""
    with child_db.session() as s:
        return s.execute(select(OutboxEnvelope.wire).where(OutboxEnvelope.kind == "checkpoint")
                         .order_by(OutboxEnvelope.created_at.desc()).limit(1)).scalar_one()


def _deliver(parent_db: Database, ctx: NodeContext, wire: bytes) -> dict[str, Any]:
    """As the parent's inbox endpoint does: commit what was applied, and what a refusal recorded."""
    with parent_db.sessions() as s:
        try:
            receipt = inbox.receive(s, ctx, wire)
            s.commit()
            return receipt["receipt"]["result"]
        except DomainError:
            s.commit()
            raise


def test_parent_keeps_heads_and_refuses_a_contradicting_one(db: Database, parent_db: Database,
                                                            tmp_path: Path) -> None:
    city, province = get_suite("sm").generate_identity(), get_suite("sm").generate_identity()
    c_ctx, p_ctx = NodeContext(CITY, "municipal", city), NodeContext(PROVINCE, "provincial", province)
    _link(db, parent_db, city, province)
    signer = signer_for(city, tmp_path / "city-var")
    for n in (3, 2):
        _write(db, n)
        with db.session() as s:
            audit.make_checkpoint(s, signer)
    with db.session() as s:
        assert checkpoints.forward(s, c_ctx) == 2
        assert checkpoints.forward(s, c_ctx) == 0  # nothing new since
    assert _deliver(parent_db, p_ctx, _sent(db)) == {"stored": 2, "duplicates": 0, "last_seq": 2}
    with parent_db.session() as s:
        held = s.execute(select(ChildCheckpoint).order_by(ChildCheckpoint.seq)).scalars().all()
        assert [(h.node, h.seq, h.last_event_id, h.events) for h in held] == [(CITY, 1, 3, 3), (CITY, 2, 5, 5)]

    # The same heads again (the cursor set back): kept once.
    with db.session() as s:
        s.execute(update(RelayCursor).where(RelayCursor.direction == checkpoints.CURSOR).values(last_id=0))
        assert checkpoints.forward(s, c_ctx) == 2
    assert _deliver(parent_db, p_ctx, _sent(db)) == {"stored": 0, "duplicates": 2, "last_seq": 2}
    _write(db, 1)
    with db.session() as s:  # the next goes up with the last one sent before
        audit.make_checkpoint(s, signer)
        assert checkpoints.forward(s, c_ctx) == 1
    assert _deliver(parent_db, p_ctx, _sent(db)) == {"stored": 1, "duplicates": 1, "last_seq": 3}

    # The chain rewritten, its checkpoints deleted and signed again with the node's own key; the next checkpoint
    # goes up with the last one sent before, now different from what the parent holds.
    with db.session() as s:
        rewrite_chain(s, mallory_at_2)
        s.execute(delete(AuditCheckpoint))
        for _ in range(3):
            audit.make_checkpoint(s, signer)
            audit.record(s, "alice", "test.write", "t:again")
        audit.make_checkpoint(s, signer)
        assert checkpoints.forward(s, c_ctx) == 1
    with pytest.raises(exchange.ExchangeRefused) as refused:
        _deliver(parent_db, p_ctx, _sent(db))
    assert refused.value.code == "CHECKPOINT_CONFLICT" and "同一编号的检查点内容不同" in refused.value.message
    with parent_db.session() as s:
        conflict = s.execute(select(AuditEvent).where(AuditEvent.action == "checkpoint.conflict")).scalar_one()
        assert conflict.target == f"peer:{CITY}" and conflict.detail["held"]["seq"] == 3
        assert conflict.detail["received"]["head_digest"] != conflict.detail["held"]["head_digest"]
        assert s.query(ChildCheckpoint).count() == 3  # nothing of the refused envelope kept
        assert audit.verify_chain(s).intact  # the conflict entry chains like any other

    # A head that goes backwards (numbered after the held third, ending before it), one signed by a key that
    # is not the city's, and one from a node that is not a child: refused, nothing kept.
    def head(seq: int, last: int, by: Identity) -> dict[str, Any]:
        h = SignedHead(seq, 5, last, "a" * 64, last, clock.now(), "sm", by.key_id, "")
        return {**h.doc(), "signature": get_suite("sm").sign(by, h.message()).hex()}

    stranger = get_suite("sm").generate_identity()
    for sender, doc, code in ((CITY, head(4, 4, city), "CHECKPOINT_CONFLICT"),
                              (CITY, head(4, 9, stranger), "CHECKPOINT_SIGNATURE_INVALID"),
                              (PROVINCE, head(4, 9, city), "NOT_A_CHILD")):
        with parent_db.session() as s, pytest.raises(exchange.ExchangeRefused) as exc:
            inbox.apply(s, p_ctx, "checkpoint", sender, {"heads": [doc]})
        assert exc.value.code == code
    assert "倒退" in _refusal_of(parent_db, p_ctx, {"heads": [head(4, 4, city)]})
    with parent_db.session() as s:
        assert s.query(ChildCheckpoint).count() == 3


def _refusal_of(parent_db: Database, ctx: NodeContext, payload: dict[str, Any]) -> str:
    with parent_db.session() as s:
        try:
            inbox.apply(s, ctx, "checkpoint", CITY, payload)
        except exchange.ExchangeRefused as exc:
            return exc.message
    raise AssertionError("not refused")


def _settings(var: Path, db: Database, **kw: Any) -> Settings:
    return load_settings(env={}, var_dir=var, database_url=db.url, **kw)


def test_child_verify_finds_a_rewrite_its_parents_heads_contradict(db: Database, parent_db: Database,
                                                                   tmp_path: Path) -> None:
    from xinyidai.app import create_app

    child_settings = _settings(tmp_path / "city-var", db, node_code=CITY, node_role="municipal",
                               parent_url="http://testserver")
    city = node_identity(child_settings.var_dir, "sm")
    province = get_suite("sm").generate_identity()
    p_ctx = NodeContext(PROVINCE, "provincial", province)
    _link(db, parent_db, city, province)
    parent_app = create_app(_settings(tmp_path / "province-var", parent_db, node_code=PROVINCE), parent_db)
    client = TestClient(parent_app, base_url="http://testserver")

    _write(db, 4)
    with db.session() as s:
        cp, queued = checkpoints.checkpoint_now(s, child_settings)
        assert cp is not None and cp.seq == 1 and queued == 1
    _deliver(parent_db, p_ctx, _sent(db))
    with db.session() as s:
        report = checkpoints.verify_node(s, child_settings, client=client)
    assert report.intact, report.breaks
    assert any(f"上级节点 {PROVINCE} 保存的 1 个检查点" in n for n in report.notes)

    # The operator rewrites history, re-signs with the node's key and sets the node's journal aside.
    with db.session() as s:
        rewrite_chain(s, mallory_at_2)
        s.execute(delete(AuditCheckpoint))
    archive_journal(child_settings.var_dir)
    with db.session() as s:
        assert audit.make_checkpoint(s, node_signer(child_settings.var_dir, "sm")) is not None
    with db.session() as s:
        assert checkpoints.verify_node(s, child_settings, ask_parent=False).intact  # every local check passes
        report = checkpoints.verify_node(s, child_settings, client=client)
    assert {b.code for b in report.breaks} == {"AUDIT_CHECKPOINT_REPLACED", "AUDIT_WITNESS_MISMATCH"}
    assert all(f"上级节点 {PROVINCE}" in b.message for b in report.breaks) and report.first_broken == 4

    # Without a parent (a national node), or with one that cannot be reached, the local checks stand alone.
    with db.session() as s:
        national = checkpoints.verify_node(s, replace(child_settings, parent_url=""))
        away = checkpoints.verify_node(s, replace(child_settings, parent_url="http://127.0.0.1:9"))
    assert national.intact and any("没有上级节点" in n for n in national.notes)
    assert away.intact and any("无法连接上级节点" in n for n in away.notes)


def test_the_parents_endpoint_answers_only_its_signed_child(db: Database, parent_db: Database,
                                                             tmp_path: Path) -> None:
    from xinyidai.app import create_app

    city, stranger = get_suite("intl").generate_identity(), get_suite("intl").generate_identity()
    _link(db, parent_db, city, get_suite("sm").generate_identity())
    client = TestClient(create_app(_settings(tmp_path / "province-var", parent_db, node_code=PROVINCE), parent_db))
    url = "/api/v1/network/checkpoints"
    headers = checkpoints.signed_headers(NodeContext(CITY, "municipal", city), 0)
    r = client.get(url, params={"after": 0}, headers=headers)
    assert r.status_code == 200 and r.json() == {"holder": PROVINCE, "node": CITY, "heads": [], "more": False}
    assert client.get(url, params={"after": 0}, headers=headers).json()["error"] == "REQUEST_REPLAYED"
    forged = checkpoints.signed_headers(NodeContext(CITY, "municipal", stranger), 0)
    assert client.get(url, params={"after": 0}, headers=forged).json()["error"] == "SIGNATURE_INVALID"
    moved = checkpoints.signed_headers(NodeContext(CITY, "municipal", city), 0)
    assert client.get(url, params={"after": 5}, headers=moved).json()["error"] == "SIGNATURE_INVALID"
    assert client.get(url).json()["error"] == "UNKNOWN_PEER"
