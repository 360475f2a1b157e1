"""No page writes an empty value as a dash (issue 23, item 15): in a CJK font "—" reads as 一, one, so
"最多使用次数：—" said one use where it meant no limit. Empty values are words — 无, 不限, 未填写, 尚未完成."""

from __future__ import annotations

import re
from pathlib import Path

from xinyidai.reports.render import cell_text, format_number

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "xinyidai" / "web" / "templates"
# A dash printed as a value: a literal in an expression ('—'), or alone between tags or template blocks.
DASH_VALUE = re.compile(r"""['"]—['"]|>\s*—\s*<|%}\s*—\s*{%""")


def test_no_template_prints_a_dash_for_an_empty_value() -> None:
    found = [f"{p.relative_to(TEMPLATES)}:{n}" for p in sorted(TEMPLATES.rglob("*.html"))
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if DASH_VALUE.search(line)]
    assert found == []


def test_reports_write_a_missing_number_and_an_empty_cell_as_words() -> None:
    assert format_number(None) == format_number(float("nan")) == "无"
    assert cell_text("—") == "无" and cell_text("一") == "一" and cell_text(None) == ""
