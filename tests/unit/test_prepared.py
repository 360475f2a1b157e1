"""Prepared statements give exactly what SQLAlchemy's own execution gives, on both engines: the same rows
and types (dates, aware timestamps, JSON), expanding IN lists of any length, DML with RETURNING in the
session's transaction, and SQLAlchemy's exceptions for driver errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import bindparam, exc, insert, select, update

from xinyidai.entities.models import MarketEntity
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.prepared import Prepared
from xinyidai.records.models import CreditRecord

AT = datetime(2026, 11, 15, 2, 0, 0, 123456, tzinfo=UTC)
B = bindparam

_RECORDS = (select(CreditRecord.id, CreditRecord.category, CreditRecord.period_start, CreditRecord.period_end,
                   CreditRecord.received_at, CreditRecord.superseded_at, CreditRecord.content)
            .where(CreditRecord.entity_code == B("entity"), CreditRecord.status == "current",
                   CreditRecord.category.in_(B("cats", expanding=True)), CreditRecord.id.in_(B("ids", expanding=True)),
                   CreditRecord.received_at <= B("now"))
            .order_by(CreditRecord.category, CreditRecord.id))
_EVENTS = select(AuditEvent.id, AuditEvent.at, AuditEvent.detail, AuditEvent.request_id).where(
    AuditEvent.action == B("action")).order_by(AuditEvent.id)
_INSERT = insert(AuditEvent).values({k: B(k) for k in ("at", "actor", "action", "target", "detail", "prev_digest",
                                                          "digest", "request_id")}).returning(AuditEvent.id)
_RENAME = (update(AuditEvent).where(AuditEvent.action == B("old")).values(action=B("new"))
           .returning(AuditEvent.id, AuditEvent.action))


def _records(s) -> list[int]:  # noqa: ANN001
    ids = []
    for i, (cat, start) in enumerate([("tax", date(2026, 9, 1)), ("tax", date(2026, 10, 1)),
                                      ("electricity", date(2026, 10, 1)), ("water", None)]):
        ids.append(s.execute(insert(CreditRecord).values(
            entity_code="91230100MA1ABCDE0X", category=cat, record_key=f"k{i}", version=1, status="current",
            content='{"a":1}', fingerprint="0" * 64, period_start=start,
            period_end=start + timedelta(days=29) if start else None, provider="p", received_at=AT,
            superseded_at=AT + timedelta(hours=i) if i % 2 else None).returning(CreditRecord.id)).scalar_one())
    return ids


def test_rows_and_types_match_sqlalchemy_for_every_list_length(db) -> None:  # noqa: ANN001
    p = Prepared(_RECORDS)
    with db.session() as s:
        ids = _records(s)
        for cats in (["tax"], ["tax", "electricity"], ["water", "tax", "electricity", "-"]):
            for some in (ids[:1], ids, [*ids, -1]):
                params = {"entity": "91230100MA1ABCDE0X", "cats": cats, "ids": some, "now": AT}
                want = s.connection().execute(_RECORDS, params).all()
                got = p.all(s, params)
                assert [tuple(r) for r in got] == [tuple(r) for r in want]
                assert [type(v) for r in got for v in r] == [type(v) for r in want for v in r]
        row = p.first(s, {"entity": "91230100MA1ABCDE0X", "cats": ["tax"], "ids": ids, "now": AT})
        assert row.period_start == date(2026, 9, 1) and row.received_at == AT and row[1] == "tax"
        # a bound timestamp compares as SQLAlchemy stores it (on SQLite, as text): a microsecond earlier finds none
        assert p.all(s, {"entity": "91230100MA1ABCDE0X", "cats": ["tax"], "ids": ids,
                         "now": AT - timedelta(microseconds=1)}) == []


def test_dml_returning_runs_in_the_sessions_transaction(db) -> None:  # noqa: ANN001
    ins, rename, events = Prepared(_INSERT), Prepared(_RENAME), Prepared(_EVENTS)
    values = {"at": AT, "actor": "u", "action": "a.one", "target": "t", "detail": {"k": ["值", 1]},
              "prev_digest": "0" * 64, "digest": "1" * 64, "request_id": None}
    with db.session() as s:
        first = ins.first(s, values)[0]
        ins.run(s, {**values, "request_id": "r-2"})
        got = events.all(s, {"action": "a.one"})
        assert [(r.id, r.at, r.detail, r.request_id) for r in got] == \
            [tuple(r) for r in s.connection().execute(_EVENTS, {"action": "a.one"})]
        assert got[0].id == first and got[0].detail == {"k": ["值", 1]} and got[1].request_id == "r-2"
    s = db.sessions()
    try:
        assert {r.action for r in rename.all(s, {"old": "a.one", "new": "a.two"})} == {"a.two"}
        s.rollback()  # what the prepared UPDATE did is undone with the session's transaction
        assert len(events.all(s, {"action": "a.one"})) == 2 and events.all(s, {"action": "a.two"}) == []
    finally:
        s.close()


def test_driver_errors_are_sqlalchemys_and_empty_lists_are_refused(db) -> None:  # noqa: ANN001
    ins = Prepared(insert(AuditEvent).values(id=B("id"), at=B("at"), actor="u", action="a", target="t",
                                             detail={}, prev_digest="0", digest="1"))
    with db.session() as s:
        ins.run(s, {"id": 7, "at": AT})
        with pytest.raises(exc.IntegrityError):
            ins.run(s, {"id": 7, "at": AT})
    with db.session() as s, pytest.raises(ValueError, match="empty list"):
        Prepared(_RECORDS).all(s, {"entity": "x", "cats": [], "ids": [1], "now": AT})


def test_numbers_and_dates_of_the_register_match_sqlalchemy(db) -> None:  # noqa: ANN001
    """A float column's processor depends on the type the driver reports (PostgreSQL): taken at first use."""
    stmt = select(*MarketEntity.__table__.c).where(MarketEntity.code == B("code"))
    with db.session() as s:
        s.execute(insert(MarketEntity).values(code="91230100MA1ABCDE0X", name="甲公司", kind="企业",
                                              region_code="230100", industry_code="C13", status="存续",
                                              registered_on=date(2020, 5, 6), registered_capital=123.45,
                                              updated_at=AT))
        got = Prepared(stmt).first(s, {"code": "91230100MA1ABCDE0X"})
        want = s.connection().execute(stmt, {"code": "91230100MA1ABCDE0X"}).first()
        assert tuple(got) == tuple(want) and [type(v) for v in got] == [type(v) for v in want]
        assert got.registered_capital == 123.45 and got.registered_on == date(2020, 5, 6)
