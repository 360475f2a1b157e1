"""The market's figures against direct SQL, on whichever engine the `db` fixture runs (SQLite, or PostgreSQL when
XINYIDAI_TEST_DATABASE_URL names one): a few hundred loans from the benchmark's builder, and a handful made
through the services (applications accepted, declined, rejected and granted at known times, a first-loan
declaration the platform contradicts), plus white lists whose entities did or did not borrow within 90 days."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from bench.market import build
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.conftest import FIXED_NOW
from tests.market.conftest import (
    BANK,
    BANK_A,
    BANK_B,
    DAQING,
    ENTERPRISE,
    ENTERPRISE_B,
    ENTITY,
    ENTITY_B,
    NODE,
    OTHER_BANK,
    Market,
    publish,
    terms,
)
from xinyidai.entities.regions import region_name
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError
from xinyidai.lists.models import WhiteList, WhiteListEntry
from xinyidai.market import applications, figures, flows, rules
from xinyidai.market.applications import Actor
from xinyidai.market.figures import Metrics, Period
from xinyidai.market.models import SECTORS, Application, Loan

T0 = FIXED_NOW - timedelta(days=2)
BENCH_END = date(2023, 6, 30)  # the builder's 36 months straddle the target's date (2022-12-31)


def _at(hours: float) -> None:
    moment = T0 + timedelta(hours=hours)
    clock.set_clock(lambda: moment)


def _apply(s: Any, m: Market, who: Any, product: str, hours: float) -> Application:
    _at(hours)
    pv = applications.preview(s, m.catalog, who, product, "500000", 12, "采购原材料")
    return applications.submit(s, m.catalog, who, product_number=product, amount="500000", term_months=12,
                               purpose="采购原材料", grant_digest=pv["grant_digest"], node_code=NODE)


def _act(s: Any, m: Market, who: Any, app: Application, action: str, hours: float,
         body: dict[str, Any] | None = None) -> Application:
    _at(hours)
    return applications.decide(s, m.catalog, Actor.of(who, "api"), app.number, action, body, node_code=NODE)


def _whitelist(s: Any, number: str, kind: str, as_of: date, codes: list[str]) -> None:
    wl = WhiteList(number=number, kind=kind, name=f"{number} 名单", as_of=as_of, origin_node=NODE, entries=len(codes),
                   digest="0" * 64, status="published", created_at=clock.now(), created_by="test")
    s.add(wl)
    s.flush()
    s.add_all(WhiteListEntry(list_id=wl.id, entity_code=c, entity_name=c) for c in codes)


OFFER = {"amount": "400000", "rate": "4.2", "term_months": 12}


@pytest.fixture
def world(market: Market) -> Market:
    build(market.db, 300, entities=80, heads=6, end=BENCH_END, analyze=False)
    with market.db.session() as s:
        _at(-1)
        other = publish(s, market.catalog, terms(name="抵押经营贷", kind="抵押", sectors=["三农"]), bank=OTHER_BANK)
        # In the order they happen (hours after T0): bank A answers a1 after 5 h, a2 after 2 h, a3 after 6 h.
        a1 = _apply(s, market, ENTERPRISE, market.product, 0)
        a2 = _apply(s, market, ENTERPRISE_B, market.product, 1)
        _act(s, market, BANK, a2, "decline", 3, {"reason_code": "D01"})
        a3 = _apply(s, market, ENTERPRISE_B, market.product, 4)
        _act(s, market, BANK, a1, "accept", 5)
        _act(s, market, BANK, a1, "offer", 6, OFFER)
        a4 = _apply(s, market, ENTERPRISE, other, 6)
        _act(s, market, ENTERPRISE, a1, "accept_offer", 7)
        _act(s, market, OTHER_BANK, a4, "accept", 7)
        _act(s, market, BANK, a1, "grant", 8, {"amount": "400000", "guarantee_type": "信用", "loan_ref": "HRB-1",
                                                "first_loan": True})
        _act(s, market, BANK, a1, "disburse", 9, {"amount": "250000"})
        _act(s, market, BANK, a3, "accept", 10)
        _act(s, market, OTHER_BANK, a4, "offer", 12, OFFER)
        _act(s, market, ENTERPRISE, a4, "accept_offer", 13)
        # ENTITY already holds a1's loan: bank B's "first loan" is a declaration the platform contradicts.
        _act(s, market, OTHER_BANK, a4, "grant", 14, {"amount": "400000", "guarantee_type": "抵押", "loan_ref": "DL-9",
                                                       "first_loan": True})
        _act(s, market, BANK, a3, "reject", 20, {"reason_code": "R04"})
        _apply(s, market, ENTERPRISE_B, other, 30)  # still waiting for bank B
        clock.set_clock(lambda: FIXED_NOW)
        february = list(s.execute(select(Loan.entity_code).where(
            Loan.granted_on >= date(2023, 2, 1), Loan.granted_on < date(2023, 3, 1)).distinct().limit(2)).scalars())
        _whitelist(s, "WL-A", "whitelist", date(2026, 10, 16), [ENTITY, ENTITY_B, DAQING])
        _whitelist(s, "WL-B", "whitelist", date(2023, 1, 20), [*february, ENTITY, DAQING])
        _whitelist(s, "KP-2026", "key_projects", date(2026, 10, 1), [ENTITY_B])  # not a white list
    return market


# ── direct SQL, one question at a time ──────────────────────────────────────────────────────────────────

def _direct(s: Any, *where: Any) -> Metrics:
    row = s.execute(select(func.count(), func.sum(Loan.granted_fen), func.sum(Loan.disbursed_fen),
                           func.sum(Loan.is_credit), func.sum(Loan.credit_fen), func.sum(Loan.first_loan),
                           func.sum(Loan.first_fen)).where(*where)).one()
    return Metrics(*(int(v or 0) for v in row))


def _by(s: Any, column: Any, *where: Any) -> dict[Any, Metrics]:
    keys = [k for (k,) in s.execute(select(column).where(*where).distinct())]
    return {k: _direct(s, column == k, *where) for k in keys}


def _in(period: Period) -> list[Any]:
    return [Loan.granted_month >= period.start, Loan.granted_month <= period.end] if period.start else []


@pytest.mark.parametrize("period", [Period(), Period(202201, 202212)], ids=["all", "2022"])
def test_every_main_figure_equals_direct_sql(world: Market, period: Period) -> None:
    with world.db.session() as s:
        f = figures.compute(s.connection(), period)
        where = _in(period)
        total = _direct(s, *where)
        assert f.totals == total and total.loans > 50
        assert 0 < total.credit_loans < total.loans and 0 < total.first_loans < total.loans
        assert {ln.key: ln.m for ln in f.by_city} == _by(s, Loan.city_code, *where)
        assert all(ln.label == region_name(ln.key) for ln in f.by_city)
        banks = _by(s, Loan.bank_code, *where)
        assert {ln.key: ln.m for ln in f.by_bank} == banks
        names = dict(s.execute(select(FinancialInstitution.code, FinancialInstitution.name)).all())
        assert all(ln.label == names[ln.key] for ln in f.by_bank)
        assert [ln.m.granted_fen for ln in f.by_bank] == sorted((m.granted_fen for m in banks.values()), reverse=True)
        assert {ln.key: ln.m for ln in f.by_kind} == _by(s, Loan.product_kind, *where)
        sectors = {str(bit): _direct(s, Loan.sector_mask.op("&")(bit) != 0, *where) for bit in SECTORS.values()}
        sectors["0"] = _direct(s, Loan.sector_mask == 0, *where)
        assert {ln.key: ln.m for ln in f.by_sector} == {k: m for k, m in sectors.items() if m.loans}
        # A loan in two sectors counts in both: the sector lines add up to more than the total.
        assert sum(ln.m.loans for ln in f.by_sector) > total.loans
        months = _by(s, Loan.granted_month, *where)
        assert {ml.month: ml.m for ml in f.by_month if ml.m.loans} == months
        for ml in f.by_month:
            assert ml.cumulative_fen == _direct(s, Loan.granted_month <= ml.month).granted_fen
        if period.start:
            assert [ml.month for ml in f.by_month] == list(range(202201, 202213))
        r = rules.load()
        deadline = r.target_by.year * 100 + r.target_by.month
        through = [Loan.granted_month <= period.end] if period.end else []
        assert f.progress.cumulative_fen == _direct(s, *through).granted_fen
        assert f.progress.by_deadline_fen == _direct(s, Loan.granted_month <= deadline, *through).granted_fen
        assert 0 < f.progress.by_deadline_fen <= f.progress.cumulative_fen
        assert (f.progress.by_deadline_fen < f.progress.cumulative_fen) == (period.end is None)
        assert f.progress.share == f.progress.cumulative_fen / r.target_fen
        assert f.totals.credit_share_amount == total.credit_fen / total.granted_fen
        assert f.totals.first_share_count == total.first_loans / total.loans


def test_response_times_reasons_conversion_and_contradicted_first_loans(world: Market) -> None:
    with world.db.session() as s:
        rep = figures.report(s.connection())
        apps = s.execute(select(Application)).scalars().all()
        hours = {}
        for bank in {a.bank_code for a in apps}:
            mine = [a for a in apps if a.bank_code == bank]
            first = [(a.first_response_at - a.submitted_at).total_seconds() / 3600 for a in mine if a.first_response_at]
            decided = [(a.decided_at - a.submitted_at).total_seconds() / 3600 for a in mine if a.decided_at]
            hours[bank] = (len(mine), len(first), statistics.median(first), len(decided), statistics.median(decided))
        got = {r.key: (r.applications, r.responded, r.first_response_hours, r.decided, r.decision_hours)
               for r in rep.response if r.key != "all"}
        assert got.keys() == hours.keys() and all(got[k] == pytest.approx(hours[k]) for k in hours)
        assert hours[BANK_A] == pytest.approx((3, 3, 5.0, 3, 8.0))  # answers after 5, 2, 6 h; decisions 8, 2, 16 h
        assert hours[BANK_B] == pytest.approx((2, 1, 1.0, 1, 8.0))
        overall = rep.response[-1]
        assert (overall.label, overall.applications, overall.responded, overall.decided) == ("全部银行", 5, 4, 4)
        assert (overall.first_response_hours, overall.decision_hours) == pytest.approx((3.5, 8.0))

        given = Counter((a.state, a.reason_code) for a in apps if a.state in (flows.DECLINED, flows.REJECTED))
        lines = {(r.kind, r.code): r for r in rep.reasons}
        assert lines["decline", "D01"].count == given[flows.DECLINED, "D01"] == 1
        assert lines["reject", "R04"].count == given[flows.REJECTED, "R04"] == 1
        assert (lines["reject", "R04"].label, lines["reject", "R04"].share) == ("负债过高", 1.0)
        assert lines["reject", "R01"].count == 0 and set(rules.load().reasons["decline"]) <= {c for _, c in lines}

        loans = s.execute(select(Loan.entity_code, Loan.granted_on)).all()
        expected, converted_entities, seen = [], set(), set()
        for wl in s.execute(select(WhiteList).where(WhiteList.kind == "whitelist").order_by(WhiteList.as_of)).scalars():
            codes = set(s.execute(select(WhiteListEntry.entity_code).where(WhiteListEntry.list_id == wl.id)).scalars())
            hit = {c for c in codes if any(e == c and wl.as_of <= d <= wl.as_of + timedelta(days=90) for e, d in loans)}
            expected.append((wl.number, len(codes), len(hit)))
            converted_entities |= hit
            seen |= codes
        c = rep.conversion
        assert [(x.number, x.entities, x.converted) for x in c.lists] == expected
        assert (c.entities, c.converted) == (len(seen), len(converted_entities))
        assert [x.converted for x in c.lists] == [2, 1] and (c.entities, c.converted) == (5 + 0, 3)
        assert ENTITY in converted_entities and ENTITY_B not in converted_entities

        assert rep.contradicted == s.execute(select(func.count()).select_from(Loan).where(
            Loan.first_declared == 1, Loan.first_on_platform == 0)).scalar_one()
        assert s.execute(select(Loan.first_on_platform).where(Loan.loan_ref == "DL-9")).scalar_one() == 0


def test_contradicted_declarations_are_counted_from_their_index_alone(market: Market) -> None:
    with market.db.session() as s:
        conn = s.connection()
        # The statement as it runs, bound parameters included: the planner drops the WHERE terms the partial
        # index implies only when it can see them, else it reads every indexed loan's row to re-check them.
        compiled = figures.contradicted_statement(Period()).compile(dialect=conn.dialect)
        if conn.dialect.name == "sqlite":
            params = tuple(compiled.params[k] for k in compiled.positiontup or ())
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params))
            program = [r[1] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", params)]
            assert "Column" not in program, program  # no value read from the table's rows
        else:  # a tiny, unvacuumed table is read whole or through a bitmap whatever its indexes: ask for the
            # index-only plan a big, vacuumed one gets, and check no term is left for the rows to answer
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
            assert "Index Only Scan" in plan and "Filter" not in plan, plan
        assert "ix_market_loans_first_contradicted" in plan, plan


def test_a_period_narrows_applications_and_lists_too(world: Market) -> None:
    with world.db.session() as s:
        rep = figures.report(s.connection(), Period(202301, 202306))
        assert rep.response == [] and all(r.count == 0 for r in rep.reasons)
        assert [x.number for x in rep.conversion.lists] == ["WL-B"]
        assert rep.figures.totals == _direct(s, Loan.granted_month >= 202301, Loan.granted_month <= 202306)


@pytest.mark.parametrize(("start", "end", "code"), [
    ("2026-13", None, "BAD_MONTH"), ("2026/03", None, "BAD_MONTH"), (None, "去年", "BAD_MONTH"),
    ("2026-05", "2026-03", "MONTH_RANGE_INVERTED"),
])
def test_a_bad_month_is_refused_with_a_reason(start: str | None, end: str | None, code: str) -> None:
    with pytest.raises(DomainError) as info:
        Period.parse(start, end)
    assert info.value.code == code and "月份" in info.value.message


def test_month_texts_people_write_are_read() -> None:
    assert Period.parse("2026-3", "202611") == Period(202603, 202611)
    assert Period.parse("", None) == Period()


def test_no_loans_gives_zeros_and_no_shares(market: Market) -> None:
    with market.db.session() as s:
        rep = figures.report(s.connection())
        assert rep.figures.totals == Metrics() and rep.figures.totals.credit_share_amount is None
        assert rep.figures.by_month == [] and rep.figures.progress.share == 0
        ts = figures.tables(rep)
        assert ts["cities"].rows == [] and ts["totals"].rows[0][1] == Decimal("0.00")
        assert figures.csv_bytes(ts["cities"]).decode("utf-8-sig").splitlines()[0].startswith("地市,贷款笔数,授信额（万元）")
        assert figures.report_dict(rep)["totals"]["credit_share_amount"] is None


def test_tables_and_files_carry_wan_and_percent(world: Market) -> None:
    with world.db.session() as s:
        rep = figures.report(s.connection())
    ts = figures.tables(rep)
    assert list(ts) == list(figures.TABLES)
    city = rep.figures.by_city[0]
    lines = list(csv.reader(io.StringIO(figures.csv_bytes(ts["cities"]).decode("utf-8"))))
    assert lines[0][0] == "\ufeff地市" and lines[0][2] == "授信额（万元）" and lines[0][6] == "信用贷款占比·金额（%）"
    row = lines[1]
    assert row[0] == city.label and int(row[1]) == city.m.loans
    assert row[2] == f"{Decimal(city.m.granted_fen) / 1_000_000:.2f}"
    assert row[6] == f"{Decimal(city.m.credit_fen) / city.m.granted_fen * 100:.1f}"
    book = load_workbook(io.BytesIO(figures.xlsx_bytes(list(ts.values()), rep.figures.period)))
    assert book.sheetnames == [t.title for t in ts.values()]
    sheet = book["按地市"]
    assert [c.value for c in sheet[1]][:3] == ["地市", "贷款笔数", "授信额（万元）"]
    assert sheet["C2"].value == pytest.approx(float(row[2])) and sheet["C2"].number_format == "#,##0.00"
    assert sheet["G2"].number_format == "0.0"
    totals = ts["totals"].rows[0]
    assert totals[1] == figures.wan(rep.figures.progress.cumulative_fen) and totals[-1] == rep.contradicted


def test_the_json_numbers_are_the_page_numbers(world: Market) -> None:
    with world.db.session() as s:
        rep = figures.report(s.connection())
    d = figures.report_dict(rep)
    f = rep.figures
    assert d["totals"]["granted"] == f.totals.granted_fen / 100 and d["totals"]["loans"] == f.totals.loans
    assert [c["city_code"] for c in d["by_city"]] == [ln.key for ln in f.by_city]
    assert d["by_month"][-1]["cumulative_granted"] == f.by_month[-1].cumulative_fen / 100
    assert d["target"]["amount"] == rules.load().target_fen / 100 and d["first_loan_contradicted"] == rep.contradicted
    assert d["period"] == {"from": None, "to": None}
    assert isinstance(datetime.fromisoformat(d["computed_at"]), datetime)
