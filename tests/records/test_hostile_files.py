"""Hostile and damaged deliveries, end to end on a real database (security review, issue 23): they are refused
whole with the row where they broke and nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.records.helpers import (
    REG_HEADER,
    codes,
    count,
    registration_rows,
    snapshot,
    write_csv,
)
from xinyidai.records import checking
from xinyidai.records.loading import ingest_file


def load(db, catalog, path: Path, category: str, **kw):  # noqa: ANN001, ANN201
    return ingest_file(db, catalog, path, provider="测试部门", category=category, submitted_by="tester", **kw)


# ---- a file cut short is refused whole, on every reading path ------------------------------------------

def _registration_file(tmp_path: Path, quoted: bool = False) -> Path:
    rows = registration_rows(codes(136))
    if quoted:  # a comma in the first name: the file is quoted, so not "plain", and goes to the general reader
        rows[0][1] = "哈尔滨测试,有限公司"
    return write_csv(tmp_path / "登记.csv", REG_HEADER, rows)


@pytest.mark.parametrize("path_taken", ["vectorised", "vectorised in worker processes", "general reader"])
def test_csv_cut_mid_row_is_refused_whole(db, catalog, tmp_path, monkeypatch, path_taken) -> None:  # noqa: ANN001
    # The review's file: 136 rows, the last cut mid-row and no final line break. 135 rows were stored.
    if path_taken == "vectorised in worker processes":
        monkeypatch.setattr(checking, "WORKER_MIN_BYTES", 0)
    full = _registration_file(tmp_path, quoted=path_taken == "general reader").read_bytes()
    cut = tmp_path / "cut.csv"
    cut.write_bytes(full[: len(full) - 30])
    before = snapshot(db)
    d, out = load(db, catalog, cut, "registration")
    assert (d.status, d.error_code, d.rows_new) == ("rejected", "FILE_TRUNCATED", 0)
    assert d.message.startswith("第 137 行") and "截断" in d.message
    assert snapshot(db) == before


def test_csv_cut_in_a_quoted_field_or_a_character_is_refused_whole(db, catalog, tmp_path) -> None:  # noqa: ANN001
    full = _registration_file(tmp_path, quoted=True).read_bytes()
    last = full.rstrip(b"\n").rsplit(b"\n", 1)[1]
    opened = tmp_path / "quote.csv"  # the last row's name opens a quote that the cut never closes
    opened.write_bytes(full[: len(full) - len(last) - 1] + last.split(b",")[0] + b',"\xe5\x93\x88')
    mid_char = tmp_path / "char.csv"  # cut inside the UTF-8 bytes of 局
    mid_char.write_bytes(full[: full.rindex("局".encode()) + 2])
    for path in (opened, mid_char):
        d, _ = load(db, catalog, path, "registration")
        assert (d.status, d.error_code) == ("rejected", "FILE_TRUNCATED"), path.name
        assert d.message.startswith("第 137 行")
    assert count(db, "SELECT count(*) FROM entities") == 0


def test_jsonl_cut_mid_object_is_refused_whole(db, catalog, tmp_path) -> None:  # noqa: ANN001
    lines = [json.dumps(dict(zip(REG_HEADER, map(str, r), strict=True)), ensure_ascii=False)
             for r in registration_rows(codes(136))]
    path = tmp_path / "登记.jsonl"
    path.write_text("\n".join(lines)[:-20], encoding="utf-8")
    d, _ = load(db, catalog, path, "registration")
    assert (d.status, d.error_code) == ("rejected", "FILE_TRUNCATED")
    assert d.message.startswith("第 136 行") and "截断" in d.message
    assert count(db, "SELECT count(*) FROM entities") == 0


# ---- a NUL byte ------------------------------------------------------------------------------------------

def test_nul_byte_is_refused_with_its_row_and_column(db, catalog, tmp_path) -> None:  # noqa: ANN001
    data = _registration_file(tmp_path).read_bytes()
    at = data.index("哈尔滨测试99有限公司".encode())  # row 101, well past the first 8 KB
    (tmp_path / "nul.csv").write_bytes(data[:at] + b"\x00" + data[at:])
    d, _ = load(db, catalog, tmp_path / "nul.csv", "registration")
    assert (d.status, d.error_code) == ("rejected", "NUL_BYTE")
    assert d.message.startswith("第 101 行第 2 列（「主体名称」）")
    assert "UTF-16" not in d.message
    assert count(db, "SELECT count(*) FROM entities") == 0


# ---- formula injection in the name column ------------------------------------------------------------

@pytest.mark.parametrize("name,path_taken", [
    ("=1+2", "vectorised"), ("@SUM(A1:A9)", "vectorised"), ("-2+3", "vectorised"),
    ('=HYPERLINK("http://x.example/","点此查看")', "general reader"),  # quoted: not a plain file
])
def test_formula_in_the_name_column_is_refused(db, catalog, tmp_path, name, path_taken) -> None:  # noqa: ANN001
    ents = codes(10)
    rows = registration_rows(ents)
    rows[3][1] = name
    path = write_csv(tmp_path / "登记.csv", REG_HEADER, rows)
    assert (b'"' in path.read_bytes()) == (path_taken == "general reader")
    d, out = load(db, catalog, path, "registration", threshold=0.5)
    assert (d.status, d.rows_new, d.rows_rejected) == ("partial", 9, 1)
    assert [(i.row_no, i.field, i.code) for i in out.issues] == [(5, "主体名称", "FORMULA_INJECTION")]
    assert count(db, f"SELECT count(*) FROM entities WHERE code = '{ents[3]}'") == 0  # noqa: S608 - a test's code


def test_formula_in_the_name_column_of_json_lines_is_refused(db, catalog, tmp_path) -> None:  # noqa: ANN001
    rows = registration_rows(codes(4))
    rows[2][1] = "+cmd|' /C calc'!A0"
    path = tmp_path / "登记.jsonl"
    path.write_text("".join(json.dumps(dict(zip(REG_HEADER, map(str, r), strict=True)), ensure_ascii=False) + "\n"
                            for r in rows), encoding="utf-8")
    d, out = load(db, catalog, path, "registration", threshold=0.5)
    assert (d.status, d.rows_new) == ("partial", 3)
    assert [(i.row_no, i.field, i.code) for i in out.issues] == [(3, "主体名称", "FORMULA_INJECTION")]
