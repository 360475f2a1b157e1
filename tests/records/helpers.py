"""Writing small delivery files for tests, and snapshotting the store to prove nothing changed."""

from __future__ import annotations

import csv
import hashlib
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
