"""银行监测 (issue 17) on a hand-built database with known answers: three banks (A with a branch, a sub-branch
under it and a suspended branch; B with a branch; C idle), a credit-service agency that is no bank, products,
applications and loans placed on both sides of the period's Beijing month bounds. Then the page, the refusals
and the XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.oversight import signin
from xinyidai.accounts.models import User
from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.pagination import PageRequest
from xinyidai.market import flows
from xinyidai.market.figures import Period
from xinyidai.market.models import Application, Loan, Product, ProductVersion
from xinyidai.oversight import banks

BANK_A = make_uscc("230100", 9201, "1", "1")
BRANCH_A1 = make_uscc("230100", 9202, "1", "1")
BRANCH_A2 = make_uscc("230100", 9203, "1", "1")  # under A1: a 支行 under a 分行
BRANCH_A3 = make_uscc("230100", 9204, "1", "1")  # suspended
BANK_B = make_uscc("230100", 9205, "1", "1")
BRANCH_B = make_uscc("230100", 9206, "1", "1")
BANK_C = make_uscc("230100", 9207, "1", "1")  # onboarded, nothing else
AGENCY = make_uscc("230100", 9208, "1", "1")  # a credit-service agency: not a bank
ENTITY = make_uscc("230102", 5201)
PERIOD = Period(202609, 202610)
PASSWORD = "correct-horse-9"


def _utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def _beijing(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=clock.CHINA_TZ).astimezone(UTC)


def _product(s: Any, number: str, inst: str, status: str, published: list[datetime | None]) -> Product:
    now = clock.now()
    p = Product(number=number, institution_code=inst, origin_node="CN-230000", status=status, created_by="t",
                created_at=now, updated_at=now)
    s.add(p)
    s.flush()
    last = None
    for i, at in enumerate(published, 1):
        state = (status if i == len(published) else flows.SUPERSEDED) if at else flows.DRAFT
        last = ProductVersion(
            product_id=p.id, version=i, state=state, last_action="publish" if at else "create", name=f"产品{number}",
            kind="纯信用", amount_min_fen=10_000_000, amount_max_fen=300_000_000, term_min_months=6,
            term_max_months=36, rate_min_bp=345, rate_max_bp=650, regions=["230100"], industries=[], eligibility={},
            auth_categories=["tax"], auth_mode="汇总查询", auth_days=90, digest="0" * 64, created_by="t",
            created_at=now, published_at=at)
        s.add(last)
        s.flush()
    if status != flows.DRAFT:
        p.live_version_id = last.id
    return p


def _application(s: Any, n: int, bank: str, product: Product, submitted: datetime, response_h: float | None,
                 state: str, breaches: int = 0) -> None:
    v = s.query(ProductVersion).filter_by(product_id=product.id).first()
    s.add(Application(
        number=f"RZ-T-{n:04d}", entity_code=ENTITY, institution_code=product.institution_code, bank_code=bank,
        city_code="230100", product_id=product.id, product_version_id=v.id, state=state, last_action="x",
        state_since=submitted, amount_fen=50_000_000, term_months=12, purpose="采购", authorization_number=f"SQ{n}",
        submitted_at=submitted,
        first_response_at=None if response_h is None else submitted + timedelta(hours=response_h),
        breaches=breaches, breached_at=submitted + timedelta(days=3) if breaches and state == flows.SUBMITTED else None,
        created_at=submitted, updated_at=submitted))


def _loan(s: Any, n: int, bank: str, inst: str, month: int, wan: int, *, credit: bool, first: bool) -> None:
    fen = wan * 1_000_000
    s.add(Loan(loan_no=f"L-T-{n:04d}", origin_node="CN-230000", institution_code=inst, bank_code=bank,
               loan_ref=f"REF{n}", entity_code=ENTITY, city_code="230100", product_number="P", product_kind="纯信用",
               sector_mask=0, guarantee_type="信用" if credit else "抵押", is_credit=int(credit), first_declared=int(first),
               first_on_platform=int(first), first_loan=int(first), granted_fen=fen, credit_fen=fen if credit else 0,
               first_fen=fen if first else 0, disbursed_fen=0, granted_on=date(month // 100, month % 100, 15),
               granted_month=month, rate_bp=400, term_months=12, policy_tags=[], status="GRANTED",
               created_at=clock.now(), updated_at=clock.now()))


@pytest.fixture
def world(db: Database) -> Database:
    now = clock.now()
    with db.session() as s:
        s.add(MarketEntity(code=ENTITY, name="哈尔滨市测试机械有限公司", kind="企业", region_code="230102",
                           industry_code="C34", registered_on=date(2015, 3, 1), status="存续", updated_at=now))
        for code, name, kind, parent, status in (
                (BANK_A, "甲银行股份有限公司", "银行", None, "active"),
                (BRANCH_A1, "甲银行哈尔滨分行", "银行分支机构", BANK_A, "active"),
                (BRANCH_A2, "甲银行哈尔滨道里支行", "银行分支机构", BRANCH_A1, "active"),
                (BRANCH_A3, "甲银行哈尔滨南岗支行", "银行分支机构", BANK_A, "suspended"),
                (BANK_B, "乙银行股份有限公司", "银行", None, "active"),
                (BRANCH_B, "乙银行哈尔滨分行", "银行分支机构", BANK_B, "active"),
                (BANK_C, "丙银行股份有限公司", "银行", None, "active"),
                (AGENCY, "某信用服务有限公司", "信用服务机构", None, "active")):
            s.add(FinancialInstitution(code=code, name=name, kind=kind, parent_code=parent, status=status,
                                       created_at=now, created_by="t"))
            s.flush()
        p1 = _product(s, "CP-A1", BRANCH_A2, flows.PUBLISHED, [_utc(2026, 9, 10)])  # new in the period, live
        _product(s, "CP-A2", BANK_A, flows.SUSPENDED, [_utc(2026, 8, 20)])  # before the period, suspended
        # First published before the period; a new version published in it is no new product.
        _product(s, "CP-A3", BANK_A, flows.PUBLISHED, [_utc(2026, 7, 1), _utc(2026, 10, 5)])
        _product(s, "CP-A4", BANK_A, flows.DRAFT, [None])  # never published
        # 2026-10-31 23:00 UTC is 2026-11-01 07:00 in Beijing: after the period.
        p5 = _product(s, "CP-B1", BRANCH_B, flows.PUBLISHED, [_utc(2026, 10, 31, 23)])
        _product(s, "CP-B2", BANK_B, flows.WITHDRAWN, [_utc(2026, 9, 1)])  # new in the period, withdrawn now

        _application(s, 1, BANK_A, p1, _beijing(2026, 9, 1), 2, flows.ACCEPTED)  # the period's first moment
        _application(s, 2, BANK_A, p1, _beijing(2026, 9, 10, 9), 4, flows.DECLINED, breaches=1)
        _application(s, 3, BANK_A, p1, _beijing(2026, 10, 10, 9), 10, flows.REJECTED, breaches=2)  # accepted first
        _application(s, 4, BANK_A, p1, _beijing(2026, 10, 20, 9), None, flows.SUBMITTED, breaches=1)
        _application(s, 5, BANK_A, p1, _beijing(2026, 8, 31, 23, 59), 1, flows.ACCEPTED, breaches=3)  # before
        _application(s, 6, BANK_A, p1, _beijing(2026, 11, 1), 1, flows.ACCEPTED)  # after
        _application(s, 7, BANK_B, p5, _beijing(2026, 10, 2, 9), 0, flows.ACCEPTED)  # a picked quote

        _loan(s, 1, BANK_A, BRANCH_A2, 202609, 500, credit=True, first=True)
        _loan(s, 2, BANK_A, BANK_A, 202610, 300, credit=False, first=False)
        _loan(s, 3, BANK_A, BANK_A, 202608, 1000, credit=True, first=True)  # before
        _loan(s, 4, BANK_A, BANK_A, 202611, 1000, credit=True, first=True)  # after
        _loan(s, 5, BANK_B, BRANCH_B, 202610, 1000, credit=False, first=True)
    return db


def _monitor(db: Database, period: Period = PERIOD) -> banks.Monitoring:
    with db.engine.connect() as conn:
        return banks.monitor(conn, period)


def test_every_figure_of_a_bank_with_branches(world: Database) -> None:
    mon = _monitor(world)
    a = banks.line_of(mon, BANK_A)
    assert a is not None and a.name == "甲银行股份有限公司"
    assert a.institutions == 3  # the head office, A1 and A2 under it; A3 is suspended
    assert (a.products_published, a.products_live) == (1, 2)  # CP-A1 new; CP-A1 and CP-A3 live
    assert (a.applications, a.responded, a.accepted) == (4, 3, 2)
    assert a.accept_rate == pytest.approx(2 / 3)
    assert (a.breached, a.breaches) == (3, 4)
    assert (a.loans, a.granted_fen, a.credit_fen, a.first_loans, a.first_fen) == (2, 800_000_000, 500_000_000, 1,
                                                                                  500_000_000)
    assert a.credit_share_amount == pytest.approx(0.625) and a.first_share_count == pytest.approx(0.5)
    assert a.first_response_hours == pytest.approx(4.0)  # median of 2, 4 and 10 hours

    b = banks.line_of(mon, BANK_B)
    assert b is not None and b.institutions == 2
    assert (b.products_published, b.products_live) == (1, 1)  # CP-B2 new (withdrawn since); CP-B1 live, not new
    assert (b.applications, b.responded, b.accepted, b.accept_rate) == (1, 1, 1, 1.0)
    assert b.first_response_hours == 0.0
    assert (b.loans, b.granted_fen, b.credit_share_amount, b.first_share_count) == (1, 1_000_000_000, 0.0, 1.0)


def test_idle_banks_appear_with_zeros_and_agencies_do_not(world: Database) -> None:
    mon = _monitor(world)
    assert [ln.code for ln in mon.lines] == [BANK_B, BANK_A, BANK_C]  # 授信 1000, 800, 0 万元
    c = mon.lines[-1]
    assert (c.institutions, c.products_published, c.products_live, c.applications, c.loans, c.granted_fen) == \
        (1, 0, 0, 0, 0, 0)
    assert c.accept_rate is None and c.credit_share_amount is None and c.first_share_count is None
    assert c.first_response_hours is None
    assert banks.line_of(mon, AGENCY) is None and banks.line_of(mon, BRANCH_A1) is None


def test_one_bank_narrowed_gives_its_own_line(world: Database) -> None:
    full = _monitor(world)
    with world.engine.connect() as conn:
        for code in (BANK_A, BANK_B, BANK_C):
            (only,) = banks.monitor(conn, PERIOD, code).lines
            assert only == banks.line_of(full, code)


def test_a_lender_of_another_kind_with_loans_is_listed(world: Database) -> None:
    with world.session() as s:
        _loan(s, 9, AGENCY, AGENCY, 202610, 50, credit=True, first=False)
    mon = _monitor(world)
    line = banks.line_of(mon, AGENCY)
    assert line is not None and line.name == "某信用服务有限公司" and line.institutions == 1
    assert (line.loans, line.granted_fen, line.credit_share_amount) == (1, 50_000_000, 1.0)
    assert banks.line_of(_monitor(world, Period(202601, 202601)), AGENCY) is None  # idle: not a bank


def test_totals_add_the_banks_and_take_the_median_of_all(world: Database) -> None:
    t = _monitor(world).totals
    assert (t.institutions, t.applications, t.responded, t.accepted, t.loans) == (6, 5, 4, 3, 3)
    assert t.granted_fen == 1_800_000_000 and t.credit_share_amount == pytest.approx(500 / 1800)
    assert t.first_response_hours == pytest.approx(3.0)  # median of 0, 2, 4, 10


def test_period_bounds_are_beijing_months(world: Database) -> None:
    everything = _monitor(world, Period())
    a = banks.line_of(everything, BANK_A)
    assert a is not None and (a.applications, a.loans, a.granted_fen) == (6, 4, 2_800_000_000)
    assert (a.products_published, a.breaches) == (3, 7)  # CP-A1, CP-A2, CP-A3 (first published in July)
    b = banks.line_of(everything, BANK_B)
    assert b is not None and b.products_published == 2  # CP-B1, published in Beijing's November

    august = banks.line_of(_monitor(world, Period(202608, 202608)), BANK_A)
    assert august is not None and (august.applications, august.loans, august.products_published) == (1, 1, 1)
    november = _monitor(world, Period(202611, None))
    assert banks.line_of(november, BANK_A).applications == 1  # type: ignore[union-attr]
    assert banks.line_of(november, BANK_B).products_published == 1  # type: ignore[union-attr]
    # Every figure of a month without activity is zero, and every bank is still listed.
    quiet = _monitor(world, Period(202601, 202601))
    assert {ln.code for ln in quiet.lines} == {BANK_A, BANK_B, BANK_C}
    assert all(ln.applications == ln.loans == ln.products_published == 0 for ln in quiet.lines)
    assert banks.line_of(quiet, BANK_A).products_live == 2  # type: ignore[union-attr]  # "now", whatever the period


def test_sorting_and_paging(world: Database) -> None:
    lines = _monitor(world).lines
    assert [ln.code for ln in banks.ordered(lines, "applications", True)] == [BANK_A, BANK_B, BANK_C]
    # A rate of nothing goes last whichever the direction.
    assert [ln.code for ln in banks.ordered(lines, "accept_rate", False)] == [BANK_A, BANK_B, BANK_C]
    assert [ln.code for ln in banks.ordered(lines, "accept_rate", True)] == [BANK_B, BANK_A, BANK_C]
    assert [ln.code for ln in banks.ordered(lines, "no-such-column", True)] == [BANK_B, BANK_A, BANK_C]
    pg = banks.page_of(lines, PageRequest(2, 2, "granted", True))
    assert (pg.total, pg.pages, [ln.code for ln in pg.items]) == (3, 2, [BANK_C])


def test_tables_carry_wan_percent_and_hours(world: Database) -> None:
    mon = _monitor(world)
    (t,) = banks.tables(mon)
    assert len(t.columns) == len(banks.COLUMN_SORTS) == len(t.rows[0])
    head = [c.title for c in t.columns]
    a = dict(zip(head, t.rows[1], strict=True))
    assert a["银行（总行）"] == "甲银行股份有限公司" and a["授信额（万元）"] == Decimal("800.00")
    assert a["受理率（%）"] == Decimal("66.7") and a["信用贷款占比·金额（%）"] == Decimal("62.5")
    assert a["首贷占比·笔数（%）"] == Decimal("50.0") and a["首次响应时长中位数（小时）"] == Decimal("4.0")
    assert t.rows[-1][0] == "全部银行" and len(t.rows) == 4


def test_one_bank_detail_lists_branches_and_products(world: Database) -> None:
    with world.engine.connect() as conn:
        d = banks.detail(conn, BANK_A)
        assert banks.head_of(conn, BRANCH_A2) == BANK_A and banks.head_of(conn, "NOPE") is None
        with pytest.raises(Exception, match="银行总行"):
            banks.detail(conn, BRANCH_A1)
    assert [i.code for i in d.institutions] == [BANK_A, *sorted([BRANCH_A1, BRANCH_A2, BRANCH_A3])]
    assert d.active == 3
    assert [p.number for p in d.products] == ["CP-A1", "CP-A3", "CP-A2", "CP-A4"]  # live first
    by = {p.number: p for p in d.products}
    assert by["CP-A1"].institution_name == "甲银行哈尔滨道里支行" and by["CP-A1"].status_label == "已发布"
    assert by["CP-A2"].status_label == "已暂停" and by["CP-A4"].first_published_at is None
    assert by["CP-A3"].first_published_at == _utc(2026, 7, 1)


# ── the page ────────────────────────────────────────────────────────────────────────────────────────────

def _login(app: Any, username: str) -> Any:
    return signin.login(app, username, PASSWORD)


@pytest.fixture
def site(world: Database, tmp_path: Path) -> Iterator[dict[str, TestClient]]:
    from xinyidai.app import create_app
    from xinyidai.config import load_settings

    hashed = PasswordHasher().hash(PASSWORD)
    with world.session() as s:
        for username, role, org in (("reg", "regulator", None), ("op", "operator", None), ("teller", "bank", BANK_A),
                                    ("ent", "enterprise", ENTITY)):
            s.add(User(username=username, display_name=f"测试{username}", role=role, password_hash=hashed,
                       org_code=org, created_at=clock.now()))
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=world.url), world)
    clients = {name: _login(app, name) for name in ("reg", "op", "teller", "ent")}
    yield clients
    for c in clients.values():
        c.close()


def test_the_page_for_a_regulator(site: dict[str, TestClient]) -> None:
    r = site["reg"].get("/oversight/banks?from=2026-09&to=2026-10")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    html = r.text
    assert "银行监测" in html and "2026-09 至 2026-10" in html
    assert html.index("乙银行股份有限公司") < html.index("甲银行股份有限公司") < html.index("丙银行股份有限公司")
    assert 'id="chart-banks"' in html and "data-figure-chart=" in html
    assert "/oversight/banks.xlsx?from=2026-09&amp;to=2026-10" in html
    assert ">66.7<" in html and ">800.00<" in html and ">无<" in html  # 丙银行's rates: 无, not a dash
    assert "某信用服务有限公司" not in html and ">—<" not in html
    sorted_page = site["op"].get("/oversight/banks?from=2026-09&to=2026-10&sort=applications&desc=true")
    assert sorted_page.status_code == 200
    assert sorted_page.text.index("甲银行股份有限公司") < sorted_page.text.index("乙银行股份有限公司")
    bad = site["reg"].get("/oversight/banks?from=2026-11&to=2026-09")
    assert bad.status_code == 422 and "MONTH_RANGE_INVERTED" in bad.text


def test_the_page_is_refused_to_a_bank_and_an_enterprise(site: dict[str, TestClient]) -> None:
    for who in ("teller", "ent"):
        for url in ("/oversight/banks", "/oversight/banks.xlsx", "/oversight/banks.csv", f"/oversight/banks/{BANK_A}"):
            assert site[who].get(url, follow_redirects=False).status_code == 403, (who, url)


def test_the_xlsx_and_csv_carry_the_page_numbers(site: dict[str, TestClient]) -> None:
    r = site["reg"].get("/oversight/banks.xlsx?from=2026-09&to=2026-10")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "oversight-banks-202609-202610.xlsx" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    head = rows[0]
    got = {row[1]: dict(zip(head, row, strict=True)) for row in rows[1:5]}
    a, b, c = got[BANK_A], got[BANK_B], got[BANK_C]
    assert (a["授信额（万元）"], a["授信笔数"], a["已接入机构"], a["本期申请"]) == (800.0, 2, 3, 4)
    assert (a["受理率（%）"], a["超时申请"], a["首贷笔数"], a["首次响应时长中位数（小时）"]) == (66.7, 3, 1, 4.0)
    assert (b["授信额（万元）"], b["信用贷款占比·金额（%）"], b["首贷占比·笔数（%）"]) == (1000.0, 0.0, 100.0)
    assert (c["授信额（万元）"], c["受理率（%）"]) == (0.0, None)
    assert rows[4][0] == "全部银行" and rows[4][12] == 1800.0
    text = site["reg"].get("/oversight/banks.csv?from=2026-09&to=2026-10").content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][0] == "银行（总行）" and lines[1][:3] == ["乙银行股份有限公司", BANK_B, "2"]


def test_one_bank_page_and_a_branch_leads_to_its_head(site: dict[str, TestClient]) -> None:
    r = site["reg"].get(f"/oversight/banks/{BANK_A}?from=2026-09&to=2026-10")
    assert r.status_code == 200
    for text in ("甲银行哈尔滨道里支行", "甲银行哈尔滨南岗支行", "已暂停", "CP-A1", "CP-A4", "尚未发布", "66.7"):
        assert text in r.text
    moved = site["reg"].get(f"/oversight/banks/{BRANCH_A2}?from=2026-09", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == f"/oversight/banks/{BANK_A}?from=2026-09"
    assert site["reg"].get("/oversight/banks/91230100XXXXXXXXXX").status_code == 404
