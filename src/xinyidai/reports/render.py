"""Presentation helpers shared by the two credit report renderers (HTML fragment and PDF).

Both renderers format dates, scores, grade bands and numeric columns through these functions, so the page and
the PDF of one report never disagree on how a value is shown. `TEMPLATE_FILTERS` exposes them to Jinja.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from xinyidai.kit.clock import CHINA_TZ
from xinyidai.reports.document import Table, Trend

# Series colours, in order; the first is the house red so a single-series chart matches the rest of the site.
PALETTE = ["#b4232a", "#2b6cb0", "#1f8a4c", "#d69e2e", "#6b46c1", "#319795", "#718096", "#dd6b20"]

# Grade → band (A+/A green, B+/B blue, C orange, D red); anything unknown or missing is "none" (grey, 数据不足).
BAND_COLORS = {"a": "#1f8a4c", "b": "#2b6cb0", "c": "#c47f17", "d": "#c53030", "none": "#a0aec0"}
NO_GRADE_TEXT = "数据不足"

_NUMERIC = re.compile(r"^[-+−]?[¥￥$]?\d[\d,]*(\.\d+)?\s*(%|‰|万元|元|亿元|万|亿)?$")
_PLACEHOLDERS = {"", "-", "—", "--", "/", "无"}


def beijing_time(dt: datetime | None) -> str:
    """`2026年11月28日 16:05` in Beijing time; a naive datetime is taken as UTC (the document stores UTC)."""
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    b = dt.astimezone(CHINA_TZ)
    return f"{b.year}年{b.month}月{b.day}日 {b.hour:02d}:{b.minute:02d}"


def cn_date(d: date | datetime | None) -> str:
    """`2026年11月27日` (a datetime is converted to its Beijing date first)."""
    if d is None:
        return ""
    if isinstance(d, datetime):
        d = (d if d.tzinfo else d.replace(tzinfo=UTC)).astimezone(CHINA_TZ).date()
    return f"{d.year}年{d.month}月{d.day}日"


def grade_band(grade: str | None) -> str:
    """`a` / `b` / `c` / `d` / `none`, by the grade's letter (A+ and A are both band a)."""
    g = (grade or "").strip().upper()
    return g[0].lower() if g and g[0] in "ABCD" else "none"


def grade_text(grade: str | None) -> str:
    return grade.strip() if grade and grade.strip() else NO_GRADE_TEXT


# An empty value in words: a dash reads as 一 (one) in a CJK font.
NO_VALUE = "无"


def format_number(v: float | None) -> str:
    """At most two decimals, trailing zeros dropped; 无 when there is no value."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return NO_VALUE
    return f"{v:.2f}".rstrip("0").rstrip(".")


format_score = format_number


def cell_text(v: Any) -> str:
    """Cells are meant to be strings already; be forgiving about None and numbers from the assembler. The
    assembler's dash for an empty value is shown as 无."""
    return "" if v is None else NO_VALUE if v == "—" else str(v)


def table_rows(table: Table) -> list[list[str]]:
    """Rows padded or cut to the column count, so a ragged row never shifts or drops a column."""
    n = len(table.columns)
    return [[cell_text(c) for c in (list(r) + [""] * n)[:n]] for r in table.rows]


def numeric_columns(table: Table) -> set[int]:
    """Columns whose every filled cell is a number (amounts, counts, ratios): drawn right-aligned."""
    out: set[int] = set()
    for j in range(len(table.columns)):
        values = [cell_text(r[j]).strip() for r in table.rows if j < len(r)]
        filled = [v for v in values if v not in _PLACEHOLDERS]
        if filled and all(_NUMERIC.match(v) for v in filled):
            out.add(j)
    return out


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def trend_series(trend: Trend) -> list[tuple[str, list[float | None]]]:
    """Each series aligned with the labels (padded with gaps / cut), non-numbers and NaN turned into gaps."""
    n = len(trend.labels)
    return [(str(name), [_num(v) for v in (list(vals) + [None] * n)[:n]]) for name, vals in trend.series.items()]


def trend_has_data(trend: Trend) -> bool:
    return any(v is not None for _, vals in trend_series(trend) for v in vals)


def trend_title(trend: Trend) -> str:
    return f"{trend.title}（单位：{trend.unit}）" if trend.unit else trend.title


SECOND_AXIS_RATIO = 5  # two series whose peaks differ this many times over each get an axis


def series_axes(trend: Trend) -> list[int]:
    """The value axis each series is drawn against: 0 the left, 1 the right. Two series of different scales —
    tax paid beside sales, a tenth of it — each get their own, or the smaller lies flat along the bottom."""
    series = trend_series(trend)
    if len(series) != 2:
        return [0] * len(series)
    peaks = [max((abs(v) for v in vals if v is not None), default=0.0) for _, vals in series]
    if min(peaks) <= 0 or max(peaks) / min(peaks) < SECOND_AXIS_RATIO:
        return [0, 0]
    big = peaks.index(max(peaks))
    return [0 if i == big else 1 for i in range(2)]


def series_label(name: str, axis: int) -> str:
    """A series' name in a legend: one drawn against the right axis says so."""
    return f"{name}（右轴）" if axis else name


def echarts_option(trend: Trend) -> dict[str, Any]:
    """An ECharts line-chart option; None stays null so the line shows a gap rather than a made-up value."""
    series = trend_series(trend)
    axes = series_axes(trend)
    dense = len(trend.labels) <= 36
    value = {"type": "value", "name": trend.unit, "scale": False}
    lines = [{"name": series_label(name, ax), "type": "line", "data": vals, "connectNulls": False,
              "showSymbol": dense, "symbolSize": 5, **({"yAxisIndex": 1} if ax else {})}
             for (name, vals), ax in zip(series, axes, strict=True)]
    return {
        "animation": False,
        "color": PALETTE,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": [s["name"] for s in lines]},
        "grid": {"left": 12, "right": 20, "top": 36, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": list(trend.labels), "boundaryGap": False},
        "yAxis": [value, {**value, "splitLine": {"show": False}}] if any(axes) else value,
        "series": lines,
    }


# A crypto suite as people know it: its algorithms, not the configuration's code.
SUITE_NAMES = {"sm": "SM2 签名、SM3 摘要", "intl": "Ed25519 签名、SHA-256 摘要"}


def suite_name(code: str | None) -> str:
    return SUITE_NAMES.get(code or "", code or "")


# What templates use (`reports/_report_body.html` all of them; the credit pages the grades); the application
# factory hands them to the shell's environment.
TEMPLATE_FILTERS = dict(beijing_time=beijing_time, cn_date=cn_date, grade_band=grade_band, grade_text=grade_text,
                        format_score=format_score, format_number=format_number, numeric_columns=numeric_columns,
                        table_rows=table_rows, echarts_option=echarts_option, trend_series=trend_series,
                        trend_has_data=trend_has_data, trend_title=trend_title, suite_name=suite_name)
