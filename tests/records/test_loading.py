"""The loading pipeline end to end on a real database: accepted, partial, rejected, idempotent, atomic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

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
from xinyidai.records import loading, service
from xinyidai.records.loading import ingest_file


def load(db, catalog, path: Path, category: str, provider: str = "测试部门", **kw):  # noqa: ANN001, ANN201
    return ingest_file(db, catalog, path, provider=provider, category=category, submitted_by="tester", **kw)


@pytest.fixture
def registered(db, catalog, tmp_path):  # noqa: ANN001, ANN201
    ents = codes(20)
    d, out = load(db, catalog, write_csv(tmp_path / "reg.csv", REG_HEADER, registration_rows(ents)),
                  "registration", "黑龙江省市场监督管理局")
    assert d.status == "accepted", out.issues
    return ents


def test_registration_creates_entities(db, catalog, registered) -> None:
    assert count(db, "SELECT count(*) FROM entities") == 20
    with db.session() as s:
        from xinyidai.entities.service import get_entity
        e = get_entity(s, registered[3])
        assert e.name == "哈尔滨测试3有限公司"
        assert e.region_code == "230102" and e.industry_code == "5211" and e.status == "存续"
        assert e.registered_capital == 103.0
        assert str(e.registered_on) == "2015-03-04"


def test_gbk_tax_delivery_is_accepted_with_provenance(db, catalog, registered, tmp_path) -> None:
    path = write_csv(tmp_path / "纳税.csv", TAX_HEADER, tax_rows(registered, ["2026-09", "2026-10"]), "gbk")
    d, out = load(db, catalog, path, "tax", "哈尔滨市税务局")
    assert (d.status, d.encoding, d.rows_total, d.rows_new) == ("accepted", "gb18030", 40, 40)
    assert str(d.period_start) == "2026-09-01" and str(d.period_end) == "2026-10-31"
    with db.session() as s:
        recs = service.entity_records(s, registered[0], "tax")
        assert len(recs) == 2
        r = recs[0]
        assert r.provider == "哈尔滨市税务局" and r.delivery_id == d.id and r.version == 1
        assert json.loads(r.content)["tax_paid"] == 1000.0
        assert len(r.fingerprint) == 64 and r.row_no in (2, 3)


def test_same_file_twice_changes_nothing(db, catalog, registered, tmp_path) -> None:
    path = write_csv(tmp_path / "tax.csv", TAX_HEADER, tax_rows(registered, ["2026-10"]))
    first, _ = load(db, catalog, path, "tax")
    before = snapshot(db)
    again, outcome = load(db, catalog, path, "tax")
    assert again.status == "duplicate" and again.duplicate_of == first.id
    assert "未作任何变更" in again.message
    assert snapshot(db) == before


def test_same_rows_in_another_file_are_unchanged(db, catalog, registered, tmp_path) -> None:
    rows = tax_rows(registered, ["2026-10"])
    load(db, catalog, write_csv(tmp_path / "a.csv", TAX_HEADER, rows), "tax")
    before = snapshot(db)
    d, _ = load(db, catalog, write_csv(tmp_path / "b.csv", TAX_HEADER, list(reversed(rows))), "tax")
    assert (d.status, d.rows_unchanged, d.rows_new, d.rows_changed) == ("accepted", 20, 0, 0)
    assert snapshot(db) == before


def test_correction_makes_a_new_version_and_keeps_the_old(db, catalog, registered, tmp_path) -> None:
    load(db, catalog, write_csv(tmp_path / "a.csv", TAX_HEADER, tax_rows(registered, ["2026-10"])), "tax")
    rows = tax_rows(registered[:3], ["2026-10"], grade="B")
    d, _ = load(db, catalog, write_csv(tmp_path / "b.csv", TAX_HEADER, rows), "tax")
    assert (d.rows_changed, d.rows_new) == (3, 0)
    with db.session() as s:
        current = service.entity_records(s, registered[0], "tax")
        assert [json.loads(r.content)["tax_credit_grade"] for r in current] == ["B"]
        hist = service.record_history(s, current[0].id)
        assert [(r.version, r.status) for r in hist] == [(2, "current"), (1, "superseded")]
        assert hist[1].superseded_at is not None
    assert count(db, "SELECT count(*) FROM credit_records WHERE category = 'tax' AND status = 'current'") == 20


def test_row_problems_are_reported_with_row_field_and_reason(db, catalog, registered, tmp_path) -> None:
    good = tax_rows(registered, ["2026-10"])
    bad = [
        ["91230100MA1B2C3D4X", "坏代码", "2026-10", "A", "1", "1", "0", "否", "正常申报"],  # check char wrong
        [registered[0], "未来", "2027-05", "A", "1", "1", "0", "否", "正常申报"],  # future period
        [registered[1], "等级", "2026-08", "E", "1", "1", "0", "否", "正常申报"],  # grade not allowed
        [registered[2], "负数", "2026-08", "A", "-66743.55", "1", "0", "否", "正常申报"],  # below min
        [registered[3], "缺期", "", "A", "1", "1", "0", "否", "正常申报"],  # required missing
        [codes(1, start=900)[0], "未登记", "2026-08", "A", "1", "1", "0", "否", "正常申报"],  # not registered
        [registered[4], "重复", "2026-10", "A", "1000.00", "1000.00", "0", "否", "正常申报"],  # twice in file
    ]
    d, out = load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, good + bad), "tax", threshold=0.5)
    assert d.status == "partial" and d.rows_total == 27 and d.rows_rejected == 7 and d.rows_new == 20
    by_code = {i.code: i for i in out.issues}
    assert by_code["INVALID_USCC"].row_no == 22 and "校验" in by_code["INVALID_USCC"].message
    assert by_code["FUTURE_DATE"].field == "所属期"
    assert by_code["NOT_ALLOWED"].value == "E" and "A、B、M、C、D" in by_code["NOT_ALLOWED"].message
    assert by_code["OUT_OF_RANGE"].field == "应纳税额"
    # Quoted as given, not rounded as `:g` would (-66743.6).
    assert by_code["OUT_OF_RANGE"].message == "数值 -66743.55 小于允许的最小值 0"
    assert by_code["REQUIRED"].row_no == 26
    assert by_code["ENTITY_UNKNOWN"].row_no == 27
    assert by_code["DUPLICATE_IN_FILE"].row_no == 28 and "第 6 行" in by_code["DUPLICATE_IN_FILE"].message
    with db.session() as s:
        page = service.delivery_issues(s, d.id, service.PageRequest(1, 50))
        assert page.total == 7
        csv_text = "".join(service.issues_csv(s, d.id))
    assert csv_text.startswith("\ufeff交付批次") and "ENTITY_UNKNOWN" in csv_text


def test_threshold_rejects_the_whole_delivery(db, catalog, registered, tmp_path) -> None:
    before = snapshot(db)
    rows = tax_rows(registered[:5], ["2026-10"]) + [[c, "x", "2026-10", "Z", "1", "1", "0", "否", "正常申报"]
                                                   for c in registered[5:10]]
    d, out = load(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, rows), "tax", threshold=0.2)
    assert d.status == "rejected" and d.error_code == "THRESHOLD_EXCEEDED"
    assert "整批拒收" in d.message and d.rows_rejected == 5
    assert snapshot(db) == before
    with db.session() as s:
        assert service.delivery_issues(s, d.id, service.PageRequest()).total == 5


@pytest.mark.parametrize("header,code", [
    (["主体名称", "所属期", "纳税信用等级"], "NO_SUBJECT_COLUMN"),
    (["统一社会信用代码", "主体名称", "纳税信用等级"], "MISSING_REQUIRED_COLUMN"),
    (["统一社会信用代码", "姓名", "金额"], "HEADER_MISMATCH"),
])
def test_header_problems_reject_the_file(db, catalog, registered, tmp_path, header, code) -> None:
    before = snapshot(db)
    d, _ = load(db, catalog, write_csv(tmp_path / "h.csv", header, [[registered[0], "x", "A"]]), "tax")
    assert d.status == "rejected" and d.error_code == code
    assert snapshot(db) == before


def test_unknown_header_is_a_warning_not_a_rejection(db, catalog, registered, tmp_path) -> None:
    header = TAX_HEADER + ["备注"]
    rows = [r + ["随便"] for r in tax_rows(registered[:2], ["2026-10"])]
    d, out = load(db, catalog, write_csv(tmp_path / "w.csv", header, rows), "tax")
    assert d.status == "accepted"
    assert [(i.code, i.severity) for i in out.issues] == [("UNKNOWN_HEADER", "warning")]


@pytest.mark.parametrize("content,code", [
    ('统一社会信用代码,所属期\n"{c},2026-10\n', "CSV_QUOTING"),
    ("", "FILE_EMPTY"),
])
def test_broken_files_are_rejected_and_store_untouched(db, catalog, registered, tmp_path, content, code) -> None:
    before = snapshot(db)
    path = tmp_path / "broken.csv"
    path.write_text(content.format(c=registered[0]), encoding="utf-8")
    d, _ = load(db, catalog, path, "tax")
    assert d.status == "rejected"
    assert d.error_code in (code, "FILE_TRUNCATED")
    assert snapshot(db) == before


def test_truncated_file_is_refused_whole(db, catalog, registered, tmp_path) -> None:
    path = write_csv(tmp_path / "full.csv", TAX_HEADER, tax_rows(registered, ["2026-10"]))
    data = path.read_bytes()
    cut = tmp_path / "cut.csv"
    cut.write_bytes(data[: len(data) - 25])  # ends in the middle of the last row
    before = snapshot(db)
    d, out = load(db, catalog, cut, "tax")
    assert (d.status, d.error_code) == ("rejected", "FILE_TRUNCATED")
    assert d.message.startswith("第 21 行") and "截断" in d.message
    assert snapshot(db) == before


def test_huge_field_is_refused(db, catalog, registered, tmp_path) -> None:
    before = snapshot(db)
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(",".join(TAX_HEADER) + "\n")
        fh.write(f'{registered[0]},"{"长" * 4_000_000}",2026-10,A,1,1,0,否,正常申报\n')
    d, _ = load(db, catalog, path, "tax")
    assert d.status == "rejected" and d.error_code == "FIELD_TOO_LARGE"
    assert snapshot(db) == before


def test_xlsx_with_formula_and_extra_sheet(db, catalog, registered, tmp_path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "处罚"
    ws.append(["统一社会信用代码", "决定书文号", "处罚类别", "处罚事由", "处罚依据", "处罚决定日期", "处罚机关",
               "罚款金额"])
    ws.append([registered[0], "哈市监罚〔2026〕1号", "罚款", "未按规定公示年报", "《企业信息公示暂行条例》",
               "2026-03-02", "哈尔滨市市场监督管理局", 0.5])
    ws.append([registered[1], "哈市监罚〔2026〕2号", "警告", '=HYPERLINK("http://x","y")', "依据",
               "2026-03-02", "哈尔滨市市场监督管理局", None])
    ws.append([registered[2], "哈市监罚〔2026〕3号", "警告", "+cmd|' /C calc'!A0", "依据", "2026-03-02",
               "哈尔滨市市场监督管理局", None])
    wb.create_sheet("说明").append(["这是说明"])
    path = tmp_path / "penalty.xlsx"
    wb.save(path)
    d, out = load(db, catalog, path, "penalty", threshold=0.9)
    assert d.status == "partial" and d.rows_new == 1 and d.rows_rejected == 2
    codes_seen = {i.code for i in out.issues}
    assert {"EXTRA_SHEETS", "FORMULA", "FORMULA_INJECTION"} <= codes_seen
    formula = next(i for i in out.issues if i.code == "FORMULA")
    assert (formula.row_no, formula.field) == (3, "处罚事由")  # the report's 字段 column names the cell


@pytest.mark.parametrize("step", ["classified", "superseded", "inserted", "before_commit"])
def test_failure_half_way_leaves_the_store_as_it_was(db, catalog, registered, tmp_path, step) -> None:
    load(db, catalog, write_csv(tmp_path / "a.csv", TAX_HEADER, tax_rows(registered, ["2026-10"])), "tax")
    before = snapshot(db)
    rows = tax_rows(registered, ["2026-10"], grade="C") + tax_rows(registered, ["2026-09"])

    def boom(at: str) -> None:
        if at == step:
            raise RuntimeError(f"simulated crash at {at}")

    loading.fault_hook = boom
    try:
        with pytest.raises(RuntimeError):
            load(db, catalog, write_csv(tmp_path / "b.csv", TAX_HEADER, rows), "tax")
    finally:
        loading.fault_hook = None
    assert snapshot(db) == before
    with db.session() as s:
        d = service.list_deliveries(s, service.PageRequest(1, 1, "id", True)).items[0]
        assert d.status == "failed" and "未受影响" in d.message
    # and the same file loads cleanly afterwards
    d, _ = load(db, catalog, tmp_path / "b.csv", "tax")
    assert (d.status, d.rows_changed, d.rows_new) == ("accepted", 20, 20)


def test_withdraw_and_correct_keep_history(db, catalog, registered, tmp_path) -> None:
    load(db, catalog, write_csv(tmp_path / "a.csv", TAX_HEADER, tax_rows(registered[:1], ["2026-10"])), "tax")
    with db.session() as s:
        rec = service.entity_records(s, registered[0], "tax")[0]
        new = service.correct_record(s, catalog, rec.id, {"tax_credit_grade": "M"}, actor="op", reason="税务局更正")
        assert new.version == 2 and json.loads(new.content)["tax_credit_grade"] == "M"
        with pytest.raises(service.InvalidInput) as bad:
            service.correct_record(s, catalog, new.id, {"tax_credit_grade": "Q"}, actor="op", reason="x")
        assert bad.value.code == "CORRECTION_INVALID"
        gone = service.withdraw_record(s, new.id, actor="op", reason="处罚决定被撤销")
        assert gone.status == "withdrawn"
        assert service.entity_records(s, registered[0], "tax") == []
        assert [r.status for r in service.record_history(s, rec.id)] == ["withdrawn", "superseded"]


def test_redelivery_after_withdrawal_makes_a_new_current_version(db, catalog, registered, tmp_path) -> None:
    path = write_csv(tmp_path / "a.csv", TAX_HEADER, tax_rows(registered[:1], ["2026-10"]))
    load(db, catalog, path, "tax")
    with db.session() as s:
        rec = service.entity_records(s, registered[0], "tax")[0]
        service.withdraw_record(s, rec.id, actor="op", reason="误报")
    d, _ = load(db, catalog, write_csv(tmp_path / "b.csv", TAX_HEADER, tax_rows(registered[:1], ["2026-10"], "B")),
                "tax")
    assert d.rows_changed == 1
    with db.session() as s:
        assert [r.version for r in service.entity_records(s, registered[0], "tax")] == [2]


def test_audit_entries_follow_each_delivery(db, catalog, registered, tmp_path) -> None:
    from xinyidai.kit.audit import verify_chain
    load(db, catalog, write_csv(tmp_path / "a.csv", TAX_HEADER, tax_rows(registered[:2], ["2026-10"])), "tax")
    with db.session() as s:
        ok, broken, n = verify_chain(s)
    assert ok and broken is None and n >= 4


def test_large_files_are_checked_in_a_worker_process(db, catalog, registered, tmp_path, monkeypatch) -> None:
    from xinyidai.records import checking
    monkeypatch.setattr(checking, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(checking, "BATCH_ROWS", 7)  # many batches, interleaved from both workers
    rows = tax_rows(registered, ["2026-08", "2026-09", "2026-10"]) + [["bad", "x", "2026-10", "A", "1", "1", "0",
                                                                       "否", "正常申报"]]
    d, out = load(db, catalog, write_csv(tmp_path / "w.csv", TAX_HEADER, rows), "tax")
    assert (d.status, d.rows_new, d.rows_rejected) == ("partial", 60, 1)
    assert [(i.code, i.row_no) for i in out.issues] == [("INVALID_USCC", 62)]
    with db.engine.connect() as conn:
        from sqlalchemy import text
        rows = conn.execute(text("SELECT row_no FROM credit_records WHERE category = 'tax' ORDER BY row_no"))
        assert [r[0] for r in rows] == list(range(2, 62))
    before = snapshot(db)
    broken = tmp_path / "broken.csv"
    broken.write_text(",".join(TAX_HEADER) + "\n" + f'{registered[0]},"x,2026-10\n', encoding="utf-8")
    d, _ = load(db, catalog, broken, "tax")
    assert d.status == "rejected" and d.error_code in ("CSV_QUOTING", "FILE_TRUNCATED")
    assert snapshot(db) == before


def test_registration_kinds_and_names_are_kept_sensibly(db, catalog, tmp_path) -> None:
    from xinyidai.entities.codes import make_uscc
    from xinyidai.entities.service import get_entity
    coop, shop = make_uscc("230100", 7, "9", "3"), make_uscc("230100", 8, "9", "2")
    rows = [[coop, "哈尔滨丰收农民专业合作社", "农民专业合作社", "李四", "2016-01-01", "哈尔滨市市场监督管理局", "230102",
             "01", "存续", "50"]]
    load(db, catalog, write_csv(tmp_path / "a.csv", REG_HEADER, rows), "registration")
    header = [h for h in REG_HEADER if h != "主体名称"]
    rows = [[shop, "个体工商户", "王五", "2019-05-05", "哈尔滨市市场监督管理局", "230102", "5211", "存续", "3"],
            [coop, "农民专业合作社", "李四", "2016-01-01", "哈尔滨市市场监督管理局", "230102", "01", "注销", "50"]]
    d, out = load(db, catalog, write_csv(tmp_path / "b.csv", header, rows), "registration")
    assert d.status == "accepted", out.issues
    with db.session() as s:
        assert get_entity(s, coop).kind == "企业"
        assert get_entity(s, coop).name == "哈尔滨丰收农民专业合作社"  # not replaced by the bare code
        assert get_entity(s, coop).status == "注销"
        assert get_entity(s, shop).kind == "个体工商户"


def test_worker_path_keeps_awkward_text_exactly(db, catalog, registered, tmp_path, monkeypatch) -> None:
    from xinyidai.records import checking
    monkeypatch.setattr(checking, "WORKER_MIN_BYTES", 0)
    reason = "违反《条例》第3条\\第4款\t（复核）\n另见 C:\\temp"
    header = ["统一社会信用代码", "决定书文号", "处罚类别", "处罚事由", "处罚依据", "处罚决定日期", "处罚机关"]
    rows = [[registered[0], "哈市监罚〔2026〕9号", "警告", reason, "依据\\N", "2026-03-02", "哈尔滨市市场监督管理局"]]
    d, out = load(db, catalog, write_csv(tmp_path / "p.csv", header, rows), "penalty")
    assert d.status == "accepted", out.issues
    with db.session() as s:
        rec = service.entity_records(s, registered[0], "penalty")[0]
    content = json.loads(rec.content)
    assert content["reason"] == reason and content["basis"] == "依据\\N"
    assert rec.record_key == "哈市监罚〔2026〕9号"
