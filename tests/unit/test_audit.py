"""The audit chain: concurrent writers chain in order, signed checkpoints catch a rewritten chain, and a
database migrated from the first schema keeps its older entries verifiable."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select, text

from xinyidai.kit import audit, migrate
from xinyidai.kit.audit import AuditCheckpoint, AuditEvent, _digest
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.node_key import signer_for, verify_signature


def test_concurrent_writers_never_fork_the_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with db.session() as s:
                    s.execute(select(AuditEvent.id).limit(1)).all()  # a read first, as requests do
                    audit.record(s, f"w{n}", "test.write", f"t:{n}:{i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with db.session() as s:
        report = audit.verify_chain(s)
        assert report.intact and report.entries == 60
        prevs = s.execute(select(AuditEvent.prev_digest)).scalars().all()
        assert len(set(prevs)) == 60  # no two entries chained onto the same predecessor


def test_checkpoints_are_signed_and_catch_a_rewritten_chain(db: Database) -> None:
    signer = signer_for(get_suite("sm").generate_identity())
    with db.session() as s:
        for i in range(5):
            audit.record(s, "alice", "test.write", f"t:{i}")
        cp = audit.make_checkpoint(s, signer)
        assert cp is not None and cp.events == 5
        assert audit.make_checkpoint(s, signer) is None  # nothing new since
    with db.session() as s:
        assert audit.verify_chain(s, verify_signature, {signer.key_id}).intact
        assert not audit.verify_chain(s, verify_signature, {"someone-else"}).intact
    # Rewrite history and recompute every digest: each entry checks, but the signed head no longer matches.
    with db.session() as s:
        prev = audit.GENESIS
        for ev in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
            if ev.id == 2:
                ev.actor = "mallory"
            ev.prev_digest = prev
            ev.digest = _digest(prev, ev.at.isoformat(), ev.actor, ev.action, ev.target, ev.detail)
            prev = ev.digest
    with db.session() as s:
        report = audit.verify_chain(s, verify_signature)
        assert not report.intact and "检查点" in report.reason
    # A forged checkpoint over the rewritten head fails its signature.
    with db.session() as s:
        cp = s.execute(select(AuditCheckpoint)).scalar_one()
        cp.head_digest = prev
        report = audit.verify_chain(s, verify_signature)
        assert not report.intact and "签名无效" in report.reason


def test_truncated_chain_is_found(db: Database) -> None:
    signer = signer_for(get_suite("intl").generate_identity())
    with db.session() as s:
        for i in range(3):
            audit.record(s, "bob", "test.write", f"t:{i}")
        audit.make_checkpoint(s, signer)
    with db.session() as s:
        last = s.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
        s.delete(last)
    with db.session() as s:
        report = audit.verify_chain(s, verify_signature)
        assert not report.intact and "截断" in report.reason


def test_upgrade_from_first_schema_keeps_old_entries_linked(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(db.engine, "0001")
    # Entries written by the first schema's code (no access columns, no head table).
    prev = audit.GENESIS
    with db.engine.begin() as conn:
        for i in range(3):
            at = f"2026-11-01T00:00:0{i}+00:00"
            d = _digest(prev, at, "old", "old.write", f"t:{i}", {})
            conn.execute(text("INSERT INTO audit_events (at, actor, action, target, detail, prev_digest, digest) "
                              "VALUES (:at, 'old', 'old.write', :t, '{}', :p, :d)"),
                         {"at": at.replace("T", " ").replace("+00:00", ""), "t": f"t:{i}", "p": prev, "d": d})
            prev = d
    migrate.upgrade(db.engine)
    with db.session() as s:
        audit.record(s, "new", "new.write", "t:new", entity_code="91230100XY00000121")
    with db.session() as s:
        report = audit.verify_chain(s)
        assert report.intact and report.entries == 4, report
    db.dispose()
