"""Monitoring of banks (银保监 view, issue 17): per bank — a head office, its branches rolled up to it through
`parent_code` — and per period of months, what the bank has on the platform and what it did with it.

Every figure is set-based: one grouped statement per source table (institutions, products, applications,
loans), grouped by the head office in SQL, and the one median (hours to first response) from Polars over a
narrow extract of answered applications, as `market.figures.response_times` does. Python only merges the
few per-bank rows; no application or loan is looked at one by one.

What each figure counts (the page and the files say the same):
* 已接入机构 — institutions of the bank (the head office and every branch below it, at any depth) whose status
  is 正常 (`active`) now.
* 本期新发布产品 — products of the bank (of any of its institutions) whose first version was published in the
  period; 在架产品 — products whose live version is published now (not suspended, withdrawn or never
  published), whatever the period.
* 本期申请 — applications submitted in the period (`submitted_at`, Beijing months); of them 已响应 — those the
  bank answered (受理 or 不予受理, `first_response_at` set; a picked quote counts as answered when made),
  已受理 — answered and not 不予受理; 受理率 = 已受理 ÷ 已响应.
* 超时申请 — applications submitted in the period that missed a service-level deadline at least once
  (`breaches` > 0; `breached_at` is cleared when the application moves on, the count is not); 超时次数 — the
  sum of their breaches.
* 授信 — loans granted in the period (`granted_month`), by `bank_code`: count and amount; 信用贷款占比 by
  amount = 信用 loans' amount ÷ amount; 首贷 count and share by count = first loans ÷ loans.
* 首次响应时长中位数 — the median, in calendar hours, from submission to first response of the period's
  answered applications.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import BigInteger, Connection, and_, case, cast, func, select, true
from sqlalchemy.sql.selectable import CTE

from xinyidai.entities.regions import region_name
from xinyidai.institutions.models import INSTITUTION_STATUSES, FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.errors import NotFound
from xinyidai.kit.pagination import Page, PageRequest
from xinyidai.market import flows
from xinyidai.market.figures import COUNT, HOURS, PCT, TEXT, WAN, Column, Period, Table, hours, pct, wan
from xinyidai.market.models import Application, Loan, Product, ProductVersion

# Head offices of these kinds are listed even when idle; any other code with applications or loans is
# listed too (a bank's activity is never dropped because of how its institution was registered).
BANK_KINDS = ("银行",)
ACTIVE = "active"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class BankLine:
    """One bank's figures in a period (amounts in 分)."""

    code: str
    name: str
    status: str = ACTIVE
    institutions: int = 0  # active institutions: the head office and its branches
    products_published: int = 0  # first published in the period
    products_live: int = 0  # published now
    applications: int = 0
    responded: int = 0
    accepted: int = 0
    breached: int = 0  # applications with at least one missed deadline
    breaches: int = 0
    loans: int = 0
    granted_fen: int = 0
    credit_fen: int = 0
    first_loans: int = 0
    first_fen: int = 0
    first_response_hours: float | None = None  # median

    @property
    def accept_rate(self) -> float | None:
        return _share(self.accepted, self.responded)

    @property
    def breach_rate(self) -> float | None:
        return _share(self.breached, self.applications)

    @property
    def credit_share_amount(self) -> float | None:
        return _share(self.credit_fen, self.granted_fen)

    @property
    def first_share_count(self) -> float | None:
        return _share(self.first_loans, self.loans)

    @property
    def status_label(self) -> str:
        return INSTITUTION_STATUSES.get(self.status, self.status)


@dataclass(frozen=True)
class Monitoring:
    period: Period
    lines: list[BankLine]  # by 授信 amount, largest first
    totals: BankLine  # every bank together; its median is over all answered applications
    computed_at: datetime = field(default_factory=clock.now)


# ── the institution tree ────────────────────────────────────────────────────────────────────────────────

def tree() -> CTE:
    """Every institution with its head office (its parent followed to the root): a recursive CTE, so a 支行
    under a 分行 rolls up to the 总行 as the market's `_head_office` does, in one statement."""
    fi = FinancialInstitution.__table__
    roots = select(fi.c.code.label("code"), fi.c.code.label("head")).where(fi.c.parent_code.is_(None)) \
        .cte("inst_tree", recursive=True)
    child = fi.alias("child")
    return roots.union_all(select(child.c.code, roots.c.head).where(child.c.parent_code == roots.c.code))


def _within(conds: list[Any]) -> Any:
    return and_(true(), *conds)


def _sum(conn: Connection, expr: Any) -> Any:
    """sum() as an integer on both engines (PostgreSQL's sum of bigint is numeric)."""
    return cast(func.sum(expr), BigInteger) if conn.dialect.name == "postgresql" else func.sum(expr)


def _flag(cond: Any) -> Any:
    return case((cond, 1), else_=0)


# ── the grouped statements ──────────────────────────────────────────────────────────────────────────────

def _only(column: Any, bank: str | None) -> list[Any]:
    return [] if bank is None else [column == bank]


def _heads(conn: Connection, bank: str | None) -> dict[str, tuple[str, str]]:
    fi = FinancialInstitution.__table__
    rows = conn.execute(select(fi.c.code, fi.c.name, fi.c.status)
                        .where(fi.c.parent_code.is_(None), fi.c.kind.in_(BANK_KINDS), *_only(fi.c.code, bank))).all()
    return {code: (name, status) for code, name, status in rows}


def _institutions(conn: Connection, bank: str | None) -> dict[str, int]:
    fi, t = FinancialInstitution.__table__, tree()
    stmt = (select(t.c.head, func.count()).select_from(t.join(fi, fi.c.code == t.c.code))
            .where(fi.c.status == ACTIVE, *_only(t.c.head, bank)).group_by(t.c.head))
    return {h: int(n) for h, n in conn.execute(stmt).all()}


def _products(conn: Connection, period: Period, bank: str | None) -> dict[str, tuple[int, int]]:
    """(first published in the period, live now) per head office."""
    p, v, t = Product.__table__, ProductVersion.__table__, tree()
    first = (select(v.c.product_id, func.min(v.c.published_at).label("first_at"))
             .where(v.c.published_at.is_not(None)).group_by(v.c.product_id).subquery("first_pub"))
    head = func.coalesce(t.c.head, p.c.institution_code)
    stmt = (select(head.label("head"),
                   _sum(conn, _flag(and_(first.c.first_at.is_not(None), _within(period.moments(first.c.first_at))))),
                   _sum(conn, _flag(p.c.status == flows.PUBLISHED)))
            .select_from(p.outerjoin(first, first.c.product_id == p.c.id).outerjoin(t, t.c.code == p.c.institution_code))
            .where(*_only(head, bank)).group_by(head))
    return {h: (int(a or 0), int(b or 0)) for h, a, b in conn.execute(stmt).all()}


def _applications(conn: Connection, period: Period, bank: str | None) -> dict[str, tuple[int, ...]]:
    """(received, responded, accepted, breached, breaches) per bank for applications submitted in the period."""
    a = Application.__table__
    answered = a.c.first_response_at.is_not(None)
    stmt = (select(a.c.bank_code, func.count(), _sum(conn, _flag(answered)),
                   _sum(conn, _flag(and_(answered, a.c.state != flows.DECLINED))),
                   _sum(conn, _flag(a.c.breaches > 0)), _sum(conn, a.c.breaches))
            .where(*period.moments(a.c.submitted_at), *_only(a.c.bank_code, bank)).group_by(a.c.bank_code))
    return {r[0]: tuple(int(x or 0) for x in r[1:]) for r in conn.execute(stmt).all()}


def _loans(conn: Connection, period: Period, bank: str | None) -> dict[str, tuple[int, ...]]:
    """(loans, granted, credit amount, first loans, first-loan amount) per bank, granted in the period."""
    t = Loan.__table__
    cond = _only(t.c.bank_code, bank)
    if period.start is not None:
        cond.append(t.c.granted_month >= period.start)
    if period.end is not None:
        cond.append(t.c.granted_month <= period.end)
    stmt = (select(t.c.bank_code, func.count(), _sum(conn, t.c.granted_fen), _sum(conn, t.c.credit_fen),
                   _sum(conn, t.c.first_loan), _sum(conn, t.c.first_fen))
            .where(*cond).group_by(t.c.bank_code))
    return {r[0]: tuple(int(x or 0) for x in r[1:]) for r in conn.execute(stmt).all()}


def _response_frame(conn: Connection, period: Period, bank: str | None) -> pl.DataFrame:
    """The narrow extract: bank and hours to first response of the period's answered applications."""
    a = Application.__table__
    rows = conn.execute(select(a.c.bank_code, a.c.submitted_at, a.c.first_response_at)
                        .where(a.c.first_response_at.is_not(None), *period.moments(a.c.submitted_at),
                               *_only(a.c.bank_code, bank))).all()
    frame = pl.DataFrame(rows, schema={"bank": pl.Utf8, "submitted": pl.Datetime("us", "UTC"),
                                       "responded": pl.Datetime("us", "UTC")}, orient="row")
    return frame.with_columns(h=(pl.col("responded") - pl.col("submitted")).dt.total_microseconds() / 3.6e9)


def _names(conn: Connection, codes: Sequence[str]) -> dict[str, tuple[str, str]]:
    if not codes:
        return {}
    fi = FinancialInstitution.__table__
    rows = conn.execute(select(fi.c.code, fi.c.name, fi.c.status).where(fi.c.code.in_(list(codes)))).all()
    return {code: (name, status) for code, name, status in rows}


# ── sorting ─────────────────────────────────────────────────────────────────────────────────────────────

SORTS: dict[str, Callable[[BankLine], Any]] = {
    "name": lambda ln: ln.name, "institutions": lambda ln: ln.institutions,
    "published": lambda ln: ln.products_published, "live": lambda ln: ln.products_live,
    "applications": lambda ln: ln.applications, "accept_rate": lambda ln: ln.accept_rate,
    "breached": lambda ln: ln.breached, "loans": lambda ln: ln.loans, "granted": lambda ln: ln.granted_fen,
    "credit_share": lambda ln: ln.credit_share_amount, "first_loans": lambda ln: ln.first_loans,
    "first_share": lambda ln: ln.first_share_count, "response": lambda ln: ln.first_response_hours,
}
DEFAULT_SORT = "granted"


def ordered(lines: Sequence[BankLine], sort: str | None = DEFAULT_SORT, desc: bool = True) -> list[BankLine]:
    """Lines by one of `SORTS` (anything else: 授信 amount). Lines without a value (a rate of nothing) come
    last either way; ties keep the order of the bank's code."""
    key = SORTS.get(sort or "", SORTS[DEFAULT_SORT])
    by_code = sorted(lines, key=lambda ln: ln.code)
    valued = [ln for ln in by_code if key(ln) is not None]
    empty = [ln for ln in by_code if key(ln) is None]
    return sorted(valued, key=key, reverse=desc) + empty


def page_of(lines: Sequence[BankLine], req: PageRequest) -> Page[BankLine]:
    req = req.clamp()
    key = req.sort if req.sort in SORTS else DEFAULT_SORT
    rows = ordered(lines, key, req.desc)
    start = (req.page - 1) * req.size
    return Page(rows[start:start + req.size], len(rows), req.page, req.size, key, req.desc)


# ── the monitoring ──────────────────────────────────────────────────────────────────────────────────────

def monitor(conn: Connection, period: Period | None = None, bank: str | None = None) -> Monitoring:
    """Every bank's line in the period: head offices of a bank kind (idle ones with zeros) and any other bank
    code with applications or loans in the period; sorted by 授信 amount, largest first. `bank` narrows every
    statement to one head office (a bank's own page)."""
    period = period or Period()
    heads = _heads(conn, bank)
    insts, prods = _institutions(conn, bank), _products(conn, period, bank)
    apps, loans = _applications(conn, period, bank), _loans(conn, period, bank)
    frame = _response_frame(conn, period, bank)
    medians = dict(frame.group_by("bank").agg(pl.col("h").median()).iter_rows())
    codes = set(heads) | set(apps) | set(loans)
    known = {**_names(conn, sorted(codes - set(heads))), **heads}
    lines = []
    for code in codes:
        name, status = known.get(code, (code, ""))
        pub, live = prods.get(code, (0, 0))
        received, responded, accepted, breached, breaches = apps.get(code, (0, 0, 0, 0, 0))
        n, granted, credit, first, first_fen = loans.get(code, (0, 0, 0, 0, 0))
        lines.append(BankLine(code, name, status, insts.get(code, 0), pub, live, received, responded, accepted,
                              breached, breaches, n, granted, credit, first, first_fen, medians.get(code)))
    lines = ordered(lines)
    total = BankLine("", "全部银行", "", *(sum(getattr(ln, f) for ln in lines) for f in _SUMMED),
                     frame["h"].median() if frame.height else None)
    return Monitoring(period, lines, total)


_SUMMED = ("institutions", "products_published", "products_live", "applications", "responded", "accepted",
           "breached", "breaches", "loans", "granted_fen", "credit_fen", "first_loans", "first_fen")


def line_of(mon: Monitoring, code: str) -> BankLine | None:
    return next((ln for ln in mon.lines if ln.code == code), None)


# ── tables: the page, the CSV and the XLSX read the same rows ───────────────────────────────────────────

COLUMNS = [Column("银行（总行）", TEXT), Column("统一社会信用代码", TEXT), Column("已接入机构", COUNT),
           Column("本期新发布产品", COUNT), Column("在架产品", COUNT), Column("本期申请", COUNT),
           Column("已响应", COUNT), Column("已受理", COUNT), Column("受理率（%）", PCT), Column("超时申请", COUNT),
           Column("超时次数", COUNT), Column("授信笔数", COUNT), Column("授信额（万元）", WAN),
           Column("信用贷款额（万元）", WAN), Column("信用贷款占比·金额（%）", PCT), Column("首贷笔数", COUNT),
           Column("首贷占比·笔数（%）", PCT), Column("首次响应时长中位数（小时）", HOURS)]
# The sort key each column answers to (None: not sortable), in the order of COLUMNS.
COLUMN_SORTS = ["name", None, "institutions", "published", "live", "applications", None, None, "accept_rate",
                "breached", None, "loans", "granted", None, "credit_share", "first_loans", "first_share", "response"]
NOTE = ("已接入机构含总行及其各级分支机构（状态正常）；产品、申请、贷款均计入所属总行。本期新发布产品指首个版本在统计期间内"
        "发布的产品，在架产品指当前处于已发布状态的产品（不含暂停、下架）。申请按提交时间统计；受理率 = 已受理 ÷ 已响应"
        "（已响应指已受理或不予受理）；超时申请指至少一次超过办理时限的申请。授信按授信月份统计；信用贷款占比按金额，"
        "首贷占比按笔数。首次响应时长为自提交至受理或不予受理的自然小时数的中位数。比率在分母为零时写作“无”。")


def row(ln: BankLine) -> list[Any]:
    return [ln.name, ln.code, ln.institutions, ln.products_published, ln.products_live, ln.applications,
            ln.responded, ln.accepted, pct(ln.accept_rate), ln.breached, ln.breaches, ln.loans, wan(ln.granted_fen),
            wan(ln.credit_fen), pct(ln.credit_share_amount), ln.first_loans, pct(ln.first_share_count),
            hours(ln.first_response_hours)]


def tables(mon: Monitoring, lines: Sequence[BankLine] | None = None) -> list[Table]:
    """The bank table (every line, or the `lines` given — a page's), with the totals as its last row in files."""
    shown = mon.lines if lines is None else list(lines)
    rows = [row(ln) for ln in shown]
    if lines is None and mon.lines:
        rows.append(row(replace(mon.totals, code="")))
    return [Table("banks", "银行监测", COLUMNS, rows, NOTE)]


# ── one bank ────────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class InstitutionRow:
    code: str
    name: str
    kind: str
    parent_code: str | None
    region_code: str | None
    status: str
    created_at: datetime

    @property
    def status_label(self) -> str:
        return INSTITUTION_STATUSES.get(self.status, self.status)

    @property
    def region_label(self) -> str:
        return (region_name(self.region_code) or self.region_code) if self.region_code else "未填写"


@dataclass(frozen=True)
class ProductRow:
    number: str
    name: str
    kind: str
    institution_code: str
    institution_name: str
    status: str
    first_published_at: datetime | None

    @property
    def status_label(self) -> str:
        return flows.PRODUCT.label(self.status) if self.status else "未知"

    @property
    def live(self) -> bool:
        return self.status == flows.PUBLISHED


@dataclass(frozen=True)
class BankDetail:
    head: InstitutionRow
    institutions: list[InstitutionRow]  # the head office first, then branches by code
    products: list[ProductRow]  # live first, then by number

    @property
    def active(self) -> int:
        return sum(1 for i in self.institutions if i.status == ACTIVE)


def head_of(conn: Connection, code: str) -> str | None:
    """The head office of an institution (itself for a head office), or None when the code is unknown."""
    t = tree()
    return conn.execute(select(t.c.head).where(t.c.code == code)).scalar()


def detail(conn: Connection, code: str) -> BankDetail:
    """One bank: its institutions (the head office and every branch below it) and its products with their
    state now. `code` must be a head office; NotFound otherwise."""
    fi, t = FinancialInstitution.__table__, tree()
    rows = conn.execute(select(fi.c.code, fi.c.name, fi.c.kind, fi.c.parent_code, fi.c.region_code, fi.c.status,
                               fi.c.created_at)
                        .select_from(t.join(fi, fi.c.code == t.c.code)).where(t.c.head == code)
                        .order_by(case((fi.c.code == code, 0), else_=1), fi.c.code)).all()
    insts = [InstitutionRow(*r) for r in rows]
    if not insts or insts[0].code != code:
        raise NotFound(f"没有统一社会信用代码为 {code} 的银行总行", code="UNKNOWN_BANK")
    p, v = Product.__table__, ProductVersion.__table__
    latest = select(v.c.product_id, func.max(v.c.id).label("vid")).group_by(v.c.product_id).subquery("latest")
    first = (select(v.c.product_id, func.min(v.c.published_at).label("first_at"))
             .where(v.c.published_at.is_not(None)).group_by(v.c.product_id).subquery("first_pub"))
    shown = v.alias("shown")
    names = {i.code: i.name for i in insts}
    prows = conn.execute(
        select(p.c.number, shown.c.name, shown.c.kind, p.c.institution_code, p.c.status, first.c.first_at)
        .select_from(p.join(latest, latest.c.product_id == p.c.id)
                     .join(shown, shown.c.id == func.coalesce(p.c.live_version_id, latest.c.vid))
                     .outerjoin(first, first.c.product_id == p.c.id))
        .where(p.c.institution_code.in_(select(t.c.code).where(t.c.head == code)))
        .order_by(case((p.c.status == flows.PUBLISHED, 0), else_=1), p.c.number)).all()
    products = [ProductRow(n, name, kind, inst, names.get(inst, inst), status,
                           _aware(first_at)) for n, name, kind, inst, status, first_at in prows]
    return BankDetail(insts[0], insts, products)


def _aware(value: Any) -> datetime | None:
    """min() over a timestamp comes back as the engine gives it: text on SQLite, naive or aware elsewhere."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


__all__ = ["BankDetail", "BankLine", "Monitoring", "detail", "head_of", "line_of", "monitor", "ordered", "page_of",
           "tables"]
