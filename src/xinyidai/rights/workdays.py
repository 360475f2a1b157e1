"""The working-day calendar as data (`workdays.yaml`): each year's public holidays and the weekend days worked
instead (调休上班), from the State Council's yearly notice. A year the file lacks falls back to Monday–Friday;
`known(year)` lets a page say so, since a deadline counted without the holidays may come too early."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources

import yaml

MAX_SPAN_DAYS = 3660  # a bound on any loop over the calendar (ten years)


@dataclass(frozen=True)
class Calendar:
    off: frozenset[date]
    work: frozenset[date]
    sources: dict[int, str]

    def is_workday(self, d: date) -> bool:
        if d in self.work:
            return True
        if d in self.off:
            return False
        return d.weekday() < 5


def parse(text: str) -> Calendar:
    """Read the calendar; a malformed file fails loudly at start rather than miscounting deadlines."""
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, dict):
        raise ValueError("workdays.yaml: 应为按年份分节的映射")
    off: set[date] = set()
    work: set[date] = set()
    sources: dict[int, str] = {}
    for year, section in doc.items():
        if not isinstance(year, int) or not isinstance(section, dict):
            raise ValueError(f"workdays.yaml: 年份 {year!r} 的内容应为映射")
        unknown = set(section) - {"source", "holidays", "working_weekends"}
        if unknown:  # e.g. `off:`, which YAML reads as the boolean false: the dates would silently vanish
            raise ValueError(f"workdays.yaml: {year} 年有未知的键 {sorted(map(str, unknown))}")
        sources[year] = str(section.get("source") or "")
        for key, into in (("holidays", off), ("working_weekends", work)):
            for d in section.get(key) or []:
                if not isinstance(d, date) or d.year != year:
                    raise ValueError(f"workdays.yaml: {year} 年的 {key} 中有不属于该年的日期 {d!r}")
                into.add(d)
    both = off & work
    if both:
        raise ValueError(f"workdays.yaml: 日期同时列为放假和上班：{sorted(both)}")
    return Calendar(frozenset(off), frozenset(work), sources)


@lru_cache(maxsize=1)
def calendar() -> Calendar:
    return parse((resources.files("xinyidai.rights") / "workdays.yaml").read_text(encoding="utf-8"))


def known(year: int) -> bool:
    """Whether the calendar holds the year's holidays (else the count is Monday–Friday only)."""
    return year in calendar().sources


def source(year: int) -> str | None:
    return calendar().sources.get(year)


def is_workday(d: date) -> bool:
    return calendar().is_workday(d)


def add_workdays(d: date, n: int) -> date:
    """The n-th working day after `d` (d itself not counted); n = 0 gives `d`."""
    if n < 0 or n > MAX_SPAN_DAYS // 2:
        raise ValueError(f"working days out of range: {n}")
    cal = calendar()
    out = d
    while n > 0:
        out += timedelta(days=1)
        if cal.is_workday(out):
            n -= 1
    return out


def workdays_between(a: date, b: date) -> int:
    """Working days after `a` up to and including `b` (0 when b <= a): add_workdays(a, k) == b ⇒ k."""
    if b <= a:
        return 0
    if (b - a).days > MAX_SPAN_DAYS:
        raise ValueError("span too long")
    cal = calendar()
    return sum(1 for i in range(1, (b - a).days + 1) if cal.is_workday(a + timedelta(days=i)))


__all__ = ["Calendar", "add_workdays", "calendar", "is_workday", "known", "parse", "source", "workdays_between"]
