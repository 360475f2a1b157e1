"""Row validation against the catalogue.

A `RowValidator` is compiled once per delivery from the category and the file's header: a list of column
checks, each a small converter function. Per row it returns the typed content or the row's problems.
Converters raise `Bad`, which is cheap enough because only bad rows pay for it (the hot path is a loop over
precompiled functions, measured in bench/ingest.py).
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from xinyidai.catalog.schema import SUBJECT_CODE, SUBJECT_NAME, Category, Item, normalise_header
from xinyidai.entities.codes import InvalidIdNumber, InvalidUSCC, validate_id_number, validate_uscc
from xinyidai.entities.industries import is_valid_industry
from xinyidai.entities.regions import is_valid_region
from xinyidai.kit import clock

# A text cell beginning with one of these is executed by spreadsheet programs when the data is exported
# again (CSV/formula injection, OWASP). Numbers like -5 are converted before this check applies.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_VALUE_SHOWN = 60
# The subject's name column is no item of any category, but it is text like the items, and it is stored (the
# register's entity names): the same rules apply, the length being the register's column.
NAME_ITEM = Item(code=SUBJECT_NAME, name="主体名称", type="string", max_length=200)


class Bad(Exception):
    """A value that does not fit its item; code for programs, message for people."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Issue:
    row_no: int | None
    field: str | None
    value: str | None
    code: str
    message: str
    severity: str = "error"


@dataclass
class ValidRow:
    row_no: int
    entity_code: str
    entity_name: str | None
    content: dict[str, Any]
    period_start: str | None  # ISO date
    period_end: str | None


@dataclass
class HeaderMapping:
    """Which column feeds which item; what could not be mapped."""

    columns: dict[str, int] = field(default_factory=dict)  # item code → column index
    unknown: list[str] = field(default_factory=list)
    missing_required: list[Item] = field(default_factory=list)


def map_headers(category: Category, headers: list[str]) -> HeaderMapping:
    m = HeaderMapping()
    hm = category.header_map
    for idx, h in enumerate(headers):
        code = hm.get(normalise_header(h))
        if code is None:
            m.unknown.append(h)
        elif code not in m.columns:
            m.columns[code] = idx
    m.missing_required = [i for i in category.items if i.required and i.code not in m.columns]
    return m


def shown(value: str) -> str:
    return value if len(value) <= MAX_VALUE_SHOWN else value[:MAX_VALUE_SHOWN] + "…"


def _bound(value: float) -> str:
    """A catalogue bound in full digits: 0, 10000000, 0.5."""
    return str(int(value)) if value.is_integer() else repr(value)


# ---- converters -------------------------------------------------------------------------------------

_DATE_RES = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)
_MONTH_RES = (
    re.compile(r"^(\d{4})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月$"),
)
_TRUE = {"是", "true", "TRUE", "True", "1", "Y", "y", "yes"}
_FALSE = {"否", "false", "FALSE", "False", "0", "N", "n", "no"}


def _parse_date(raw: str) -> date:
    # The common ISO case first, without a regex.
    if len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
        try:
            return date(int(raw[:4]), int(raw[5:7]), int(raw[8:]))
        except ValueError:
            pass
    text = raw[:10] if len(raw) == 19 and raw[10] == " " else raw  # "YYYY-MM-DD 00:00:00" from spreadsheets
    for rx in _DATE_RES:
        mt = rx.match(text)
        if mt:
            y, mo, d = (int(g) for g in mt.groups())
            try:
                return date(y, mo, d)
            except ValueError:
                raise Bad("BAD_DATE", f"日期「{shown(raw)}」不存在（{y} 年 {mo} 月没有 {d} 日）") from None
    raise Bad("BAD_DATE", f"日期「{shown(raw)}」格式不正确，应为 YYYY-MM-DD，例如 2024-06-30")


def make_converter(item: Item, today: date | None = None) -> Callable[[str], Any]:  # noqa: C901
    """One converter per item type. `today` is fixed when a delivery starts, not read per value."""
    t = item.type
    lo, hi = item.min, item.max
    today = today or clock.today()

    def ranged(v: float, raw: str) -> None:
        # The value as the provider wrote it: `:g` would round -66743.55 to -66743.6, or print 1e+07.
        if lo is not None and v < lo:
            raise Bad("OUT_OF_RANGE", f"数值 {shown(raw)} 小于允许的最小值 {_bound(lo)}")
        if hi is not None and v > hi:
            raise Bad("OUT_OF_RANGE", f"数值 {shown(raw)} 大于允许的最大值 {_bound(hi)}")

    if t == "string":
        maxlen = item.max_length

        def conv(raw: str) -> str:
            if len(raw) > maxlen:
                raise Bad("TOO_LONG", f"长度 {len(raw):,} 字超过上限 {maxlen:,} 字")
            if raw.startswith(FORMULA_PREFIXES):
                raise Bad("FORMULA_INJECTION",
                          "以 = + - @ 开头的文本可能被电子表格当作公式执行，出于安全原因不予接收；如确为文本，请去掉开头符号")
            return raw
        return conv

    if t == "integer":
        def conv(raw: str) -> int:
            try:
                v = int(raw.replace(",", ""))
            except ValueError:
                try:
                    f = float(raw.replace(",", ""))
                except ValueError:
                    raise Bad("BAD_NUMBER", f"「{shown(raw)}」不是整数") from None
                if not f.is_integer():
                    raise Bad("BAD_NUMBER", f"「{shown(raw)}」不是整数") from None
                v = int(f)
            ranged(v, raw)
            return v
        return conv

    if t == "decimal":
        def conv(raw: str) -> float:
            try:
                v = float(raw)
            except ValueError:
                try:
                    v = float(raw.replace(",", ""))  # 1,234.50 as spreadsheets write it
                except ValueError:
                    raise Bad("BAD_NUMBER", f"「{shown(raw)}」不是数值") from None
            if not math.isfinite(v):
                raise Bad("BAD_NUMBER", f"「{shown(raw)}」不是有限数值")
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                ranged(v, raw)
            return v
        return conv

    if t == "date":
        allow_future = item.allow_future

        def conv(raw: str) -> str:
            d = _parse_date(raw)
            if d.year < 1900:
                raise Bad("BAD_DATE", f"日期 {d.isoformat()} 早于 1900 年，不合常理")
            if not allow_future and d > today:
                raise Bad("FUTURE_DATE", f"日期 {d.isoformat()} 晚于今天（{today.isoformat()}），请核对")
            return d.isoformat()
        return conv

    if t == "month":
        allow_future = item.allow_future
        this_month = (today.year, today.month)
        seen: dict[str, str] = {}  # a delivery has few distinct periods: judge each once

        def conv(raw: str) -> str:
            hit = seen.get(raw)
            if hit is not None:
                return hit
            value = judge(raw)
            if len(seen) < 10_000:
                seen[raw] = value
            return value

        def judge(raw: str) -> str:
            ym = None
            if len(raw) == 7 and raw[4] == "-":
                ym = (raw[:4], raw[5:])
            else:
                for rx in _MONTH_RES:
                    mt = rx.match(raw)
                    if mt:
                        ym = mt.groups()
                        break
            if ym is None or not (ym[0].isdigit() and ym[1].isdigit()):
                raise Bad("BAD_MONTH", f"年月「{shown(raw)}」格式不正确，应为 YYYY-MM，例如 2024-06")
            y, mo = int(ym[0]), int(ym[1])
            if not 1 <= mo <= 12 or y < 1900:
                raise Bad("BAD_MONTH", f"年月「{shown(raw)}」不存在")
            if not allow_future and (y, mo) > this_month:
                raise Bad("FUTURE_DATE", f"所属期 {y}-{mo:02d} 晚于本月，请核对")
            return f"{y:04d}-{mo:02d}"
        return conv

    if t == "year":
        def conv(raw: str) -> str:
            text = raw.removesuffix("年")
            if not (len(text) == 4 and text.isdigit()):
                raise Bad("BAD_YEAR", f"年份「{shown(raw)}」格式不正确，应为四位数字，例如 2024")
            if not 1900 <= int(text) <= today.year and not item.allow_future:
                raise Bad("FUTURE_DATE", f"年份 {text} 不在 1900 年至今年之间")
            return text
        return conv

    if t == "boolean":
        def conv(raw: str) -> bool:
            if raw in _TRUE:
                return True
            if raw in _FALSE:
                return False
            raise Bad("BAD_BOOLEAN", f"「{shown(raw)}」应为 是 或 否")
        return conv

    if t == "enum":
        allowed = frozenset(item.allowed or ())
        listing = "、".join(item.allowed or ())

        def conv(raw: str) -> str:
            if raw not in allowed:
                raise Bad("NOT_ALLOWED", f"「{shown(raw)}」不在允许的取值中（{listing}）")
            return raw
        return conv

    if t == "uscc":
        return _uscc_converter()

    if t == "id_number":
        def conv(raw: str) -> str:
            try:
                return validate_id_number(raw)
            except InvalidIdNumber as exc:
                raise Bad(exc.code, exc.message) from None
        return conv

    if t == "region":
        def conv(raw: str) -> str:
            if not is_valid_region(raw):
                raise Bad("BAD_REGION", f"「{shown(raw)}」不是有效的行政区划代码（GB/T 2260，6 位数字）")
            return raw
        return conv

    if t == "industry":
        def conv(raw: str) -> str:
            code = raw.upper()
            if not is_valid_industry(code):
                raise Bad("BAD_INDUSTRY", f"「{shown(raw)}」不是有效的国民经济行业代码（GB/T 4754-2017）")
            return code
        return conv

    raise ValueError(f"unknown item type {t}")


def _uscc_converter() -> Callable[[str], str]:
    # Deliveries repeat the same entity across periods: remember verdicts (bounded, so memory stays flat).
    ok: dict[str, str] = {}

    def conv(raw: str) -> str:
        hit = ok.get(raw)
        if hit is not None:
            return hit
        try:
            code = validate_uscc(raw)
        except InvalidUSCC as exc:
            raise Bad(exc.code, exc.message) from None
        if len(ok) > 20_000:  # rows of one entity come together; a small memory suffices
            ok.clear()
        ok[raw] = code
        return code
    return conv


def period_bounds(item: Item | None, value: Any) -> tuple[date | None, date | None]:
    if item is None or value is None:
        return None, None
    if item.type == "date":
        d = date.fromisoformat(value)
        return d, d
    if item.type == "month":
        y, m = int(value[:4]), int(value[5:7])
        return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])
    y = int(value)
    return date(y, 1, 1), date(y, 12, 31)


class RowValidator:
    """Compiled checks for one category and one header layout."""

    def __init__(self, category: Category, headers: list[str]) -> None:
        self.category = category
        self.headers = headers
        self.mapping = map_headers(category, headers)
        cols = self.mapping.columns
        today = clock.today()
        self.subject_idx = cols.get(SUBJECT_CODE)
        self.name_idx = cols.get(SUBJECT_NAME)
        self.ncols = len(headers)
        self.checks: list[tuple[int, str, str, bool, Callable[[str], Any]]] = [
            (cols[i.code], i.code, headers[cols[i.code]], i.required, make_converter(i, today))
            for i in category.items if i.code in cols
        ]
        self.subject_conv = _uscc_converter()
        self.name_conv = make_converter(NAME_ITEM, today)
        self.name_header = headers[self.name_idx] if self.name_idx is not None else NAME_ITEM.name
        self.period_item = category.item(category.period) if category.period else None
        self._bounds: dict[Any, tuple[str | None, str | None]] = {}

    def bounds(self, value: Any) -> tuple[str | None, str | None]:
        """The period as ISO dates (text binds faster than date objects, and both engines accept it)."""
        b = self._bounds.get(value)
        if b is None:
            start, end = period_bounds(self.period_item, value)
            b = (start.isoformat() if start else None, end.isoformat() if end else None)
            if len(self._bounds) < 10_000:
                self._bounds[value] = b
        return b

    def validate(self, row_no: int, values: list[str | None]) -> tuple[ValidRow | None, list[Issue]]:
        issues: list[Issue] = []
        entity_code = ""
        if self.subject_idx is not None:
            raw = values[self.subject_idx]
            if raw is None:
                issues.append(Issue(row_no, "统一社会信用代码", None, "REQUIRED", "统一社会信用代码为必填项"))
            else:
                try:
                    entity_code = self.subject_conv(raw)
                except Bad as b:
                    issues.append(Issue(row_no, "统一社会信用代码", shown(raw), b.code, b.message))
        name = values[self.name_idx] if self.name_idx is not None else None
        if name is not None:
            try:
                self.name_conv(name)
            except Bad as b:
                issues.append(Issue(row_no, self.name_header, shown(name), b.code, b.message))
        content: dict[str, Any] = {}
        for idx, code, header, required, conv in self.checks:
            raw = values[idx]
            if raw is None:
                if required:
                    issues.append(Issue(row_no, header, None, "REQUIRED", f"「{header}」为必填项，不能为空"))
                continue
            try:
                content[code] = conv(raw)
            except Bad as b:
                issues.append(Issue(row_no, header, shown(raw), b.code, b.message))
        if issues:
            return None, issues
        start, end = self.bounds(content.get(self.period_item.code)) if self.period_item else (None, None)
        return ValidRow(row_no, entity_code, name, content, start, end), issues
