"""Annual key-project lists (年度重点项目清单): imported from the file a development-and-reform department
publishes, checked row by row, stored as a list of kind `key_projects` and pushed like a white list.

The file is CSV (UTF-8 with or without BOM, GBK/GB18030 — the delivery readers detect which) or XLSX,
with a header row naming the columns below (full- or half-width brackets, units optional). Every row is
checked — required fields, the construction unit's 统一社会信用代码 (GB 32100, check digits included),
amounts as non-negative numbers, the year's planned investment not above the total — and any bad row
rejects the whole file with every problem listed by row number: a list pushed to banks is all or nothing.

An entry is one construction unit (the table allows one entry per entity per list): its projects are kept
in `detail["projects"]`. The list's digest is the SM3 of its sorted entries, so the same file — or the same
content saved again in another encoding — imported twice is recognised and refused as a duplicate.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.entities.codes import InvalidUSCC, validate_uscc
from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, DomainError, InvalidInput
from xinyidai.kit.principal import Principal
from xinyidai.lists import whitelists
from xinyidai.lists.models import WhiteList
from xinyidai.network import relay
from xinyidai.records.readers import open_delivery

MAX_BYTES = 20 * 1024 * 1024
MAX_ERRORS = 200  # listed; beyond this the count is given


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    required: bool = False
    amount: bool = False  # 万元, a non-negative number


COLUMNS = (
    Column("name", "项目名称", required=True),
    Column("number", "项目编号", required=True),
    Column("unit", "建设单位", required=True),
    Column("uscc", "统一社会信用代码", required=True),
    Column("region", "所在地区"),
    Column("total_investment", "总投资（万元）", required=True, amount=True),
    Column("annual_investment", "年度计划投资（万元）", amount=True),
    Column("financing_need", "融资需求（万元）", amount=True),
    Column("type", "项目类型"),
    Column("period", "建设年限"),
)
_UNIT = re.compile(r"[（(]\s*万元\s*[）)]$")
# Other names the same columns go by in published lists.
ALIASES = {"项目代码": "number", "项目单位": "unit", "建设单位名称": "unit", "信用代码": "uscc",
           "建设单位统一社会信用代码": "uscc", "建设地点": "region", "所属地区": "region", "地区": "region",
           "计划总投资": "total_investment", "年度投资": "annual_investment", "年度计划投资额": "annual_investment",
           "融资需求额": "financing_need", "建设起止年限": "period", "建设期限": "period", "项目类别": "type"}


def _header_key(h: str) -> str | None:
    t = _UNIT.sub("", h.strip().replace(" ", ""))
    for c in COLUMNS:
        if t == _UNIT.sub("", c.label):
            return c.key
    return ALIASES.get(t)


def _amount(v: str) -> Decimal:
    d = Decimal(v.replace(",", "").replace("，", "").strip())
    if not d.is_finite():
        raise InvalidOperation
    return d


def _num(d: Decimal) -> float | int:
    return int(d) if d == d.to_integral_value() else float(d)


class KeyProjectsRejected(InvalidInput):
    code = "KEYPROJECTS_INVALID"
    message = "文件不符合要求，整个文件未导入"


def _rows(path: Path, filename: str) -> Iterator[tuple[int, dict[str, str | None], str | None]]:
    """(row number, {column key: value}, structural problem) for each data row."""
    with open_delivery(path, filename) as reader:
        keys = [_header_key(h) for h in reader.headers]
        missing = [c.label for c in COLUMNS if c.required and c.key not in keys]
        if missing:
            raise KeyProjectsRejected(f"缺少必需的列：{'、'.join(missing)}（表头应包含："
                                      f"{'、'.join(c.label for c in COLUMNS)}）", code="KEYPROJECTS_COLUMNS")
        for row in reader.rows():
            values = {k: (v if isinstance(v, str) else None)
                      for k, v in zip(keys, row.values, strict=False) if k}
            problem = row.problem
            if problem is None and any(v is not None and not isinstance(v, str) for v in row.values):
                problem = "含有公式单元格，请粘贴为数值后重新导入"
            yield row.row_no, values, problem


def parse_file(data: bytes, filename: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(projects, row errors) of a key-project file; file-level problems raise."""
    if not data:
        raise KeyProjectsRejected("文件是空的", code="FILE_EMPTY")
    if len(data) > MAX_BYTES:
        raise KeyProjectsRejected(f"文件超过 {MAX_BYTES // 1024 // 1024} MB 上限", code="FILE_TOO_LARGE")
    suffix = Path(filename or "").suffix.lower() or ".csv"
    projects: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    first_row_of: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="xyd-kp-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        for row_no, v, problem in _rows(path, filename or path.name):
            problems = [problem] if problem else []
            for c in COLUMNS:
                if c.required and not v.get(c.key):
                    problems.append(f"「{c.label}」不能为空")
            uscc = v.get("uscc")
            if uscc:
                try:
                    uscc = validate_uscc(uscc)
                except InvalidUSCC as exc:
                    problems.append(exc.message)
            amounts: dict[str, Decimal] = {}
            for c in COLUMNS:
                if c.amount and v.get(c.key):
                    try:
                        amounts[c.key] = _amount(v[c.key])  # type: ignore[arg-type]
                    except (InvalidOperation, ValueError):
                        problems.append(f"「{c.label}」应为数字，实际为“{v[c.key]}”")
                        continue
                    if amounts[c.key] < 0:
                        problems.append(f"「{c.label}」不能为负数")
            total, annual = amounts.get("total_investment"), amounts.get("annual_investment")
            if total is not None and annual is not None and annual > total:
                problems.append("年度计划投资不能大于总投资")
            number = v.get("number")
            if number:
                if number in first_row_of:
                    problems.append(f"项目编号“{number}”与第 {first_row_of[number]} 行重复")
                else:
                    first_row_of[number] = row_no
            for c in COLUMNS:
                if v.get(c.key) and len(v[c.key]) > 200:  # type: ignore[arg-type]
                    problems.append(f"「{c.label}」超过 200 字")
            if problems:
                errors.append({"row": row_no, "message": "；".join(problems)})
                continue
            projects.append({"uscc": uscc, "unit": v["unit"], **{
                c.key: (_num(amounts[c.key]) if c.amount and c.key in amounts else v.get(c.key))
                for c in COLUMNS if c.key not in ("uscc", "unit")}})
    if not projects and not errors:
        raise KeyProjectsRejected("文件中没有项目（只有表头）", code="FILE_EMPTY")
    return projects, errors


def entries_of(projects: list[dict[str, Any]], year: int) -> list[dict[str, Any]]:
    """One entry per construction unit, its projects in file order, with reasons in Chinese."""
    by_unit: dict[str, dict[str, Any]] = {}
    for p in projects:
        e = by_unit.setdefault(p["uscc"], {"entity_code": p["uscc"], "entity_name": p["unit"], "grade": None,
                                           "score": None, "reasons": [],
                                           "detail": {"year": year, "projects": []}})
        e["detail"]["projects"].append({k: p.get(k) for k, _ in whitelists.PROJECT_FIELDS})
        need = f"，融资需求 {p['financing_need']} 万元" if p.get("financing_need") not in (None, 0) else ""
        e["reasons"].append(f"列入{year}年度重点项目清单：{p['name']}（{p['number']}）{need}")
    return [by_unit[k] for k in sorted(by_unit)]


def import_file(s: Session, data: bytes, filename: str, year: int, actor: Principal | str,
                node: relay.NodeContext | str) -> WhiteList:
    """Check and store a key-project list, then publish it. Any bad row rejects the file (nothing stored),
    with every row's problems in `detail["errors"]`; the same list imported again is a DUPLICATE_FILE."""
    who = whitelists.require_role(actor, whitelists.MANAGERS)
    this_year = clock.today().year
    if not isinstance(year, int) or not 2000 <= year <= this_year + 5:
        raise InvalidInput(f"年度应在 2000–{this_year + 5} 之间", code="BAD_YEAR")
    try:
        projects, errors = parse_file(data, filename)
    except KeyProjectsRejected:
        raise
    except DomainError as exc:  # the reader's own refusals (encoding, format …)
        raise KeyProjectsRejected(exc.message, code=exc.code, detail=exc.detail) from None
    if errors:
        shown = errors[:MAX_ERRORS]
        more = f"（仅列出前 {MAX_ERRORS} 行）" if len(errors) > MAX_ERRORS else ""
        raise KeyProjectsRejected(f"文件中有 {len(errors)} 行不符合要求，整个文件未导入{more}",
                                  detail={"errors": shown, "total": len(errors)})
    entries = entries_of(projects, year)
    digest = whitelists.entries_digest(whitelists.entry_row(e) for e in entries)
    held = s.execute(select(WhiteList).where(WhiteList.kind == "key_projects", WhiteList.digest == digest)
                     .limit(1)).scalar_one_or_none()
    if held is not None:
        raise Conflict(f"该清单已于 {held.created_at.astimezone(clock.CHINA_TZ):%Y-%m-%d %H:%M} 导入"
                       f"（编号 {held.number}），未重复导入", code="DUPLICATE_FILE", detail={"number": held.number})
    code = whitelists.node_code_of(node)
    wl = WhiteList(number=whitelists.next_number(s, f"KP-{code}-{year}"), kind="key_projects",
                   name=f"{year}年度重点项目清单", rule_id=None, year=year, as_of=clock.today(), origin_node=code,
                   entries=len(entries), digest=digest, status="published", created_at=clock.now(),
                   created_by=who)
    whitelists.store_list(s, wl, entries)
    delivered = whitelists.publish(s, wl, node)
    audit.record(s, who, "keyprojects.imported", f"whitelist:{wl.number}", year=year, filename=filename[:200],
                 file_digest=sm3_hex(data), projects=len(projects), entries=len(entries), digest=digest,
                 delivered=delivered)
    return wl


__all__ = ["COLUMNS", "KeyProjectsRejected", "entries_of", "import_file", "parse_file"]
