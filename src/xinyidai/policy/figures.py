"""政策资金统计: what the programmes a principal may see have done with their money — per programme and in total,
per lending bank (`bank_code`, the head office) and per city (`city_code`, where the borrower is).

Every figure is a SQL aggregate over the rows it counts, and each can be opened as those rows (`rows`):
  budget            the programmes' appropriations (`policy_programmes.budget_fen`; drafts count once started)
  funds in          budget and contributions the ledger received (`budget` and `contrib:*` credits)
  used              claims submitted and later — submitted, reviewed, approved, paid (`flows.HOLDING`)
  paid              claims paid;  pending: submitted, reviewed or approved, not yet paid
  balance           money in hand: the ledger's `fund` account (a pool's balance for a 风险补偿 programme)
  available         balance less what pending claims hold (what a new claim may still take)
  loans, enterprises, enrolled principal    enrolments (备案): distinct loans, distinct enterprises,
                    the principal the programmes cover (`eligible_fen`)
  subsidies paid    paid 贴息 and 担保费补贴 claims;  compensation: paid 风险补偿 less what recoveries returned
  loss ratio        compensation over the principal enrolled in pools

The breakdowns come from two grouped statements — enrolments by (programme, bank, city) for sums, claims by
(programme, bank, city) — rolled up here, and three small distinct counts (loans and enterprises are counted
once however many programmes or banks they appear under); the ledger is one statement grouped by programme.
So the work grows with the enrolled rows, never with a Python pass per row.

`summary(s)` gives the node's own figures as a plain dict for the oversight domain's progress reports."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Select, case, distinct, func, select
from sqlalchemy.orm import Session

from xinyidai.entities.regions import region_name
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.errors import NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.kit.spreadsheet import csv_cell
from xinyidai.policy import flows, ledger, programmes
from xinyidai.policy.models import KINDS, PROGRAMME_STATES, Claim, Enrolment, LedgerEntry, Programme

SUBSIDY_KINDS = ("interest", "guarantee")
_FUNDED = ("ACTIVE", "CLOSED")  # programmes whose budget entered the ledger


# ── the numbers ─────────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Amounts:
    """What one line counts (amounts in 分). Additive fields add up over lines; `loans` and `enterprises`
    are distinct counts and do not."""

    enrolments: int = 0  # enrolment rows: one per loan and programme
    loans: int = 0
    enterprises: int = 0
    enrolled_fen: int = 0
    pool_enrolled_fen: int = 0  # enrolled in 风险补偿 programmes: the loss ratio's denominator
    claims: int = 0  # submitted and later
    used_fen: int = 0
    paid_fen: int = 0
    pending_fen: int = 0
    subsidy_paid_fen: int = 0  # 贴息 and 担保费补贴 paid
    compensation_fen: int = 0  # 风险补偿 paid less returned
    rejected: int = 0

    @property
    def loss_ratio(self) -> float | None:
        return None if not self.pool_enrolled_fen else self.compensation_fen / self.pool_enrolled_fen

    def plus(self, other: Amounts) -> Amounts:
        """Additive fields summed; the distinct counts are left to the caller (see `_distinct`)."""
        return Amounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass(frozen=True)
class Line:
    key: str  # bank code or city code
    label: str
    a: Amounts


@dataclass(frozen=True)
class ProgrammeLine:
    number: str
    name: str
    kind: str
    region_code: str
    state: str
    budget_fen: int
    funds_in_fen: int
    balance_fen: int
    a: Amounts

    @property
    def available_fen(self) -> int:
        return self.balance_fen - self.a.pending_fen

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]

    @property
    def state_label(self) -> str:
        return PROGRAMME_STATES[self.state]


@dataclass(frozen=True)
class Figures:
    programmes: list[ProgrammeLine]
    totals: Amounts
    budget_fen: int  # of the programmes started (a draft's budget is not committed yet)
    funds_in_fen: int
    balance_fen: int
    by_bank: list[Line]
    by_city: list[Line]
    programme: str | None = None  # the one programme, when the figures are of one
    computed_at: datetime = field(default_factory=clock.now)

    @property
    def available_fen(self) -> int:
        return self.balance_fen - self.totals.pending_fen


def scope(p: Principal, number: str | None = None, kind: str | None = None) -> Select:
    """The ids of the programmes the figures cover: those `p` may see (the check lives in the query),
    narrowed to one programme or one kind. A programme `p` may not see is not found."""
    q = programmes.visible(p).with_only_columns(Programme.id)
    if number is not None:
        q = q.where(Programme.number == number)
    if kind:
        if kind not in KINDS:
            raise NotFound(f"未知的政策类型“{kind}”", code="BAD_POLICY_KIND")
        q = q.where(Programme.kind == kind)
    return q


def _money_columns() -> list[Any]:
    holding, pending = sorted(flows.HOLDING), sorted(programmes.PENDING)
    amount = Claim.amount_fen
    return [
        func.count(case((Claim.state.in_(holding), 1))),
        func.coalesce(func.sum(case((Claim.state.in_(holding), amount), else_=0)), 0),
        func.coalesce(func.sum(case((Claim.state == flows.PAID, amount), else_=0)), 0),
        func.coalesce(func.sum(case((Claim.state.in_(pending), amount), else_=0)), 0),
        func.coalesce(func.sum(case(((Claim.state == flows.PAID) & Claim.kind.in_(SUBSIDY_KINDS), amount),
                                    else_=0)), 0),
        func.coalesce(func.sum(case(((Claim.state == flows.PAID) & (Claim.kind == "pool"),
                                     amount - Claim.returned_fen), else_=0)), 0),
        func.count(case((Claim.state == flows.REJECTED, 1))),
    ]


def _enrolment_columns() -> list[Any]:
    return [func.count(), func.coalesce(func.sum(Enrolment.eligible_fen), 0),
            func.coalesce(func.sum(case((Programme.kind == "pool", Enrolment.eligible_fen), else_=0)), 0)]


Key = tuple[int, str, str]  # (programme id, bank code, city code)


def _grouped(s: Session, ids: Select) -> dict[Key, Amounts]:
    """The additive amounts of every (programme, bank, city): two grouped statements."""
    out: dict[Key, Amounts] = {}
    rows = s.execute(select(Enrolment.programme_id, Enrolment.bank_code, Enrolment.city_code, *_enrolment_columns())
                     .join(Programme, Programme.id == Enrolment.programme_id)
                     .where(Enrolment.programme_id.in_(ids))
                     .group_by(Enrolment.programme_id, Enrolment.bank_code, Enrolment.city_code)).all()
    for pid, bank, city, n, enrolled, pool in rows:
        out[(pid, bank, city)] = Amounts(enrolments=int(n), enrolled_fen=int(enrolled), pool_enrolled_fen=int(pool))
    rows = s.execute(select(Claim.programme_id, Claim.bank_code, Claim.city_code, *_money_columns())
                     .where(Claim.programme_id.in_(ids))
                     .group_by(Claim.programme_id, Claim.bank_code, Claim.city_code)).all()
    for pid, bank, city, n, used, paid, pending, subsidy, comp, rejected in rows:
        m = Amounts(claims=int(n), used_fen=int(used), paid_fen=int(paid), pending_fen=int(pending),
                    subsidy_paid_fen=int(subsidy), compensation_fen=int(comp), rejected=int(rejected))
        out[(pid, bank, city)] = out.get((pid, bank, city), Amounts()).plus(m)
    return out


def _distinct(s: Session, ids: Select, key: Any | None) -> dict[Any, tuple[int, int]]:
    """Distinct loans and enterprises enrolled, per `key` (a column of the enrolments) or in all."""
    cols = [func.count(distinct(Enrolment.loan_id)), func.count(distinct(Enrolment.entity_code))]
    q = select(*(cols if key is None else [key, *cols])).where(Enrolment.programme_id.in_(ids))
    if key is None:
        n, e = s.execute(q).one()
        return {None: (int(n), int(e))}
    return {k: (int(n), int(e)) for k, n, e in s.execute(q.group_by(key)).all()}


def _roll_up(grouped: dict[Key, Amounts], at: int, distinct_counts: dict[Any, tuple[int, int]]) -> dict[Any, Amounts]:
    out: dict[Any, Amounts] = {}
    for key, m in grouped.items():
        k = key[at]
        out[k] = out.get(k, Amounts()).plus(m)
    return {k: _with_distinct(m, distinct_counts.get(k, (0, 0))) for k, m in out.items()}


def _with_distinct(m: Amounts, counts: tuple[int, int]) -> Amounts:
    values = {f.name: getattr(m, f.name) for f in fields(m)}
    values["loans"], values["enterprises"] = counts
    return Amounts(**values)


@dataclass(frozen=True)
class Funds:
    funds_in_fen: int = 0
    balance_fen: int = 0


def _ledger(s: Session, ids: Select) -> dict[int, Funds]:
    """Per programme, in one statement: budget and contributions in, money in hand."""
    acc = LedgerEntry.account
    rows = s.execute(select(
        LedgerEntry.programme_id,
        func.coalesce(func.sum(case(((acc == ledger.BUDGET) | acc.like("contrib:%"), LedgerEntry.credit_fen),
                                    else_=0)), 0),
        func.coalesce(func.sum(case((acc == ledger.FUND, LedgerEntry.debit_fen - LedgerEntry.credit_fen), else_=0)), 0))
        .where(LedgerEntry.programme_id.in_(ids)).group_by(LedgerEntry.programme_id)).all()
    return {pid: Funds(int(i), int(b)) for pid, i, b in rows}


def bank_names(s: Session, codes: Iterable[str]) -> dict[str, str]:
    codes = sorted(set(codes))
    if not codes:
        return {}
    return dict(s.execute(select(FinancialInstitution.code, FinancialInstitution.name)
                          .where(FinancialInstitution.code.in_(codes))).all())


def city_label(code: str) -> str:
    return region_name(code) or code


def compute(s: Session, p: Principal, number: str | None = None, kind: str | None = None) -> Figures:
    """The figures of the programmes `p` may see (or of one of them, `number`; or of one kind)."""
    return _compute(s, scope(p, number, kind), number)


def _compute(s: Session, ids: Select, number: str | None) -> Figures:
    progs = list(s.execute(select(Programme).where(Programme.id.in_(ids))
                           .order_by(Programme.starts_on.desc(), Programme.number)).scalars())
    if number is not None and not progs:
        raise NotFound(f"未找到政策项目 {number}", code="PROGRAMME_NOT_FOUND")
    grouped = _grouped(s, ids)
    funds = _ledger(s, ids)
    by_programme = _roll_up(grouped, 0, {pid: counts for pid, counts in _distinct(s, ids, Enrolment.programme_id).items()})
    lines = []
    for prog in progs:
        f = funds.get(prog.id, Funds())
        lines.append(ProgrammeLine(prog.number, prog.name, prog.kind, prog.region_code, prog.state, prog.budget_fen,
                                   f.funds_in_fen, f.balance_fen, by_programme.get(prog.id, Amounts())))
    total = Amounts()
    for m in grouped.values():
        total = total.plus(m)
    total = _with_distinct(total, _distinct(s, ids, None)[None])
    banks = _roll_up(grouped, 1, _distinct(s, ids, Enrolment.bank_code))
    cities = _roll_up(grouped, 2, _distinct(s, ids, Enrolment.city_code))
    names = bank_names(s, banks)
    by_bank = sorted((Line(k, names.get(k, k), m) for k, m in banks.items()), key=lambda ln: (-ln.a.enrolled_fen, ln.key))
    by_city = sorted((Line(k, city_label(k), m) for k, m in cities.items()), key=lambda ln: ln.key)
    return Figures(lines, total, sum(ln.budget_fen for ln in lines if ln.state in _FUNDED),
                   sum(ln.funds_in_fen for ln in lines), sum(ln.balance_fen for ln in lines), by_bank, by_city,
                   programme=number)


# ── the rows behind a figure ────────────────────────────────────────────────────────────────────────────

# What a figure counts: name → (title, the table read). Every figure on the page links to its rows here.
MEASURES = {
    "enrolments": "备案贷款（覆盖贷款笔数、企业户数、备案本金）",
    "used": "已使用：已提交及以后的申领",
    "paid": "已拨付的申领",
    "pending": "待拨付：已提交、已初审、已复核的申领",
    "subsidies": "已拨付的贴息与担保费补贴",
    "compensation": "已拨付的风险补偿（扣除追偿返还）",
    "rejected": "已退回的申领",
    "ledger": "资金台账：资金账户的收支（余额）",
}
CLAIM_STATES: dict[str, Callable[[], Any]] = {
    "used": lambda: Claim.state.in_(sorted(flows.HOLDING)),
    "paid": lambda: Claim.state == flows.PAID,
    "pending": lambda: Claim.state.in_(sorted(programmes.PENDING)),
    "subsidies": lambda: (Claim.state == flows.PAID) & Claim.kind.in_(SUBSIDY_KINDS),
    "compensation": lambda: (Claim.state == flows.PAID) & (Claim.kind == "pool"),
    "rejected": lambda: Claim.state == flows.REJECTED,
}
SORTABLE: dict[str, dict[str, Any]] = {
    "enrolments": {"enrolled_at": Enrolment.enrolled_at, "eligible": Enrolment.eligible_fen,
                   "loan_no": Enrolment.loan_no, "entity": Enrolment.entity_code},
    "claims": {"created_at": Claim.created_at, "amount": Claim.amount_fen, "number": Claim.number,
               "state": Claim.state},
    "ledger": {"at": LedgerEntry.at, "debit": LedgerEntry.debit_fen, "credit": LedgerEntry.credit_fen},
}
DEFAULT_SORT = {"enrolments": "enrolled_at", "claims": "created_at", "ledger": "at"}


@dataclass(frozen=True)
class Filter:
    """Which rows: a measure, and optionally one programme, one kind, one bank, one city."""

    measure: str
    number: str | None = None
    kind: str | None = None
    bank: str | None = None
    city: str | None = None

    @property
    def table(self) -> str:
        return "enrolments" if self.measure == "enrolments" else "ledger" if self.measure == "ledger" else "claims"

    def query(self, p: Principal) -> Select:
        if self.measure not in MEASURES:
            raise NotFound(f"没有名为“{self.measure}”的统计口径；可选：{'、'.join(MEASURES)}", code="UNKNOWN_MEASURE")
        ids = scope(p, self.number, self.kind)
        if self.table == "ledger":
            return select(LedgerEntry).where(LedgerEntry.programme_id.in_(ids), LedgerEntry.account == ledger.FUND)
        model: Any = Enrolment if self.table == "enrolments" else Claim
        q = select(model).where(model.programme_id.in_(ids))
        if self.table == "claims":
            q = q.where(CLAIM_STATES[self.measure]())
        if self.bank:
            q = q.where(model.bank_code == self.bank)
        if self.city:
            q = q.where(model.city_code == self.city)
        return q

    def total(self, s: Session, p: Principal) -> tuple[int, int]:
        """(rows, amount in 分) of the rows: the figure the link came from."""
        q = self.query(p).subquery()
        if self.table == "enrolments":
            amount: Any = q.c.eligible_fen
        elif self.table == "ledger":
            amount = q.c.debit_fen - q.c.credit_fen
        elif self.measure == "compensation":
            amount = q.c.amount_fen - q.c.returned_fen
        else:
            amount = q.c.amount_fen
        n, total = s.execute(select(func.count(), func.coalesce(func.sum(amount), 0)).select_from(q)).one()
        return int(n), int(total)

    def params(self) -> dict[str, str]:
        return {k: v for k, v in (("programme", self.number), ("kind", self.kind), ("bank", self.bank),
                                  ("city", self.city)) if v}


def rows(s: Session, p: Principal, f: Filter, req: PageRequest) -> Page:
    """One page of the rows a figure counts, sorted by a whitelisted column."""
    return paginate(s, f.query(p), req, SORTABLE[f.table], DEFAULT_SORT[f.table])


def programme_numbers(s: Session, ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return dict(s.execute(select(Programme.id, Programme.number).where(Programme.id.in_(ids))).all())


# ── sorting and paging the breakdowns ───────────────────────────────────────────────────────────────────

LINE_SORTS: dict[str, Callable[[Line], Any]] = {
    "name": lambda ln: ln.label, "code": lambda ln: ln.key, "loans": lambda ln: ln.a.loans,
    "enterprises": lambda ln: ln.a.enterprises, "enrolled": lambda ln: ln.a.enrolled_fen,
    "claims": lambda ln: ln.a.claims, "used": lambda ln: ln.a.used_fen, "paid": lambda ln: ln.a.paid_fen,
    "pending": lambda ln: ln.a.pending_fen, "compensation": lambda ln: ln.a.compensation_fen,
    "loss": lambda ln: ln.a.loss_ratio if ln.a.loss_ratio is not None else -1.0,
}


def page_of(lines: Sequence[Line], req: PageRequest, default: str) -> Page[Line]:
    """A page of a breakdown: its lines are few (banks, cities), already aggregated by SQL; the sort key is
    one of `LINE_SORTS`, anything else falls back to `default`. Ties keep the code order."""
    req = req.clamp()
    key = req.sort if req.sort in LINE_SORTS else default
    ordered = sorted(sorted(lines, key=lambda ln: ln.key), key=LINE_SORTS[key], reverse=req.desc)
    start = (req.page - 1) * req.size
    return Page(list(ordered[start:start + req.size]), len(lines), req.page, req.size, key, req.desc)


# ── tables: the page, the CSV and the XLSX read the same rows ───────────────────────────────────────────

TEXT, COUNT, WAN, PCT = "text", "count", "wan", "pct"


def wan(fen: int) -> Decimal:
    """分 → 万元, two places, half up."""
    return (Decimal(fen) / 1_000_000).quantize(Decimal("0.01"), ROUND_HALF_UP)


def pct(ratio: float | None) -> Decimal | None:
    """A ratio as a percentage to two places: loss ratios are a few tenths of a per cent."""
    return None if ratio is None else (Decimal(repr(ratio)) * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Column:
    title: str
    kind: str
    measure: str | None = None  # the rows a cell of this column counts (`MEASURES`), for its link


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    keys: list[dict[str, str]]  # per row: the filter its cells' links add (programme, bank or city)
    note: str = ""


TABLES = {"programmes": "按政策项目", "banks": "按贷款银行", "cities": "按地市"}
_AMOUNT_COLUMNS = [
    Column("备案贷款（笔）", COUNT, "enrolments"), Column("覆盖企业（户）", COUNT, "enrolments"),
    Column("备案本金（万元）", WAN, "enrolments"), Column("申领（笔）", COUNT, "used"),
    Column("已使用（万元）", WAN, "used"), Column("已拨付（万元）", WAN, "paid"),
    Column("待拨付（万元）", WAN, "pending"), Column("贴息及担保费补贴已拨付（万元）", WAN, "subsidies"),
    Column("风险补偿净额（万元）", WAN, "compensation"), Column("损失率（%）", PCT, "compensation")]


def _amount_cells(m: Amounts) -> list[Any]:
    return [m.loans, m.enterprises, wan(m.enrolled_fen), m.claims, wan(m.used_fen), wan(m.paid_fen),
            wan(m.pending_fen), wan(m.subsidy_paid_fen), wan(m.compensation_fen), pct(m.loss_ratio)]


NOTE = ("已使用指已提交及以后（审核中、已拨付）的申领金额；可用资金 = 资金余额 − 待拨付；损失率 = 风险补偿净额（已拨付补偿 − 追偿返还）"
        " ÷ 风险补偿项目备案本金。同一笔贷款在多个项目备案时，贷款笔数和企业户数只计一次，备案本金按项目分别计入。")


def programme_table(f: Figures) -> Table:
    cols = [Column("项目编号", TEXT), Column("项目名称", TEXT), Column("类型", TEXT), Column("实施区域", TEXT),
            Column("状态", TEXT), Column("预算（万元）", WAN), Column("到位资金（万元）", WAN, "ledger"),
            Column("资金余额（万元）", WAN, "ledger"), Column("可用资金（万元）", WAN), *_AMOUNT_COLUMNS]
    rows = [[ln.number, ln.name, ln.kind_label, city_label(ln.region_code), ln.state_label, wan(ln.budget_fen),
             wan(ln.funds_in_fen), wan(ln.balance_fen), wan(ln.available_fen), *_amount_cells(ln.a)]
            for ln in f.programmes]
    return Table("programmes", TABLES["programmes"], cols, rows, [{"programme": ln.number} for ln in f.programmes],
                 NOTE)


def line_table(name: str, head: str, lines: Sequence[Line], key: str, note: str = "") -> Table:
    return Table(name, TABLES[name], [Column(head, TEXT), Column("代码", TEXT), *_AMOUNT_COLUMNS],
                 [[ln.label, ln.key, *_amount_cells(ln.a)] for ln in lines], [{key: ln.key} for ln in lines], note)


def tables(f: Figures) -> dict[str, Table]:
    return {"programmes": programme_table(f),
            "banks": line_table("banks", "贷款银行", f.by_bank, "bank", "按贷款所属银行（分支机构计入总行）。"),
            "cities": line_table("cities", "地市", f.by_city, "city", "按借款企业所在地市。")}


def csv_bytes(t: Table) -> bytes:
    """UTF-8 with a byte-order mark (Excel opens the Chinese headers as written); every cell through
    `csv_cell`, so a programme or bank name beginning with = + - @ is text, not a formula."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([csv_cell(c.title) for c in t.columns])
    w.writerows([csv_cell(v) for v in row] for row in t.rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


_XLSX_FORMATS = {COUNT: "#,##0", WAN: "#,##0.00", PCT: "0.00"}


def xlsx_bytes(ts: Sequence[Table], caption: str) -> bytes:
    """One sheet per table, numbers as numbers; text cells are stored as text (a name beginning with = is
    never a formula in the workbook either)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for t in ts:
        ws = wb.create_sheet(t.title[:31])
        ws.append([c.title for c in t.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for r, row in enumerate(t.rows, start=2):
            for i, (v, col) in enumerate(zip(row, t.columns, strict=True), start=1):
                cell = ws.cell(row=r, column=i)
                if v is None:
                    continue
                if col.kind == TEXT:
                    cell.value = str(v)
                    cell.data_type = "s"  # openpyxl would read "=…" as a formula
                else:
                    cell.value = float(v) if isinstance(v, Decimal) else v
                    cell.number_format = _XLSX_FORMATS[col.kind]
        for i, col in enumerate(t.columns, start=1):
            ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(10, min(40, 2 * len(col.title) + 2))
        ws.append([])
        ws.append([f"{caption}。{t.note}".strip()])
        ws.cell(row=ws.max_row, column=1).data_type = "s"
        ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ── the node's figures for its progress reports ─────────────────────────────────────────────────────────

def summary(s: Session) -> dict[str, Any]:
    """The node's policy figures, for the oversight domain's progress reports (notice point 十四).

    A plain dict of JSON values over every programme of this node (no principal: the node reports on itself):
      as_of             ISO 8601 time the figures were computed
      programmes        {"total", "running", "closed", "draft"}: programmes by state
      budget_fen        budgets of the programmes started (running or ended), in 分
      funds_in_fen      budget and contributions received (ledger)
      balance_fen       money in hand;  available_fen: balance less pending claims
      used_fen, paid_fen, pending_fen      claims submitted and later / paid / awaiting payment
      subsidy_paid_fen  贴息 and 担保费补贴 paid;  compensation_fen: 风险补偿 paid less recoveries returned
      loans, enterprises, enrolled_fen     distinct loans and enterprises enrolled, principal covered
      loss_ratio        compensation_fen over the principal enrolled in pools, a fraction to 6 places (None
                        without a pool)
      by_kind           {"interest"|"guarantee"|"pool": the same keys (but as_of and by_kind) for that kind}
    Amounts are integers in 分, as everywhere in the platform; the report formats them."""
    every = select(Programme.id)
    out = _summary_of(_compute(s, every, None))
    out["as_of"] = clock.now().isoformat()
    out["by_kind"] = {kind: _summary_of(_compute(s, every.where(Programme.kind == kind), None)) for kind in KINDS}
    return out


def _summary_of(f: Figures) -> dict[str, Any]:
    states = [ln.state for ln in f.programmes]
    t = f.totals
    return {
        "programmes": {"total": len(states), "running": states.count("ACTIVE"), "closed": states.count("CLOSED"),
                       "draft": states.count("DRAFT")},
        "budget_fen": f.budget_fen, "funds_in_fen": f.funds_in_fen, "balance_fen": f.balance_fen,
        "available_fen": f.available_fen, "used_fen": t.used_fen, "paid_fen": t.paid_fen,
        "pending_fen": t.pending_fen, "subsidy_paid_fen": t.subsidy_paid_fen, "compensation_fen": t.compensation_fen,
        "loans": t.loans, "enterprises": t.enterprises, "enrolled_fen": t.enrolled_fen,
        "loss_ratio": None if t.loss_ratio is None else round(t.loss_ratio, 6),
    }

