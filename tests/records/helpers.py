"""Writing small delivery files for tests, and snapshotting the store to prove nothing changed."""

from __future__ import annotations

import csv
import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from xinyidai.entities.codes import make_uscc
from xinyidai.kit.db import Database

REG_HEADER = ["统一社会信用代码", "主体名称", "主体类型", "法定代表人", "成立日期", "登记机关", "所属行政区划",
              "国民经济行业代码", "登记状态", "注册资本"]
TAX_HEADER = ["统一社会信用代码", "主体名称", "所属期", "纳税信用等级", "应纳税额", "实缴税额", "欠税金额", "是否欠税",
              "申报状态"]


def codes(n: int, region: str = "230100", start: int = 1) -> list[str]:
    return [make_uscc(region, start + i) for i in range(n)]


def write_csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def registration_rows(entity_codes: list[str]) -> list[list[object]]:
    return [[c, f"哈尔滨测试{i}有限公司", "企业", "张三", "2015-03-0" + str(1 + i % 9), "哈尔滨市市场监督管理局",
             "230102", "5211", "存续", f"{100 + i}"] for i, c in enumerate(entity_codes)]


def tax_rows(entity_codes: list[str], months: list[str], grade: str = "A") -> list[list[object]]:
    return [[c, f"测试{i}", m, grade, "1000.00", "1000.00", "0", "否", "正常申报"]
            for i, c in enumerate(entity_codes) for m in months]


def snapshot(db: Database) -> str:
    """A digest of everything the store holds about entities and records (not the delivery log)."""
    h = hashlib.sha256()
    with db.engine.connect() as conn:
        for table, order in (("entities", "code"), ("credit_records", "id")):
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}")):  # noqa: S608 - fixed names
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def count(db: Database, sql: str) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


# ---- hand-made workbooks: decompression bombs and other hostile XLSX files --------------------------------

SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '{sst}</Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="xl/workbook.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
        '</Relationships>'),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<workbook xmlns="{SHEET_NS}" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
        '{sst}</Relationships>'),
}
_SST_TYPE = ('<Override PartName="/xl/sharedStrings.xml" '
             'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
_SST_REL = ('<Relationship Id="rId2" Target="sharedStrings.xml" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>')
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


@dataclass
class Repeated:
    """A part's bytes as `head`, `unit` × `times`, `tail`: deflated without compressing every copy."""

    head: bytes
    unit: bytes = b""
    times: int = 0
    tail: bytes = b""

    def deflated(self) -> tuple[bytes, int, int]:
        """(raw deflate stream, CRC-32, inflated size). A full flush resets the compressor's history, so every
        copy of the unit compresses to the same bytes: compress it once and repeat the result. A few hundred
        kilobytes on disk can so stand for a gigabyte inflated, made in well under a second."""
        per_block = max(1, (1 << 20) // max(len(self.unit), 1))  # units in a block of about 1 MB
        blocks, rest = divmod(self.times, per_block)
        block, last = self.unit * per_block, self.head + self.unit * rest + self.tail
        co = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = co.compress(block) + co.flush(zlib.Z_FULL_FLUSH) if blocks else b""
        head = co.compress(self.head) + co.flush(zlib.Z_FULL_FLUSH)
        tail = co.compress(self.unit * rest + self.tail) + co.flush()
        crc = zlib.crc32(self.head)
        for _ in range(blocks):
            crc = zlib.crc32(block, crc)
        crc = zlib.crc32(last[len(self.head):], crc)
        return head + packed * blocks + tail, crc, len(self.head) + len(self.unit) * self.times + len(self.tail)


def write_xlsx_parts(path: Path, sheet: Repeated | bytes, shared_strings: Repeated | bytes | None = None,
                     declared: dict[str, int] | None = None) -> Path:
    """A minimal workbook (one worksheet 数据, optional shared strings) written byte by byte, so a test can
    build what no spreadsheet program writes. `declared` overrides a part's inflated size in the zip
    directory (a lie, as a hostile file may tell)."""
    sst = shared_strings is not None
    parts: dict[str, Repeated | bytes] = {
        name: text.format(sst=(_SST_TYPE if name.startswith("[") else _SST_REL) if sst else "").encode()
        for name, text in _XLSX_PARTS.items()}
    parts["xl/worksheets/sheet1.xml"] = sheet
    if shared_strings is not None:
        parts["xl/sharedStrings.xml"] = shared_strings
    local, central = bytearray(), bytearray()
    for name, part in parts.items():
        data, crc, size = (part if isinstance(part, Repeated) else Repeated(part)).deflated()
        size = (declared or {}).get(name, size)
        raw = name.encode()
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(raw), 0)
        local += raw + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), size,
                               len(raw), 0, 0, 0, 0, 0, offset) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(parts), len(parts), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def inline_row(row_no: int, values: list[str]) -> bytes:
    cells = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values)
    return f'<row r="{row_no}">{cells}</row>'.encode()


def sheet_xml(rows: bytes) -> bytes:
    return f'{XML_HEAD}<worksheet xmlns="{SHEET_NS}"><sheetData>'.encode() + rows + b"</sheetData></worksheet>"
