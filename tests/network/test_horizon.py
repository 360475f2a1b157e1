"""The relay's cursors never pass a record that another transaction has not committed yet (PostgreSQL),
and still pass the gaps that rolled-back transactions leave; the withdrawal cursor never passes a
withdrawal still to be committed, nor leaves part of a group made at one moment behind it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.network import relay
from xinyidai.network.horizon import HORIZON, SETTLE, contiguous, settled_moment
from xinyidai.network.models import OutboxEnvelope, Peer, RelayCursor
from xinyidai.records.models import CreditRecord

ENTITY = make_uscc("230100", 4242)


def test_contiguous() -> None:
    assert contiguous(10, 15, 5) and contiguous(0, 1, 1)
    assert not contiguous(10, 16, 5)


@pytest.fixture
def province(db: Database) -> Iterator[relay.NodeContext]:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers on two connections: PostgreSQL only (runs in CI's PostgreSQL pass)")
    yield from _province(db)


@pytest.fixture
def any_province(db: Database) -> Iterator[relay.NodeContext]:
    yield from _province(db)


def _province(db: Database) -> Iterator[relay.NodeContext]:
    HORIZON.forget()  # samples of another test's database
    ident = get_suite("sm").generate_identity()
    with db.session() as s:
        s.add(Peer(code="CN", name="CN", role="national", relation="parent", suite="sm",
                   public_key=dict(ident.public_bundle()), key_id=ident.key_id, status="active", assessment={},
                   applied_at=clock.now(), mode="push"))
        s.add(MarketEntity(code=ENTITY, name="测试企业", kind="企业", region_code="230100", status="存续",
                           updated_at=clock.now()))
    yield relay.NodeContext("CN-230000", "provincial", ident)
    HORIZON.forget()


def record(key: str) -> dict[str, object]:
    return {"entity_code": ENTITY, "category": "tax", "record_key": key, "version": 1, "status": "current",
            "content": "{}", "fingerprint": key.ljust(64, "0"), "provider": "测试", "received_at": clock.now()}


def store(db: Database, key: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(insert(CreditRecord), [record(key)])


def collect(db: Database, ctx: relay.NodeContext) -> tuple[int, int]:
    """(records queued for the parent now, the upload cursor after)."""
    with db.session() as s:
        queued = relay.collect_uploads(s, ctx)
        s.commit()
        cursor = s.execute(select(RelayCursor.last_id).where(RelayCursor.peer == "CN",
                                                             RelayCursor.direction == "up")).scalar_one()
    return queued, cursor


def test_a_cursor_waits_for_a_record_still_being_written(db: Database, province: relay.NodeContext) -> None:
    store(db, "2026-01")
    assert collect(db, province)[0] == 1
    with db.engine.connect() as writer:  # a long transaction, as a delivery stored directly is
        writer.execute(insert(CreditRecord), [record("2026-02")])  # takes an id, not committed
        store(db, "2026-03")  # a higher id, committed first
        queued, cursor = collect(db, province)
        assert queued == 0  # 2026-03 waits: the cursor would pass 2026-02 for good
        with db.session() as s:
            first = s.execute(select(func.min(CreditRecord.id))).scalar_one()
        assert cursor == first
        writer.commit()
    assert collect(db, province)[0] == 2  # both, once the writer has committed
    with db.session() as s:
        assert s.execute(select(func.sum(OutboxEnvelope.items))).scalar_one() == 3


def test_a_cursor_passes_the_gap_a_rollback_leaves(db: Database, province: relay.NodeContext) -> None:
    store(db, "2026-01")
    assert collect(db, province)[0] == 1
    with db.engine.connect() as writer:
        writer.execute(insert(CreditRecord), [record("2026-02")])
        writer.rollback()  # its id is never used
    store(db, "2026-03")
    assert collect(db, province)[0] == 1


# ── withdrawals ──────────────────────────────────────────────────────────────────────────────────────────

def withdrawn(key: str, at: datetime) -> dict[str, object]:
    return {**record(key), "status": "withdrawn", "superseded_at": at, "note": "复议撤销"}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The record keys of every withdrawal put in an envelope (the envelopes are sealed for the peer)."""
    keys: list[str] = []
    real = relay.records_payload

    def spy(s, rows, here, *, withdrawn=False):  # noqa: ANN001, ANN202
        keys.extend(r[3] for r in rows)
        return real(s, rows, here, withdrawn=withdrawn)

    monkeypatch.setattr(relay, "records_payload", spy)
    return keys


def collect_withdrawals(db: Database, ctx: relay.NodeContext, sent: list[str]) -> list[str]:
    """The record keys of the withdrawals queued for the parent by one collection."""
    before = len(sent)
    with db.session() as s:
        relay._collect_withdrawals(s, ctx, s.get(Peer, "CN"), "up", [])  # type: ignore[arg-type]
    return sent[before:]


def test_a_group_of_one_moment_is_never_cut_by_a_batch(db: Database, any_province: relay.NodeContext,
                                                        sent: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "BATCH", 3)
    at = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
    rows = [withdrawn("a1", at), withdrawn("a2", at + timedelta(seconds=1))]
    rows += [withdrawn(f"b{i}", at + timedelta(seconds=2)) for i in range(3)]  # one relayed envelope's
    rows += [withdrawn("c1", at + timedelta(seconds=3))]
    with db.engine.begin() as conn:
        conn.execute(insert(CreditRecord), rows)
    # a1, a2 and the first b would fill a batch: the b's wait for the next, which takes all three.
    assert collect_withdrawals(db, any_province, sent) == ["a1", "a2"]
    assert sorted(collect_withdrawals(db, any_province, sent)) == ["b0", "b1", "b2"]
    assert collect_withdrawals(db, any_province, sent) == ["c1"]
    assert collect_withdrawals(db, any_province, sent) == []  # and nothing is sent twice


def test_a_withdrawal_waits_for_the_settled_moment(db: Database, any_province: relay.NodeContext,
                                                    sent: list[str]) -> None:
    with db.session() as s:
        settled = settled_moment(s)
    with db.engine.begin() as conn:
        conn.execute(insert(CreditRecord), [withdrawn("old", settled - timedelta(seconds=10)),
                                            withdrawn("new", settled + timedelta(seconds=60))])
    assert collect_withdrawals(db, any_province, sent) == ["old"]
    with db.engine.begin() as conn:  # the moment passes
        conn.execute(update(CreditRecord).where(CreditRecord.record_key == "new")
                     .values(superseded_at=settled - timedelta(seconds=5)))
    assert collect_withdrawals(db, any_province, sent) == ["new"]


PAST_SETTLE = SETTLE["postgresql"].total_seconds() + 0.2  # long enough for a moment to be settled


def test_a_withdrawal_still_being_committed_holds_the_cursor(db: Database, province: relay.NodeContext,
                                                              sent: list[str]) -> None:
    store(db, "slow")
    store(db, "fast")
    with db.engine.connect() as writer:  # takes its time before the other's, commits after it
        writer.execute(update(CreditRecord).where(CreditRecord.record_key == "slow").values(
            status="withdrawn", superseded_at=datetime.now(UTC)))
        time.sleep(0.01)
        with db.engine.begin() as other:
            other.execute(update(CreditRecord).where(CreditRecord.record_key == "fast").values(
                status="withdrawn", superseded_at=datetime.now(UTC)))
        time.sleep(PAST_SETTLE)
        assert collect_withdrawals(db, province, sent) == []  # "fast" would move the cursor past "slow"
        writer.commit()
    time.sleep(PAST_SETTLE)
    assert collect_withdrawals(db, province, sent) == ["slow", "fast"]
