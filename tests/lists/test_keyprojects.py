"""Annual key-project lists: UTF-8, GBK and XLSX files, a bad row rejecting the whole file with its row
number, and the same list imported twice."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from xinyidai.entities.codes import make_uscc
from xinyidai.institutions import onboarding as institutions
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput
from xinyidai.kit.principal import Principal
from xinyidai.lists import keyprojects, whitelists
from xinyidai.lists.models import WhiteList, WhiteListDelivery, WhiteListEntry

OPERATOR = Principal(1, "op", "测试运营", "operator", None)
BANK = make_uscc("230103", 900_001)
UNIT_A, UNIT_B = make_uscc("230102", 7001), make_uscc("230103", 7002)
HEADER = ["项目名称", "项目编号", "建设单位", "统一社会信用代码", "所在地区", "总投资（万元）", "年度计划投资（万元）",
          "融资需求（万元）", "项目类型", "建设年限"]
ROWS = [
    ["哈尔滨新区智能制造产业园", "2026-230100-01", "哈尔滨智造产业发展有限公司", UNIT_A, "哈尔滨市松北区", "120000",
     "30000", "50000", "产业项目", "2025-2028"],
    ["松花江流域生态治理工程", "2026-230100-02", "龙江生态建设有限公司", UNIT_B, "哈尔滨市道里区", "45,000.5", "12000",
     "", "基础设施", "2026-2027"],
    ["智能制造产业园二期", "2026-230100-03", "哈尔滨智造产业发展有限公司", UNIT_A, "哈尔滨市松北区", "80000", "20000",
     "30000", "产业项目", "2026-2029"],
]


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8", header: list[str] = HEADER) -> bytes:
    lines = [",".join(f'"{v}"' if "," in v else v for v in r) for r in [header, *rows]]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_good_file_is_stored_one_entry_per_unit(db: Database, encoding: str) -> None:
    with db.session() as s:
        institutions.onboard(s, OPERATOR, code=BANK, name="哈尔滨测试银行", kind="银行")
        whitelists.subscribe(s, OPERATOR, "institution", BANK, "key_projects", None, "CN-230000")
        wl = keyprojects.import_file(s, csv_bytes(ROWS, encoding), "2026年重点项目.csv", 2026, OPERATOR,
                                     "CN-230000")
        assert (wl.number, wl.kind, wl.year, wl.entries, wl.name) == (
            "KP-CN-230000-2026-1", "key_projects", 2026, 2, "2026年度重点项目清单")
        entries = {e.entity_code: e for e in s.execute(select(WhiteListEntry)).scalars()}
        a = entries[UNIT_A]
        assert a.entity_name == "哈尔滨智造产业发展有限公司" and len(a.detail["projects"]) == 2
        assert a.detail["projects"][0] == {"name": "哈尔滨新区智能制造产业园", "number": "2026-230100-01",
                                           "region": "哈尔滨市松北区", "total_investment": 120000,
                                           "annual_investment": 30000, "financing_need": 50000,
                                           "type": "产业项目", "period": "2025-2028"}
        assert a.reasons[0] == "列入2026年度重点项目清单：哈尔滨新区智能制造产业园（2026-230100-01），融资需求 50000 万元"
        b = entries[UNIT_B]
        assert b.detail["projects"][0]["total_investment"] == 45000.5
        assert b.detail["projects"][0]["financing_need"] is None
        assert s.execute(select(WhiteListDelivery.subscriber)).scalar_one() == BANK
        csv = whitelists.csv_text(s, wl)
        assert csv.startswith("\ufeff统一社会信用代码,建设单位,项目名称") and csv.count("\r\n") == 4


def test_xlsx_and_other_column_names(db: Database) -> None:
    rows: list[list[object]] = [[*ROWS[0][:5], 120000, 30000.5, None, *ROWS[0][8:]]]
    with db.session() as s:
        wl = keyprojects.import_file(s, xlsx_bytes(rows), "list.xlsx", 2026, OPERATOR, "CN-230000")
        e = s.execute(select(WhiteListEntry).where(WhiteListEntry.list_id == wl.id)).scalar_one()
        assert e.detail["projects"][0]["annual_investment"] == 30000.5
    alias = ["项目名称", "项目代码", "项目单位", "统一社会信用代码", "总投资(万元)"]
    projects, errors = keyprojects.parse_file(csv_bytes([[ROWS[0][0], "X-1", ROWS[0][2], UNIT_A, "100"]],
                                                         header=alias), "a.csv")
    assert errors == [] and projects[0]["number"] == "X-1" and projects[0]["total_investment"] == 100


def test_a_bad_row_rejects_the_whole_file_with_row_numbers(db: Database) -> None:
    bad_code = UNIT_B[:-1] + ("0" if UNIT_B[-1] != "0" else "1")
    rows = [ROWS[0], [*ROWS[1][:3], bad_code, *ROWS[1][4:]],
            [ROWS[2][0], ROWS[0][1], ROWS[2][2], UNIT_A, "", "abc", "20000", "-5", "", ""],
            ["", "2026-9", "某单位", UNIT_A, "", "100", "200", "", "", ""]]
    with db.session() as s, pytest.raises(InvalidInput) as exc:
        keyprojects.import_file(s, csv_bytes(rows, "gbk"), "bad.csv", 2026, OPERATOR, "CN-230000")
    err = exc.value
    assert err.code == "KEYPROJECTS_INVALID" and err.message.startswith("文件中有 3 行不符合要求，整个文件未导入")
    by_row = {e["row"]: e["message"] for e in err.detail["errors"]}
    assert set(by_row) == {3, 4, 5}  # the header is row 1
    assert "统一社会信用代码校验码错误" in by_row[3]
    assert "项目编号“2026-230100-01”与第 2 行重复" in by_row[4]
    assert "「总投资（万元）」应为数字，实际为“abc”" in by_row[4] and "「融资需求（万元）」不能为负数" in by_row[4]
    assert "「项目名称」不能为空" in by_row[5] and "年度计划投资不能大于总投资" in by_row[5]
    with db.session() as s:
        assert s.query(WhiteList).count() == 0  # nothing stored


def test_file_level_problems(db: Database) -> None:
    with db.session() as s:
        with pytest.raises(InvalidInput) as exc:
            keyprojects.import_file(s, csv_bytes(ROWS, header=["项目名称", "建设单位"]), "a.csv", 2026, OPERATOR,
                                    "CN-230000")
        assert exc.value.code == "KEYPROJECTS_COLUMNS" and "项目编号" in exc.value.message
        with pytest.raises(InvalidInput) as exc:
            keyprojects.import_file(s, csv_bytes([]), "a.csv", 2026, OPERATOR, "CN-230000")
        assert exc.value.code == "FILE_EMPTY"
        with pytest.raises(InvalidInput) as exc:
            keyprojects.import_file(s, b"", "a.csv", 2026, OPERATOR, "CN-230000")
        assert exc.value.code == "FILE_EMPTY"
        with pytest.raises(InvalidInput) as exc:
            keyprojects.import_file(s, csv_bytes(ROWS), "a.csv", 1990, OPERATOR, "CN-230000")
        assert exc.value.code == "BAD_YEAR"
        with pytest.raises(Forbidden):
            keyprojects.import_file(s, csv_bytes(ROWS), "a.csv", 2026, Principal(2, "b", "银行", "bank", BANK),
                                    "CN-230000")


def test_the_same_list_twice_is_a_duplicate(db: Database) -> None:
    with db.session() as s:
        first = keyprojects.import_file(s, csv_bytes(ROWS), "a.csv", 2026, OPERATOR, "CN-230000")
    with db.session() as s:
        for data in (csv_bytes(ROWS), csv_bytes(ROWS, "gbk")):  # the same file, and the same list re-saved
            with pytest.raises(Conflict) as exc:
                keyprojects.import_file(s, data, "again.csv", 2026, OPERATOR, "CN-230000")
            assert exc.value.code == "DUPLICATE_FILE" and first.number in exc.value.message
        changed = keyprojects.import_file(s, csv_bytes(ROWS[:2]), "a.csv", 2026, OPERATOR, "CN-230000")
        assert changed.number == "KP-CN-230000-2026-2"
        assert whitelists.previous_version(s, changed).number == first.number
        d = whitelists.diff(s, first, changed)
        assert d.added_total == 0 and d.removed_total == 0  # the same units; a project fewer
