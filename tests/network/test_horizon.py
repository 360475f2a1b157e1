"""The relay's cursors never pass a record that another transaction has not committed yet (PostgreSQL),
and still pass the gaps that rolled-back transactions leave."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, insert, select

from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.crypto.suite import get_suite
from xinyidai.kit.db import Database
from xinyidai.network import relay
from xinyidai.network.horizon import HORIZON, contiguous
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
