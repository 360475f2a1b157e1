"""Runs of the indicator system: compute every measure for every city over a period, normalise, weight, total
and rank — then keep it. A stored run is never recomputed in place: asking again for the same version and
period gives the stored run; a recomputation (data corrected since) is a new run beside it, with its reason;
a new indicator version makes its own runs.

`compute` writes nothing (the benchmark times it); `run` computes and stores in one transaction, audited. A
period with no rows behind any measure is refused (`OVERSIGHT_NO_DATA`): a ranking on nothing would rank
cities by their code."""

from __future__ import annotations

import time as timer
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from xinyidai.entities.regions import HEILONGJIANG_PREFECTURES, region_name
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import InvalidInput, NotFound
from xinyidai.market.figures import Period, month_label
from xinyidai.oversight import indicators
from xinyidai.oversight.indicators import Indicator, System
from xinyidai.oversight.measures import MEASURES, Facts, Scope, Value, rows_statement
from xinyidai.oversight.models import Run, RunCity, RunValue

PLACES = 2  # totals are compared at two decimals: closer than that is a tie


class NoData(InvalidInput):
    code = "OVERSIGHT_NO_DATA"
    message = "统计期间内没有可用于考核的数据"


def cities() -> tuple[str, ...]:
    """The units ranked: the province's prefecture-level divisions (Heilongjiang's 13)."""
    return tuple(HEILONGJIANG_PREFECTURES)


def city_name(code: str) -> str:
    return region_name(code) or code


def period_of(start: str | None, end: str | None) -> Period:
    """A run's period: both ends required (yyyy-mm); one month when they are equal."""
    p = Period.parse(start, end or start)
    if p.start is None or p.end is None:
        raise InvalidInput("请选择考核期间（起止月份，格式 YYYY-MM）", code="OVERSIGHT_PERIOD_REQUIRED")
    return p


def period_text(start: int, end: int) -> str:
    return month_label(start) if start == end else f"{month_label(start)} 至 {month_label(end)}"


# ── computing ───────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class CityResult:
    city_code: str
    name: str
    total: float
    rank: int
    missing: int
    values: dict[str, tuple[Value, float | None, float]]  # indicator → (value, score, weighted)


@dataclass(frozen=True)
class Computation:
    system: System
    period: Period
    results: list[CityResult]  # in rank order
    evidence: int
    elapsed_s: float


def score(ind: Indicator, v: float | None, lo: float | None, hi: float | None) -> float | None:
    """A value's normalised score, 0–100 (None when the value is missing)."""
    if v is None:
        return None
    if ind.method == "target":
        assert ind.target is not None
        if ind.direction == "higher":
            return min(100.0, 100.0 * v / ind.target)
        return 100.0 if v <= ind.target else 100.0 * ind.target / v
    assert lo is not None and hi is not None
    if hi == lo:
        # Nothing tells the cities apart: all score alike — full marks for a shared good value, none when all
        # are at zero on a "more is better" indicator (nobody lent: nobody earns the points).
        return 0.0 if ind.direction == "higher" and hi <= 0 else 100.0
    return 100.0 * ((v - lo) if ind.direction == "higher" else (hi - v)) / (hi - lo)


def rank(totals: dict[str, float]) -> dict[str, int]:
    """Competition ranking (1, 2, 2, 4) on totals rounded to `PLACES`: equal totals share a place."""
    ordered = sorted(totals, key=lambda c: (-round(totals[c], PLACES), c))
    out: dict[str, int] = {}
    for i, c in enumerate(ordered):
        prev = ordered[i - 1] if i else None
        out[c] = out[prev] if prev is not None and round(totals[prev], PLACES) == round(totals[c], PLACES) else i + 1
    return out


def compute(conn: Connection, system: System, period: Period, *, units: Sequence[str] | None = None,
            as_of: datetime | None = None) -> Computation:
    """Every indicator for every city over the period, scored, totalled and ranked. Writes nothing."""
    started = timer.perf_counter()
    scope = Scope(period, tuple(units or cities()), as_of or clock.now())
    facts = Facts(conn, scope)
    raw: dict[str, dict[str, Value]] = {}
    for ind in system.indicators:
        raw[ind.code] = MEASURES[ind.measure].compute(facts)
    if facts.evidence == 0:
        raise NoData(f"考核期间 {period_text(scope.start, scope.end)} 内没有归集信息、融资申请、贷款、对账或白名单"
                     "记录，无法排名。请选择有数据的期间。", detail={"period": period.as_dict()})
    per_city: dict[str, dict[str, tuple[Value, float | None, float]]] = {c: {} for c in scope.cities}
    for ind in system.indicators:
        present = [v.value for v in raw[ind.code].values() if v.value is not None]
        lo, hi = (min(present), max(present)) if present else (None, None)
        for c in scope.cities:
            v = raw[ind.code].get(c, Value(None))
            sc = score(ind, v.value, lo, hi)
            per_city[c][ind.code] = (v, sc, ind.weight * (sc or 0.0))
    totals = {c: sum(w for _, _, w in vals.values()) for c, vals in per_city.items()}
    places = rank(totals)
    results = [CityResult(c, city_name(c), round(totals[c], 4), places[c],
                          sum(1 for v, _, _ in per_city[c].values() if v.value is None), per_city[c])
               for c in sorted(scope.cities, key=lambda c: (places[c], c))]
    return Computation(system, period, results, facts.evidence, timer.perf_counter() - started)


# ── kept runs ───────────────────────────────────────────────────────────────────────────────────────────

def stored(s: Session, system: System, period: Period) -> Run | None:
    return s.execute(select(Run).where(Run.system_version == system.version, Run.period_start == period.start,
                                       Run.period_end == period.end).order_by(Run.seq.desc()).limit(1)
                     ).scalar_one_or_none()


def run(s: Session, period: Period, actor: str, *, system: System | None = None,
        recompute_reason: str | None = None) -> Run:
    """The run of `system` (the active one by default) for the period: the stored one, or a new one. With a
    reason, a new run is made beside the stored ones."""
    system = system or indicators.active(s)
    indicators.store(s, system, actor, activate=False)
    held = stored(s, system, period)
    if held is not None and recompute_reason is None:
        return held
    if recompute_reason is not None and not recompute_reason.strip():
        raise InvalidInput("重新计算须说明原因（例如：某市补报了数据）", code="OVERSIGHT_REASON_REQUIRED")
    comp = compute(s.connection(), system, period)
    assert period.start is not None and period.end is not None
    seq = (held.seq + 1) if held is not None else 1
    r = Run(number=f"KH-{period.start}-{period.end}-{system.digest[:8]}-{seq}", system_version=system.version,
            system_digest=system.digest, period_start=period.start, period_end=period.end, seq=seq,
            reason=(recompute_reason or "").strip() or None, cities=len(comp.results), evidence=comp.evidence,
            elapsed_ms=int(comp.elapsed_s * 1000), computed_by=actor, computed_at=clock.now())
    s.add(r)
    s.flush()
    s.add_all([RunCity(run_id=r.id, city_code=c.city_code, total=c.total, rank=c.rank, missing=c.missing)
               for c in comp.results])
    s.add_all([RunValue(run_id=r.id, city_code=c.city_code, indicator=code, value=v.value, numerator=v.numerator,
                        denominator=v.denominator, score=sc, weighted=w)
               for c in comp.results for code, (v, sc, w) in c.values.items()])
    audit.record(s, actor, "oversight.run", f"oversight-run:{r.number}", version=system.version,
                 period=period_text(period.start, period.end), evidence=comp.evidence, reason=r.reason)
    return r


def by_number(s: Session, number: str) -> Run:
    r = s.execute(select(Run).where(Run.number == number)).scalar_one_or_none()
    if r is None:
        raise NotFound(f"没有编号为 {number} 的考核计算", code="OVERSIGHT_RUN_UNKNOWN")
    return r


def latest(s: Session) -> Run | None:
    return s.execute(select(Run).order_by(Run.period_end.desc(), Run.computed_at.desc(), Run.id.desc()).limit(1)
                     ).scalar_one_or_none()


def listing(s: Session, limit: int = 50) -> list[Run]:
    return list(s.execute(select(Run).order_by(Run.computed_at.desc(), Run.id.desc()).limit(limit)).scalars())


@dataclass(frozen=True)
class Ranking:
    run: Run
    system: System
    cities: list[CityResult]

    @property
    def period_text(self) -> str:
        return period_text(self.run.period_start, self.run.period_end)

    def city(self, code: str) -> CityResult:
        for c in self.cities:
            if c.city_code == code:
                return c
        raise NotFound(f"考核计算 {self.run.number} 中没有地区 {code}", code="OVERSIGHT_CITY_UNKNOWN")


def ranking(s: Session, r: Run) -> Ranking:
    """A stored run as it was computed (the values, scores and ranks it stored — never recomputed)."""
    system = indicators.version(s, r.system_version)
    vals: dict[str, dict[str, tuple[Value, float | None, float]]] = {}
    for v in s.execute(select(RunValue).where(RunValue.run_id == r.id)).scalars():
        vals.setdefault(v.city_code, {})[v.indicator] = (Value(v.value, v.numerator, v.denominator), v.score,
                                                        v.weighted)
    order = {i.code: n for n, i in enumerate(system.indicators)}
    out = [CityResult(c.city_code, city_name(c.city_code), c.total, c.rank, c.missing,
                      dict(sorted(vals.get(c.city_code, {}).items(), key=lambda kv: order.get(kv[0], 99))))
           for c in s.execute(select(RunCity).where(RunCity.run_id == r.id)
                              .order_by(RunCity.rank, RunCity.city_code)).scalars()]
    return Ranking(r, system, out)


@dataclass(frozen=True)
class TrendPoint:
    period_start: int
    period_end: int
    run_number: str
    total: float
    rank: int


def trend(s: Session, city: str, version: str) -> list[TrendPoint]:
    """A city's total and rank in each one-month period computed under one version (the latest run of each)."""
    latest_seq = (select(Run.period_start, func.max(Run.seq).label("seq"))
                  .where(Run.system_version == version, Run.period_start == Run.period_end)
                  .group_by(Run.period_start).subquery())
    rows = s.execute(select(Run.period_start, Run.period_end, Run.number, RunCity.total, RunCity.rank)
                     .join(latest_seq, (latest_seq.c.period_start == Run.period_start) & (latest_seq.c.seq == Run.seq))
                     .join(RunCity, RunCity.run_id == Run.id)
                     .where(Run.system_version == version, Run.period_start == Run.period_end,
                            RunCity.city_code == city)
                     .order_by(Run.period_start)).all()
    return [TrendPoint(a, b, n, t, rk) for a, b, n, t, rk in rows]


def drill_rows(s: Session, r: Run, city: str, indicator: str, *, offset: int = 0, limit: int = 50
               ) -> tuple[tuple[str, ...], list[tuple[Any, ...]], int]:
    """The rows behind a city's value of an indicator in a run: (column labels, a page of rows, total)."""
    system = indicators.version(s, r.system_version)
    ind = system.indicator(indicator)
    if city not in cities():
        raise NotFound(f"没有地区 {city}", code="OVERSIGHT_CITY_UNKNOWN")
    period = Period(r.period_start, r.period_end)
    stmt = rows_statement(ind.measure, Scope(period, cities(), r.computed_at), city, s.get_bind().dialect.name)
    if stmt is None:
        return (), [], 0
    total = int(s.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one())
    rows = [tuple(row) for row in s.execute(stmt.offset(offset).limit(limit)).all()]
    return MEASURES[ind.measure].row_labels, rows, total
