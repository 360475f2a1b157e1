"""The audit chain: concurrent writers chain in order; what someone who can write the database does to it —
rewrite it and delete the checkpoints, re-sign them with a key of their own, delete the newest entries and
move the head back, delete a checkpoint from the middle — is found against the keys and the journal in the
node's var directory, while a checkpoint by an older key of the node still verifies; and databases migrated
from older schemas keep their entries and checkpoints verifiable."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from tests.conftest import FIXED_NOW
from tests.unit.audit_tampering import mallory_at_2, rewrite_chain
from xinyidai.kit import audit, migrate
from xinyidai.kit.audit import AuditCheckpoint, AuditEvent, AuditHead, SignedHead, Signer, _digest
from xinyidai.kit.crypto.suite import Identity, get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.node_key import (
    anchors_for,
    archive_journal,
    publish_key,
    published_keys,
    read_journal,
    signer_for,
)


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


def _write(db: Database, n: int, actor: str = "alice") -> None:
    with db.session() as s:
        for i in range(n):
            audit.record(s, actor, "test.write", f"t:{i}")


def _checkpoint(db: Database, signer: Signer) -> AuditCheckpoint:
    with db.session() as s:
        cp = audit.make_checkpoint(s, signer)
        assert cp is not None
        return cp


def _published(var: Path, suite: str = "sm") -> tuple[Identity, Signer]:
    """A key of this node, published in its var directory, and a signer that keeps no journal (so that a test
    sees what the keys alone catch)."""
    identity = get_suite(suite).generate_identity()
    publish_key(var, identity)
    return identity, signer_for(identity)


def _codes(report: audit.ChainReport) -> set[str]:
    return {b.code for b in report.breaks}


def test_checkpoints_are_signed_and_catch_a_rewritten_chain(db: Database, tmp_path: Path) -> None:
    var = tmp_path / "var"
    _, signer = _published(var)
    _write(db, 5)
    with db.session() as s:
        cp = audit.make_checkpoint(s, signer)
        assert cp is not None and (cp.seq, cp.prev_event_id, cp.events) == (1, 0, 5)
        assert audit.make_checkpoint(s, signer) is None  # nothing new since
    with db.session() as s:
        report = audit.verify_chain(s, anchors_for(var))
        assert report.intact and report.checkpoints == 1 and report.breaks == []
    # Rewrite history and recompute every digest: each entry checks, but the signed head no longer matches.
    with db.session() as s:
        rewrite_chain(s, mallory_at_2)
    with db.session() as s:
        report = audit.verify_chain(s, anchors_for(var))
        assert _codes(report) == {"AUDIT_CHECKPOINT_MISMATCH"} and report.first_broken == 5
        assert "第 1 个检查点" in report.reason and report.breaks[0].advice
    # A checkpoint altered to the rewritten head fails its signature.
    with db.session() as s:
        cp = s.execute(select(AuditCheckpoint)).scalar_one()
        cp.head_digest = s.execute(select(AuditHead.digest)).scalar_one()
    with db.session() as s:
        assert _codes(audit.verify_chain(s, anchors_for(var))) == {"AUDIT_CHECKPOINT_BAD_SIGNATURE"}


def test_a_chain_rewritten_with_its_checkpoints_deleted_is_found(db: Database, tmp_path: Path) -> None:
    var = tmp_path / "var"
    signer = signer_for(get_suite("sm").generate_identity(), var)  # as the node's: journals what it signs
    _write(db, 5)
    _checkpoint(db, signer)
    _write(db, 3)
    _checkpoint(db, signer)
    with db.session() as s:
        assert audit.verify_chain(s, anchors_for(var)).intact
        rewrite_chain(s, mallory_at_2)
        s.execute(delete(AuditCheckpoint))
    with db.session() as s:
        assert audit.verify_chain(s).intact  # the database alone now tells a consistent story
        report = audit.verify_chain(s, anchors_for(var))
    assert _codes(report) == {"AUDIT_CHECKPOINT_MISSING", "AUDIT_WITNESS_MISMATCH"}
    assert report.first_broken == 5 and len(report.breaks) == 4
    assert any("检查点被删除" in b.message and "checkpoints.jsonl" in b.message for b in report.breaks)


def test_checkpoints_re_signed_with_a_key_planted_in_the_database_are_refused(db: Database, tmp_path: Path) -> None:
    var = tmp_path / "var"
    _, signer = _published(var)
    _write(db, 4)
    _checkpoint(db, signer)
    mallory = get_suite("sm").generate_identity()
    with db.session() as s:
        rewrite_chain(s, mallory_at_2)
        cp = s.execute(select(AuditCheckpoint)).scalar_one()
        cp.head_digest = s.execute(select(AuditHead.digest)).scalar_one()
        cp.key_id, cp.public_key = mallory.key_id, mallory.public_bundle()
        cp.signature = get_suite("sm").sign(mallory, SignedHead.of(cp).message()).hex()
    with db.session() as s:
        assert audit.verify_chain(s).intact  # valid by the key stored beside it, which is what used to count
        report = audit.verify_chain(s, anchors_for(var))
    assert _codes(report) == {"AUDIT_CHECKPOINT_FOREIGN_KEY"} and mallory.key_id in report.reason


@pytest.mark.parametrize("suite", ["sm", "intl"])
def test_an_older_key_of_this_node_still_verifies(db: Database, tmp_path: Path, suite: str) -> None:
    var = tmp_path / "var"
    old, new = get_suite(suite).generate_identity(), get_suite(suite).generate_identity()
    _write(db, 3)
    _checkpoint(db, signer_for(old, var))
    _write(db, 2)
    _checkpoint(db, signer_for(new, var))  # the key was replaced: the new one is published beside the old
    assert set(published_keys(var)) == {old.key_id, new.key_id}
    with db.session() as s:
        report = audit.verify_chain(s, anchors_for(var))
        assert report.intact and report.checkpoints == 2, report.breaks
    planted = get_suite(suite).generate_identity()  # signs, but was never published by this node
    _write(db, 1)
    _checkpoint(db, signer_for(planted))
    with db.session() as s:
        report = audit.verify_chain(s, anchors_for(var))
    assert _codes(report) == {"AUDIT_CHECKPOINT_FOREIGN_KEY"} and "第 3 个检查点" in report.reason


def test_deleting_the_newest_entries_is_found(db: Database, tmp_path: Path) -> None:
    var = tmp_path / "var"
    _, signer = _published(var)
    _write(db, 5)
    _checkpoint(db, signer)
    _write(db, 3)  # the tail, not signed yet
    with db.session() as s:
        report = audit.verify_chain(s, anchors_for(var))
        assert report.intact and any("3 条记录尚未签名" in n for n in report.notes)
        s.execute(delete(AuditEvent).where(AuditEvent.id > 6))
    with db.session() as s:
        report = audit.verify_chain(s, anchors_for(var))
    assert _codes(report) == {"AUDIT_HEAD_MISMATCH"} and "最新的记录被删除" in report.reason
    assert report.first_broken == 8


def test_a_head_rewritten_to_match_is_found(db: Database, tmp_path: Path) -> None:
    var = tmp_path / "var"
    signer = signer_for(get_suite("sm").generate_identity(), var)
    _write(db, 5)
    _checkpoint(db, signer)
    _write(db, 3)
    _checkpoint(db, signer)
    with db.session() as s:  # the head alone rewritten
        s.execute(update(AuditHead).values(digest="f" * 64))
    with db.session() as s:
        assert _codes(audit.verify_chain(s)) == {"AUDIT_HEAD_MISMATCH"}
    # The newest entries deleted, their checkpoint with them, and the head moved back to match: the database
    # is consistent again; the journal in the key directory is not fooled.
    with db.session() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.id > 6))
        s.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq == 2))
        rewrite_chain(s)
    with db.session() as s:
        assert audit.verify_chain(s).intact
        report = audit.verify_chain(s, anchors_for(var))
    assert _codes(report) == {"AUDIT_CHECKPOINT_MISSING", "AUDIT_WITNESS_MISMATCH"}
    assert report.first_broken == 8


def test_a_checkpoint_deleted_from_the_middle_is_found(db: Database, tmp_path: Path) -> None:
    var = tmp_path / "var"
    _, signer = _published(var)
    for _ in range(3):
        _write(db, 2)
        _checkpoint(db, signer)
    with db.session() as s:
        s.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq == 2))
    with db.session() as s:
        report = audit.verify_chain(s, anchors_for(var))
        assert _codes(report) == {"AUDIT_CHECKPOINT_MISSING"} and "缺少第 2 个检查点" in report.reason
        s.execute(update(AuditCheckpoint).where(AuditCheckpoint.seq == 3).values(seq=2))  # and renumbered
    with db.session() as s:
        assert _codes(audit.verify_chain(s)) == {"AUDIT_CHECKPOINT_MISSING"}
        report = audit.verify_chain(s, anchors_for(var))
    assert _codes(report) == {"AUDIT_CHECKPOINT_MISSING", "AUDIT_CHECKPOINT_BAD_SIGNATURE"}
    assert "重新编号" in report.reason


def test_truncated_chain_is_found(db: Database, tmp_path: Path) -> None:
    var = tmp_path / "var"
    _, signer = _published(var, "intl")
    _write(db, 3, "bob")
    _checkpoint(db, signer)
    with db.session() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.id == 3))
    with db.session() as s:
        report = audit.verify_chain(s, anchors_for(var))
    assert _codes(report) == {"AUDIT_CHECKPOINT_TRUNCATED", "AUDIT_HEAD_MISMATCH"}
    assert any("截断" in b.message for b in report.breaks)


def test_the_journal_keeps_only_committed_checkpoints(db: Database, tmp_path: Path) -> None:
    var = tmp_path / "var"
    signer = signer_for(get_suite("sm").generate_identity(), var)
    _write(db, 2)
    s = db.sessions()
    try:
        assert audit.make_checkpoint(s, signer) is not None
        s.rollback()
        assert read_journal(var) == ([], [])
        cp = audit.make_checkpoint(s, signer)
        assert cp is not None and cp.seq == 1
        s.commit()
    finally:
        s.close()
    heads, problems = read_journal(var)
    assert [h.seq for h in heads] == [1] and heads[0].same_head(SignedHead.of(cp)) and problems == []
    assert archive_journal(var) is not None and read_journal(var) == ([], [])  # a chain started afresh


def test_checkpoints_made_before_numbering_still_verify(tmp_path: Path) -> None:
    var = tmp_path / "var"
    identity, _ = _published(var)
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(db.engine, "0005")
    insert_legacy = text("INSERT INTO audit_checkpoints (last_event_id, head_digest, events, signed_at, suite, "
                         "key_id, public_key, signature) VALUES (:e, :d, :n, :at, 'sm', :k, :pk, :sig)")
    for round_ in range(2):  # checkpoints as the code before 0006 made them: the head only is signed
        _write(db, 2)
        with db.session() as s:
            e, d, n = s.execute(select(AuditHead.last_id, AuditHead.digest, AuditHead.count)).one()
            at = FIXED_NOW + timedelta(minutes=round_)
            sig = get_suite("sm").sign(identity, audit.checkpoint_message(e, d, n, at)).hex()
            s.execute(insert_legacy, {"e": e, "d": d, "n": n, "at": at, "k": identity.key_id,
                                      "pk": json.dumps(identity.public_bundle()), "sig": sig})
    migrate.upgrade(db.engine)
    with db.session() as s:
        report = audit.verify_chain(s, anchors_for(var))
        assert report.intact and report.checkpoints == 2, report.breaks
        assert s.execute(select(AuditCheckpoint.seq, AuditCheckpoint.prev_event_id)
                         .order_by(AuditCheckpoint.id)).all() == [(1, None), (2, None)]
    _write(db, 1)
    cp = _checkpoint(db, signer_for(identity))
    assert (cp.seq, cp.prev_event_id) == (3, 4)
    with db.session() as s:
        assert audit.verify_chain(s, anchors_for(var)).intact
        s.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq == 2))
    with db.session() as s:
        assert _codes(audit.verify_chain(s, anchors_for(var))) == {"AUDIT_CHECKPOINT_MISSING"}
    db.dispose()


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


def test_entries_made_under_a_clock_given_in_beijing_time_verify(db: Database, tmp_path: Path) -> None:
    """The demo makes a year of history with the clock moved to Beijing-time moments: the chain's digests
    cover the moment as stored (UTC), so they verify whatever zone the clock was given in."""
    from datetime import datetime

    from xinyidai.kit import clock

    with clock.frozen_at(datetime(2026, 3, 1, 9, 30, tzinfo=clock.CHINA_TZ)):
        _write(db, 3, "bob")
        assert clock.now().utcoffset() == timedelta(0)
    with db.session() as s:
        assert audit.verify_chain(s, anchors_for(tmp_path / "var")).intact
