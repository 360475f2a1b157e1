"""A catalogue item's value as every page shows it, and the catalogue's names for templates."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from xinyidai.catalog.schema import Catalog, Item
from xinyidai.entities.industries import industry_name
from xinyidai.entities.regions import region_name


def _number(v: Any) -> Decimal | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        n = Decimal(str(v).strip())
    except (InvalidOperation, ValueError):
        return None
    return n if n.is_finite() else None


def item_text(item: Item, v: Any, *, unit: bool = True) -> str:
    """One catalogue item's value as every page shows it (an entity's records, a record's history, the bank's
    profile and detail): amounts and other decimals with thousands separators and two decimals, counts with
    separators, the unit after a space, codes of regions and industries as names. A banded amount
    ("10万～50万元") is text that already names its unit, and is shown as it is."""
    if v is None or v == "":
        return ""
    if v is True or v is False:
        return "是" if v else "否"
    if item.type == "region":
        return region_name(str(v)) or str(v)
    if item.type == "industry":
        return industry_name(str(v)) or str(v)
    n = _number(v) if item.type in ("decimal", "integer") else None
    if n is None:
        return str(v)
    text = f"{n:,.2f}" if item.type == "decimal" else f"{n:,.0f}"
    return f"{text} {item.unit}" if unit and item.unit else text


def category_name(catalog: Catalog, code: str) -> str:
    """A category's name; an unknown code is shown as it is."""
    try:
        return catalog.category(code).name
    except KeyError:
        return code


def template_filters(catalog: Catalog) -> dict[str, Callable[..., Any]]:
    """The filters every page may use to name what the catalogue and the code lists know."""
    return {"category": lambda c: category_name(catalog, c),
            "region": lambda c: region_name(c) or c or "",
            "industry": lambda c: (industry_name(c) or c) if c else ""}
