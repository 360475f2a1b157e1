"""The column-wise batch checker gives exactly what row-by-row validation gives (property test)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyidai.entities.codes import make_uscc
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.columns import ColumnChecker
from xinyidai.records.readers import Row
from xinyidai.records.validation import RowValidator

GOOD_CODES = [make_uscc("230100", i) for i in range(1, 6)]
CELLS = {
    "uscc": GOOD_CODES + ["91230100MA1B2C3D4X", "x", "", None],
    "month": ["2026-10", "2026-09", "202608", "2026年7月", "2027-01", "2026-13", "abc", None],
    "date": ["2024-02-29", "2023-02-29", "2024/3/1", "20240301", "2099-01-01", "1899-12-31", "x", None],
    "decimal": ["0", "12.5", "-3", "1,234.50", "1e3", "nan", "inf", "abc", "99999999999999999", None],
    "integer": ["0", "7", "-1", "1.0", "1.5", "x", "1000001", None],
    "enum": None,  # filled from the item
    "boolean": ["是", "否", "true", "0", "maybe", None],
    "string": ["正常文本", "=cmd|' /C calc'!A0", "-5", "@x", "长" * 5000, "", None],
}


def cell_strategy(item) -> st.SearchStrategy:  # noqa: ANN001
    pool = CELLS.get(item.type) or ["x", None]
    if item.type == "enum":
        pool = list(item.allowed) + ["不存在的取值", None]
    return st.sampled_from(pool)


def reference(validator: RowValidator, rows: list[Row]) -> tuple[list[tuple], list[tuple], int]:
    staged, issues, rejected = [], [], 0
    cat = validator.category
    for row in rows:
        valid, problems = validator.validate(row.row_no, row.values)
        if valid is None:
            rejected += 1
            issues.extend((i.row_no, i.field, i.code, i.message) for i in problems)
            continue
        cj = canonical_json(valid.content)
        start, end = validator.bounds(valid.content.get(cat.period)) if cat.period else (None, None)
        name = row.values[validator.name_idx] if validator.name_idx is not None else None
        staged.append((row.row_no, valid.entity_code, name, record_key(cat.key, valid.content), cj,
                       fingerprint(cj), start, end))
    return staged, issues, rejected


@pytest.mark.parametrize("code", ["tax", "penalty", "registration", "electricity"])
def test_batch_equals_row_by_row(catalog, code) -> None:  # noqa: ANN001
    cat = catalog.category(code)
    items = [i for i in cat.items if i.max_length <= 5000]
    headers = ["统一社会信用代码", "主体名称"] + [i.name for i in items]
    row_strategy = st.tuples(st.sampled_from(CELLS["uscc"]), st.sampled_from(["某公司", None]),
                             *[cell_strategy(i) for i in items])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(row_strategy, min_size=1, max_size=40))
    def check(raw_rows: list[tuple]) -> None:
        rows = [Row(n + 2, [None if v == "" else v for v in r]) for n, r in enumerate(raw_rows)]
        want_staged, want_issues, want_rejected = reference(RowValidator(cat, headers), rows)
        got_issues: list = []
        got_staged, got_rejected = ColumnChecker(RowValidator(cat, headers)).stage_batch(rows, [], got_issues, 10_000)
        assert got_rejected == want_rejected
        assert got_staged == want_staged
        assert [(i.row_no, i.field, i.code, i.message) for i in got_issues] == want_issues

    check()
