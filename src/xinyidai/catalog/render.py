"""The catalogue for people (`xinyidai catalog`) and for programs (the JSON API).

Terminals draw CJK characters two cells wide, so columns are padded by display width, not by `len`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from xinyidai.catalog.schema import SUBJECT_CODE_HEADERS, SUBJECT_NAME_HEADERS, Catalog, Category, Item
from xinyidai.kit.errors import NotFound

TYPE_LABELS = {
    "string": "文本",
    "integer": "整数",
    "decimal": "数值",
    "date": "日期",
    "month": "年月",
    "year": "年份",
    "boolean": "是/否",
    "enum": "枚举",
    "uscc": "统一社会信用代码",
    "id_number": "身份证号码",
    "region": "行政区划代码",
    "industry": "行业代码",
}
ITEM_COLUMNS = ("字段代码", "字段名称", "类型", "单位", "必填", "取值范围/允许值", "个人信息")
COLUMN_GAP = "  "
INDENT = "  "
RANGE_WIDTH = 40  # allowed-value lists longer than this continue on the next lines
FORMAT_HINTS = {
    "date": "YYYY-MM-DD",
    "month": "YYYY-MM",
    "year": "YYYY",
    "boolean": "是/否",
    "uscc": "18 位（GB 32100）",
    "id_number": "18 位（GB 11643）",
    "region": "6 位（GB/T 2260）",
    "industry": "GB/T 4754-2017",
}

# The two columns every delivery starts with (the first header of each list is the canonical one).
SUBJECT_HEADERS = (SUBJECT_CODE_HEADERS[0], SUBJECT_NAME_HEADERS[0])


def display_width(text: str) -> int:
    """Cells a terminal uses for `text`: wide and full-width characters take two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def align_rows(rows: Sequence[Sequence[str]], gap: str = COLUMN_GAP) -> list[str]:
    """Rows as lines with every column but the last padded to the widest cell of that column."""
    if not rows:
        return []
    ncols = max(len(r) for r in rows)
    widths = [max((display_width(r[i]) for r in rows if i < len(r)), default=0) for i in range(ncols)]
    lines = []
    for row in rows:
        cells = [pad(cell, widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append(gap.join(cells).rstrip())
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value}"


def value_range(item: Item) -> str:
    """What values the item accepts, in words: allowed values, numeric bounds or the text length."""
    if item.type == "enum" and item.allowed:
        return "/".join(item.allowed)
    if item.min is not None and item.max is not None:
        return f"{_number(item.min)} 至 {_number(item.max)}"
    if item.min is not None:
        return f"不小于 {_number(item.min)}"
    if item.max is not None:
        return f"不大于 {_number(item.max)}"
    if item.type == "string":
        return f"最长 {item.max_length} 字"
    return FORMAT_HINTS.get(item.type, "")


def wrap_values(text: str, width: int = RANGE_WIDTH) -> list[str]:
    """A long list of allowed values split after '/' into lines of at most `width` cells (where possible)."""
    if display_width(text) <= width or "/" not in text:
        return [text]
    parts = [p + "/" for p in text.split("/")]
    parts[-1] = parts[-1][:-1]
    lines: list[str] = []
    current = ""
    for part in parts:
        if current and display_width(current + part) > width:
            lines.append(current)
            current = ""
        current += part
    lines.append(current)
    return lines


def item_rows(item: Item) -> list[list[str]]:
    """The item's row, plus continuation rows when its allowed values are too long for one line."""
    first, *more = wrap_values(value_range(item))
    row = [
        item.code,
        item.name,
        TYPE_LABELS.get(item.type, item.type),
        item.unit or "",
        "是" if item.required else "否",
        first,
        "是" if item.personal else "否",
    ]
    blank = [""] * len(ITEM_COLUMNS)
    return [row, *([*blank[:5], line, ""] for line in more)]


def _labels(category: Category, codes: Sequence[str]) -> str:
    return "、".join(f"{category.item(c).name} ({c})" for c in codes)


def render_category(category: Category, number: int | None = None) -> str:
    title = f"{category.name} ({category.code})"
    if number is not None:
        title = f"{number}. {title}"
    key = _labels(category, category.key) if category.key else "（无：每个主体一条记录）"
    period = _labels(category, [category.period]) if category.period else "（无）"
    facts = [
        ["类别代码", category.code],
        ["类别名称", category.name],
        ["分组", category.group],
        ["提供部门", category.provider],
        ["共享渠道", category.channel],
        ["更新频率", category.frequency],
        ["共享方式", category.sensitivity],
        ["主键", key],
        ["期间字段", period],
    ]
    if category.description:
        facts.append(["说明", category.description])
    lines = [f"== {title} =="]
    lines += [INDENT + line for line in align_rows([[f"{k}：", v] for k, v in facts], gap="")]
    lines.append("")
    rows = [list(ITEM_COLUMNS)]
    rows.append(["-" * display_width(h) for h in ITEM_COLUMNS])
    for item in category.items:
        rows += item_rows(item)
    lines += [INDENT + line for line in align_rows(rows)]
    return "\n".join(lines)


def render_text(catalog: Catalog, category: str | None = None) -> str:
    """A readable listing of the catalogue, or of one category (by code or Chinese name).

    Raises `NotFound` (with the available codes) when `category` names no category.
    """
    if category is not None:
        try:
            chosen = catalog.category(category)
        except KeyError:
            raise NotFound(
                f"信息清单中没有类别 {category!r}；可用的类别代码：{'、'.join(catalog.codes)}",
                detail={"category": category, "available": catalog.codes},
            ) from None
        return render_category(chosen, catalog.categories.index(chosen) + 1) + "\n"
    head = [
        f"{catalog.name}（版本 {catalog.version}），共 {len(catalog.categories)} 类",
        f"每条记录另含主体字段：{'、'.join(SUBJECT_HEADERS)}（不列为字段）",
    ]
    blocks = [render_category(c, n) for n, c in enumerate(catalog.categories, start=1)]
    return "\n".join(head) + "\n\n" + "\n\n".join(blocks) + "\n"


def delivery_headers(category: Category) -> list[str]:
    """The header row of a delivery file for `category`: the subject columns, then each item's name."""
    return [*SUBJECT_HEADERS, *(i.name for i in category.items)]


def catalog_as_dict(catalog: Catalog) -> dict[str, Any]:
    """The catalogue as plain JSON-able data; each category also lists its delivery header row."""
    data = catalog.model_dump(mode="json")
    for cat_data, category in zip(data["categories"], catalog.categories, strict=True):
        cat_data["headers"] = delivery_headers(category)
        for item_data, item in zip(cat_data["items"], category.items, strict=True):
            item_data["headers"] = list(item.headers)
    return data
