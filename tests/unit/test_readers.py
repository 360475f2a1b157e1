"""Delivery file readers: structure and encoding of CSV, JSON Lines and XLSX files."""

from __future__ import annotations

import csv
import gc
import time
import tracemalloc
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.records.helpers import XML_HEAD, Repeated, inline_row, sheet_xml, write_xlsx_parts
from xinyidai.records.readers import SAMPLE_BYTES, FileRejected, Row, XlsxLimits, open_delivery

# --------------------------------------------------------------------------------------------------------
# helpers


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def read_all(path: Path, **kwargs) -> tuple[list[str], list[Row]]:
    with open_delivery(path, **kwargs) as reader:
        return reader.headers, list(reader.rows())


def rejected(path: Path, **kwargs) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        read_all(path, **kwargs)
    return info.value


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    wb = Workbook(write_only=True)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


# --------------------------------------------------------------------------------------------------------
# CSV basics


def test_csv_utf8_rows_values_and_row_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path, "a.csv", "名称,统一社会信用代码,金额\n 北京某某公司 ,91110000MA01,1.5\n上海公司,\u3000, \n"
    )
    with open_delivery(path) as reader:
        assert (reader.format, reader.encoding) == ("csv", "utf-8")
        assert reader.headers == ["名称", "统一社会信用代码", "金额"]
        assert reader.warnings == []
        rows = list(reader.rows())
    assert rows == [
        Row(2, ["北京某某公司", "91110000MA01", "1.5"]),
        Row(3, ["上海公司", None, None]),
    ]
    assert all(r.problem is None and r.problem_code is None for r in rows)


def test_csv_utf8_bom_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "\ufeff名称,代码\r\n北京,911\r\n")
    with open_delivery(path) as reader:
        assert reader.encoding == "utf-8-sig"
        assert reader.headers == ["名称", "代码"]
        assert [r.values for r in reader.rows()] == [["北京", "911"]]


def test_csv_gbk(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "纳税人名称,纳税信用等级\n黑龙江某某农业有限公司,A\n", "gbk")
    with open_delivery(path) as reader:
        assert reader.encoding == "gb18030"
        assert reader.headers == ["纳税人名称", "纳税信用等级"]
        assert [r.values for r in reader.rows()] == [["黑龙江某某农业有限公司", "A"]]


def test_csv_gb18030_four_byte_characters(tmp_path: Path) -> None:
    name = "王䶮𠀀"  # CJK Ext A and Ext B: not in GBK, four bytes in GB18030
    assert len("𠀀".encode("gb18030")) == 4
    path = write(tmp_path, "a.csv", f"姓名,代码\n{name},1\n", "gb18030")
    headers, rows = read_all(path)
    assert headers == ["姓名", "代码"]
    assert rows[0].values == [name, "1"]


def test_csv_utf16_tab_delimited_txt(tmp_path: Path) -> None:
    # Excel's "Unicode text" export: UTF-16 with BOM, tab-delimited, .txt
    path = write(tmp_path, "a.txt", "名称\t代码\r\n北京\t911\r\n", "utf-16")
    with open_delivery(path) as reader:
        assert (reader.format, reader.encoding) == ("csv", "utf-16")
        assert reader.headers == ["名称", "代码"]
        assert [r.values for r in reader.rows()] == [["北京", "911"]]


@pytest.mark.parametrize("delimiter", ["\t", ";", "|"])
def test_csv_delimiter_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = write(
        tmp_path, "a.csv", f"名称{delimiter}代码{delimiter}备注\n北京, 朝阳{delimiter}911{delimiter}\n"
    )
    headers, rows = read_all(path)
    assert headers == ["名称", "代码", "备注"]
    assert rows[0].values == ["北京, 朝阳", "911", None]


def test_csv_quoted_fields_and_embedded_newline_counts_as_one_row(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", 'a,b\n"x, ""y""","line1\nline2"\nc,d\n')
    _, rows = read_all(path)
    assert rows == [Row(2, ['x, "y"', "line1\nline2"]), Row(3, ["c", "d"])]


def test_csv_blank_lines_skipped_but_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "\n名称,代码\n\n北京,1\n   \n,,\n , \n上海,2\n\n")
    with open_delivery(path) as reader:
        assert reader.headers == ["名称", "代码"]
        rows = list(reader.rows())
    assert [(r.row_no, r.values) for r in rows] == [(4, ["北京", "1"]), (8, ["上海", "2"])]


def test_csv_header_only_has_no_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "名称,代码\n")
    assert read_all(path) == (["名称", "代码"], [])


def test_csv_column_count_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "a,b,c\n1,2\n1,2,3,4\n1,2,3\n1,2,3,,\n")
    _, rows = read_all(path)
    assert [(r.row_no, r.problem_code, r.values) for r in rows] == [
        (2, "COLUMN_COUNT", ["1", "2", None]),
        (3, "COLUMN_COUNT", ["1", "2", "3"]),
        (4, None, ["1", "2", "3"]),
        (5, None, ["1", "2", "3"]),  # trailing empty columns are harmless
    ]
    assert rows[0].problem == "第 2 行有 2 列，表头有 3 列"
    assert rows[1].problem == "第 3 行有 4 列，表头有 3 列"


def test_csv_trailing_empty_header_columns_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "a,b,,\n1,2,,\n3,4\n")
    headers, rows = read_all(path)
    assert headers == ["a", "b"]
    assert [(r.values, r.problem) for r in rows] == [(["1", "2"], None), (["3", "4"], None)]


def test_csv_truncated_last_row_without_newline(tmp_path: Path) -> None:
    # A short row in the middle is just short; a short last row without a line break is where the file was
    # cut, and a cut file is refused whole (README: a truncated file is rejected with the row where it broke).
    path = write(tmp_path, "a.csv", "a,b,c\n1,2\n4,5,6\n7,8")
    with open_delivery(path) as reader:
        rows = reader.rows()
        first = next(rows)
        assert (first.row_no, first.problem_code) == (2, "COLUMN_COUNT")
        assert "截断" not in (first.problem or "")
        with pytest.raises(FileRejected) as info:
            list(rows)
    exc = info.value
    assert (exc.code, exc.row_no) == ("FILE_TRUNCATED", 4)
    assert exc.message.startswith("第 4 行") and "截断" in exc.message


def test_csv_complete_last_row_without_newline_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "a,b\n1,2\n3,4")
    _, rows = read_all(path)
    assert [(r.row_no, r.values, r.problem) for r in rows] == [(2, ["1", "2"], None), (3, ["3", "4"], None)]


def test_csv_old_mac_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "a,b\r1,2\r3,4\r")
    _, rows = read_all(path)
    assert [(r.row_no, r.values) for r in rows] == [(2, ["1", "2"]), (3, ["3", "4"])]


# --------------------------------------------------------------------------------------------------------
# CSV: whole-file rejections


def test_csv_broken_quoting(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", 'a,b\n1,2\n"x"y,3\n4,5\n')
    exc = rejected(path)
    assert exc.code == "CSV_QUOTING"
    assert exc.row_no == 3
    assert exc.message.startswith("第 3 行：")
    assert exc.to_dict()["detail"] == {"row_no": 3}
    assert exc.status == 422


def test_csv_truncated_inside_quoted_field(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", 'a,b\n1,2\n3,"an unterminated\nfield that runs to the end')
    exc = rejected(path)
    assert exc.code == "FILE_TRUNCATED"
    assert exc.row_no == 3
    assert "引号未闭合" in exc.message


def test_csv_duplicate_header(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.csv", "名称,代码, 名称 \n1,2,3\n"))
    assert exc.code == "DUPLICATE_HEADER"
    assert exc.row_no == 1
    assert "「名称」" in exc.message


def test_csv_blank_header_in_the_middle(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.csv", "名称,,代码\n1,2,3\n"))
    assert exc.code == "BLANK_HEADER"
    assert "第 2 列" in exc.message


def test_csv_empty_file(tmp_path: Path) -> None:
    assert rejected(write(tmp_path, "a.csv", b"")).code == "FILE_EMPTY"
    assert rejected(write(tmp_path, "b.csv", "\n\n  \n")).code == "FILE_EMPTY"


def test_csv_header_all_blank(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.csv", ",,\n1,2,3\n"))
    assert exc.code == "NO_HEADER"
    assert exc.row_no == 1


def test_csv_field_too_large_quoted_multiline(tmp_path: Path) -> None:
    big = ("x" * 99 + "\n") * 100_000  # 10 MB in one quoted field, in short lines
    path = write(tmp_path, "a.csv", f'a,b\n1,2\n3,"{big}"\n')
    tracemalloc.start()
    try:
        exc = rejected(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.code == "FIELD_TOO_LARGE"
    assert exc.row_no == 3
    assert "第 3 行有字段超过 1 MB 上限" in exc.message
    assert peak < 8_000_000


def test_csv_field_too_large_single_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "a,b\n1,2\n3," + "x" * 10_000_000 + "\n4,5\n")
    tracemalloc.start()
    try:
        exc = rejected(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.code == "FIELD_TOO_LARGE"
    assert exc.row_no == 3
    assert peak < 8_000_000  # the 10 MB line is never assembled


def test_csv_max_field_bytes_is_configurable(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "a,b\n1,2\n3," + "y" * 200 + "\n")
    before = csv.field_size_limit()
    assert rejected(path, max_field_bytes=100).code == "FIELD_TOO_LARGE"
    _, rows = read_all(path, max_field_bytes=1000)
    assert rows[1].values == ["3", "y" * 200]
    assert csv.field_size_limit() == before  # the process-wide limit is restored on close


def _mixed_encoding_file(tmp_path: Path) -> tuple[Path, int]:
    lines = ["名称,代码,备注"]
    size = 0
    while size < SAMPLE_BYTES + 50_000:  # UTF-8 well past the detection sample
        line = f"北京某某科技有限公司{len(lines)},91110000{len(lines):010d},正常"
        lines.append(line)
        size += len(line.encode()) + 1
    data = ("\n".join(lines) + "\n").encode("utf-8")
    bad_row = len(lines) + 3
    data += "上海,1,好\n上海,2,好\n".encode()  # rows bad_row-2 and bad_row-1
    data += "广州某某公司,3,GBK编码\n".encode("gbk")  # row bad_row
    data += "深圳,4,好\n".encode() * 1000
    return write(tmp_path, "a.csv", data), bad_row


def test_csv_encoding_switch_after_first_mib(tmp_path: Path) -> None:
    path, bad_row = _mixed_encoding_file(tmp_path)
    with open_delivery(path) as reader:
        assert reader.encoding == "utf-8"
        seen = []
        with pytest.raises(FileRejected) as info:
            for row in reader.rows():
                seen.append(row.row_no)
    exc = info.value
    assert exc.code == "FILE_ENCODING"
    assert exc.row_no == bad_row
    assert exc.message.startswith(f"第 {bad_row:,} 行")
    assert "混用" in exc.message
    assert seen[-1] <= bad_row - 1


def test_csv_damaged_utf8_is_not_read_as_gb18030(tmp_path: Path) -> None:
    # Mostly Chinese UTF-8 with one stray byte inside the sample: reject at that row rather than turn
    # every character into GB18030 mojibake.
    body = "".join(f"北京某某科技有限公司{i},{i}\n" for i in range(200)).encode()
    data = "名称,代码\n".encode() + body + b"\xff,1\n" + body
    exc = rejected(write(tmp_path, "a.csv", data))
    assert exc.code == "FILE_ENCODING"
    assert exc.row_no == 202


def test_csv_binary_content_rejected(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.csv", b"%PDF-1.4\x00\x01\x02binary"))
    assert exc.code == "UNSUPPORTED_FORMAT"


def test_rows_is_single_pass(tmp_path: Path) -> None:
    with open_delivery(write(tmp_path, "a.csv", "a\n1\n")) as reader:
        assert len(list(reader.rows())) == 1
        with pytest.raises(RuntimeError):
            reader.rows()


def test_csv_streams_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(f"字段{i}" for i in range(12)) + "\n")
        for i in range(200_000):
            f.write(f"91110000{i:010d},北京某某科技有限公司,2024-03,{i},123.45,,是,A,备注,xxxx,,2024-01-01\n")
    assert path.stat().st_size > 15_000_000
    gc.collect()
    tracemalloc.start()
    try:
        count = 0
        last = 0
        with open_delivery(path) as reader:
            for row in reader.rows():
                count += 1
                last = row.row_no
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert last == 200_001
    assert peak < 2_000_000  # steady state is a few hundred KB, whatever the file size


# --------------------------------------------------------------------------------------------------------
# format detection


def test_xls_is_unsupported(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.xls", b"whatever"))
    assert exc.code == "UNSUPPORTED_FORMAT"
    assert ".xlsx" in exc.message and "CSV" in exc.message


def test_ole2_content_is_unsupported_whatever_the_name(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100))
    assert exc.code == "UNSUPPORTED_FORMAT"


def test_format_from_upload_name_and_sniffing(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "upload-1", "a,b\n1,2\n")
    jsonl_path = write(tmp_path, "upload-2", '\ufeff{"a": 1}\n')
    xlsx_path = write_xlsx(tmp_path / "upload-3", {"S": [["a"], [1]]})
    with open_delivery(csv_path) as r:
        assert r.format == "csv"
    with open_delivery(jsonl_path) as r:
        assert r.format == "jsonl"
    with open_delivery(xlsx_path) as r:
        assert r.format == "xlsx"
    with open_delivery(jsonl_path, filename="报送.CSV") as r:
        assert r.format == "csv"
    assert rejected(csv_path, filename="x.ndjson").code == "JSON_INVALID"
    with open_delivery(xlsx_path, filename="报送.csv") as r:
        assert r.format == "xlsx"
        assert [w.code for w in r.warnings] == ["FORMAT_MISMATCH"]


# --------------------------------------------------------------------------------------------------------
# JSON Lines


def test_jsonl_values(tmp_path: Path) -> None:
    lines = [
        '{"名称": " 北京 ", "金额": 12345678901234567890, "比例": 1.50, "有效": true, "备注": null}',
        '{"名称": "上海", "有效": false, "金额": -3}',
        "",
        '{"名称": "", "金额": 1e5, "有效": true, "比例": 0.1, "备注": "  "}',
    ]
    with open_delivery(write(tmp_path, "a.jsonl", "\n".join(lines) + "\n")) as reader:
        assert (reader.format, reader.encoding) == ("jsonl", "utf-8")
        assert reader.headers == ["名称", "金额", "比例", "有效", "备注"]
        rows = list(reader.rows())
    assert rows == [
        Row(1, ["北京", "12345678901234567890", "1.50", "是", None]),
        Row(2, ["上海", "-3", None, "否", None]),
        Row(4, [None, "1e5", "0.1", "是", None]),
    ]


def test_jsonl_row_problems_and_reader_continues(tmp_path: Path) -> None:
    lines = [
        '{"a": "1", "b": "2"}',
        '{"a": "1", "b": "2"',
        "[1, 2]",
        '"text"',
        '{"a": "1", "c": "3", "d": "4"}',
        '{"a": {"x": 1}, "b": [1]}',
        '{"a": NaN}',
        '{"a": "1", "a": "2"}',
        '{"a": "ok"}',
    ]
    _, rows = read_all(write(tmp_path, "a.jsonl", "\n".join(lines)))
    assert [(r.row_no, r.problem_code) for r in rows] == [
        (1, None),
        (2, "JSON_INVALID"),
        (3, "JSON_NOT_OBJECT"),
        (4, "JSON_NOT_OBJECT"),
        (5, "UNKNOWN_KEY"),
        (6, "NESTED_VALUE"),
        (7, "JSON_INVALID"),
        (8, "DUPLICATE_KEY"),
        (9, None),
    ]
    assert "第 2 行不是有效的 JSON" in (rows[1].problem or "")
    assert "「c」" in (rows[4].problem or "") and "「d」" in (rows[4].problem or "")
    assert rows[4].values == ["1", None]
    assert "「a」" in (rows[5].problem or "") and "「b」" in (rows[5].problem or "")
    assert rows[8].values == ["ok", None]


def test_jsonl_overlong_line_is_a_row_problem(tmp_path: Path) -> None:
    data = '{"a": "1"}\n{"a": "' + "x" * 5000 + '"}\n{"a": "2"}\n'
    _, rows = read_all(write(tmp_path, "a.jsonl", data), max_field_bytes=1000)
    assert [(r.row_no, r.problem_code, r.values) for r in rows] == [
        (1, None, ["1"]),
        (2, "LINE_TOO_LARGE", [None]),
        (3, None, ["2"]),
    ]


def test_jsonl_gbk(tmp_path: Path) -> None:
    headers, rows = read_all(write(tmp_path, "a.jsonl", '{"名称": "哈尔滨"}\n', "gbk"))
    assert headers == ["名称"]
    assert rows[0].values == ["哈尔滨"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ('[{"a": 1}, {"a": 2}]', "JSON_INVALID"),
        ('{\n  "a": 1\n}\n', "JSON_INVALID"),
        ("42\n", "JSON_INVALID"),
        ("{}\n", "NO_HEADER"),
        ('{"a": 1, "a": 2}\n', "DUPLICATE_HEADER"),
        ("\n\n", "FILE_EMPTY"),
    ],
)
def test_jsonl_first_line_must_be_an_object(tmp_path: Path, content: str, code: str) -> None:
    exc = rejected(write(tmp_path, "a.json", content))
    assert exc.code == code


def test_jsonl_encoding_switch(tmp_path: Path) -> None:
    line = '{"名称": "北京某某科技有限公司", "代码": "91110000MA0000000X"}\n'
    count = SAMPLE_BYTES // len(line.encode()) + 100
    data = (line * count).encode() + '{"名称": "广州"}\n'.encode("gbk") + line.encode() * 10
    exc = rejected(write(tmp_path, "a.jsonl", data))
    assert exc.code == "FILE_ENCODING"
    assert exc.row_no == count + 1


# --------------------------------------------------------------------------------------------------------
# XLSX


def test_xlsx_values_dates_numbers_and_extra_sheets(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "a.xlsx",
        {
            "纳税": [
                ["纳税人名称", "年度", "金额", "比例", "日期", "时间", "是否", "备注"],
                [
                    " 北京某某公司 ",
                    2024,
                    1500.0,
                    0.25,
                    date(2024, 3, 1),
                    datetime(2024, 3, 1, 9, 30, 5),
                    True,
                    "  ",
                ],
                ["上海某某公司", 2023, 12.5, 1, datetime(2024, 3, 2), None, False, None],
            ],
            "Sheet2": [["x"]],
            "Sheet3": [],
        },
    )
    with open_delivery(path) as reader:
        assert (reader.format, reader.encoding) == ("xlsx", None)
        assert reader.headers == ["纳税人名称", "年度", "金额", "比例", "日期", "时间", "是否", "备注"]
        assert [(w.code, w.message) for w in reader.warnings] == [
            ("EXTRA_SHEETS", "工作簿含 3 个工作表，仅读取第一个工作表「纳税」，已忽略：Sheet2、Sheet3"),
        ]
        rows = list(reader.rows())
    assert rows == [
        Row(2, ["北京某某公司", "2024", "1500", "0.25", "2024-03-01", "2024-03-01 09:30:05", "是", None]),
        Row(3, ["上海某某公司", "2023", "12.5", "1", "2024-03-02", None, "否", None]),
    ]


def test_xlsx_sheet_by_name(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", {"说明": [["填表说明"]], "数据": [["a"], ["1"]]})
    with open_delivery(path, sheet="数据") as reader:
        assert reader.headers == ["a"]
        assert "仅读取工作表「数据」" in reader.warnings[0].message
        assert [r.values for r in reader.rows()] == [["1"]]
    with open_delivery(path, sheet="没有") as reader:
        assert reader.headers == ["填表说明"]
        assert {w.code for w in reader.warnings} == {"SHEET_NOT_FOUND", "EXTRA_SHEETS"}


def test_xlsx_formula_cell_is_a_row_problem(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", {"S": [["名称", "金额"], ["北京", "=1+1"], ["上海", 3]]})
    _, rows = read_all(path)
    assert [(r.row_no, r.problem_code, r.values) for r in rows] == [
        (2, "FORMULA", ["北京", None]),
        (3, None, ["上海", "3"]),
    ]
    assert rows[0].problem == "第 2 行「金额」为公式，出于安全原因不接收公式，请粘贴为数值后重新报送"


def test_xlsx_formula_in_header_rejected(tmp_path: Path) -> None:
    exc = rejected(write_xlsx(tmp_path / "a.xlsx", {"S": [["名称", "=A1"], ["x", "y"]]}))
    assert exc.code == "FORMULA"


def test_xlsx_trailing_empty_columns_and_rows_blank_rows(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "a.xlsx",
        {
            "S": [
                [None, None],
                ["名称", "代码", "", None, "  "],
                ["北京", "1", "", None],
                [],
                [None, "", None, None, None],
                ["上海", None, None, None, None, None, None],
                ["广州", "3", None, "溢出"],
                [],
                [None, None, None],
            ]
        },
    )
    headers, rows = read_all(path)
    assert headers == ["名称", "代码"]
    assert [(r.row_no, r.values, r.problem_code) for r in rows] == [
        (3, ["北京", "1"], None),
        (6, ["上海", None], None),
        (7, ["广州", "3"], "COLUMN_COUNT"),
    ]
    assert "D" in (rows[2].problem or "")


def test_xlsx_header_only(tmp_path: Path) -> None:
    assert read_all(write_xlsx(tmp_path / "a.xlsx", {"S": [["a", "b"]]})) == (["a", "b"], [])


def test_xlsx_empty_sheet(tmp_path: Path) -> None:
    assert rejected(write_xlsx(tmp_path / "a.xlsx", {"S": []})).code == "FILE_EMPTY"


def test_xlsx_duplicate_header(tmp_path: Path) -> None:
    assert rejected(write_xlsx(tmp_path / "a.xlsx", {"S": [["a", "a"]]})).code == "DUPLICATE_HEADER"


def test_xlsx_truncated(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", {"S": [["a", "b"]] + [[f"v{i}", i] for i in range(2000)]})
    data = good.read_bytes()
    exc = rejected(write(tmp_path, "bad.xlsx", data[: len(data) // 2]))
    assert exc.code == "XLSX_INVALID"
    assert exc.message.startswith("文件不是有效的 XLSX 工作簿")


def test_xlsx_name_but_not_a_workbook(tmp_path: Path) -> None:
    assert rejected(write(tmp_path, "a.xlsx", "a,b\n1,2\n")).code == "XLSX_INVALID"


# --------------------------------------------------------------------------------------------------------
# Damaged text files (security review, issue 23): cut short, NUL bytes


def test_jsonl_cut_mid_object_is_refused_whole(tmp_path: Path) -> None:
    lines = [f'{{"a": "{i}", "b": "哈尔滨测试{i}有限公司"}}' for i in range(136)]
    path = write(tmp_path, "a.jsonl", "\n".join(lines)[:-20])
    with open_delivery(path) as reader, pytest.raises(FileRejected) as info:
        list(reader.rows())
    exc = info.value
    assert (exc.code, exc.row_no) == ("FILE_TRUNCATED", 136)
    assert exc.message.startswith("第 136 行") and "截断" in exc.message


def test_csv_cut_inside_a_character_is_called_truncated(tmp_path: Path) -> None:
    data = "名称,代码\n哈尔滨,1\n齐齐哈尔,2\n".encode()
    exc = rejected(write(tmp_path, "a.csv", data[:-4]))  # the last character of 齐齐哈尔 loses a byte
    assert (exc.code, exc.row_no) == ("FILE_TRUNCATED", 3)
    assert "截断" in exc.message and "混用" not in exc.message


def test_csv_nul_byte_names_row_and_column_and_does_not_guess_utf16(tmp_path: Path) -> None:
    body = "".join(f"9123010000000{i:05d},哈尔滨测试{i}有限公司\n" for i in range(2, 500))
    data = ("统一社会信用代码,主体名称\n" + body).encode()
    at = data.index("哈尔滨测试300有限公司".encode())  # row 300, past the first 8 KB
    data = data[:at] + b"\x00" + data[at:]
    exc = rejected(write(tmp_path, "a.csv", data))
    assert (exc.code, exc.row_no) == ("NUL_BYTE", 300)
    assert exc.message.startswith("第 300 行") and "第 2 列" in exc.message and "主体名称" in exc.message
    assert "UTF-16" not in exc.message
    early = rejected(write(tmp_path, "b.csv", b"a,b\n1,\x002\n"))  # inside the first 8 KB
    assert (early.code, early.row_no) == ("NUL_BYTE", 2)
    assert "第 2 列" in early.message and "UTF-16" not in early.message


def test_jsonl_nul_byte_names_the_line(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.jsonl", b'{"a": "1"}\n{"a": "\x00"}\n'))
    assert (exc.code, exc.row_no) == ("NUL_BYTE", 2)
    assert "UTF-16" not in exc.message


def test_utf16_without_bom_is_named_as_such(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.csv", "名称,代码\n哈尔滨,1\n齐齐哈尔,2\n", "utf-16-le"))
    assert exc.code == "UNSUPPORTED_FORMAT"
    assert "UTF-16" in exc.message
    # with its BOM it is read as before
    assert read_all(write(tmp_path, "b.csv", "名称,代码\n哈尔滨,1\n", "utf-16"))[1][0].values == ["哈尔滨", "1"]


# --------------------------------------------------------------------------------------------------------
# Hostile workbooks (security review, issue 23): decompression bombs, and what no spreadsheet program writes

HEADER = inline_row(1, ["统一社会信用代码", "主体名称"])
CELL = b'<c t="inlineStr"><is><t>x</t></is></c>'
SHEET_END = b"</sheetData></worksheet>"


def sheet_around(middle: Repeated) -> Repeated:
    """A worksheet with the header row, then `middle` (its head, repeated unit and tail)."""
    start = sheet_xml(HEADER)[: -len(SHEET_END)]
    return Repeated(start + middle.head, middle.unit, middle.times, middle.tail + SHEET_END)


def test_xlsx_bomb_is_refused_quickly_with_bounded_memory(tmp_path: Path) -> None:
    # The workbook of the review: about 2 MB on disk, one row of twenty million inline cells (760 MB of XML).
    # Read whole, it grew the process to 11 GB.
    path = write_xlsx_parts(tmp_path / "bomb.xlsx",
                            sheet_around(Repeated(b'<row r="2">', CELL * 25_000, 800, b"</row>")))
    assert path.stat().st_size < 3_000_000
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        exc = rejected(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 30  # refused within the first few hundred cells: well under a second
    assert peak < 64_000_000  # a few MB in fact
    assert (exc.code, exc.row_no) == ("TOO_MANY_COLUMNS", 2)
    assert exc.message.startswith("第 2 行")


def test_xlsx_row_of_nested_markup_is_refused(tmp_path: Path) -> None:
    # One cell, a million rich-text runs: few cells, but the row's XML tree would still be huge.
    runs = Repeated(b'<row r="2"><c t="inlineStr"><is>', b"<r><t>x</t></r>", 1_000_000, b"</is></c></row>")
    exc = rejected(write_xlsx_parts(tmp_path / "a.xlsx", sheet_around(runs)))
    assert (exc.code, exc.row_no) == ("XLSX_ROW_TOO_LARGE", 2)


def test_xlsx_part_declared_over_the_limit_is_refused_before_inflating(tmp_path: Path) -> None:
    path = write_xlsx_parts(tmp_path / "a.xlsx", sheet_xml(HEADER),
                            declared={"xl/worksheets/sheet1.xml": 3 << 30})
    exc = rejected(path)
    assert exc.code == "XLSX_TOO_LARGE"
    assert "xl/worksheets/sheet1.xml" in exc.message


def test_xlsx_inflated_bytes_are_counted_while_reading(tmp_path: Path) -> None:
    # Each part within its own limit, and its size told truthfully; the total is found only by counting.
    row = b'<row><c t="inlineStr"><is><t>91230100XY00004C8M</t></is></c><c t="inlineStr"><is><t>x</t></is></c></row>'
    path = write_xlsx_parts(tmp_path / "a.xlsx", sheet_around(Repeated(b"", row, 200_000)))
    limits = XlsxLimits(total_bytes=1_000_000)
    with open_delivery(path, xlsx_limits=limits) as reader:
        seen = 0
        with pytest.raises(FileRejected) as info:
            for _ in reader.rows():
                seen += 1
    exc = info.value
    assert exc.code == "XLSX_TOO_LARGE"
    assert exc.row_no is not None and seen < exc.row_no < 200_000
    assert exc.message.startswith(f"第 {exc.row_no:,} 行附近")


def test_xlsx_shared_strings_bomb_is_refused(tmp_path: Path) -> None:
    # openpyxl keeps the table in memory: its size is told (340 MB here, refused before inflating) and its tags
    # are counted as they come (the same table, told to be smaller, with the tag limit lowered to keep it quick).
    sst = Repeated(f'{XML_HEAD}<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'.encode(),
                   b"<si><t>x</t></si>", 20_000_000, b"</sst>")
    path = write_xlsx_parts(tmp_path / "a.xlsx", sheet_xml(HEADER), shared_strings=sst)
    exc = rejected(path)
    assert exc.code == "XLSX_TOO_LARGE" and "xl/sharedStrings.xml" in exc.message
    sst.times = 1_000_000
    path = write_xlsx_parts(tmp_path / "b.xlsx", sheet_xml(HEADER), shared_strings=sst)
    started = time.perf_counter()
    exc = rejected(path, xlsx_limits=XlsxLimits(strings_tags=400_000))
    assert exc.code == "XLSX_TOO_LARGE" and "标记" in exc.message
    assert time.perf_counter() - started < 30


def test_xlsx_data_beyond_the_column_limit_is_refused(tmp_path: Path) -> None:
    far = (b'<row r="3"><c r="A3" t="inlineStr"><is><t>1</t></is></c>'
           b'<c r="AX3" t="inlineStr"><is><t>x</t></is></c></row>')
    exc = rejected(write_xlsx_parts(tmp_path / "a.xlsx", sheet_xml(HEADER + inline_row(2, ["1", "2"]) + far)),
                   max_columns=40)
    assert (exc.code, exc.row_no) == ("TOO_MANY_COLUMNS", 3)
    assert "AX" in exc.message
    # An empty (formatted) cell out there is harmless: spreadsheet programs write them.
    styled = b'<row r="3"><c r="A3" t="inlineStr"><is><t>1</t></is></c><c r="AX3" s="1"/></row>'
    _, rows = read_all(write_xlsx_parts(tmp_path / "b.xlsx", sheet_xml(HEADER + styled)), max_columns=40)
    assert [(r.row_no, r.values) for r in rows] == [(3, ["1", None])]


def test_header_wider_than_the_column_limit_is_refused(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.csv", ",".join(f"列{i}" for i in range(50)) + "\n"), max_columns=40)
    assert (exc.code, exc.row_no) == ("TOO_MANY_COLUMNS", 1)


def test_xlsx_with_a_document_type_declaration_is_refused(tmp_path: Path) -> None:
    # Entities declared in a DTD expand inside the parser, past every count made on the bytes.
    dtd = (f'{XML_HEAD}<!DOCTYPE worksheet [<!ENTITY x "<c t=\'inlineStr\'><is><t>x</t></is></c>">]>'
           f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
           f'<row r="1">&x;&x;</row></sheetData></worksheet>').encode()
    exc = rejected(write_xlsx_parts(tmp_path / "a.xlsx", dtd))
    assert exc.code == "XLSX_INVALID"
    assert "DTD" in exc.message


def test_xlsx_damaged_in_the_middle_is_refused_with_the_row(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", {"S": [["a", "b"]] + [[f"v{i}", i] for i in range(20_000)]})
    data = bytearray(good.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64  # the zip directory at the end is intact
    with open_delivery(write(tmp_path, "bad.xlsx", bytes(data))) as reader, pytest.raises(FileRejected) as info:
        list(reader.rows())
    assert info.value.code == "XLSX_INVALID"
    assert info.value.row_no is not None and info.value.row_no > 2
