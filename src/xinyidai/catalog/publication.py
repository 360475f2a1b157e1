"""A penalty-like record's publication window (公示期), computed from its content and the catalogue.

Pure functions of one record: every reader (banks' profiles, reports, features, the enterprise's own pages)
asks the same question the same way — is this record in the public tier on this day?"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from xinyidai.catalog.schema import Category, Publication

State = Literal["public", "repaired", "ended"]
STATE_LABELS = {"public": "公示中", "repaired": "已信用修复，停止公示", "ended": "公示期满，停止公示"}


def add_months(d: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has fewer (31 Jan + 1 → 28/29 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _day(v: Any) -> date | None:
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v)[:10]) if v else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Window:
    """When a record started to be published, when it may first be repaired, and when publication ends."""

    starts: date
    min_months: int
    earliest_repair: date
    max_end: date
    ends: date  # the provider's own end of publication when earlier than the maximum
    repaired: bool
    basis: str

    def state(self, day: date) -> State:
        if self.repaired:
            return "repaired"
        return "ended" if day >= self.ends else "public"

    def public_on(self, day: date) -> bool:
        return self.state(day) == "public"

    def may_repair_on(self, day: date) -> bool:
        return self.state(day) == "public" and day >= self.earliest_repair


def min_months(pub: Publication, content: dict[str, Any]) -> int:
    """The longest minimum that applies: a record of several kinds takes the longest (第十条)."""
    months = pub.min_months
    for rule in pub.longer:
        text = " ".join(str(content.get(i) or "") for i in rule.items)
        if any(word in text for word in rule.contains):
            months = max(months, rule.min_months)
    return months


def window(cat: Category, content: dict[str, Any]) -> Window | None:
    """The record's window, or None when the category has none or the record carries no start date."""
    pub = cat.publication
    if pub is None:
        return None
    starts = _day(content.get(pub.date_item))
    if starts is None:
        return None
    least = min_months(pub, content)
    max_end = add_months(starts, pub.max_months)
    own = _day(content.get(pub.until_item)) if pub.until_item else None
    ends = min(max_end, own) if own else max_end
    repaired = bool(pub.repaired_item and content.get(pub.repaired_item) is True)
    return Window(starts=starts, min_months=least, earliest_repair=add_months(starts, least), max_end=max_end,
                  ends=ends, repaired=repaired, basis=pub.basis)


def public_on(cat: Category, content: dict[str, Any], day: date) -> bool:
    """Whether the record is in the public tier on `day` (categories without a window: always)."""
    w = window(cat, content)
    return True if w is None else w.public_on(day)
