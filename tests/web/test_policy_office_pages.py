"""The finance office's pages over HTTP, on the small market of tests/market with two Harbin officers and a
Daqing one: a programme created through the form (a contradictory one refused with its message and the
values typed), started; a claim the bank made through the services reviewed by one officer and approved by
another, paid once; a batch moved the same way; the rules revised and a pool funded; other divisions and
other roles kept out."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.market.conftest import BANK, BANK_A, ENTITY, Market, market  # noqa: F401  (the fixture)
from tests.policy.conftest import HRB_OFFICER, World
from tests.web.conftest import PASSWORD
from xinyidai.accounts.models import User
from xinyidai.accounts.users import create_user
from xinyidai.policy import claims, enrolments, evidence, flows, ledger, programmes
from xinyidai.policy.models import Claim, LedgerEntry, Programme, RuleVersion

PDF = b"%PDF-1.4\n% interest paid\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
Q1 = (date(2026, 3, 1), date(2026, 5, 31))  # 92 days, before the tests' fixed today (2026-11-15)


@pytest.fixture
def office(app, market: Market) -> World:  # noqa: ANN001, F811
    """Two officers of Harbin's finance office and one of Daqing's; the web bank and enterprise users attached
    to the market's bank A and its first enterprise."""
    with market.db.session() as s:
        for username, name, division in (("hrb-fin-1", "哈尔滨市财政局经办人", "230100"),
                                          ("hrb-fin-2", "哈尔滨市财政局复核人", "230100"),
                                          ("dq-fin", "大庆市财政局经办人", "230600")):
            create_user(s, username=username, display_name=name, role="policy", password=PASSWORD, org_code=division)
        s.execute(update(User).where(User.username == "enterprise").values(org_code=ENTITY))
        s.execute(update(User).where(User.username == "bank").values(org_code=BANK_A))
    return World(market)


def _post(c: TestClient, url: str, data: dict | None = None):  # noqa: ANN202
    return c.post(url, data={"csrf_token": c.csrf, **(data or {})}, follow_redirects=False)  # type: ignore[attr-defined]


def _alert_of(html: str) -> str:
    m = re.search(r'role="alert" data-code="([A-Z_]+)">([^<]*)<', html)
    assert m, "no refusal on the page"
    return f"{m.group(1)} {m.group(2)}"


def _status_of(html: str) -> str:
    m = re.search(r'role="status">([^<]*)<', html)
    assert m, "no done message on the page"
    return m.group(1)


def _interest_form(**over: str) -> dict[str, str]:
    form = {"kind": "interest", "name": "2026年哈尔滨市小微企业贷款贴息", "region_code": "230100",
            "starts_on": "2026-01-01", "ends_on": "2026-12-31", "budget": "500",
            "interest.rate_bp": "1", "interest.cap_fen": "800", "interest.max_days": "365",
            "interest.day_basis": "360", "interest.split.中央": "90", "interest.split.省级": "10",
            "interest.industries": "", "interest.min_grade": ""}
    form.update(over)
    return form


def _programme(world: World, **over: str) -> str:
    """A running 贴息 programme of Harbin, made by the first officer through the services."""
    with world.m.db.session() as s:
        prog = programmes.create(s, HRB_OFFICER, kind="interest", name=over.get("name", "哈尔滨贴息"), region_code="230100",
                                 starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31), budget_fen=100_000_000,
                                 raw_rules={})
        programmes.start(s, HRB_OFFICER, prog.number)
        return prog.number


def _submitted_claim(world: World, app, number: str, granted: int = 500_000_000) -> str:  # noqa: ANN001
    """A loan of bank A enrolled, its Q1 interest claimed with a real PDF as evidence, and submitted."""
    ev = evidence.store(Path(app.state.node.settings.var_dir), "付息凭证（一季度）.pdf", PDF)
    with world.m.db.session() as s:
        loan = world.loan(s, granted=granted)
        enrolments.enrol(s, BANK, number, loan.loan_no)
        c = claims.draft_interest(s, BANK, number, loan.loan_no, *Q1, paid_interest_fen=60_000_00, ev=ev)
        claims.act(s, BANK, c.number, "submit")
        return c.number


# ── who may come in ─────────────────────────────────────────────────────────────────────────────────────

def test_the_office_pages_are_for_the_office_and_read_only_for_the_platform(office, app, login) -> None:  # noqa: ANN001
    number = _programme(office)
    claim = _submitted_claim(office, app, number)
    officer, operator, regulator = login("hrb-fin-1"), login("operator"), login("regulator")
    bank, ent = login("bank"), login("enterprise")
    for path in ("/policy", "/policy/new", "/policy/claims", f"/policy/{number}", f"/policy/claims/{claim}"):
        r = officer.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert "no-store" in r.headers["cache-control"]
        for outsider in (bank, ent):
            assert outsider.get(path, headers={"accept": "text/html"}).status_code == 403, path
    for reader in (operator, regulator):
        listing = reader.get("/policy").text
        assert "哈尔滨贴息" in listing and "新建政策项目" not in listing
        page = reader.get(f"/policy/{number}").text
        assert "form-close" not in page and "平台运营方和监管人员可查看" in page
        claim_page = reader.get(f"/policy/claims/{claim}").text
        assert "form-review" not in claim_page and "审核和拨付由政策管理部门办理" in claim_page
        assert reader.get("/policy/new").status_code == 403
        assert _post(reader, f"/policy/claims/{claim}/act", {"action": "review"}).status_code == 403
    assert '<a href="/policy/claims" class="active">申领审核</a>' in officer.get("/policy/claims").text
    home = officer.get("/", follow_redirects=False)  # a log-in lands on "/": the officer is sent to his programmes
    assert (home.status_code, home.headers["location"]) == (303, "/policy")


def test_a_daqing_officer_does_not_see_harbins_programmes(office, app, login) -> None:  # noqa: ANN001
    number = _programme(office)
    claim = _submitted_claim(office, app, number)
    dq = login("dq-fin")
    assert "哈尔滨贴息" not in dq.get("/policy").text and claim not in dq.get("/policy/claims?state=ALL").text
    for path in (f"/policy/{number}", f"/policy/claims/{claim}", f"/policy/claims/{claim}/evidence"):
        assert dq.get(path).status_code == 404, path
    assert _post(dq, f"/policy/claims/{claim}/act", {"action": "review"}).status_code == 404
    assert _post(dq, f"/policy/{number}/act", {"action": "close"}).status_code == 404
    with office.m.db.session() as s:
        assert s.execute(select(Claim.state).where(Claim.number == claim)).scalar_one() == flows.SUBMITTED


# ── a programme through the form ────────────────────────────────────────────────────────────────────────

def test_the_officer_creates_and_starts_a_programme_through_the_form(office, login) -> None:  # noqa: ANN001
    officer = login("hrb-fin-1")
    form = officer.get("/policy/new").text
    assert "财金〔2025〕81号" in form and "国办发〔2019〕6号" in form  # where each kind's defaults come from
    assert 'name="interest.rate_bp" value="1"' in form and 'name="interest.cap_fen" value="1000"' in form
    assert 'name="pool.share_bp" value="30"' in form and 'name="interest.split.中央" value="90"' in form
    assert '<option value="230100" selected>哈尔滨市（230100）</option>' in form and "道里区（230102）" in form
    assert "大庆市" not in form  # a Harbin officer offers only Harbin and its districts

    bad = _post(officer, "/policy/new", _interest_form(**{"interest.split.中央": "60", "interest.split.省级": "60"}))
    assert bad.status_code == 422
    assert _alert_of(bad.text) == "RULES_CONTRADICT 各级财政分担比例合计为 120%，须恰好为 100%"
    assert 'value="2026年哈尔滨市小微企业贷款贴息"' in bad.text and 'name="interest.split.中央" value="60"' in bad.text
    assert 'name="interest.cap_fen" value="800"' in bad.text  # as typed, not the defaults
    wrong = _post(officer, "/policy/new", _interest_form(**{"interest.rate_bp": "1.255"}))
    assert wrong.status_code == 422 and _alert_of(wrong.text).startswith("RULE_FORMAT 贴息比例“1.255”最多精确到")
    away = _post(officer, "/policy/new", _interest_form(region_code="230600"))
    assert away.status_code == 403 and "REGION_NOT_MANAGED" in _alert_of(away.text)
    with office.m.db.session() as s:
        assert s.execute(select(func.count()).select_from(Programme)).scalar_one() == 0

    done = _post(officer, "/policy/new", _interest_form(**{"interest.industries": "C、13",
                                                            "interest.credit_only": "yes"}))
    assert done.status_code == 303, _alert_of(done.text)
    url = done.headers["location"]
    number = url.split("/")[-1].split("?")[0]
    page = officer.get(url).text
    assert _status_of(page).startswith("政策项目草稿已保存") and "草稿" in page and "form-start" in page
    assert "1 个百分点/年" in page and "800.00 万元" in page and "中央 90%、省级 10%" in page and "仅限信用贷款" in page
    with office.m.db.session() as s:
        prog = s.execute(select(Programme).where(Programme.number == number)).scalar_one()
        assert (prog.budget_fen, prog.rule_version, prog.state) == (500_000_000, 1, "DRAFT")
        r = programmes.rules_of(s, prog)
        assert (r.rate_bp, r.cap_fen, r.split, r.industries, r.credit_only) == \
            (100, 800_000_000, {"中央": 9000, "省级": 1000}, ("13", "C"), True)

    started = _post(officer, f"/policy/{number}/act", {"action": "start"})
    assert started.status_code == 303
    page = officer.get(started.headers["location"]).text
    assert _status_of(page).startswith("政策已启动实施") and "实施中" in page and "form-close" in page
    again = _post(officer, f"/policy/{number}/act", {"action": "start"})
    assert again.status_code == 409 and "PROGRAMME_NOT_DRAFT" in _alert_of(again.text)
    ledger_tab = officer.get(f"/policy/{number}?tab=ledger").text
    assert "财政预算拨入" in ledger_tab and "借贷平衡" in ledger_tab
    listing = officer.get("/policy").text
    assert "2026年哈尔滨市小微企业贷款贴息" in listing and "500.00 万元" in listing


def test_rules_are_revised_as_a_new_version_and_a_pool_takes_contributions(office, login) -> None:  # noqa: ANN001
    officer = login("hrb-fin-1")
    number = _programme(office)
    page = officer.get(f"/policy/{number}?tab=rules").text
    assert "第 1 版" in page and "初始规则" in page and "form-rules" in page
    fields = {"interest.rate_bp": "1.5", "interest.cap_fen": "1000", "interest.max_days": "365",
              "interest.day_basis": "360", "interest.split.中央": "90", "interest.split.省级": "10"}
    no_note = _post(officer, f"/policy/{number}/rules", fields)
    assert no_note.status_code == 422 and "NOTE_REQUIRED" in _alert_of(no_note.text)
    assert 'name="interest.rate_bp" value="1.5"' in no_note.text
    same = _post(officer, f"/policy/{number}/rules", {**fields, "interest.rate_bp": "1", "note": "重复保存"})
    assert same.status_code == 409 and "RULES_UNCHANGED" in _alert_of(same.text)
    r = _post(officer, f"/policy/{number}/rules", {**fields, "note": "提高贴息比例"})
    assert r.status_code == 303
    page = officer.get(r.headers["location"]).text
    assert "1.5 个百分点/年" in page and "提高贴息比例" in page and "现行" in page
    with office.m.db.session() as s:
        digests = s.execute(select(RuleVersion.version, RuleVersion.digest).join(Programme).where(
            Programme.number == number).order_by(RuleVersion.version)).all()
        assert [v for v, _ in digests] == [1, 2] and all(d[:16] in page for _, d in digests)

    pool_form = {"kind": "pool", "name": "哈尔滨市风险补偿资金池", "region_code": "230100", "starts_on": "2026-01-01",
                 "ends_on": "2026-12-31", "budget": "1000", "pool.share_bp": "30", "pool.credit_share_bp": "40",
                 "pool.first_share_bp": "", "pool.bank_cap_fen": "500", "pool.suspend_overdue_bp": "5",
                 "pool.split.市级": "100", "pool.credit_only": "yes"}
    created = _post(officer, "/policy/new", pool_form)
    assert created.status_code == 303, _alert_of(created.text)
    pool = created.headers["location"].split("/")[-1].split("?")[0]
    assert _post(officer, f"/policy/{pool}/act", {"action": "start"}).status_code == 303
    bad = _post(officer, f"/policy/{pool}/act", {"action": "contribute", "party": "龙江银行", "amount": "零"})
    assert bad.status_code == 422 and "AMOUNT_FORMAT" in _alert_of(bad.text) and 'value="龙江银行"' in bad.text
    ok = _post(officer, f"/policy/{pool}/act", {"action": "contribute", "party": "龙江银行", "amount": "200"})
    assert ok.status_code == 303 and "tab=ledger" in ok.headers["location"]
    page = officer.get(ok.headers["location"]).text
    assert "出资：龙江银行" in page and "1,200.00 万元" in page  # budget and contribution in hand
    with office.m.db.session() as s:
        prog = s.execute(select(Programme).where(Programme.number == pool)).scalar_one()
        assert ledger.fund_balance(s, prog.id) == 1_200_000_000
        assert programmes.rules_of(s, prog).first_share_bp == 0  # left empty: as the general share


# ── a claim through two officers ────────────────────────────────────────────────────────────────────────

def test_a_claim_is_reviewed_by_one_officer_approved_by_another_and_paid_once(office, app, login) -> None:  # noqa: ANN001
    number = _programme(office)
    claim = _submitted_claim(office, app, number)
    first, second = login("hrb-fin-1"), login("hrb-fin-2")
    queue = first.get("/policy/claims").text
    assert claim in queue and "哈尔滨市龙信机械制造有限公司" in queue and "龙江银行股份有限公司" in queue
    assert "2026-03-01 至 2026-05-31" in queue and "12,777.78 元" in queue

    page = first.get(f"/policy/claims/{claim}").text
    # 5,000,000 × 1% × 92 / 360 = 12,777.78 元; the cost split 90/10 by the rules of version 1
    assert "5,000,000.00 元 × 1% × 92 天 ÷ 360 = 12,777.78 元" in page and "复算一致" in page
    assert "中央财政" in page and "11,500.00 元" in page and "1,277.78 元" in page and "付息凭证（一季度）.pdf" in page
    assert "form-review" in page and "form-approve" not in page and "form-pay" not in page
    pdf = first.get(f"/policy/claims/{claim}/evidence")
    assert pdf.status_code == 200 and pdf.content == PDF and pdf.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in pdf.headers["content-disposition"]
    for who in ("bank", "enterprise", "operator"):  # the claim is visible to them: so is its evidence
        assert login(who).get(f"/policy/claims/{claim}/evidence").content == PDF

    r = _post(first, f"/policy/claims/{claim}/act", {"action": "review"})
    assert r.status_code == 303
    page = first.get(r.headers["location"]).text
    assert _status_of(page).startswith("已初审通过") and "须由另一名工作人员复核" in page
    assert "form-approve" not in page and "form-reject" in page
    assert "须由另一名工作人员复核" in first.get("/policy/claims").text
    own = _post(first, f"/policy/claims/{claim}/act", {"action": "approve"})
    assert own.status_code == 403 and _alert_of(own.text).startswith("SAME_OFFICER 复核须由初审以外的另一名工作人员")

    page = second.get(f"/policy/claims/{claim}").text
    assert "form-approve" in page and "初审：哈尔滨市财政局经办人" in page
    assert _post(second, f"/policy/claims/{claim}/act", {"action": "approve"}).status_code == 303
    twice = _post(second, f"/policy/claims/{claim}/act", {"action": "approve"})
    assert twice.status_code == 303 and twice.headers["location"].endswith("done=already")

    no_ref = _post(first, f"/policy/claims/{claim}/act", {"action": "pay", "payment_ref": ""})
    assert no_ref.status_code == 422 and "PAYMENT_REF_REQUIRED" in _alert_of(no_ref.text)
    future = _post(first, f"/policy/claims/{claim}/act", {"action": "pay", "payment_ref": "GK-1", "paid_on": "2026-12-01"})
    assert future.status_code == 422 and 'value="GK-1"' in future.text
    paid = _post(first, f"/policy/claims/{claim}/act", {"action": "pay", "payment_ref": "GK2026-0001",
                                                        "paid_on": "2026-11-14"})
    assert paid.status_code == 303
    page = first.get(paid.headers["location"]).text
    assert "已拨付" in page and "GK2026-0001" in page and "2026-11-14" in page
    again = _post(first, f"/policy/claims/{claim}/act", {"action": "pay", "payment_ref": "GK2026-0002"})
    assert again.status_code == 409 and _alert_of(again.text).startswith("ALREADY_DONE")
    with office.m.db.session() as s:
        c = s.execute(select(Claim).where(Claim.number == claim)).scalar_one()
        assert (c.state, c.reviewed_by, c.approved_by, c.payment_ref) == \
            (flows.PAID, "hrb-fin-1", "hrb-fin-2", "GK2026-0001")
        payouts = s.execute(select(LedgerEntry.debit_fen).where(LedgerEntry.account.like("payout:%"))).scalars().all()
        assert payouts == [c.amount_fen] == [1_277_778]
    money = first.get(f"/policy/{number}?tab=ledger").text
    assert f"拨付申领 {claim}（GK2026-0001）" in money and "借贷平衡" in money
    steps = first.get(f"/policy/claims/{claim}").text
    for label in ("新建申领", "提交申领", "初审通过", "复核通过", "登记拨付"):
        assert label in steps


def test_a_batch_is_moved_through_the_same_two_officers(office, app, login) -> None:  # noqa: ANN001
    number = _programme(office)
    ev = evidence.store(Path(app.state.node.settings.var_dir), "一季度付息清单.pdf", PDF)
    with office.m.db.session() as s:
        for granted in (100_000_000, 200_000_000):
            enrolments.enrol(s, BANK, number, office.loan(s, granted=granted).loan_no)
        b = claims.claim_period(s, BANK, number, *Q1, ev=ev)
        claims.act_batch(s, BANK, number, b.batch, "submit")
    first, second = login("hrb-fin-1"), login("hrb-fin-2")
    tab = first.get(f"/policy/{number}?tab=batches").text
    assert b.batch in tab and "批量初审通过" in tab and "2 笔" in tab
    assert _post(first, f"/policy/{number}/batches/{b.batch}/act", {"action": "review"}).status_code == 303
    tab = first.get(f"/policy/{number}?tab=batches").text
    assert "须由另一名工作人员复核" in tab and "批量复核通过" not in tab
    refused = _post(first, f"/policy/{number}/batches/{b.batch}/act", {"action": "approve"})
    assert refused.status_code == 403 and "SAME_OFFICER" in _alert_of(refused.text)
    assert _post(second, f"/policy/{number}/batches/{b.batch}/act", {"action": "approve"}).status_code == 303
    assert _post(first, f"/policy/{number}/batches/{b.batch}/act",
                 {"action": "pay", "payment_ref": "GK-B-1"}).status_code == 303
    nothing = _post(first, f"/policy/{number}/batches/{b.batch}/act", {"action": "pay", "payment_ref": "GK-B-2"})
    assert nothing.status_code == 409 and "NOTHING_TO_DO" in _alert_of(nothing.text)
    one = first.get(f"/policy/{number}?tab=claims&batch={b.batch}").text
    numbers = re.findall(r'href="/policy/claims/([\w-]+)"', one)
    assert len(numbers) == 2
    page = first.get(f"/policy/claims/{numbers[0]}").text
    assert "批量计算" in page and "复算一致" in page and "GK-B-1" in page
    with office.m.db.session() as s:
        prog = s.execute(select(Programme).where(Programme.number == number)).scalar_one()
        assert ledger.totals(s, prog.id).paid_fen == b.amount_fen and not ledger.unbalanced_transactions(s)
