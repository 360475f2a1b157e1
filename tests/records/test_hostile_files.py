"""Hostile and damaged deliveries, end to end on a real database (security review, issue 23): they are refused
whole with the row where they broke and nothing stored; a loading job that dies marks its delivery failed and
says so in the log; a delivery left 'processing' is found while the server runs."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select, update

from tests.records.helpers import (
    REG_HEADER,
    TAX_HEADER,
    Repeated,
    codes,
    count,
    inline_row,
    registration_rows,
    sheet_xml,
    snapshot,
    write_csv,
    write_xlsx_parts,
)
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.records import checking, loading, runtime
from xinyidai.records.loading import StallWatch, ingest_file, register_delivery
from xinyidai.records.models import Delivery


def load(db, catalog, path: Path, category: str, **kw):  # noqa: ANN001, ANN201
    return ingest_file(db, catalog, path, provider="测试部门", category=category, submitted_by="tester", **kw)


def delivery(db, delivery_id: int) -> Delivery:  # noqa: ANN001
    with db.session() as s:
        return s.get(Delivery, delivery_id)


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


# ---- workbooks: the decompression bomb, and one cut or damaged ---------------------------------------

CELL = b'<c t="inlineStr"><is><t>x</t></is></c>'
SHEET_END = b"</sheetData></worksheet>"


def test_xlsx_bomb_is_refused_whole_in_seconds(db, catalog, tmp_path) -> None:  # noqa: ANN001
    # About 2 MB on disk; its second row holds twenty million cells (760 MB of XML).
    start = sheet_xml(inline_row(1, TAX_HEADER))[: -len(SHEET_END)]
    path = write_xlsx_parts(tmp_path / "纳税.xlsx",
                            Repeated(start + b'<row r="2">', CELL * 25_000, 800, b"</row>" + SHEET_END))
    before = snapshot(db)
    started = time.perf_counter()
    d, _ = load(db, catalog, path, "tax")
    assert time.perf_counter() - started < 30  # in fact well under a second
    assert (d.status, d.error_code) == ("rejected", "TOO_MANY_COLUMNS")
    assert d.message.startswith("第 2 行") and "120 列" in d.message  # the catalogue's widest category, and room
    assert snapshot(db) == before


def test_xlsx_value_beyond_the_catalogue_width_is_refused(db, catalog, tmp_path) -> None:  # noqa: ANN001
    ents = codes(3)
    rows = b"".join(inline_row(i + 2, r) for i, r in enumerate(
        [[str(v) for v in row] for row in registration_rows(ents)]))
    far = (b'<row r="5"><c r="A5" t="inlineStr"><is><t>x</t></is></c>'
           b'<c r="GR5" t="inlineStr"><is><t>x</t></is></c></row>')
    d, _ = load(db, catalog, write_xlsx_parts(tmp_path / "登记.xlsx", sheet_xml(inline_row(1, REG_HEADER) + rows + far)),
                "registration")
    assert (d.status, d.error_code) == ("rejected", "TOO_MANY_COLUMNS")
    assert d.message.startswith("第 5 行") and "GR 列" in d.message
    assert count(db, "SELECT count(*) FROM entities") == 0


def _registration_workbook(path: Path, n: int) -> Path:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("登记")
    ws.append(REG_HEADER)
    for row in registration_rows(codes(n)):
        ws.append(row)
    wb.save(path)
    return path


def test_xlsx_cut_or_damaged_is_refused_whole(db, catalog, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(checking, "BATCH_ROWS", 50)  # rows are staged batch by batch before the damage shows
    data = _registration_workbook(tmp_path / "full.xlsx", 3000).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(data[: len(data) * 2 // 3])
    damaged = bytearray(data)
    damaged[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64  # the zip directory at the end is intact
    (tmp_path / "damaged.xlsx").write_bytes(bytes(damaged))
    for name in ("cut.xlsx", "damaged.xlsx"):
        d, _ = load(db, catalog, tmp_path / name, "registration")
        assert (d.status, d.error_code) == ("rejected", "XLSX_INVALID"), name
        assert d.rows_new == 0
    assert "行附近" in d.message  # the damaged one: found part-way, at a row
    assert count(db, "SELECT count(*) FROM entities") == 0


# ---- (b) a loading job that dies marks its delivery failed, and says so ------------------------------------

class Killed(BaseException):
    """Ends a job as no Exception handler would (as KeyboardInterrupt or SystemExit do)."""


def _start(db, catalog, path: Path, tmp_path: Path):  # noqa: ANN001, ANN202
    d = register_delivery(db, catalog, path, provider="测试部门", category="registration", submitted_by="tester")
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = runtime.start_delivery(pool, db, catalog, d.id, path)
        job.exception(timeout=60)  # waits; the failure is in the job, as in the server
    return d.id, job


def test_a_job_whose_file_is_gone_fails_its_delivery_and_logs(db, catalog, tmp_path, caplog) -> None:  # noqa: ANN001
    path = _registration_file(tmp_path)
    d = register_delivery(db, catalog, path, provider="测试部门", category="registration", submitted_by="tester")
    path.unlink()  # say, the var directory was cleaned between upload and loading
    with caplog.at_level(logging.ERROR), ThreadPoolExecutor(max_workers=1) as pool:
        job = runtime.start_delivery(pool, db, catalog, d.id, path)
        assert isinstance(job.exception(timeout=60), FileNotFoundError)
    failed = delivery(db, d.id)
    assert (failed.status, failed.error_code) == ("failed", "INTERNAL_ERROR")
    assert "文件" in failed.message and "未写入" in failed.message
    assert any(f"delivery {d.id}" in r.getMessage() and r.exc_info for r in caplog.records)
    assert d.id not in runtime.held()


@pytest.mark.parametrize("step,error", [("opening", MemoryError), ("classified", MemoryError),
                                        ("opening", Killed), ("inserted", Killed)])
def test_a_job_that_dies_fails_its_delivery_and_logs(db, catalog, tmp_path, caplog,  # noqa: ANN001
                                                     step, error) -> None:  # noqa: ANN001
    def die(at: str) -> None:
        if at == step:
            raise error()

    before = snapshot(db)
    loading.fault_hook = die
    try:
        with caplog.at_level(logging.ERROR):
            delivery_id, job = _start(db, catalog, _registration_file(tmp_path), tmp_path)
    finally:
        loading.fault_hook = None
    assert isinstance(job.exception(), error)
    failed = delivery(db, delivery_id)
    assert (failed.status, failed.error_code) == ("failed", "INTERNAL_ERROR")
    if error is MemoryError:
        assert "内存不足" in failed.message
    assert any(f"delivery {delivery_id}" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert snapshot(db) == before
    assert delivery_id not in runtime.held()


# ---- (c) a delivery stuck in 'processing' is found while the server runs ----------------------------------

def _registered(db, catalog, tmp_path: Path, name: str) -> int:  # noqa: ANN001
    path = write_csv(tmp_path / name, REG_HEADER, registration_rows(codes(2, start=len(name))))
    return register_delivery(db, catalog, path, provider=name, category="registration", submitted_by="tester").id


def test_stall_watch_fails_only_what_makes_no_progress(db, catalog, tmp_path, fixed_clock) -> None:  # noqa: ANN001
    dead = _registered(db, catalog, tmp_path, "dead.csv")
    busy = _registered(db, catalog, tmp_path, "busy-in-another-process.csv")
    mine = _registered(db, catalog, tmp_path, "held.csv")
    watch = StallWatch(timedelta(minutes=10))
    now = fixed_clock

    def at(minutes: int) -> None:
        clock.set_clock(lambda: now + timedelta(minutes=minutes))

    assert watch.sweep(db, held={mine}) == []  # first sight: nothing is known of their progress yet
    at(6)
    with db.session() as s:  # the job in another process reports a batch
        s.execute(update(Delivery).where(Delivery.id == busy).values(rows_processed=20_000))
    assert watch.sweep(db, held={mine}) == []
    at(11)
    assert watch.sweep(db, held={mine}) == [dead]
    d = delivery(db, dead)
    assert (d.status, d.error_code) == ("failed", "STALLED") and "10 分钟没有进展" in d.message
    assert (delivery(db, busy).status, delivery(db, mine).status) == ("processing", "processing")
    at(17)
    assert watch.sweep(db, held={mine}) == [busy]  # 11 minutes since its last batch
    at(120)
    assert watch.sweep(db, held={mine}) == []  # held by a job of this process: never touched
    with db.session() as s:
        failed = s.execute(select(AuditEvent.actor, AuditEvent.target).where(AuditEvent.action == "delivery.failed"))
        assert sorted(failed) == [("system", f"delivery:{dead}"), ("system", f"delivery:{busy}")]


def test_the_chore_marks_a_stalled_delivery_while_the_server_runs(db, catalog, tmp_path) -> None:  # noqa: ANN001
    from xinyidai.app import create_app
    from xinyidai.config import load_settings

    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)
    dead = _registered(db, catalog, tmp_path, "dead.csv")

    async def run() -> None:
        chore = asyncio.create_task(runtime.watch_deliveries(app, every_seconds=0.01, quiet_for=timedelta(0)))
        try:
            for _ in range(1000):
                await asyncio.sleep(0.01)
                if delivery(db, dead).status != "processing":
                    return
        finally:
            chore.cancel()

    asyncio.run(run())
    assert (delivery(db, dead).status, delivery(db, dead).error_code) == ("failed", "STALLED")


def test_the_stall_time_is_a_setting(db, tmp_path) -> None:  # noqa: ANN001
    from xinyidai.app import create_app
    from xinyidai.config import load_settings

    settings = load_settings(env={"XINYIDAI_DELIVERY_STALL_MINUTES": "45"}, var_dir=tmp_path / "var",
                             database_url=db.url)
    assert runtime.stalled_after(create_app(settings, db)) == timedelta(minutes=45)
