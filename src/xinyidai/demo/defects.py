"""Real delivery files with real defects, loaded through the ordinary pipeline.

The deliveries page of a fresh demo should show what departments actually send: a GBK export from the tax
system with a few bad rows, a UTF-8-with-BOM utility file with an extra column and codes nobody registered,
an Excel workbook with a formula and a second sheet, a file so broken the threshold rejects it whole, and a
small correction that turns existing records into new versions. Each file is written to disk and handed to
`records.loading.ingest_file`, exactly as `xinyidai ingest` would.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from random import Random
from typing import Any

from xinyidai.catalog.schema import Catalog
from xinyidai.entities.codes import MAX_DEMO_SERIAL, USCC_ALPHABET, make_uscc
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.records.loading import ingest_file

from . import distributions as dist
from .categories import RecordGenerator, Samples
from .generator import DemoDelivery, Province

TAX_PROVIDER = "国家税务总局黑龙江省税务局"
ELECTRICITY_PROVIDER = "国网黑龙江省电力有限公司哈尔滨供电公司"
PENALTY_PROVIDER = "哈尔滨市市场监督管理局"
SI_PROVIDER = "哈尔滨市社会保险事业中心"
FORMULA = '=HYPERLINK("http://x","y")'

# (header as the department writes it, item code); "uscc" and "entity_name" are the subject columns.
TAX_COLUMNS = (("统一社会信用代码", "uscc"), ("企业名称", "entity_name"), ("税款所属期", "period"),
               ("纳税人类型", "taxpayer_type"), ("纳税信用等级", "tax_credit_grade"), ("销售收入", "declared_sales"),
               ("应纳税额", "tax_payable"), ("实缴税额", "tax_paid"), ("增值税实缴额", "vat_paid"),
               ("企业所得税实缴额", "cit_paid"), ("欠税金额", "tax_arrears"), ("是否欠税", "in_arrears"),
               ("申报状态", "filing_status"))
TAX_CORRECTION_COLUMNS = (("统一社会信用代码", "uscc"), ("企业名称", "entity_name"), ("所属期", "period"),
                          *TAX_COLUMNS[3:5], ("申报销售收入", "declared_sales"), *TAX_COLUMNS[6:])
ELECTRICITY_COLUMNS = (("统一社会信用代码", "uscc"), ("单位名称", "entity_name"), ("电费年月", "period"),
                       ("用电户号", "account_no"), ("用电类别", "usage_type"), ("合同容量", "capacity"),
                       ("用电量（千瓦时）", "usage"), ("应缴电费", "amount_due"), ("实缴电费", "amount_paid"),
                       ("欠费金额", "arrears"), ("缴费状态", "status"), ("抄表员", "_reader"))
PENALTY_COLUMNS = (("统一社会信用代码", "uscc"), ("主体名称", "entity_name"), ("行政处罚决定书文号", "decision_no"),
                   ("处罚类别", "penalty_type"), ("违法行为类型", "violation_type"), ("违法事实", "reason"),
                   ("处罚依据", "basis"), ("处罚内容", "penalty_content"), ("罚款金额（万元）", "fine_amount"),
                   ("没收违法所得、没收非法财物的金额（万元）", "confiscated_amount"), ("处罚决定日期", "decided_on"),
                   ("处罚机关", "authority"), ("处罚机关统一社会信用代码", "authority_uscc"),
                   ("公示截止期", "publicity_until"), ("是否已信用修复", "credit_repaired"))
SI_COLUMNS = (("统一社会信用代码", "uscc"), ("单位名称", "entity_name"), ("费款所属期", "period"),
              ("参保险种", "insurance_types"), ("参保人数", "insured_count"), ("缴费基数合计", "contribution_base"),
              ("应缴金额", "amount_due"), ("实缴金额", "amount_paid"), ("欠缴金额", "arrears"), ("缴费状态", "status"))

Progress = Callable[[str, int, int], None]


def text(value: Any) -> str:
    """A content value as a department's export writes it (the inverse of the row validator)."""
    if value is None:
        return ""
    if value is True:
        return "是"
    if value is False:
        return "否"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _row(columns: Sequence[tuple[str, str]], code: str, name: str, content: dict[str, Any]) -> list[str]:
    subject = {"uscc": code, "entity_name": name}
    return [subject[c] if c in subject else text(content.get(c)) for _, c in columns]


def _write_csv(path: Path, header: Sequence[str], rows: list[list[str]], encoding: str) -> None:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def _wrong_check_char(code: str) -> str:
    i = USCC_ALPHABET.index(code[17])
    return code[:17] + USCC_ALPHABET[(i + 7) % len(USCC_ALPHABET)]


def _month_after(d: date) -> str:
    return f"{d.year + 1}-01" if d.month == 12 else f"{d.year}-{d.month + 1:02d}"


def _defect_rows(rng: Random, n: int, share: float, at_least: int) -> list[int]:
    k = min(n, max(min(at_least, n // 10), round(n * share)))
    return sorted(rng.sample(range(n), k))


# ---------------------------------------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------------------------------------

def tax_gbk_file(path: Path, samples: Samples, rng: Random) -> bool:
    """(a) The latest month from the tax system, exported in GBK; ~3% of rows defective in five ways."""
    rows = [_row(TAX_COLUMNS, c, n, content) for c, n, content in samples.tax_latest]
    if not rows:
        return False
    col = {code: i for i, (_, code) in enumerate(TAX_COLUMNS)}
    future = _month_after(clock.today())
    for j, i in enumerate(_defect_rows(rng, len(rows), 0.03, 5)):
        row = rows[i]
        kind = j % 5
        if kind == 0:
            row[col["uscc"]] = _wrong_check_char(row[col["uscc"]])  # INVALID_USCC
        elif kind == 1:
            row[col["period"]] = future  # FUTURE_DATE
        elif kind == 2:
            row[col["tax_credit_grade"]] = "E"  # NOT_ALLOWED
        elif kind == 3:
            row[col["tax_paid"]] = text(-round(float(row[col["tax_paid"]] or 0) + 100.0, 2))  # OUT_OF_RANGE
        else:
            row[col["period"]] = ""  # REQUIRED
    _write_csv(path, [h for h, _ in TAX_COLUMNS], rows, "gbk")
    return True


def electricity_bom_file(path: Path, samples: Samples, rng: Random) -> bool:
    """(b) Harbin's latest electricity bills, UTF-8 with BOM, an extra 抄表员 column and a few entities that
    are not in the register (valid codes nobody registered)."""
    if not samples.electricity_latest:
        return False
    readers = [dist.random_person(rng) for _ in range(4)]
    rows = []
    for code, name, content in samples.electricity_latest:
        row = _row(ELECTRICITY_COLUMNS, code, name, content)
        row[-1] = readers[int(rng.random() * len(readers))]
        rows.append(row)
    template = samples.electricity_latest[0][2]
    unknown = max(1, min(5, len(rows) // 15))
    for i in range(unknown):
        code = make_uscc("230102", MAX_DEMO_SERIAL - 1 - i, "9", "1")
        name = f"哈尔滨{dist.BRANDS[int(rng.random() * len(dist.BRANDS))]}商贸有限公司"
        content = dict(template, account_no=f"2301{990_000 + i:06d}")
        row = _row(ELECTRICITY_COLUMNS, code, name, content)
        row[-1] = readers[0]
        rows.insert(int(rng.random() * (len(rows) + 1)), row)
    _write_csv(path, [h for h, _ in ELECTRICITY_COLUMNS], rows, "utf-8-sig")
    return True


def penalty_xlsx_file(path: Path, samples: Samples, gen: RecordGenerator, province: Province) -> bool:
    """(c) A city market regulator's workbook of new penalties: typed cells, one formula, a notes sheet."""
    from openpyxl import Workbook

    entities = samples.harbin_entities[:20]
    if len(entities) < 2:
        return False
    hi = province.as_of_ord
    contents = []
    for e in entities:
        lo = max(e.est_ord + 30, hi - 60)
        for c in gen.fresh_penalties(e, min(lo, hi), hi):
            contents.append((e.code, e.name, c))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("行政处罚")
    ws.append([h for h, _ in PENALTY_COLUMNS])
    formula_row = min(2, len(contents) - 1)
    for i, (code, name, c) in enumerate(contents):
        cells: list[Any] = []
        for _, item in PENALTY_COLUMNS:
            if item == "uscc":
                cells.append(code)
            elif item == "entity_name":
                cells.append(name)
            elif item in ("decided_on", "publicity_until"):
                cells.append(date.fromisoformat(c[item]) if c.get(item) else None)
            elif item == "credit_repaired":
                cells.append(text(c.get(item)) or None)
            else:
                cells.append(c.get(item))
        if i == formula_row:
            cells[[code for _, code in PENALTY_COLUMNS].index("violation_type")] = FORMULA
        ws.append(cells)
    notes = wb.create_sheet("填报说明")
    notes.append(["填报说明"])
    notes.append(["1. 本表按《行政处罚信息数据规范》填报，每行一份处罚决定书。"])
    notes.append(["2. 罚款金额、没收金额单位为万元。"])
    wb.save(path)
    _freeze_zip(path, datetime(province.as_of.year, province.as_of.month, province.as_of.day, 1, 0, 0))
    return True


def _freeze_zip(path: Path, when: datetime) -> None:
    """Give the workbook fixed timestamps (openpyxl stamps the save time into docProps/core.xml and every
    zip entry), so that the same seed writes the same bytes and the delivery gets the same digest."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info.filename)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w") as zout:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            fixed = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            zout.writestr(fixed, data)


def social_insurance_broken_file(path: Path, samples: Samples, rng: Random) -> bool:
    """(d) Social insurance for the latest month where 40% of rows are broken: rejected whole."""
    rows = [_row(SI_COLUMNS, c, n, content) for c, n, content in samples.si_latest]
    if len(rows) < 5:
        return False
    col = {code: i for i, (_, code) in enumerate(SI_COLUMNS)}
    for j, i in enumerate(sorted(rng.sample(range(len(rows)), round(len(rows) * 0.4)))):
        row = rows[i]
        kind = j % 4
        if kind == 0:
            row[col["insured_count"]] = "十二"  # BAD_NUMBER
        elif kind == 1:
            row[col["period"]] = f"{row[col['period']][:4]}年13月"  # BAD_MONTH
        elif kind == 2:
            row[col["status"]] = "停缴"  # NOT_ALLOWED
        else:
            row[col["uscc"]] = row[col["uscc"]][:17]  # INVALID_USCC (17 characters)
    _write_csv(path, [h for h, _ in SI_COLUMNS], rows, "utf-8")
    return True


def tax_correction_file(path: Path, samples: Samples) -> bool:
    """(e) The tax office corrects a few declarations of an earlier month; the others are repeated as they
    were, so the report shows both 更正 and 未变."""
    if len(samples.tax_previous) < 2:
        return False
    rows = []
    changed = max(1, len(samples.tax_previous) * 6 // 10)
    for i, (code, name, content) in enumerate(samples.tax_previous):
        c = dict(content)
        if i < changed:
            if c.get("declared_sales") is not None:
                c["declared_sales"] = round(c["declared_sales"] * 1.08 + 100.0, 2)
                c["tax_payable"] = round((c.get("tax_payable") or 0.0) * 1.08 + 3.0, 2)
                c["tax_paid"] = round(c["tax_payable"] + (c.get("tax_arrears") or 0.0), 2)
                c["tax_arrears"], c["in_arrears"] = 0.0, False
                c["filing_status"] = "正常申报"
            else:
                c["filing_status"] = "逾期申报"
        rows.append(_row(TAX_CORRECTION_COLUMNS, code, name, c))
    _write_csv(path, [h for h, _ in TAX_CORRECTION_COLUMNS], rows, "utf-8")
    return True


# ---------------------------------------------------------------------------------------------------------
# Writing and loading them
# ---------------------------------------------------------------------------------------------------------

def deliver_defective_files(db: Database, catalog: Catalog, province: Province, gen: RecordGenerator,
                            target: Path, *, progress: Progress | None = None) -> list[DemoDelivery]:
    samples = gen.samples
    rng = province.rng  # continues the province's stream: still determined by the seed
    target.mkdir(parents=True, exist_ok=True)
    latest = province.periods[-1].label
    previous = province.periods[gen.correction_index].label
    month = f"{province.as_of.year}年{province.as_of.month}月"
    plan: list[tuple[str, str, str, Callable[[Path], bool]]] = [
        ("tax", TAX_PROVIDER, f"{latest}纳税申报信息（GBK）.csv", lambda p: tax_gbk_file(p, samples, rng)),
        ("electricity", ELECTRICITY_PROVIDER, f"哈尔滨供电公司{latest}电费.csv",
         lambda p: electricity_bom_file(p, samples, rng)),
        ("penalty", PENALTY_PROVIDER, f"哈尔滨市行政处罚信息{month}.xlsx",
         lambda p: penalty_xlsx_file(p, samples, gen, province)),
        ("social_insurance", SI_PROVIDER, f"哈尔滨市{latest}社会保险缴费.csv",
         lambda p: social_insurance_broken_file(p, samples, rng)),
        ("tax", TAX_PROVIDER, f"{previous}纳税信息更正.csv", lambda p: tax_correction_file(p, samples)),
    ]
    plan = [step for step in plan if step[0] in catalog.codes]
    out: list[DemoDelivery] = []
    for i, (category, provider, filename, write) in enumerate(plan, 1):
        path = target / filename
        if write(path):
            d, _ = ingest_file(db, catalog, path, provider=provider, category=category, submitted_by="demo",
                               source="demo")
            out.append(DemoDelivery(d.id, category, provider, d.filename, d.status, d.rows_total, d.rows_rejected,
                                    d.error_code))
        if progress:
            progress("deliveries", i, len(plan))
    return out
