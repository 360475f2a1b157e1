"""The measures an indicator system may name: each a tested, set-based computation over what the other domains
already hold, giving every city (prefecture) its value for a period — and, for the drill-down, the rows
behind one city's value.

A city's records and registrations are found by the entity's credit code: positions 3–8 of a GB 32100
统一社会信用代码 are the registering authority's division code, so `substr(code, 3, 4)` is the prefecture
without a join to the register. Loans and applications carry the prefecture they were made in
(`city_code`). City platforms are the child peers whose `region_prefix` is the prefecture's four digits.

Each measure reads through `Facts`, which runs each underlying grouped query once per run however many
measures share it (the records, the loans and the applications are each read once)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
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
    select,
    union_all,
)

from xinyidai.accounts.models import RealNameRegistration
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.lists.models import WhiteList, WhiteListEntry
from xinyidai.market.figures import CONVERSION_DAYS, Period
from xinyidai.market.models import Application, Loan, Product, ProductVersion
from xinyidai.network.models import InboxEnvelope, Peer, Reconciliation, RefusedEnvelope
from xinyidai.quality.models import Department, Ticket
from xinyidai.records.models import CreditRecord
from xinyidai.rights.models import Objection

SELF_REPORTED = "企业自报"  # what enterprises report about themselves is not collected information
CATALOGUE_CATEGORIES = 17  # the 17 kinds of information of the sharing list (notice point 五)
HOUR = 3600.0


@dataclass(frozen=True)
class Value:
    """A city's value; `numerator`/`denominator` say what it was computed from (None where it is a count)."""

    value: float | None
    numerator: float | None = None
    denominator: float | None = None


@dataclass
class Scope:
    """What a run looks at: the period, the cities (prefecture codes), the moment of the run."""

    period: Period
    cities: tuple[str, ...]
    as_of: datetime

    @property
    def start(self) -> int:
        assert self.period.start is not None
        return self.period.start

    @property
    def end(self) -> int:
        assert self.period.end is not None
        return self.period.end

    @property
    def end_moment(self) -> datetime:
        """The first moment after the period (Beijing time)."""
        y, m = divmod(self.end, 100)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return datetime.combine(date(y, m, 1), time(0), tzinfo=clock.CHINA_TZ)


def _prefix(column: Any) -> Any:
    """The prefecture's four digits of a credit code (GB 32100 positions 3–6)."""
    return func.substr(column, 3, 4)


def _sum(conn: Connection, column: Any) -> Any:
    return cast(func.sum(column), BigInteger) if conn.dialect.name == "postgresql" else func.sum(column)


@dataclass
class Facts:
    """The grouped queries of one run, each executed at most once; `evidence` counts the rows of the period
    they rested on (zero: there is nothing to rank)."""

    conn: Connection
    scope: Scope
    memo: dict[str, Any] = field(default_factory=dict)

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    @property
    def evidence(self) -> int:
        return sum(v for k, v in self.memo.items() if k.startswith("evidence:"))

    def records(self) -> dict[str, tuple[int, int]]:
        """prefix → (records received in the period, distinct categories among them)."""
        def make() -> dict[str, tuple[int, int]]:
            r = CreditRecord.__table__
            rows = self.conn.execute(
                select(_prefix(r.c.entity_code).label("p"), func.count(), func.count(distinct(r.c.category)))
                .where(*self.scope.period.moments(r.c.received_at), r.c.provider != SELF_REPORTED)
                .group_by("p")).all()
            out = {p: (int(n), int(k)) for p, n, k in rows}
            self.memo["evidence:records"] = sum(n for n, _ in out.values())
            return out
        return self._once("records", make)

    def entities(self) -> dict[str, int]:
        """prefix → market entities in the register (all, whatever their state: the base of per-thousand)."""
        def make() -> dict[str, int]:
            e = MarketEntity.__table__
            rows = self.conn.execute(select(func.substr(e.c.region_code, 1, 4).label("p"), func.count())
                                     .group_by("p")).all()
            return {p: int(n) for p, n in rows}
        return self._once("entities", make)

    def loans(self) -> dict[str, dict[str, int]]:
        """city → sums of the loans granted in the period."""
        def make() -> dict[str, dict[str, int]]:
            t = Loan.__table__
            rows = self.conn.execute(
                select(t.c.city_code, func.count().label("loans"), _sum(self.conn, t.c.granted_fen).label("granted"),
                       _sum(self.conn, t.c.disbursed_fen).label("disbursed"),
                       _sum(self.conn, t.c.credit_fen).label("credit"),
                       _sum(self.conn, t.c.first_loan).label("first"))
                .where(t.c.granted_month >= self.scope.start, t.c.granted_month <= self.scope.end)
                .group_by(t.c.city_code)).mappings().all()
            out = {r["city_code"]: {k: int(r[k] or 0) for k in ("loans", "granted", "disbursed", "credit", "first")}
                   for r in rows}
            self.memo["evidence:loans"] = sum(v["loans"] for v in out.values())
            return out
        return self._once("loans", make)

    def applications(self) -> pl.DataFrame:
        """The period's applications as (city, hours to first response or null): a narrow extract, since
        SQLite has no percentile."""
        def make() -> pl.DataFrame:
            a = Application.__table__
            rows = self.conn.execute(select(a.c.city_code, a.c.submitted_at, a.c.first_response_at)
                                     .where(*self.scope.period.moments(a.c.submitted_at))).all()
            self.memo["evidence:applications"] = len(rows)
            return pl.DataFrame(
                {"city": [r[0] for r in rows],
                 "hours": [(r[2] - r[1]).total_seconds() / HOUR if r[2] is not None else None for r in rows]},
                schema={"city": pl.Utf8, "hours": pl.Float64})
        return self._once("applications", make)


# ── the measures ────────────────────────────────────────────────────────────────────────────────────────

Compute = Callable[[Facts], dict[str, Value]]
Rows = Callable[[Scope, str, str], Select[Any]]  # scope, city, dialect


@dataclass(frozen=True)
class Measure:
    code: str
    name: str
    unit: str
    explain: str  # how it is computed, in the words a regulator reads
    compute: Compute
    rows: Rows | None  # the rows behind one city's value (None: the value is a state, not a count of rows)
    row_labels: tuple[str, ...] = ()


MEASURES: dict[str, Measure] = {}


def measure(code: str, name: str, unit: str, explain: str, rows: Rows | None = None,
            row_labels: Iterable[str] = ()) -> Callable[[Compute], Compute]:
    def register(fn: Compute) -> Compute:
        MEASURES[code] = Measure(code, name, unit, explain, fn, rows, tuple(row_labels))
        return fn
    return register


def _p(city: str) -> str:
    return city[:4]


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _pct(part: float, whole: float) -> float | None:
    s = _share(part, whole)
    return None if s is None else 100 * s


def _records_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    r = CreditRecord.__table__
    return (select(r.c.entity_code, r.c.category, r.c.record_key, r.c.provider, r.c.received_at)
            .where(_prefix(r.c.entity_code) == _p(city), *scope.period.moments(r.c.received_at),
                   r.c.provider != SELF_REPORTED)
            .order_by(r.c.received_at.desc(), r.c.id.desc()))


_RECORD_LABELS = ("统一社会信用代码", "信息类别", "记录标识", "报送单位", "接收时间")


@measure("categories_covered", "归集信息类别覆盖", "类",
         f"统计期间内接收的、关于本市（地）登记主体的信用信息涉及的类别数（共享清单共 {CATALOGUE_CATEGORIES} 类）。",
         _records_rows, _RECORD_LABELS)
def categories_covered(f: Facts) -> dict[str, Value]:
    got = f.records()
    return {c: Value(float(got.get(_p(c), (0, 0))[1]), float(got.get(_p(c), (0, 0))[1]), CATALOGUE_CATEGORIES)
            for c in f.scope.cities}


@measure("records_per_thousand", "每千户新归集信息条数", "条/千户",
         "统计期间内接收的关于本市（地）登记主体的信用信息条数，除以本市（地）登记的市场主体数（千户）。"
         "没有登记主体的市（地）无此值。", _records_rows, _RECORD_LABELS)
def records_per_thousand(f: Facts) -> dict[str, Value]:
    got, ents = f.records(), f.entities()
    out = {}
    for c in f.scope.cities:
        n, base = got.get(_p(c), (0, 0))[0], ents.get(_p(c), 0)
        out[c] = Value(1000 * n / base if base else None, float(n), float(base))
    return out


def _child_nodes(conn: Connection) -> dict[str, Peer]:
    """prefix → the city platform connected below this node (the newest if a city has several)."""
    p = Peer.__table__
    rows = conn.execute(select(p).where(p.c.relation == "child", p.c.region_prefix.is_not(None))
                        .order_by(p.c.applied_at)).mappings().all()
    return {r["region_prefix"][:4]: r for r in rows if len(r["region_prefix"]) >= 4}


def _node_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    p = Peer.__table__
    return select(p.c.code, p.c.name, p.c.status, p.c.decided_at, p.c.last_contact_at) \
        .where(p.c.relation == "child", p.c.region_prefix.like(f"{_p(city)}%")).order_by(p.c.code)


@measure("node_connected", "市级平台接入省级节点", "是否",
         "本市（地）的融资信用服务平台已作为下级节点接入并处于正常运行（active）状态为 1，否则为 0。",
         _node_rows, ("节点代码", "名称", "状态", "接入决定时间", "最近联系时间"))
def node_connected(f: Facts) -> dict[str, Value]:
    nodes = f._once("nodes", lambda: _child_nodes(f.conn))
    return {c: Value(1.0 if (n := nodes.get(_p(c))) is not None and n["status"] == "active" else 0.0)
            for c in f.scope.cities}


@measure("contact_lag_hours", "与省级节点最近联系间隔", "小时",
         "计算时距本市（地）节点最近一次与本节点成功往来的小时数；未接入的市（地）无此值。",
         _node_rows, ("节点代码", "名称", "状态", "接入决定时间", "最近联系时间"))
def contact_lag_hours(f: Facts) -> dict[str, Value]:
    nodes = f._once("nodes", lambda: _child_nodes(f.conn))
    out = {}
    for c in f.scope.cities:
        n = nodes.get(_p(c))
        at = n["last_contact_at"] if n is not None else None
        out[c] = Value(max(0.0, (f.scope.as_of - at).total_seconds() / HOUR) if at is not None else None)
    return out


def _reconciliation_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    r, p = Reconciliation.__table__, Peer.__table__
    return (select(r.c.peer, r.c.category, r.c.day, r.c.status, r.c.local_count, r.c.remote_count)
            .select_from(r.join(p, p.c.code == r.c.peer))
            .where(p.c.region_prefix.like(f"{_p(city)}%"), *scope.period.days(r.c.day))
            .order_by(r.c.day.desc(), r.c.category))


@measure("reconciliation_agreement", "对账一致率", "%",
         "统计期间内与本市（地）节点逐日逐类对账的结果中一致（match）的比例；未对账的市（地）无此值。",
         _reconciliation_rows, ("节点", "信息类别", "对账日", "结果", "本节点条数", "对方条数"))
def reconciliation_agreement(f: Facts) -> dict[str, Value]:
    r, p = Reconciliation.__table__, Peer.__table__
    rows = f.conn.execute(
        select(func.substr(p.c.region_prefix, 1, 4).label("p"), func.count(),
               func.sum(case((r.c.status == "match", 1), else_=0)))
        .select_from(r.join(p, p.c.code == r.c.peer))
        .where(r.c.status.in_(("match", "mismatch")), *f.scope.period.days(r.c.day))
        .group_by("p")).all()
    got = {pre: (int(n), int(m or 0)) for pre, n, m in rows}
    f.memo["evidence:reconciliations"] = sum(n for n, _ in got.values())
    return {c: Value(_pct(got[_p(c)][1], got[_p(c)][0]), float(got[_p(c)][1]), float(got[_p(c)][0]))
            if _p(c) in got else Value(None) for c in f.scope.cities}


def _refusal_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    r, p = RefusedEnvelope.__table__, Peer.__table__
    return (select(r.c.claimed_sender, r.c.claimed_id, r.c.code, r.c.message, r.c.at)
            .select_from(r.join(p, p.c.code == r.c.claimed_sender))
            .where(p.c.relation == "child", p.c.region_prefix.like(f"{_p(city)}%"), *scope.period.moments(r.c.at))
            .order_by(r.c.at.desc(), r.c.id.desc()))


@measure("relay_refused_share", "下级节点报文被拒比例", "%",
         "统计期间内本市（地）节点发来的报文中，因签名、格式、重放、超限等原因被本节点拒收的比例；"
         "未接入或期间内没有往来的市（地）无此值。", _refusal_rows, ("节点", "报文编号", "拒收代码", "原因", "时间"))
def relay_refused_share(f: Facts) -> dict[str, Value]:
    nodes = f._once("nodes", lambda: _child_nodes(f.conn))
    codes = {n["code"]: prefix for prefix, n in nodes.items()}
    if not codes:
        return {c: Value(None) for c in f.scope.cities}
    i, r = InboxEnvelope.__table__, RefusedEnvelope.__table__
    taken = dict(f.conn.execute(select(i.c.sender, func.count()).where(i.c.sender.in_(list(codes)),
                                                                      *f.scope.period.moments(i.c.received_at))
                                .group_by(i.c.sender)).all())
    refused = dict(f.conn.execute(select(r.c.claimed_sender, func.count())
                                  .where(r.c.claimed_sender.in_(list(codes)), *f.scope.period.moments(r.c.at))
                                  .group_by(r.c.claimed_sender)).all())
    f.memo["evidence:envelopes"] = sum(taken.values()) + sum(refused.values())
    by_prefix = {codes[code]: (int(taken.get(code, 0)), int(refused.get(code, 0))) for code in codes}
    out = {}
    for c in f.scope.cities:
        ok, bad = by_prefix.get(_p(c), (0, 0))
        out[c] = Value(_pct(bad, ok + bad), float(bad), float(ok + bad))
    return out


def _registration_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    g = RealNameRegistration.__table__
    return (select(g.c.entity_code, g.c.username, g.c.completed_at)
            .where(g.c.status == "completed", _prefix(g.c.entity_code) == _p(city),
                   g.c.completed_at < scope.end_moment)
            .order_by(g.c.completed_at.desc()))


@measure("registered_per_thousand", "每千户实名注册企业", "户/千户",
         "截至统计期末完成实名注册的企业数（同一企业多名管理员计一户），除以本市（地）登记的市场主体数（千户）。",
         _registration_rows, ("统一社会信用代码", "管理员账户", "完成时间"))
def registered_per_thousand(f: Facts) -> dict[str, Value]:
    g = RealNameRegistration.__table__
    until = g.c.completed_at < f.scope.end_moment
    rows = f.conn.execute(select(_prefix(g.c.entity_code).label("p"), func.count(distinct(g.c.entity_code)))
                          .where(g.c.status == "completed", until).group_by("p")).all()
    got = {p: int(n) for p, n in rows}
    ents = f.entities()
    out = {}
    for c in f.scope.cities:
        n, base = got.get(_p(c), 0), ents.get(_p(c), 0)
        out[c] = Value(1000 * n / base if base else None, float(n), float(base))
    return out


def _published_by(scope: Scope) -> Any:
    """Institutions with a product version published before the period's end."""
    pr, v = Product.__table__, ProductVersion.__table__
    return exists().where(pr.c.institution_code == FinancialInstitution.__table__.c.code, v.c.product_id == pr.c.id,
                          v.c.published_at < scope.end_moment)


def _institution_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    i = FinancialInstitution.__table__
    return (select(i.c.code, i.c.name, i.c.kind, i.c.status)
            .where(i.c.region_code.like(f"{_p(city)}%"), i.c.status == "active", _published_by(scope))
            .order_by(i.c.code))


@measure("institutions_with_products", "入驻且发布产品的金融机构", "家",
         "注册地在本市（地）、状态正常、且截至统计期末至少发布过一款融资产品的金融机构（含分支机构）数。",
         _institution_rows, ("机构代码", "名称", "类型", "状态"))
def institutions_with_products(f: Facts) -> dict[str, Value]:
    i = FinancialInstitution.__table__
    rows = f.conn.execute(select(func.substr(i.c.region_code, 1, 4).label("p"), func.count())
                          .where(i.c.status == "active", _published_by(f.scope)).group_by("p")).all()
    got = {p: int(n) for p, n in rows if p}
    return {c: Value(float(got.get(_p(c), 0))) for c in f.scope.cities}


def _loan_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    t = Loan.__table__
    return (select(t.c.loan_no, t.c.entity_code, t.c.bank_code, t.c.product_kind, t.c.granted_on,
                   t.c.granted_fen / 100.0, t.c.disbursed_fen / 100.0, case((t.c.is_credit == 1, "是"), else_="否"),
                   case((t.c.first_loan == 1, "是"), else_="否"))
            .where(t.c.city_code == city, t.c.granted_month >= scope.start, t.c.granted_month <= scope.end)
            .order_by(t.c.granted_on.desc(), t.c.id.desc()))


_LOAN_LABELS = ("贷款编号", "借款企业", "银行", "产品类别", "授信日期", "授信额（元）", "放款额（元）", "信用贷款", "首贷")


def _loan_value(f: Facts, pick: Callable[[dict[str, int]], Value]) -> dict[str, Value]:
    got = f.loans()
    empty = {"loans": 0, "granted": 0, "disbursed": 0, "credit": 0, "first": 0}
    return {c: pick(got.get(c, empty)) for c in f.scope.cities}


@measure("granted_amount", "授信金额", "万元", "统计期间内在本市（地）授信的贷款的授信额合计（万元）。",
         _loan_rows, _LOAN_LABELS)
def granted_amount(f: Facts) -> dict[str, Value]:
    return _loan_value(f, lambda m: Value(m["granted"] / 1_000_000))


@measure("disbursed_amount", "放款金额", "万元", "统计期间内在本市（地）授信的贷款已放款金额合计（万元）。",
         _loan_rows, _LOAN_LABELS)
def disbursed_amount(f: Facts) -> dict[str, Value]:
    return _loan_value(f, lambda m: Value(m["disbursed"] / 1_000_000))


@measure("credit_share", "信用贷款占比（金额）", "%",
         "统计期间内本市（地）信用贷款授信额占全部授信额的百分比；无授信的市（地）无此值。", _loan_rows, _LOAN_LABELS)
def credit_share(f: Facts) -> dict[str, Value]:
    return _loan_value(f, lambda m: Value(_pct(m["credit"], m["granted"]), m["credit"] / 1_000_000,
                                          m["granted"] / 1_000_000))


@measure("first_loans", "首贷户数", "户", "统计期间内本市（地）获得首笔贷款的企业数（平台记录核验后的首贷）。",
         _loan_rows, _LOAN_LABELS)
def first_loans(f: Facts) -> dict[str, Value]:
    return _loan_value(f, lambda m: Value(float(m["first"])))


@measure("first_share", "首贷占比（笔数）", "%",
         "统计期间内本市（地）首贷笔数占全部贷款笔数的百分比；无贷款的市（地）无此值。", _loan_rows, _LOAN_LABELS)
def first_share(f: Facts) -> dict[str, Value]:
    return _loan_value(f, lambda m: Value(_pct(m["first"], m["loans"]), float(m["first"]), float(m["loans"])))


def _application_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    a = Application.__table__
    return (select(a.c.number, a.c.entity_code, a.c.bank_code, a.c.state, a.c.submitted_at, a.c.first_response_at)
            .where(a.c.city_code == city, *scope.period.moments(a.c.submitted_at))
            .order_by(a.c.submitted_at.desc(), a.c.id.desc()))


_APPLICATION_LABELS = ("申请编号", "申请企业", "银行", "状态", "提交时间", "首次响应时间")


@measure("applications", "融资申请笔数", "笔", "统计期间内提交的、申请企业在本市（地）的融资申请笔数。",
         _application_rows, _APPLICATION_LABELS)
def applications(f: Facts) -> dict[str, Value]:
    frame = f.applications()
    got = dict(frame.group_by("city").len().iter_rows()) if frame.height else {}
    return {c: Value(float(got.get(c, 0))) for c in f.scope.cities}


@measure("median_response_days", "首次响应时长中位数", "天",
         "统计期间内提交的本市（地）融资申请，自提交至银行首次响应（受理或不予受理）的自然天数中位数；"
         "没有已响应申请的市（地）无此值。", _application_rows, _APPLICATION_LABELS)
def median_response_days(f: Facts) -> dict[str, Value]:
    frame = f.applications().drop_nulls("hours")
    got = {c: (m, n) for c, m, n in frame.group_by("city").agg(pl.col("hours").median(), pl.len()).iter_rows()} \
        if frame.height else {}
    return {c: Value(got[c][0] / 24, None, float(got[c][1])) if c in got else Value(None) for c in f.scope.cities}


def _days_after(conn_dialect: str, column: Any, days: int) -> Any:
    return column + literal(days) if conn_dialect == "postgresql" else func.date(column, f"+{days} days")


def _whitelist_join(dialect: str, scope: Scope) -> tuple[Any, Any, Any]:
    w, e, t = WhiteList.__table__, WhiteListEntry.__table__, Loan.__table__
    got_loan = exists().where(t.c.entity_code == e.c.entity_code, t.c.granted_on >= w.c.as_of,
                              t.c.granted_on <= _days_after(dialect, w.c.as_of, CONVERSION_DAYS))
    lists = and_(w.c.kind == "whitelist", w.c.status == "published", *scope.period.days(w.c.as_of))
    return e.join(w, w.c.id == e.c.list_id), lists, got_loan


def _whitelist_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    w, e = WhiteList.__table__, WhiteListEntry.__table__
    joined, lists, got_loan = _whitelist_join(dialect, scope)
    return (select(w.c.number, w.c.as_of, e.c.entity_code, case((got_loan, "是"), else_="否"))
            .select_from(joined).where(lists, _prefix(e.c.entity_code) == _p(city))
            .order_by(w.c.as_of.desc(), e.c.entity_code))


@measure("whitelist_conversion", "白名单企业获贷转化率", "%",
         f"基准日在统计期间内的白名单所列本市（地）企业中，基准日起 {CONVERSION_DAYS} 天内获得授信的比例"
         "（企业去重）；期间内没有白名单企业的市（地）无此值。", _whitelist_rows,
         ("白名单", "基准日", "统一社会信用代码", f"{CONVERSION_DAYS} 天内获得授信"))
def whitelist_conversion(f: Facts) -> dict[str, Value]:
    e = WhiteListEntry.__table__
    joined, lists, got_loan = _whitelist_join(f.conn.dialect.name, f.scope)
    pre = _prefix(e.c.entity_code)
    rows = f.conn.execute(select(pre.label("p"), func.count(distinct(e.c.entity_code)),
                                 func.count(distinct(case((got_loan, e.c.entity_code)))))
                          .select_from(joined).where(lists).group_by("p")).all()
    got = {p: (int(n), int(k or 0)) for p, n, k in rows}
    f.memo["evidence:whitelists"] = sum(n for n, _ in got.values())
    return {c: Value(_pct(got[_p(c)][1], got[_p(c)][0]), float(got[_p(c)][1]), float(got[_p(c)][0]))
            if _p(c) in got else Value(None) for c in f.scope.cities}


def _overdue_where(scope: Scope) -> list[Any]:
    """Tickets overdue at the period's end: due before it, and not closed by then."""
    t = Ticket.__table__
    end = scope.end_moment
    return [t.c.due_on < end.date(), t.c.opened_at < end, (t.c.closed_at.is_(None)) | (t.c.closed_at >= end)]


def _overdue_ticket_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    t, d = Ticket.__table__, Department.__table__
    return (select(t.c.number, d.c.name, t.c.title, t.c.due_on, t.c.state)
            .select_from(t.join(d, d.c.code == t.c.department))
            .where(func.substr(d.c.region, 1, 4) == _p(city), *_overdue_where(scope))
            .order_by(t.c.due_on, t.c.number))


@measure("overdue_tickets", "逾期未整改数据质量工单", "张",
         "截至统计期末已过整改期限、尚未关闭的数据质量整改工单张数，按开单部门所属的市（地）计；"
         "省级部门的工单不计入任何市（地）。", _overdue_ticket_rows, ("工单编号", "数据提供部门", "问题", "整改期限", "当前状态"))
def overdue_tickets(f: Facts) -> dict[str, Value]:
    t, d = Ticket.__table__, Department.__table__
    pre = func.substr(d.c.region, 1, 4)
    rows = f.conn.execute(select(pre.label("p"), func.count()).select_from(t.join(d, d.c.code == t.c.department))
                          .where(*_overdue_where(f.scope)).group_by("p")).all()
    got = {p: int(n) for p, n in rows}
    return {c: Value(float(got.get(_p(c), 0))) for c in f.scope.cities}


def _overdue_objection_where(scope: Scope) -> list[Any]:
    """Objections past their 20 days (征信业管理条例 第二十五条) at the period's end and not concluded by then."""
    o = Objection.__table__
    end = scope.end_moment
    return [o.c.due_on < end.date(), o.c.raised_at < end, (o.c.concluded_at.is_(None)) | (o.c.concluded_at >= end)]


def _overdue_objection_select(scope: Scope, city: str) -> Select[Any]:
    o, d = Objection.__table__, Department.__table__
    return (select(o.c.number.label("number"), case((o.c.route == "network", "经节点网络转来源平台"), else_=func.coalesce(d.c.name, "尚未受理")).label("who"),
                   func.substr(o.c.complaint, 1, 100).label("what"), o.c.due_on.label("due_on"),
                   o.c.state.label("state"))
            .select_from(o.outerjoin(d, d.c.code == o.c.department))
            .where(_prefix(o.c.entity_code) == _p(city), *_overdue_objection_where(scope)))


def _overdue_objection_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    return _overdue_objection_select(scope, city).order_by("due_on", "number")


def _overdue_objection_counts(f: Facts) -> dict[str, int]:
    o = Objection.__table__
    pre = _prefix(o.c.entity_code)
    rows = f.conn.execute(select(pre.label("p"), func.count()).where(*_overdue_objection_where(f.scope))
                          .group_by("p")).all()
    return {p: int(n) for p, n in rows}


@measure("overdue_objections", "逾期未办结异议", "件",
         "截至统计期末已超过 20 日处理期限（征信业管理条例 第二十五条）、尚未办结的企业异议件数，按被异议企业所属的市（地）计。",
         _overdue_objection_rows, ("异议编号", "核查部门", "异议内容", "处理期限", "当前状态"))
def overdue_objections(f: Facts) -> dict[str, Value]:
    got = _overdue_objection_counts(f)
    return {c: Value(float(got.get(_p(c), 0))) for c in f.scope.cities}


def _overdue_case_rows(scope: Scope, city: str, dialect: str) -> Select[Any]:
    t, d = Ticket.__table__, Department.__table__
    tickets_ = (select(t.c.number.label("number"), d.c.name.label("who"), t.c.title.label("what"),
                       t.c.due_on.label("due_on"), t.c.state.label("state"))
                .select_from(t.join(d, d.c.code == t.c.department))
                .where(func.substr(d.c.region, 1, 4) == _p(city), *_overdue_where(scope)))
    both = union_all(tickets_, _overdue_objection_select(scope, city)).subquery()
    return select(both).order_by(both.c.due_on, both.c.number)


@measure("overdue_cases", "数据质量工单及异议逾期", "件",
         "截至统计期末已过期限、尚未办结的数据质量整改工单（按开单部门所属的市（地）计，省级部门的不计入任何市（地））"
         "与企业异议（超过 20 日处理期限，按被异议企业所属的市（地）计）之和。", _overdue_case_rows,
         ("编号", "核查部门", "问题或异议内容", "期限", "当前状态"))
def overdue_cases(f: Facts) -> dict[str, Value]:
    tickets_ = overdue_tickets(f)
    got = _overdue_objection_counts(f)
    return {c: Value((tickets_[c].value or 0.0) + got.get(_p(c), 0)) for c in f.scope.cities}


def rows_statement(code: str, scope: Scope, city: str, dialect: str) -> Select[Any] | None:
    """The rows behind a city's value of a measure, newest first (None when it rests on no rows)."""
    m = MEASURES[code]
    return None if m.rows is None else m.rows(scope, city, dialect)
