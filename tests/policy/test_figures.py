"""政策资金统计 against direct SQL on a small world made through the services (SQLite, or PostgreSQL when the `db`
fixture runs there), who sees which programmes, the rows each figure links to, the node's summary, and the
page over HTTP with its charts, paged tables and downloads (CSV cells safe from spreadsheet formulas)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date
from html import unescape
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import distinct, func, select

from tests.market.conftest import BANK, OPERATOR, OTHER_BANK, REGULATOR
from tests.policy.conftest import (
    BANK_A,
    BRANCH_B,
    DAQING,
    DQ_OFFICER,
    ENTITY_B,
    GUARANTOR,
    HRB_OFFICER,
    HRB_OFFICER_2,
    World,
)
from tests.web.conftest import PASSWORD, app, login  # noqa: F401 - the fixtures
from xinyidai.accounts.users import create_user
from xinyidai.kit.errors import DomainError
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.market import loans
from xinyidai.policy import claims, enrolments, figures, flows, guarantees, ledger, programmes
from xinyidai.policy.evidence import Evidence
from xinyidai.policy.figures import Amounts, Filter
from xinyidai.policy.models import Claim, Enrolment, LedgerEntry, Programme

EV = Evidence("付息凭证.pdf", "0" * 64, "policy-evidence/x.pdf", "application/pdf")
Q1 = (date(2026, 3, 1), date(2026, 5, 31))
DQ_OFFICER_2 = Principal(16, "dq-fin-2", "大庆市财政局复核人", "policy", "230600")
FORMULA_NAME = '=HYPERLINK("http://x")贴息'  # a name a spreadsheet would run as a formula


@dataclass
class Made:
    interest: str
    pool: str
    guarantee: str
    daqing: str


def _pay(s: Any, number: str, reviewer: Principal = HRB_OFFICER, approver: Principal = HRB_OFFICER_2) -> None:
    claims.act(s, reviewer, number, "review")
    claims.act(s, approver, number, "approve")
    claims.act(s, reviewer, number, "pay", payment_ref="GK-" + number[-6:])


def build(world: World) -> Made:
    """Three Harbin programmes (贴息 with a formula-like name, a pool, a guarantee-fee subsidy) and one of
    Daqing's; loans of two banks in two cities; claims paid, pending, rejected and drafted."""
    with world.m.db.session() as s:
        interest = world.programme(s, name=FORMULA_NAME, budget=50_000_000)
        pool = world.programme(s, "pool", name="哈尔滨风险补偿资金池", budget=200_000_000)
        programmes.contribute(s, HRB_OFFICER, pool, "合作银行", 30_000_000)
        guarantee = world.programme(s, "guarantee", name="哈尔滨担保费补贴", rules={"rate_bp": 50, "fee_ceiling_bp": 100})
        daqing = world.programme(s, region="230600", officer=DQ_OFFICER, name="大庆贴息")
        a = world.loan(s, granted=100_000_000)
        b = world.loan(s, entity=ENTITY_B, granted=200_000_000)
        c = world.loan(s, bank=BRANCH_B, granted=50_000_000)
        d = world.loan(s, bank=BRANCH_B, entity=DAQING, city="230600", granted=80_000_000)
        e = world.loan(s, granted=120_000_000, on=date(2026, 4, 1))
        for loan in (a, b):
            enrolments.enrol(s, BANK, interest, loan.loan_no)
        enrolments.enrol(s, OTHER_BANK, interest, c.loan_no)
        paid = claims.draft_interest(s, BANK, interest, a.loan_no, *Q1, paid_interest_fen=10**8, ev=EV)
        pending = claims.draft_interest(s, BANK, interest, b.loan_no, *Q1, paid_interest_fen=10**8, ev=EV)
        refused = claims.draft_interest(s, OTHER_BANK, interest, c.loan_no, *Q1, paid_interest_fen=10**8, ev=EV)
        claims.draft_interest(s, BANK, interest, a.loan_no, date(2026, 6, 1), date(2026, 6, 30),
                              paid_interest_fen=10**8, ev=EV)  # a draft: not used yet
        claims.act(s, BANK, paid.number, "submit")
        _pay(s, paid.number)
        claims.act(s, BANK, pending.number, "submit")
        claims.act(s, OTHER_BANK, refused.number, "submit")
        claims.act(s, HRB_OFFICER, refused.number, "reject", reason="付息凭证与合同利率不符")
        # The pool: two loans of bank A, one non-performing, compensated, partly recovered.
        enrolments.enrol(s, BANK, pool, a.loan_no)
        enrolments.enrol(s, BANK, pool, e.loan_no)
        loans.report_status(s, e, as_of=date(2026, 11, 1), outstanding_fen=e.disbursed_fen,
                            overdue_principal_fen=e.disbursed_fen, overdue_interest_fen=0, interest_paid_fen=0, dpd=95,
                            risk_class="次级", source="api", reported_by="teller-a")
        comp = claims.draft_compensation(s, BANK, pool, e.loan_no, 100_000_000, EV)
        claims.act(s, BANK, comp.number, "submit")
        _pay(s, comp.number)
        claims.act(s, BANK, comp.number, "recover", recovered_fen=25_000_000)
        # The guarantor's contract on loan b, its subsidy claim reviewed, not yet approved.
        guarantees.record(s, GUARANTOR, loan_no=b.loan_no, contract_ref="HRB-DB-1", covered_fen=160_000_000, fee_bp=80,
                          starts_on=date(2026, 3, 1), ends_on=date(2027, 2, 28))
        enrolments.enrol(s, GUARANTOR, guarantee, "HRB-DB-1")
        g = claims.draft_guarantee(s, GUARANTOR, guarantee, "HRB-DB-1", *Q1, ev=EV)
        claims.act(s, GUARANTOR, g.number, "submit")
        claims.act(s, HRB_OFFICER, g.number, "review")
        # Daqing's programme: one loan of bank B's branch, paid by Daqing's two officers.
        enrolments.enrol(s, OTHER_BANK, daqing, d.loan_no)
        x = claims.draft_interest(s, OTHER_BANK, daqing, d.loan_no, *Q1, paid_interest_fen=10**8, ev=EV)
        claims.act(s, OTHER_BANK, x.number, "submit")
        _pay(s, x.number, DQ_OFFICER, DQ_OFFICER_2)
    return Made(interest, pool, guarantee, daqing)


@pytest.fixture
def made(world: World) -> Made:
    return build(world)


# ── direct SQL ──────────────────────────────────────────────────────────────────────────────────────────

def _sum(s: Any, col: Any, *where: Any) -> int:
    return int(s.execute(select(func.coalesce(func.sum(col), 0)).where(*where)).scalar_one())


def direct(s: Any, pids: list[int], *where_enrol: Any, where_claim: tuple = ()) -> Amounts:
    """The figures of a set of programmes (and optionally one bank or city), each by its own statement."""
    e_in, c_in = Enrolment.programme_id.in_(pids), Claim.programme_id.in_(pids)
    pool_ids = list(s.execute(select(Programme.id).where(Programme.id.in_(pids), Programme.kind == "pool")).scalars())
    paid = (Claim.state == flows.PAID,)
    return Amounts(
        enrolments=int(s.execute(select(func.count()).select_from(Enrolment).where(e_in, *where_enrol)).scalar_one()),
        loans=int(s.execute(select(func.count(distinct(Enrolment.loan_id))).where(e_in, *where_enrol)).scalar_one()),
        enterprises=int(s.execute(select(func.count(distinct(Enrolment.entity_code))).where(e_in, *where_enrol))
                        .scalar_one()),
        enrolled_fen=_sum(s, Enrolment.eligible_fen, e_in, *where_enrol),
        pool_enrolled_fen=_sum(s, Enrolment.eligible_fen, Enrolment.programme_id.in_(pool_ids), *where_enrol),
        claims=int(s.execute(select(func.count()).select_from(Claim).where(c_in, Claim.state.in_(flows.HOLDING),
                                                                           *where_claim)).scalar_one()),
        used_fen=_sum(s, Claim.amount_fen, c_in, Claim.state.in_(flows.HOLDING), *where_claim),
        paid_fen=_sum(s, Claim.amount_fen, c_in, *paid, *where_claim),
        pending_fen=_sum(s, Claim.amount_fen, c_in, Claim.state.in_(programmes.PENDING), *where_claim),
        subsidy_paid_fen=_sum(s, Claim.amount_fen, c_in, *paid, Claim.kind != "pool", *where_claim),
        compensation_fen=_sum(s, Claim.amount_fen - Claim.returned_fen, c_in, *paid, Claim.kind == "pool", *where_claim),
        rejected=int(s.execute(select(func.count()).select_from(Claim).where(c_in, Claim.state == flows.REJECTED,
                                                                             *where_claim)).scalar_one()))


def _ids(s: Any, *numbers: str) -> list[int]:
    return list(s.execute(select(Programme.id).where(Programme.number.in_(numbers))).scalars())


def test_figures_equal_direct_sql_per_programme_bank_and_city(world: World, made: Made) -> None:
    with world.m.db.session() as s:
        f = figures.compute(s, OPERATOR)
        numbers = [made.interest, made.pool, made.guarantee, made.daqing]
        assert {ln.number for ln in f.programmes} == set(numbers)
        for ln in f.programmes:
            pid = _ids(s, ln.number)
            assert ln.a == direct(s, pid), ln.number
            prog = programmes.get(s, OPERATOR, ln.number)
            assert ln.balance_fen == ledger.fund_balance(s, prog.id)
            assert ln.available_fen == programmes.available_fen(s, prog)
            funds_in = _sum(s, LedgerEntry.credit_fen, LedgerEntry.programme_id == prog.id,
                            LedgerEntry.account.in_(("budget", "contrib:合作银行")))
            assert ln.funds_in_fen == funds_in
        every = _ids(s, *numbers)
        assert f.totals == direct(s, every)
        for ln in f.by_bank:
            assert ln.a == direct(s, every, Enrolment.bank_code == ln.key, where_claim=(Claim.bank_code == ln.key,))
        for ln in f.by_city:
            assert ln.a == direct(s, every, Enrolment.city_code == ln.key, where_claim=(Claim.city_code == ln.key,))
        assert {ln.key for ln in f.by_bank} == {BANK_A, BRANCH_B}
        assert {ln.label for ln in f.by_city} == {"哈尔滨市", "大庆市"}
        # The pool: 40% of a 100 万 loss paid, a quarter of it returned, over 220 万 enrolled.
        pool = next(ln for ln in f.programmes if ln.number == made.pool)
        assert (pool.a.compensation_fen, pool.a.pool_enrolled_fen) == (40_000_000 - 10_000_000, 220_000_000)
        assert pool.a.loss_ratio == pytest.approx(30_000_000 / 220_000_000)
        assert pool.funds_in_fen == 230_000_000 and pool.balance_fen == 230_000_000 - 30_000_000
        # Loans and enterprises once however many programmes hold them; the principal per programme.
        assert f.totals.enrolments == 7 and f.totals.loans == 5 and f.totals.enterprises == 3
        assert f.budget_fen == sum(ln.budget_fen for ln in f.programmes)
        assert f.available_fen == sum(ln.available_fen for ln in f.programmes)


def test_each_reader_sees_the_programmes_of_his_division(world: World, made: Made) -> None:
    with world.m.db.session() as s:
        hrb = figures.compute(s, HRB_OFFICER)
        assert {ln.number for ln in hrb.programmes} == {made.interest, made.pool, made.guarantee}
        assert hrb.totals == direct(s, _ids(s, made.interest, made.pool, made.guarantee))
        assert {ln.key for ln in hrb.by_city} == {"230100"}
        dq = figures.compute(s, DQ_OFFICER)
        assert [ln.number for ln in dq.programmes] == [made.daqing] and dq.totals.paid_fen > 0
        assert figures.compute(s, REGULATOR).totals == figures.compute(s, OPERATOR).totals
        with pytest.raises(DomainError) as e:
            figures.compute(s, HRB_OFFICER, made.daqing)
        assert e.value.code == "PROGRAMME_NOT_FOUND"
        one = figures.compute(s, DQ_OFFICER, made.daqing)
        assert one.totals == dq.totals and one.programme == made.daqing
        pools = figures.compute(s, OPERATOR, kind="pool")
        assert [ln.number for ln in pools.programmes] == [made.pool]
        # The rows behind a figure: another division's are not among them.
        assert Filter("paid").total(s, HRB_OFFICER)[1] == hrb.totals.paid_fen
        assert Filter("paid", made.daqing).total(s, HRB_OFFICER) == (0, 0)


def test_every_figure_links_to_rows_that_add_up_to_it(world: World, made: Made) -> None:
    with world.m.db.session() as s:
        f = figures.compute(s, OPERATOR)
        t = f.totals
        expected = {"enrolments": (t.enrolments, t.enrolled_fen), "used": (t.claims, t.used_fen),
                    "paid": (None, t.paid_fen), "pending": (None, t.pending_fen),
                    "subsidies": (None, t.subsidy_paid_fen), "compensation": (None, t.compensation_fen),
                    "rejected": (t.rejected, None), "ledger": (None, f.balance_fen)}
        assert set(expected) == set(figures.MEASURES)
        for measure, (n, amount) in expected.items():
            got = Filter(measure).total(s, OPERATOR)
            assert (n is None or got[0] == n) and (amount is None or got[1] == amount), measure
        for ln in f.by_bank:
            assert Filter("used", bank=ln.key).total(s, OPERATOR)[1] == ln.a.used_fen
            assert Filter("enrolments", bank=ln.key).total(s, OPERATOR)[1] == ln.a.enrolled_fen
        for ln in f.programmes:
            assert Filter("paid", ln.number).total(s, OPERATOR)[1] == ln.a.paid_fen
            assert Filter("ledger", ln.number).total(s, OPERATOR)[1] == ln.balance_fen
        page = figures.rows(s, OPERATOR, Filter("used", made.interest), PageRequest(1, 1, "amount", True))
        assert page.total == 2 and len(page.items) == 1 and page.sort == "amount"
        assert page.items[0].amount_fen == max(c.amount_fen for c in page.items + figures.rows(
            s, OPERATOR, Filter("used", made.interest), PageRequest(2, 1, "amount", True)).items)
        with pytest.raises(DomainError):
            Filter("everything").query(OPERATOR)


def test_the_breakdowns_sort_and_page() -> None:
    lines = [figures.Line(f"C{i}", f"地市{i}", Amounts(enrolled_fen=i * 10, loans=10 - i)) for i in range(5)]
    pg = figures.page_of(lines, PageRequest(1, 2, "enrolled", True), "code")
    assert [ln.key for ln in pg.items] == ["C4", "C3"] and pg.total == 5 and pg.pages == 3
    pg = figures.page_of(lines, PageRequest(3, 2, "loans", False), "code")
    assert [ln.key for ln in pg.items] == ["C0"]
    assert figures.page_of(lines, PageRequest(1, 9, "DROP TABLE", False), "code").sort == "code"


def test_the_summary_for_progress_reports(world: World, made: Made) -> None:
    with world.m.db.session() as s:
        d = figures.summary(s)
        f = figures.compute(s, OPERATOR)
        json.dumps(d)  # plain values only
        assert d["programmes"] == {"total": 4, "running": 4, "closed": 0, "draft": 0}
        assert (d["paid_fen"], d["used_fen"], d["loans"], d["balance_fen"]) == (
            f.totals.paid_fen, f.totals.used_fen, f.totals.loans, f.balance_fen)
        assert d["loss_ratio"] == round(30_000_000 / 220_000_000, 6)
        assert set(d["by_kind"]) == {"interest", "guarantee", "pool"}
        assert d["by_kind"]["pool"]["compensation_fen"] == 30_000_000 and d["by_kind"]["interest"]["loss_ratio"] is None
        assert sum(k["paid_fen"] for k in d["by_kind"].values()) == d["paid_fen"]


# ── the page ────────────────────────────────────────────────────────────────────────────────────────────

@pytest.fixture
def pages(world: World, made: Made, app, login):  # noqa: ANN001, ANN201, F811 - the imported fixtures
    with world.m.db.session() as s:
        create_user(s, username="policy", display_name="哈尔滨市财政局 周经办", role="policy", password=PASSWORD,
                    org_code="230100")
        create_user(s, username="dqpolicy", display_name="大庆市财政局 经办", role="policy", password=PASSWORD,
                    org_code="230600")
    return login


def test_the_page_shows_charts_tables_and_links(world: World, made: Made, pages) -> None:  # noqa: ANN001
    c = pages("policy")
    r = c.get("/policy/figures")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    html = r.text
    assert '<script src="/static/market-figures.js" defer></script>' in html and "<script>" not in html
    charts = dict(re.findall(r'id="chart-(\w+)" data-unit="[^"]*" data-figure-chart=\'([^\']*)\'', html))
    assert set(charts) == {"money", "cities", "banks", "loss"}
    with world.m.db.session() as s:
        f = figures.compute(s, HRB_OFFICER)
    money = json.loads(unescape(charts["money"]))
    assert sorted(money["yAxis"]["data"]) == sorted(ln.name for ln in f.programmes)
    assert made.daqing not in html and "大庆贴息" not in html  # not his division
    for name in ("programmes", "banks", "cities"):
        assert f'id="table-{name}"' in html and f'href="/policy/figures/download/{name}.csv"' in html
    assert f'href="/policy/figures/rows/paid?programme={made.pool}">' in html
    assert f'href="/policy/figures/rows/used?bank={BANK_A}">' in html
    # The link leads to rows that add up to the figure.
    rows = c.get(f"/policy/figures/rows/paid?programme={made.pool}")
    assert rows.status_code == 200
    paid = next(ln.a.paid_fen for ln in f.programmes if ln.number == made.pool)
    assert f"{figures.wan(paid):,.2f}" in rows.text and "/policy/claims/SL-" in rows.text
    assert c.get(f"/policy/figures/rows/paid?programme={made.daqing}").status_code == 404
    one = c.get(f"/policy/figures/{made.pool}")
    assert one.status_code == 200 and 'id="loss-ratio"' in one.text and 'id="chart-money"' in one.text
    assert c.get(f"/policy/figures/{made.daqing}").status_code == 404
    sorted_ = c.get("/policy/figures?city_sort=paid&city_desc=false&bank_page=x").text
    assert 'class="num sortable sorted"' in sorted_
    assert pages("operator").get("/policy/figures").text.count("大庆贴息") >= 1


def test_downloads_write_safe_cells(world: World, made: Made, pages) -> None:  # noqa: ANN001
    c = pages("policy")
    r = c.get("/policy/figures/download/programmes.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:2] == ["项目编号", "项目名称"]
    names = {row[1] for row in table[1:]}
    assert "'" + FORMULA_NAME in names and FORMULA_NAME not in names  # text, not a formula
    with world.m.db.session() as s:
        f = figures.compute(s, HRB_OFFICER)
    pool = next(row for row in table[1:] if row[0] == made.pool)
    assert pool[table[0].index("已拨付（万元）")] == f"{figures.wan(next(ln.a.paid_fen for ln in f.programmes if ln.number == made.pool))}"
    wb = load_workbook(io.BytesIO(c.get("/policy/figures/download/all.xlsx").content))
    assert wb.sheetnames == list(figures.TABLES.values())
    ws = wb[figures.TABLES["programmes"]]
    cell = next(row[1] for row in ws.iter_rows(min_row=2) if row[0].value == made.interest)
    assert cell.value == FORMULA_NAME and cell.data_type == "s"
    banks = list(csv.reader(io.StringIO(c.get(f"/policy/figures/{made.interest}/download/banks.csv")
                                        .content.decode("utf-8-sig"))))
    assert {row[1] for row in banks[1:]} == {BANK_A, BRANCH_B}
    assert c.get("/policy/figures/download/all.csv").status_code == 404
    assert c.get("/policy/figures/download/nothing.csv").status_code == 404


@pytest.mark.parametrize("role", ["bank", "enterprise", "security"])
def test_others_are_refused(made: Made, pages, role: str) -> None:  # noqa: ANN001
    c = pages(role)
    for path in ("/policy/figures", "/policy/figures/download/banks.csv", "/policy/figures/rows/paid",
                 f"/policy/figures/{made.pool}"):
        r = c.get(path, headers={"accept": "application/json"})
        assert r.status_code == 403 and r.json()["error"] == "ROLE_FORBIDDEN", path

