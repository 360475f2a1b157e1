"""Loading in many small batches gives what one whole-file merge gives, above all when a record repeats in
the file across batches: repeats are reported, nothing is stored twice, and a delivery over the threshold
leaves the store as it was."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.records.helpers import (
    REG_HEADER,
    TAX_HEADER,
    codes,
    count,
    registration_rows,
    snapshot,
    tax_rows,
    write_csv,
)
from xinyidai.records import checking
from xinyidai.records.loading import ingest_file
from xinyidai.records.models import CreditRecord


def load(db, catalog, path: Path, category: str):  # noqa: ANN001, ANN201
    return ingest_file(db, catalog, path, provider="测试部门", category=category, submitted_by="tester")


@pytest.fixture
def registered(db, catalog, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    ents = codes(20)
    d, out = load(db, catalog, write_csv(tmp_path / "reg.csv", REG_HEADER, registration_rows(ents)), "registration")
    assert d.status == "accepted", out.issues
    monkeypatch.setattr(checking, "BATCH_ROWS", 3)  # a batch of a few rows: repeats fall in other batches
    return ents


def repeat_of(row: list[object], grade: str = "C") -> list[object]:
    return [*row[:3], grade, *row[4:]]


def test_a_new_record_repeated_in_a_later_batch(db, catalog, registered, tmp_path) -> None:
    rows = tax_rows(registered, ["2026-10"])
    d, out = load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, rows + [repeat_of(rows[0])]), "tax")
    assert (d.status, d.rows_new, d.rows_rejected) == ("partial", 20, 1)
    assert [(i.code, i.row_no) for i in out.issues] == [("DUPLICATE_IN_FILE", 22)]
    assert "第 2 行" in out.issues[0].message


def test_a_changed_record_repeated_in_a_later_batch(db, catalog, registered, tmp_path) -> None:
    rows = tax_rows(registered, ["2026-10"])
    load(db, catalog, write_csv(tmp_path / "a.csv", TAX_HEADER, rows), "tax")
    changed = tax_rows(registered, ["2026-10"], grade="B")
    d, out = load(db, catalog, write_csv(tmp_path / "b.csv", TAX_HEADER, changed + [repeat_of(rows[1])]), "tax")
    assert (d.status, d.rows_changed, d.rows_rejected) == ("partial", 20, 1)
    assert [(i.code, i.row_no) for i in out.issues] == [("DUPLICATE_IN_FILE", 22)]
    assert "第 3 行" in out.issues[0].message


def test_an_unchanged_record_repeated_in_a_later_batch(db, catalog, registered, tmp_path) -> None:
    rows = tax_rows(registered, ["2026-10"])
    load(db, catalog, write_csv(tmp_path / "a.csv", TAX_HEADER, rows), "tax")
    before = snapshot(db)
    d, out = load(db, catalog, write_csv(tmp_path / "b.csv", TAX_HEADER, rows + [repeat_of(rows[2])]), "tax")
    assert (d.status, d.rows_unchanged, d.rows_changed, d.rows_rejected) == ("partial", 20, 0, 1)
    assert [(i.code, i.row_no) for i in out.issues] == [("DUPLICATE_IN_FILE", 22)]
    assert snapshot(db) == before


def test_an_unknown_entity_repeated_in_a_later_batch(db, catalog, registered, tmp_path) -> None:
    stranger = tax_rows(codes(1, start=900), ["2026-10"])[0]
    rows = [stranger] + tax_rows(registered, ["2026-10"]) + [repeat_of(stranger)]
    d, out = load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, rows), "tax")
    assert (d.status, d.rows_new, d.rows_rejected) == ("partial", 20, 2)
    assert [(i.code, i.row_no) for i in out.issues] == [("ENTITY_UNKNOWN", 2), ("DUPLICATE_IN_FILE", 23)]


@pytest.mark.parametrize("batch_rows", [3, 1000])
def test_records_not_stored_repeated_in_one_batch_or_two(db, catalog, registered, tmp_path, monkeypatch,
                                                        batch_rows) -> None:
    monkeypatch.setattr(checking, "BATCH_ROWS", batch_rows)
    rows = tax_rows(registered, ["2026-10"])
    load(db, catalog, write_csv(tmp_path / "a.csv", TAX_HEADER, rows), "tax")
    stranger = tax_rows(codes(1, start=900), ["2026-10"])[0]
    again = [stranger, *rows, repeat_of(rows[3]), repeat_of(stranger)]
    d, out = load(db, catalog, write_csv(tmp_path / "b.csv", TAX_HEADER, again), "tax")
    assert (d.status, d.rows_unchanged, d.rows_changed, d.rows_rejected) == ("partial", 20, 0, 3)
    assert [(i.code, i.row_no) for i in out.issues] == [("ENTITY_UNKNOWN", 2), ("DUPLICATE_IN_FILE", 23),
                                                        ("DUPLICATE_IN_FILE", 24)]


def test_a_delivery_over_the_threshold_leaves_the_store_as_it_was(db, catalog, registered, tmp_path) -> None:
    rows = tax_rows(registered, ["2026-10"])
    strangers = tax_rows(codes(10, start=900), ["2026-10"])
    before = snapshot(db)
    d, out = load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, rows + strangers), "tax")
    assert (d.status, d.error_code, d.rows_rejected) == ("rejected", "THRESHOLD_EXCEEDED", 10)
    assert snapshot(db) == before


# New records are stored straight into credit_records (see loading._Direct and _Stage.store_files) by
# PostgreSQL, batch by batch until one cannot be, and by SQLite from its checking workers' files, all or
# nothing. The outcome must be what staging every row gives.

@pytest.fixture(params=[False, True], ids=["in-process", "workers"])
def workers(request, monkeypatch) -> bool:  # noqa: ANN001
    if request.param:
        monkeypatch.setattr(checking, "WORKER_MIN_BYTES", 0)
    return request.param


@pytest.fixture
def steps() -> Iterator[list[str]]:
    from xinyidai.records import loading

    seen: list[str] = []
    loading.fault_hook = seen.append
    yield seen
    loading.fault_hook = None


def stores_directly(db, workers: bool) -> bool:  # noqa: ANN001
    return db.engine.dialect.name == "postgresql" or workers


def test_new_records_load_directly(db, catalog, registered, tmp_path, workers, steps) -> None:
    rows = tax_rows(registered, ["2026-10"]) + tax_rows(registered, ["2026-09"])
    d, out = load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, rows), "tax")
    assert (d.status, d.rows_new, d.rows_rejected) == ("accepted", 40, 0), out.issues
    assert (str(d.period_start), str(d.period_end)) == ("2026-09-01", "2026-10-31")
    assert ("stored" in steps) == stores_directly(db, workers)
    assert "inserted" not in steps or not stores_directly(db, workers)
    mine = f"FROM credit_records WHERE delivery_id = {d.id}"
    assert count(db, f"SELECT count(DISTINCT received_at) {mine}") == 1  # noqa: S608 - our own values
    assert count(db, f"SELECT count(*) {mine} AND provider = '测试部门' AND version = 1 "  # noqa: S608
                     f"AND status = 'current' AND row_no IS NOT NULL") == 40


def test_new_records_then_a_changed_one_load_as_a_whole(db, catalog, registered, tmp_path, workers) -> None:
    load(db, catalog, write_csv(tmp_path / "a.csv", TAX_HEADER, tax_rows(registered[:2], ["2026-08"])), "tax")
    rows = tax_rows(registered, ["2026-10"]) + tax_rows(registered[:2], ["2026-08"], grade="C") \
        + tax_rows(registered, ["2026-09"])
    d, out = load(db, catalog, write_csv(tmp_path / "b.csv", TAX_HEADER, rows), "tax")
    assert (d.status, d.rows_new, d.rows_changed, d.rows_rejected) == ("accepted", 40, 2, 0), out.issues
    assert (str(d.period_start), str(d.period_end)) == ("2026-08-01", "2026-10-31")
    # one moment, provider and delivery for every version it stored, and the corrected ones at version 2
    mine = f"FROM credit_records WHERE delivery_id = {d.id}"
    assert count(db, f"SELECT count(DISTINCT received_at) {mine}") == 1  # noqa: S608 - our own values
    assert count(db, f"SELECT count(*) {mine} AND provider = '测试部门' AND status = 'current'") == 42  # noqa: S608
    assert count(db, "SELECT count(*) FROM credit_records WHERE record_key = '2026-08' AND version = 2 "
                     "AND status = 'current'") == 2


def test_an_unknown_entity_after_new_records(db, catalog, registered, tmp_path, workers) -> None:
    stranger = tax_rows(codes(1, start=900), ["2026-10"])[0]
    rows = tax_rows(registered, ["2026-10"]) + [stranger] + tax_rows(registered, ["2026-09"])
    d, out = load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, rows), "tax")
    assert (d.status, d.rows_new, d.rows_rejected) == ("partial", 40, 1)
    assert [(i.code, i.row_no) for i in out.issues] == [("ENTITY_UNKNOWN", 22)]
    assert count(db, f"SELECT count(*) FROM credit_records WHERE entity_code = '{stranger[0]}'") == 0  # noqa: S608


def test_a_repeat_in_a_file_of_new_records(db, catalog, registered, tmp_path, workers) -> None:
    rows = tax_rows(registered, ["2026-10"]) + tax_rows(registered, ["2026-09"])
    d, out = load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, rows + [repeat_of(rows[25])]), "tax")
    assert (d.status, d.rows_new, d.rows_rejected) == ("partial", 40, 1)
    assert [(i.code, i.row_no) for i in out.issues] == [("DUPLICATE_IN_FILE", 42)]
    assert "第 27 行" in out.issues[0].message


def test_a_first_load_that_fails_after_storing_directly_leaves_the_store_as_it_was(db, catalog, registered,
                                                                                  tmp_path, workers) -> None:
    from xinyidai.records import loading

    before = snapshot(db)
    seen: list[str] = []

    def boom(at: str) -> None:
        seen.append(at)
        if seen.count("stored") == 2 or at == "inserted":  # stored directly twice, or else staged and inserted
            raise RuntimeError(f"simulated crash at {at}")

    loading.fault_hook = boom
    try:
        with pytest.raises(RuntimeError):
            load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, tax_rows(registered, ["2026-10"])), "tax")
    finally:
        loading.fault_hook = None
    assert ("stored" in seen) == stores_directly(db, workers)
    assert snapshot(db) == before
    # and the same file loads afterwards
    d, _ = load(db, catalog, tmp_path / "t.csv", "tax")
    assert (d.status, d.rows_new) == ("accepted", 20)


def test_a_delivery_finishes_after_the_moment_its_records_are_received(db, catalog, registered, tmp_path, workers,
                                                                       fixed_clock) -> None:  # noqa: ANN001
    from xinyidai.kit import clock

    ticks = itertools.count()
    clock.set_clock(lambda: fixed_clock + timedelta(seconds=next(ticks)))  # every reading a second later
    d, _ = load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, tax_rows(registered, ["2026-10"])), "tax")
    with db.session() as s:
        stamps = s.execute(select(CreditRecord.received_at).where(CreditRecord.delivery_id == d.id)).scalars().all()
    assert len(stamps) == 20 and len(set(stamps)) == 1
    assert d.received_at < stamps[0] < d.finished_at
