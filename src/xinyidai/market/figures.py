"""The market's figures for the operator and the regulator (issue 15): cumulative 授信 against the province's
target, 放款额, the credit-loan share (信用贷款占比) and the first-loan share (首贷占比) by amount and by count,
and 首贷户数 — in total and by city, bank, product kind, sector and month; then, from separate small queries,
response times, the reasons of declines and rejections, white-list → loan conversion, and how many first-loan
declarations the platform's own records contradict.

The main figures come from ONE set-based pass over `market_loans`, grouped on the five dimensions at once
(`grouped_pass`). Its result has at most cities × (bank, kind, sectors) × months rows whatever the number of
loans, and every roll-up is a Polars group-by over it; no loan is ever looked at in Python. The covering index
`ix_market_loans_figures` starts with the group keys, so SQLite scans that index alone in group order (no
temporary B-tree) and PostgreSQL aggregates an index-only scan.

A loan in two sectors counts in both, so the sector lines add up to more than the total (pages say so).
Months are Beijing calendar months (`granted_month`, yyyymm); the target's date counts by its month.

`tables` turns a `Report` into the tables pages show and files carry: Chinese headers, amounts in 万元 to two
places, shares in % to one place — the page, the CSV and the XLSX read the same rows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    literal_column,
    select,
)

from xinyidai.entities.regions import region_name
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.errors import InvalidInput, NotFound
from xinyidai.lists.models import WhiteList, WhiteListEntry
from xinyidai.market import flows, rules
from xinyidai.market.models import PRODUCT_KINDS, SECTORS, Application, Loan

# The grouped pass: its keys, and what it sums (name → the column summed; `loans` is count(*)).
KEYS = ("city_code", "bank_code", "product_kind", "sector_mask", "granted_month")
SUMS = {"granted_fen": "granted_fen", "disbursed_fen": "disbursed_fen", "credit_loans": "is_credit",
        "credit_fen": "credit_fen", "first_loans": "first_loan", "first_fen": "first_fen"}
METRICS = ("loans", *SUMS)
_SCHEMA = {"city_code": pl.Utf8, "bank_code": pl.Utf8, "product_kind": pl.Utf8, "sector_mask": pl.Int64,
           "granted_month": pl.Int64, **{m: pl.Int64 for m in METRICS}}
CONVERSION_DAYS = 90
NO_SECTOR = "未标注领域"
SECTOR_NOTE = "一笔贷款同时属于多个行业领域时在每个领域各计一次，各领域合计可能大于总数。"
_MONTH = re.compile(r"^\s*(\d{4})-?(\d{1,2})\s*$")


# ── the period ──────────────────────────────────────────────────────────────────────────────────────────

def parse_month(text: str | None, field_label: str = "月份") -> int | None:
    """"2026-03" (or "202603") → 202603; empty → None (an open end)."""
    if text is None or not str(text).strip():
        return None
    m = _MONTH.match(str(text))
    if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2100:
        raise InvalidInput(f"{field_label}“{text}”应写作 YYYY-MM，如 2026-03", code="BAD_MONTH")
    return int(m.group(1)) * 100 + int(m.group(2))


def month_label(m: int) -> str:
    return f"{m // 100}-{m % 100:02d}"


def _month_start(m: int) -> datetime:
    """The first moment of a Beijing month, as an aware datetime."""
    return datetime.combine(date(m // 100, m % 100, 1), time(0), tzinfo=clock.CHINA_TZ)


def _next_month(m: int) -> int:
    return m + 1 if m % 100 < 12 else (m // 100 + 1) * 100 + 1


@dataclass(frozen=True)
class Period:
    """Months from `start` to `end` (yyyymm, both included); None is an open end."""

    start: int | None = None
    end: int | None = None

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> Period:
        p = cls(parse_month(start, "起始月份"), parse_month(end, "截止月份"))
        if p.start is not None and p.end is not None and p.start > p.end:
            raise InvalidInput(f"起始月份 {month_label(p.start)} 晚于截止月份 {month_label(p.end)}",
                               code="MONTH_RANGE_INVERTED")
        return p

    @property
    def label(self) -> str:
        if self.start is None and self.end is None:
            return "全部月份"
        return f"{month_label(self.start) if self.start else '最早'} 至 {month_label(self.end) if self.end else '最近'}"

    def as_dict(self) -> dict[str, str | None]:
        return {"from": month_label(self.start) if self.start else None,
                "to": month_label(self.end) if self.end else None}

    def holds(self, m: int) -> bool:
        return (self.start is None or m >= self.start) and (self.end is None or m <= self.end)

    def moments(self, column: Any) -> list[Any]:
        """Conditions keeping a UTC timestamp column within the period's Beijing months."""
        out = []
        if self.start is not None:
            out.append(column >= _month_start(self.start))
        if self.end is not None:
            out.append(column < _month_start(_next_month(self.end)))
        return out

    def days(self, column: Any) -> list[Any]:
        """Conditions keeping a date column within the period's months."""
        out = []
        if self.start is not None:
            out.append(column >= date(self.start // 100, self.start % 100, 1))
        if self.end is not None:
            nxt = _next_month(self.end)
            out.append(column < date(nxt // 100, nxt % 100, 1))
        return out


# ── what the figures are made of ────────────────────────────────────────────────────────────────────────

def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Metrics:
    """The sums of a set of loans; shares are fractions (None for an empty set). 首贷户数 is `first_loans`:
    an enterprise has one first loan."""

    loans: int = 0
    granted_fen: int = 0
    disbursed_fen: int = 0
    credit_loans: int = 0
    credit_fen: int = 0
    first_loans: int = 0
    first_fen: int = 0

    @property
    def credit_share_amount(self) -> float | None:
        return _share(self.credit_fen, self.granted_fen)

    @property
    def credit_share_count(self) -> float | None:
        return _share(self.credit_loans, self.loans)

    @property
    def first_share_amount(self) -> float | None:
        return _share(self.first_fen, self.granted_fen)

    @property
    def first_share_count(self) -> float | None:
        return _share(self.first_loans, self.loans)

    @classmethod
    def of(cls, row: dict[str, Any]) -> Metrics:
        return cls(**{m: int(row.get(m) or 0) for m in METRICS})


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    m: Metrics


@dataclass(frozen=True)
class MonthLine:
    month: int
    m: Metrics
    cumulative_fen: int  # 授信 of every loan up to the end of this month, the months before the period included

    @property
    def label(self) -> str:
        return month_label(self.month)


@dataclass(frozen=True)
class Progress:
    """Cumulative 授信 against the province's target (rules.yaml)."""

    target_fen: int
    target_by: date
    through: int | None  # the last month counted (None: no loans)
    cumulative_fen: int  # every loan up to the period's end, whatever its start
    by_deadline_fen: int  # every loan in the target date's month or before (and not after the period's end)

    @property
    def share(self) -> float | None:
        return _share(self.cumulative_fen, self.target_fen)

    @property
    def deadline_share(self) -> float | None:
        return _share(self.by_deadline_fen, self.target_fen)


@dataclass(frozen=True)
class Figures:
    period: Period
    totals: Metrics
    progress: Progress
    by_city: list[Line]
    by_bank: list[Line]
    by_kind: list[Line]
    by_sector: list[Line]
    by_month: list[MonthLine]
    groups: int  # rows the grouped pass returned (the bench prints it)


# ── the one grouped pass ────────────────────────────────────────────────────────────────────────────────

def grouped_statement(dialect: str, end: int | None = None) -> Select[Any]:
    """Loans grouped by city, bank, product kind, sector set and month, with their sums. On PostgreSQL
    `sum(bigint)` is numeric, so sums are cast back (exact: no SME total nears 2⁶³ 分)."""
    t = Loan.__table__
    pg = dialect == "postgresql"
    keys = [t.c[k] for k in KEYS]
    sums = [(cast(func.sum(t.c[c]), BigInteger) if pg else func.sum(t.c[c])).label(name) for name, c in SUMS.items()]
    stmt = select(*keys, func.count().label("loans"), *sums).group_by(*keys)
    return stmt if end is None else stmt.where(t.c.granted_month <= end)


def grouped_pass(conn: Connection, end: int | None = None) -> pl.DataFrame:
    """The one statement over the loans, as a frame. On PostgreSQL JIT stays off for this transaction
    (compiling costs about what it saves on a sub-second aggregate, and varies more), and the groups come
    back through COPY as CSV, which Polars reads in one go: a third faster than fetching tens of thousands of
    rows as Python tuples and turning them into columns."""
    stmt = grouped_statement(conn.dialect.name, end)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        sql = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})  # binds: one int
        with conn.connection.driver_connection.cursor() as cur, \
                cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        return pl.read_csv(io.BytesIO(data), has_header=False, new_columns=list(_SCHEMA), schema=_SCHEMA) \
            if data else pl.DataFrame(schema=_SCHEMA)
    rows = conn.execute(stmt).all()
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in _SCHEMA]
    return pl.DataFrame([pl.Series(name, col, dtype=dtype)
                         for (name, dtype), col in zip(_SCHEMA.items(), columns, strict=True)])


def _total(frame: pl.DataFrame) -> Metrics:
    return Metrics.of(frame.select(pl.col(list(METRICS)).sum()).row(0, named=True)) if frame.height else Metrics()


def _lines(frame: pl.DataFrame, key: str) -> list[tuple[Any, Metrics]]:
    agg = frame.group_by(key).agg(pl.col(list(METRICS)).sum())
    return [(r[key], Metrics.of(r)) for r in agg.iter_rows(named=True)]


def _bank_names(conn: Connection, codes: Sequence[str]) -> dict[str, str]:
    if not codes:
        return {}
    fi = FinancialInstitution.__table__
    return dict(conn.execute(select(fi.c.code, fi.c.name).where(fi.c.code.in_(list(codes)))).all())


def _months(frame: pl.DataFrame, before_fen: int, period: Period) -> list[MonthLine]:
    """Every month from the period's start (or the first loan) to its end (or the last loan), gaps as zeros,
    with the cumulative 授信 carried from the months before the period."""
    found = {m: metrics for m, metrics in _lines(frame, "granted_month")}
    if not found and (period.start is None or period.end is None):
        return []
    m = period.start if period.start is not None else min(found)
    last = period.end if period.end is not None else max(found)
    out, running = [], before_fen
    while m <= last:
        metrics = found.get(m, Metrics())
        running += metrics.granted_fen
        out.append(MonthLine(m, metrics, running))
        m = _next_month(m)
    return out


def compute(conn: Connection, period: Period | None = None) -> Figures:
    """The main figures of a period: the grouped pass, the roll-ups, the cumulative series and the target."""
    period = period or Period()
    r = rules.load()
    everything = grouped_pass(conn, period.end)
    frame = everything if period.start is None else everything.filter(pl.col("granted_month") >= period.start)
    before_fen = 0 if period.start is None else \
        _total(everything.filter(pl.col("granted_month") < period.start)).granted_fen
    totals = _total(frame)
    cities = sorted(_lines(frame, "city_code"))
    banks = sorted(_lines(frame, "bank_code"), key=lambda km: (-km[1].granted_fen, km[0]))
    names = _bank_names(conn, [code for code, _ in banks])
    order = {k: i for i, k in enumerate(PRODUCT_KINDS)}
    kinds = sorted(_lines(frame, "product_kind"), key=lambda km: (order.get(km[0], len(order)), km[0]))
    # Each sector is a filtered sum over the sector sets: a loan in two sectors counts in both.
    sectors = [Line(str(bit), label, _total(frame.filter((pl.col("sector_mask") & bit) != 0)))
               for label, bit in SECTORS.items()] + [Line("0", NO_SECTOR, _total(frame.filter(pl.col("sector_mask") == 0)))]

    months = _months(frame, before_fen, period)
    deadline = r.target_by.year * 100 + r.target_by.month
    cumulative = before_fen + totals.granted_fen
    by_deadline = _total(everything.filter(pl.col("granted_month") <= deadline)).granted_fen
    through = months[-1].month if months else None
    return Figures(
        period=period, totals=totals,
        progress=Progress(r.target_fen, r.target_by, through, cumulative, by_deadline),
        by_city=[Line(c, region_name(c) or c, m) for c, m in cities],
        by_bank=[Line(c, names.get(c, c), m) for c, m in banks],
        by_kind=[Line(k, k, m) for k, m in kinds],
        by_sector=[ln for ln in sectors if ln.m.loans], by_month=months, groups=everything.height)


# ── separate small queries ──────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class ResponseLine:
    """Response times of one bank's applications submitted in the period (calendar hours)."""

    key: str
    label: str
    applications: int
    responded: int
    first_response_hours: float | None  # median, submission → 受理 or 不予受理
    decided: int
    decision_hours: float | None  # median, submission → 授信, 审批不通过 or 不予受理


def response_times(conn: Connection, period: Period) -> list[ResponseLine]:
    """Median hours to first response and to decision per bank, and over all banks (the last line). SQLite
    has no percentile, so the narrow extract of answered applications goes to Polars."""
    a = Application.__table__
    when = period.moments(a.c.submitted_at)
    counts = dict(conn.execute(select(a.c.bank_code, func.count()).where(*when).group_by(a.c.bank_code)).all())
    rows = conn.execute(select(a.c.bank_code, a.c.submitted_at, a.c.first_response_at, a.c.decided_at)
                        .where(a.c.first_response_at.is_not(None), *when)).all()
    frame = pl.DataFrame(rows, schema={"bank": pl.Utf8, "submitted": pl.Datetime("us", "UTC"),
                                       "responded": pl.Datetime("us", "UTC"), "decided": pl.Datetime("us", "UTC")},
                         orient="row").with_columns(
        first_h=(pl.col("responded") - pl.col("submitted")).dt.total_microseconds() / 3.6e9,
        decision_h=(pl.col("decided") - pl.col("submitted")).dt.total_microseconds() / 3.6e9)
    medians = frame.group_by("bank").agg(pl.len().alias("responded"), pl.col("first_h").median(),
                                         pl.col("decision_h").count().alias("decided"), pl.col("decision_h").median())
    found = {r["bank"]: r for r in medians.iter_rows(named=True)}
    names = _bank_names(conn, list(counts))
    out = []
    for code in sorted(counts, key=lambda c: (-counts[c], c)):
        r = found.get(code, {})
        out.append(ResponseLine(code, names.get(code, code), counts[code], r.get("responded") or 0, r.get("first_h"),
                                r.get("decided") or 0, r.get("decision_h")))
    if counts:
        out.append(ResponseLine("all", "全部银行", sum(counts.values()), frame.height, frame["first_h"].median(),
                                frame["decision_h"].count(), frame["decision_h"].median()))
    return out


@dataclass(frozen=True)
class ReasonLine:
    kind: str  # decline / reject
    kind_label: str
    code: str
    label: str
    count: int
    share: float | None  # of all reasons of its kind


_REASON_STATES = {flows.DECLINED: ("decline", "不予受理"), flows.REJECTED: ("reject", "审批不通过")}


def reasons(conn: Connection, period: Period) -> list[ReasonLine]:
    """Declines and rejections of applications submitted in the period, by reason code (rules.yaml labels);
    every code of the closed lists is listed, those never given with 0."""
    a = Application.__table__
    got = {(state, code): n for state, code, n in conn.execute(
        select(a.c.state, a.c.reason_code, func.count())
        .where(a.c.state.in_(list(_REASON_STATES)), *period.moments(a.c.submitted_at))
        .group_by(a.c.state, a.c.reason_code)).all()}
    r = rules.load()
    out = []
    for state, (kind, kind_label) in _REASON_STATES.items():
        listed = r.reasons[kind]
        given = {code: n for (st, code), n in got.items() if st == state}
        total = sum(given.values())
        # Codes outside today's list (an older rules file) are still counted, after the listed ones.
        for code in [*listed, *sorted((c for c in given if c not in listed), key=lambda c: c or "")]:
            label = listed.get(code) or ("（未列入现行清单）" if code else "（未填写原因）")
            out.append(ReasonLine(kind, kind_label, code or "—", label, given.get(code, 0),
                                  _share(given.get(code, 0), total)))
    return out


@dataclass(frozen=True)
class ListConversion:
    number: str
    name: str
    as_of: date
    entities: int
    converted: int  # of them, with a loan granted within CONVERSION_DAYS of the list's date

    @property
    def rate(self) -> float | None:
        return _share(self.converted, self.entities)


@dataclass(frozen=True)
class Conversion:
    lists: list[ListConversion]
    entities: int  # distinct entities on any of the lists
    converted: int  # of them, with a loan within CONVERSION_DAYS of a list they were on
    days: int = CONVERSION_DAYS

    @property
    def rate(self) -> float | None:
        return _share(self.converted, self.entities)


def _days_after(conn: Connection, column: Any, days: int) -> Any:
    """`column` + `days` days, as each engine writes date arithmetic (SQLite keeps dates as ISO text)."""
    if conn.dialect.name == "postgresql":
        return column + literal(days)
    return func.date(column, f"+{days} days")


def conversion(conn: Connection, period: Period) -> Conversion:
    """White lists published in the period (by their date): how many of their entities got a loan within
    90 days of it — per list, and over the distinct entities. Two set-based queries on the loans' index
    (entity_code, granted_on)."""
    w, e, t = WhiteList.__table__, WhiteListEntry.__table__, Loan.__table__
    got_loan = exists().where(t.c.entity_code == e.c.entity_code, t.c.granted_on >= w.c.as_of,
                              t.c.granted_on <= _days_after(conn, w.c.as_of, CONVERSION_DAYS))
    lists = and_(w.c.kind == "whitelist", w.c.status == "published", *period.days(w.c.as_of))
    joined = e.join(w, w.c.id == e.c.list_id)
    per_list = conn.execute(
        select(w.c.number, w.c.name, w.c.as_of, func.count(), func.sum(case((got_loan, 1), else_=0)))
        .select_from(joined).where(lists).group_by(w.c.id, w.c.number, w.c.name, w.c.as_of)
        .order_by(w.c.as_of, w.c.number)).all()
    entities, converted = conn.execute(
        select(func.count(distinct(e.c.entity_code)),
               func.count(distinct(case((got_loan, e.c.entity_code)))))
        .select_from(joined).where(lists)).one()
    return Conversion([ListConversion(n, name, d if isinstance(d, date) else date.fromisoformat(d), int(k), int(c or 0))
                       for n, name, d, k, c in per_list], int(entities or 0), int(converted or 0))


def contradicted_statement(period: Period) -> Select[Any]:
    """Loans the bank declared first (首贷) although the platform holds an earlier loan of the enterprise: a
    few per cent of the loans, counted from their own partial index (ix_market_loans_first_contradicted)."""
    t = Loan.__table__
    # Written as constants, not bound parameters: SQLite answers from the partial index alone only when it
    # sees, as it plans, that the WHERE is the index's own; with "= ?" it re-reads each of those loans' rows.
    cond = [t.c.first_declared == literal_column("1"), t.c.first_on_platform == literal_column("0")]
    if period.start is not None:
        cond.append(t.c.granted_month >= period.start)
    if period.end is not None:
        cond.append(t.c.granted_month <= period.end)
    return select(func.count()).select_from(t).where(*cond)


def contradicted_first_loans(conn: Connection, period: Period) -> int:
    return int(conn.execute(contradicted_statement(period)).scalar_one())


# ── everything a page, a file or the API gives ──────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Report:
    figures: Figures
    response: list[ResponseLine]
    reasons: list[ReasonLine]
    conversion: Conversion
    contradicted: int
    computed_at: datetime = field(default_factory=clock.now)


def report(conn: Connection, period: Period | None = None) -> Report:
    period = period or Period()
    return Report(compute(conn, period), response_times(conn, period), reasons(conn, period),
                  conversion(conn, period), contradicted_first_loans(conn, period))


def _yuan(fen: int) -> float:
    return round(fen / 100, 2)


def _ratio(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def metrics_dict(m: Metrics) -> dict[str, Any]:
    """Amounts in 元, shares as fractions (None when nothing was granted)."""
    return {"loans": m.loans, "granted": _yuan(m.granted_fen), "disbursed": _yuan(m.disbursed_fen),
            "credit_loans": m.credit_loans, "credit_amount": _yuan(m.credit_fen),
            "first_loans": m.first_loans, "first_amount": _yuan(m.first_fen),
            "credit_share_amount": _ratio(m.credit_share_amount), "credit_share_count": _ratio(m.credit_share_count),
            "first_share_amount": _ratio(m.first_share_amount), "first_share_count": _ratio(m.first_share_count)}


def report_dict(rep: Report) -> dict[str, Any]:
    """The report as the JSON API gives it: the same numbers as the page, unrounded but for 元 to 分."""
    f = rep.figures
    pr = f.progress

    def lines(ls: list[Line], key: str) -> list[dict[str, Any]]:
        return [{key: ln.key, "name": ln.label, **metrics_dict(ln.m)} for ln in ls]

    return {
        "period": f.period.as_dict(),
        "target": {"amount": _yuan(pr.target_fen), "by": pr.target_by.isoformat(),
                   "through": month_label(pr.through) if pr.through else None,
                   "cumulative_granted": _yuan(pr.cumulative_fen), "share": _ratio(pr.share),
                   "granted_by_deadline": _yuan(pr.by_deadline_fen), "deadline_share": _ratio(pr.deadline_share)},
        "totals": metrics_dict(f.totals),
        "by_city": lines(f.by_city, "city_code"),
        "by_bank": lines(f.by_bank, "bank_code"),
        "by_kind": lines(f.by_kind, "product_kind"),
        "by_sector": [{"sector": ln.label, "bit": int(ln.key), **metrics_dict(ln.m)} for ln in f.by_sector],
        "sector_note": SECTOR_NOTE,
        "by_month": [{"month": ml.label, "cumulative_granted": _yuan(ml.cumulative_fen), **metrics_dict(ml.m)}
                     for ml in f.by_month],
        "response_times": [{"bank_code": None if r.key == "all" else r.key, "name": r.label,
                            "applications": r.applications, "responded": r.responded,
                            "median_first_response_hours": r.first_response_hours, "decided": r.decided,
                            "median_decision_hours": r.decision_hours} for r in rep.response],
        "reasons": [{"kind": r.kind, "code": r.code, "label": r.label, "count": r.count, "share": _ratio(r.share)}
                    for r in rep.reasons],
        "whitelist_conversion": {
            "days": rep.conversion.days, "entities": rep.conversion.entities,
            "converted": rep.conversion.converted, "rate": _ratio(rep.conversion.rate),
            "lists": [{"number": c.number, "name": c.name, "as_of": c.as_of.isoformat(), "entities": c.entities,
                       "converted": c.converted, "rate": _ratio(c.rate)} for c in rep.conversion.lists]},
        "first_loan_contradicted": rep.contradicted,
        "computed_at": rep.computed_at.isoformat(),
    }


# ── tables: what pages show and files carry ─────────────────────────────────────────────────────────────

# How a column's values are written: text, a count, 万元 (2 places), % (1 place), hours (1 place).
TEXT, COUNT, WAN, PCT, HOURS = "text", "count", "wan", "pct", "hours"
_PLACES = {WAN: Decimal("0.01"), PCT: Decimal("0.1"), HOURS: Decimal("0.1")}


def wan(fen: int) -> Decimal:
    """分 → 万元, two places (half up, as people round)."""
    return (Decimal(fen) / 1_000_000).quantize(_PLACES[WAN], ROUND_HALF_UP)


def pct(share: float | None) -> Decimal | None:
    return None if share is None else (Decimal(repr(share)) * 100).quantize(_PLACES[PCT], ROUND_HALF_UP)


def hours(h: float | None) -> Decimal | None:
    return None if h is None else Decimal(repr(h)).quantize(_PLACES[HOURS], ROUND_HALF_UP)


@dataclass(frozen=True)
class Column:
    title: str
    kind: str


@dataclass(frozen=True)
class Table:
    name: str  # in file names and URLs
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    note: str = ""


_METRIC_COLUMNS = [Column("贷款笔数", COUNT), Column("授信额（万元）", WAN), Column("放款额（万元）", WAN),
                   Column("信用贷款笔数", COUNT), Column("信用贷款额（万元）", WAN),
                   Column("信用贷款占比·金额（%）", PCT), Column("信用贷款占比·笔数（%）", PCT),
                   Column("首贷户数", COUNT), Column("首贷金额（万元）", WAN),
                   Column("首贷占比·金额（%）", PCT), Column("首贷占比·笔数（%）", PCT)]


def _metric_cells(m: Metrics) -> list[Any]:
    return [m.loans, wan(m.granted_fen), wan(m.disbursed_fen), m.credit_loans, wan(m.credit_fen),
            pct(m.credit_share_amount), pct(m.credit_share_count), m.first_loans, wan(m.first_fen),
            pct(m.first_share_amount), pct(m.first_share_count)]


def _line_table(name: str, title: str, head: str, lines: list[Line], note: str = "") -> Table:
    return Table(name, title, [Column(head, TEXT), *_METRIC_COLUMNS],
                 [[ln.label, *_metric_cells(ln.m)] for ln in lines], note)


# The tables, in the page's order: name → title (file names and the download route use the names).
TABLES = {"totals": "总体情况", "months": "按月份", "cities": "按地市", "banks": "按银行", "kinds": "按产品类别",
          "sectors": "按行业领域", "response": "响应时长", "reasons": "不予受理与审批不通过原因",
          "conversion": "白名单转化"}


def tables(rep: Report) -> dict[str, Table]:
    f, pr = rep.figures, rep.figures.progress
    totals = Table("totals", TABLES["totals"], [
        Column("统计期间", TEXT), Column("累计授信额（万元）", WAN), Column("授信目标（万元）", WAN),
        Column("目标期限", TEXT), Column("目标完成率（%）", PCT), Column("目标期限前授信额（万元）", WAN),
        *_METRIC_COLUMNS, Column("首贷声明与平台记录不一致（笔）", COUNT)],
        [[f.period.label, wan(pr.cumulative_fen), wan(pr.target_fen), pr.target_by.isoformat(), pct(pr.share),
          wan(pr.by_deadline_fen), *_metric_cells(f.totals), rep.contradicted]],
        "累计授信额含统计期间之前各月；本期各项指标只计期间内授信的贷款。")
    months = Table("months", TABLES["months"], [Column("月份", TEXT), *_METRIC_COLUMNS,
                                                Column("累计授信额（万元）", WAN)],
                   [[ml.label, *_metric_cells(ml.m), wan(ml.cumulative_fen)] for ml in f.by_month])
    response = Table("response", TABLES["response"], [
        Column("银行（总行）", TEXT), Column("申请数", COUNT), Column("已响应", COUNT),
        Column("首次响应时长中位数（小时）", HOURS), Column("已作出决定", COUNT), Column("决定时长中位数（小时）", HOURS)],
        [[r.label, r.applications, r.responded, hours(r.first_response_hours), r.decided, hours(r.decision_hours)]
         for r in rep.response],
        "按申请提交时间统计期间内的申请；时长为自然小时，自提交起算；决定指授信、审批不通过或不予受理。")
    reasons_t = Table("reasons", TABLES["reasons"], [
        Column("类型", TEXT), Column("原因代码", TEXT), Column("原因", TEXT), Column("笔数", COUNT),
        Column("占同类比例（%）", PCT)],
        [[r.kind_label, r.code, r.label, r.count, pct(r.share)] for r in rep.reasons],
        "按申请提交时间统计期间内的申请。")
    c = rep.conversion
    conv = Table("conversion", TABLES["conversion"], [
        Column("白名单", TEXT), Column("名称", TEXT), Column("基准日", TEXT), Column("入选主体", COUNT),
        Column(f"{c.days} 天内获得授信", COUNT), Column("转化率（%）", PCT)],
        [[x.number, x.name, x.as_of.isoformat(), x.entities, x.converted, pct(x.rate)] for x in c.lists]
        + ([["合计（主体去重）", "", "", c.entities, c.converted, pct(c.rate)]] if c.lists else []),
        f"基准日在统计期间内的白名单；基准日起 {c.days} 天内（含当日）获得授信即计为转化。")
    return {"totals": totals, "months": months,
            "cities": _line_table("cities", TABLES["cities"], "地市", f.by_city, "按借款企业注册地所在地市。"),
            "banks": _line_table("banks", TABLES["banks"], "银行（总行）", f.by_bank, "分支机构的贷款计入其总行。"),
            "kinds": _line_table("kinds", TABLES["kinds"], "产品类别", f.by_kind),
            "sectors": _line_table("sectors", TABLES["sectors"], "行业领域", f.by_sector, SECTOR_NOTE),
            "response": response, "reasons": reasons_t, "conversion": conv}


def table_of(rep: Report, name: str) -> Table:
    if name not in TABLES:
        raise NotFound(f"没有名为“{name}”的统计表；可选：{'、'.join(TABLES)}", code="UNKNOWN_TABLE")
    return tables(rep)[name]


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def csv_bytes(t: Table) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese headers as written."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([c.title for c in t.columns])
    w.writerows([_text(v) for v in row] for row in t.rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


_XLSX_FORMATS = {COUNT: "#,##0", WAN: "#,##0.00", PCT: "0.0", HOURS: "0.0"}


def xlsx_bytes(ts: Sequence[Table], period: Period) -> bytes:
    """One sheet per table: the headers, the rows with numbers as numbers in the page's places, the note."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for t in ts:
        ws = wb.create_sheet(t.title[:31])
        ws.append([c.title for c in t.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in t.rows:
            ws.append([float(v) if isinstance(v, Decimal) else v for v in row])
        for i, col in enumerate(t.columns, start=1):
            letter = ws.cell(row=1, column=i).column_letter
            ws.column_dimensions[letter].width = max(10, min(40, 2 * len(col.title) + 2))
            fmt = _XLSX_FORMATS.get(col.kind)
            if fmt:
                for (cell,) in ws.iter_rows(min_row=2, max_row=len(t.rows) + 1, min_col=i, max_col=i):
                    cell.number_format = fmt
        ws.append([])
        ws.append([f"统计期间：{period.label}。{t.note}".strip()])
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
