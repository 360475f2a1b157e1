"""Loading in many small batches gives what one whole-file merge gives, above all when a record repeats in
the file across batches: repeats are reported, nothing is stored twice, and a delivery over the threshold
leaves the store as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.records.helpers import (
    REG_HEADER,
    TAX_HEADER,
    codes,
    registration_rows,
    snapshot,
    tax_rows,
    write_csv,
)
from xinyidai.records import checking
from xinyidai.records.loading import ingest_file


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
