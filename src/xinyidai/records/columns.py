"""Column-wise checking of a batch: the loading hot path.

Checking a batch column by column lets most cells pass through a list comprehension (a set lookup, a
regular expression, a dictionary of values already judged) instead of a Python call per cell. Any cell the
fast path does not accept outright — an unusual format, an out-of-range number, an error — goes to the
item's converter, the single source of truth, so the outcome is exactly that of `RowValidator.validate`
(a property test holds them equal).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from xinyidai.catalog.schema import Item
from xinyidai.records.canonical import SM3_PREPARED, record_key
from xinyidai.records.validation import FORMULA_PREFIXES, NAME_ITEM, Bad, Issue, shown

if TYPE_CHECKING:
    from xinyidai.records.validation import RowValidator

SLOW = object()  # "ask the converter"
_DECIMAL = re.compile(r"-?\d{1,15}(?:\.\d{1,10})?\Z")
_INTEGER = re.compile(r"-?\d{1,15}\Z")
_CACHED_TYPES = {"date", "month", "year", "boolean", "region", "industry", "uscc", "id_number"}
_CACHE_LIMIT = 10_000  # per column; bounded so memory does not grow with the file

FastPath = Callable[[tuple], list]


def _fast_path(item: Item, conv: Callable[[str], Any]) -> FastPath:
    """A function from a column of raw cells to values, None (empty) or SLOW, per the item's type."""
    t = item.type
    lo, hi = item.min, item.max
    if t == "string":
        maxlen = item.max_length
        return lambda col: [v if v is None or (len(v) <= maxlen and not v.startswith(FORMULA_PREFIXES))
                            else SLOW for v in col]
    if t == "enum":
        allowed = frozenset(item.allowed or ())
        return lambda col: [v if v is None or v in allowed else SLOW for v in col]
    if t in ("decimal", "integer"):
        rx, cast = (_DECIMAL, float) if t == "decimal" else (_INTEGER, int)

        def numbers(col: tuple) -> list:
            out = [None if v is None else (cast(v) if rx.match(v) else SLOW) for v in col]
            if lo is not None or hi is not None:
                low = float("-inf") if lo is None else lo
                high = float("inf") if hi is None else hi
                out = [x if x is None or x is SLOW or low <= x <= high else SLOW for x in out]
            return out
        return numbers
    if t in _CACHED_TYPES:
        # Few distinct values per delivery (periods, dates, codes repeated across months): judge each once.
        seen: dict[str, Any] = {}

        def cached(col: tuple) -> list:
            get = seen.get
            out = [None if v is None else get(v, SLOW) for v in col]
            if SLOW in out:
                if len(seen) >= _CACHE_LIMIT:
                    seen.clear()  # start afresh: recent values are the likely ones
                for i, x in enumerate(out):
                    if x is SLOW:
                        raw = col[i]
                        with contextlib.suppress(Bad):  # a bad cell stays SLOW: the converter states it below
                            seen[raw] = out[i] = conv(raw)
            return out
        return cached
    return lambda col: [None if v is None else SLOW for v in col]


class ColumnChecker:
    """The batch form of a RowValidator's checks."""

    def __init__(self, validator: RowValidator) -> None:
        self.v = validator
        cat = validator.category
        self.columns = [(idx, code, header, required, conv, _fast_path(cat.item(code), conv))
                        for idx, code, header, required, conv in validator.checks]
        self.key_items = cat.key
        self.single_key = cat.key[0] if len(cat.key) == 1 else None
        self.period_code = validator.period_item.code if validator.period_item else None
        subject = Item(code="uscc", name="统一社会信用代码", type="uscc", required=True)
        self.subject_fast = _fast_path(subject, validator.subject_conv)
        self.name_fast = _fast_path(NAME_ITEM, validator.name_conv)

    def stage_batch(self, rows: list, extra_items: list[str], issues: list[Issue], max_issues: int
                    ) -> tuple[list[tuple], int]:
        v = self.v
        rejected = 0
        good = []
        for row in rows:
            if row.problem:
                rejected += 1
                if len(issues) < max_issues:
                    issues.append(Issue(row.row_no, row.problem_field, None, row.problem_code or "ROW_STRUCTURE",
                                        row.problem))
            else:
                good.append(row)
        n = len(good)
        if n == 0:
            return [], rejected
        cols = list(zip(*(r.values for r in good), strict=True))
        problems: dict[int, list[Issue]] = {}

        # The subject's credit code first, as a person reads the row.
        subjects: list[Any] = [""] * n
        if v.subject_idx is not None:
            col = cols[v.subject_idx]
            subjects = self.subject_fast(col)
            if SLOW in subjects or None in subjects:
                for i in [i for i, x in enumerate(subjects) if x is SLOW or x is None]:
                    raw = col[i]
                    subjects[i] = ""
                    if raw is None:
                        problems.setdefault(i, []).append(Issue(good[i].row_no, "统一社会信用代码", None,
                                                                "REQUIRED", "统一社会信用代码为必填项"))
                        continue
                    try:
                        subjects[i] = v.subject_conv(raw)
                    except Bad as b:
                        problems.setdefault(i, []).append(Issue(good[i].row_no, "统一社会信用代码", shown(raw),
                                                                b.code, b.message))
        if v.name_idx is not None:  # the name is text like any item's (not content, so not kept from here)
            col, header = cols[v.name_idx], v.name_header
            checked = self.name_fast(col)
            if SLOW in checked:
                for i in [i for i, x in enumerate(checked) if x is SLOW]:
                    try:
                        v.name_conv(col[i])
                    except Bad as b:
                        problems.setdefault(i, []).append(Issue(good[i].row_no, header, shown(col[i]), b.code,
                                                                b.message))
        values: list[tuple[str, list]] = []
        for idx, code, header, required, conv, fast in self.columns:
            col = cols[idx]
            out = fast(col)
            # `in` scans in C; only columns that hold a slow or missing cell are walked in Python.
            if SLOW in out:
                for i in [i for i, x in enumerate(out) if x is SLOW]:
                    raw = col[i]
                    try:
                        out[i] = conv(raw)
                    except Bad as b:
                        out[i] = None
                        problems.setdefault(i, []).append(Issue(good[i].row_no, header, shown(raw), b.code,
                                                                b.message))
            if required and None in col:
                for i in [i for i, raw in enumerate(col) if raw is None]:
                    problems.setdefault(i, []).append(Issue(good[i].row_no, header, None, "REQUIRED",
                                                            f"「{header}」为必填项，不能为空"))
            values.append((code, out))

        staged: list[tuple] = []
        append = staged.append
        dumps, sort_keys, h0 = orjson.dumps, orjson.OPT_SORT_KEYS, SM3_PREPARED
        single_key, key_items, period_code = self.single_key, self.key_items, self.period_code
        bounds = v.bounds
        names = cols[v.name_idx] if v.name_idx is not None else (None,) * n
        codes = tuple(code for code, _ in values)
        for i, vals in enumerate(zip(*(out for _, out in values), strict=True)):
            if problems and i in problems:
                rejected += 1
                if len(issues) < max_issues:
                    issues.extend(problems[i])
                continue
            content = {k: x for k, x in zip(codes, vals, strict=True) if x is not None}
            raw = dumps(content, option=sort_keys)  # == canonical_json(content): no empty values here
            h = h0.copy()
            h.update(raw)
            key = str(content.get(single_key, "")) if single_key is not None else record_key(key_items, content)
            start, end = bounds(content.get(period_code)) if period_code else (None, None)
            t = (good[i].row_no, subjects[i], names[i], key, raw.decode("utf-8"), h.hexdigest(), start, end)
            if extra_items:
                t += tuple(None if (x := content.get(c)) is None else str(x) for c in extra_items)
            append(t)
        return staged, rejected
