"""The market's pages over HTTP, on the small market of tests/market (bank A's published product, enterprises
in Harbin): every page renders for its role and is refused to the others; each form's happy path, its
refusal re-rendered with the Chinese message, and a double-click that changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.market.conftest import BANK_A, ENTITY, Market, market  # noqa: F401  (the fixture)
from xinyidai.accounts.models import User
from xinyidai.kit import clock
from xinyidai.market import alerts, flows
from xinyidai.market.models import (
    Alert,
    Application,
    ApplicationEvent,
    DefaultCase,
    Demand,
    Loan,
    ProductVersion,
)
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord


@pytest.fixture
def world(app, market: Market):  # noqa: ANN001, ANN201, F811
    """The web users attached to the market's enterprise and bank A."""
    with market.db.session() as s:
        s.execute(update(User).where(User.username == "enterprise").values(org_code=ENTITY))
        s.execute(update(User).where(User.username == "bank").values(org_code=BANK_A))
    return market


def _hidden(html: str, name: str, form_id: str | None = None) -> str:
    if form_id is not None:
        html = html.split(f'id="{form_id}"', 1)[1]
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no hidden field {name}"
    return m.group(1)


def _post(c: TestClient, url: str, data: dict | None = None):  # noqa: ANN202
    return c.post(url, data={"csrf_token": c.csrf, **(data or {})}, follow_redirects=False)  # type: ignore[attr-defined]


def _alert_of(html: str) -> str:
    m = re.search(r'role="alert" data-code="([A-Z_]+)">([^<]*)<', html)
    assert m, "no refusal on the page"
    return f"{m.group(1)} {m.group(2)}"


# ── roles ───────────────────────────────────────────────────────────────────────────────────────────────

PAGES = {
    "enterprise": ["/market", "/market/products/{product}", "/my/financing", "/my/financing/demands",
                   "/my/financing/loans", "/my/financing/cases"],
    "bank": ["/bank/products", "/bank/products/new", "/bank/products/{product}", "/bank/applications",
             "/bank/demands", "/bank/alerts"],
    "operator": ["/market/staff", "/market/staff/applications", "/market/staff/cases",
                 "/market/staff/products/{product}"],
    "regulator": ["/market/staff", "/market/staff/applications", "/market/staff/cases"],
}


def test_each_page_renders_for_its_role_and_is_refused_to_the_others(world, login) -> None:  # noqa: ANN001
    clients = {role: login(role) for role in ("enterprise", "bank", "operator", "regulator", "security")}
    for role, paths in PAGES.items():
        for path in paths:
            url = path.format(product=world.product)
            r = clients[role].get(url)
            assert r.status_code == 200, (role, url, r.text[:300])
            assert "no-store" in r.headers["cache-control"]
            others = [o for o in clients if o != role and not (o in ("operator", "regulator")
                                                                and role in ("operator", "regulator"))]
            for other in others:
                refused = clients[other].get(url, headers={"accept": "text/html"})
                assert refused.status_code in (403, 404), (other, url, refused.status_code)
    anonymous = TestClient(clients["bank"].app).get("/my/financing", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    nav = clients["enterprise"].get("/my/financing").text
    assert '<a href="/my/financing" class="active">我的融资</a>' in nav and ">融资产品</a>" in nav
    assert '<a href="/market/staff" class="active">融资服务</a>' in clients["regulator"].get("/market/staff/cases").text
    bank_nav = clients["bank"].get("/bank/applications").text
    for label in ("产品管理", "申请队列", "融资需求", "贷后预警"):
        assert f">{label}</a>" in bank_nav


def test_a_post_without_the_csrf_token_is_refused(world, login) -> None:  # noqa: ANN001
    ent = login("enterprise")
    r = ent.post(f"/market/products/{world.product}/preview", data={"amount": "50", "term_months": "12",
                                                                   "purpose": "采购原材料"})
    assert r.status_code == 403 and "CSRF_FAILED" in r.text


# ── the enterprise applies; the bank works the application to a disbursed loan ───────────────────────────

def _apply(ent: TestClient, product: str, amount: str = "50") -> tuple[str, str]:
    """Browse → product → preview → confirm; returns (application number, the request id it was sent with)."""
    cards = ent.get("/market", params={"amount": amount}).text
    assert "龙江信用快贷" in cards and "龙江银行股份有限公司" in cards and "符合申请条件" in cards
    assert "注册地 哈尔滨市道里区在服务区域（哈尔滨市）内" in cards and "申请金额 50.00 万元在额度 10.00 万元–300.00 万元 内" in cards
    page = ent.get(f"/market/products/{product}")
    assert page.status_code == 200 and "纯信用" in page.text and "3.45%" in page.text and "apply-form" in page.text
    data = {"amount": amount, "term_months": "12", "purpose": "采购原材料"}
    preview = _post(ent, f"/market/products/{product}/preview", data)
    assert preview.status_code == 200 and "信用信息查询授权书" in preview.text and "授权用途：贷前审查" in preview.text
    assert f"{amount}.00 万元" in preview.text and "确认授权并提交申请" in preview.text
    rid = _hidden(preview.text, "request_id")
    done = _post(ent, f"/market/products/{product}/apply",
                 {**data, "grant_digest": _hidden(preview.text, "grant_digest"), "request_id": rid})
    assert done.status_code == 303, done.text
    assert done.headers["location"].endswith("?done=submitted")
    return done.headers["location"].split("/")[-1].split("?")[0], rid


def test_apply_preview_confirm_and_its_refusals(world, login) -> None:  # noqa: ANN001
    ent = login("enterprise")
    bad = _post(ent, f"/market/products/{world.product}/preview", {"amount": "五十", "term_months": "12",
                                                                   "purpose": "采购"})
    assert bad.status_code == 422 and _alert_of(bad.text).startswith("AMOUNT_FORMAT 申请金额“五十”不是有效的金额")
    assert 'value="五十"' in bad.text  # the form comes back as typed
    too_much = _post(ent, f"/market/products/{world.product}/preview", {"amount": "500", "term_months": "12",
                                                                        "purpose": "采购原材料"})
    assert too_much.status_code == 200 and "不符合申请条件，不能提交" in too_much.text
    assert "确认授权并提交申请" not in too_much.text
    stale = _post(ent, f"/market/products/{world.product}/apply", {"amount": "50", "term_months": "12",
                                                                   "purpose": "采购原材料", "grant_digest": "0" * 64})
    assert stale.status_code == 409 and "AUTHORIZATION_TEXT_CHANGED" in _alert_of(stale.text)

    number, rid = _apply(ent, world.product)
    page = ent.get(f"/my/financing/applications/{number}?done=submitted")
    assert "申请已提交" in page.text and "已提交，待受理" in page.text and "银行办理中" in page.text
    assert "撤回申请" in page.text and "提交申请" in page.text  # the timeline's first step
    # The confirmation posted again (a double-click) lands on the same application, and makes no second one.
    preview = _post(ent, f"/market/products/{world.product}/preview", {"amount": "50", "term_months": "12",
                                                                       "purpose": "采购原材料"})
    assert "贵企业已有本产品的在办申请" in ent.get(f"/market/products/{world.product}").text
    again = _post(ent, f"/market/products/{world.product}/apply",
                  {"amount": "50", "term_months": "12", "purpose": "采购原材料",
                   "grant_digest": _hidden(preview.text, "grant_digest"), "request_id": rid})
    assert again.status_code == 303 and number in again.headers["location"]
    with world.db.session() as s:
        assert s.execute(select(func.count()).select_from(Application)).scalar_one() == 1
    listing = ent.get("/my/financing").text
    assert number in listing and "50.00 万元" in listing and "龙江信用快贷" in listing


def _bank_act(bank: TestClient, number: str, action: str, data: dict | None = None, rid: str | None = None):  # noqa: ANN202
    page = bank.get(f"/bank/applications/{number}").text
    rid = rid or _hidden(page, "request_id", f"form-{action}")
    return _post(bank, f"/bank/applications/{number}/act", {"action": action, "request_id": rid, **(data or {})})


def test_the_bank_works_an_application_to_a_loan_and_an_overdue_report_reaches_the_enterprise(
        world, login) -> None:  # noqa: ANN001
    ent, bank = login("enterprise"), login("bank")
    number, _ = _apply(ent, world.product)
    queue = bank.get("/bank/applications").text
    assert number in queue and "哈尔滨市龙信机械制造有限公司" in queue and "2026-11-18 前" in queue  # 3 working days
    page = bank.get(f"/bank/applications/{number}").text
    assert f"/bank/entities/{ENTITY}?purpose=" in page and "form-decline" in page and "D01 资料不全" in page

    # A double-click on 受理: both posts carry the form's request id, the application moves once.
    rid = _hidden(page, "request_id", "form-accept")
    for _ in range(2):
        r = _bank_act(bank, number, "accept", rid=rid)
        assert r.status_code == 303 and r.headers["location"].endswith("done=accept")
    with world.db.session() as s:
        assert s.execute(select(func.count()).select_from(ApplicationEvent).where(
            ApplicationEvent.action == "accept")).scalar_one() == 1
    # Accepting again from another tab (a new form) is no error either: the page says it is done.
    assert _bank_act(bank, number, "accept", rid="another-tab").headers["location"].endswith("done=already")
    # A page kept from before (the back button) sends its used request id with another move: the person
    # is told to reload, not that a request id was reused.
    stale = _bank_act(bank, number, "offer", {"amount": "40", "rate": "4.2"}, rid=rid)
    assert stale.status_code == 409 and _alert_of(stale.text) == \
        "REQUEST_ID_REUSED 该页面上的表单已经提交过，请刷新页面，按申请的最新状态办理"

    refused = _bank_act(bank, number, "offer", {"amount": "400", "rate": "4.2", "term_months": "12"})
    assert refused.status_code == 422 and "OFFER_TERMS_INVALID" in _alert_of(refused.text)
    assert 'value="400"' in refused.text  # typed values are kept
    until = (clock.today() + timedelta(days=7)).isoformat()
    assert _bank_act(bank, number, "offer", {"amount": "40", "rate": "4.2", "term_months": "12",
                                             "valid_until": until}).status_code == 303

    offer = ent.get(f"/my/financing/applications/{number}").text
    assert "40.00 万元" in offer and "4.20%" in offer and "接受预授信" in offer and "待您办理" in offer
    rid = _hidden(offer.split('id="offer"', 1)[1], "request_id")
    r = _post(ent, f"/my/financing/applications/{number}/act", {"action": "accept_offer", "request_id": rid})
    assert r.status_code == 303 and "done=accept_offer" in r.headers["location"]

    grant = {"amount": "45", "guarantee_type": "信用", "loan_ref": "HRB-2026-0001", "first_loan": "是",
             "matures_on": "2027-11-15", "rate": "4.2", "term_months": "12"}
    above = _bank_act(bank, number, "grant", grant)
    assert above.status_code == 422 and _alert_of(above.text) == \
        "GRANT_ABOVE_OFFER 授信金额 45.00 万元 高于企业接受的预授信额度 40.00 万元"
    assert 'value="HRB-2026-0001"' in above.text
    with world.db.session() as s:  # nothing half-stored
        assert s.execute(select(func.count()).select_from(Loan)).scalar_one() == 0
    assert _bank_act(bank, number, "grant", {**grant, "amount": "40"}).status_code == 303
    assert _bank_act(bank, number, "disburse", {"amount": "40"}).status_code == 303

    loan_page = bank.get(f"/bank/applications/{number}").text
    assert "HRB-2026-0001" in loan_page and "已放款" in loan_page and "form-status" in loan_page
    assert "first-loan-check" not in loan_page  # declared first, and the platform agrees
    inconsistent = _post(bank, f"/bank/applications/{number}/status",
                         {"as_of": clock.today().isoformat(), "outstanding": "40", "dpd": "35"})
    assert inconsistent.status_code == 422 and "OVERDUE_INCONSISTENT" in _alert_of(inconsistent.text)
    r = _post(bank, f"/bank/applications/{number}/status",
              {"as_of": clock.today().isoformat(), "outstanding": "40", "dpd": "35", "overdue_principal": "3.5",
               "overdue_interest": "0.12"})
    assert r.status_code == 303
    with world.db.session() as s:
        case = s.execute(select(DefaultCase)).scalar_one()
        assert (case.state, case.latest_dpd, case.overdue_fen) == (flows.ESCALATED, 35, 3_620_000)
    assert "已升级督办" in bank.get(f"/bank/applications/{number}").text

    # The enterprise sees the 逾期催告 on its application and in its cases, and explains.
    mine = ent.get(f"/my/financing/applications/{number}").text
    assert "本笔贷款已逾期 35 天" in mine and "贷后管理授权" in mine
    cases_page = ent.get("/my/financing/cases").text
    assert case.number in cases_page and "说明情况" in cases_page
    case_page = ent.get(f"/my/financing/cases/{case.number}").text
    assert "已逾期 <strong>35 天</strong>" in case_page and "3.62 万元" in case_page and "哈尔滨市信用办督办" in case_page
    assert "平台消息" in case_page  # the 催告 reached the portal (no verified phone in this world)
    empty = _post(ent, f"/my/financing/cases/{case.number}/respond", {"note": ""})
    assert empty.status_code == 422 and "NOTE_REQUIRED" in _alert_of(empty.text)
    r = _post(ent, f"/my/financing/cases/{case.number}/respond", {"note": "应收账款延迟到账，12 月 10 日前归还"})
    assert r.status_code == 303
    assert "应收账款延迟到账" in ent.get(f"/my/financing/cases/{case.number}").text
    loans_page = ent.get("/my/financing/loans").text
    assert "DK-" in loans_page and "40.00 万元" in loans_page and "<strong style=\"color:var(--bad)\">35</strong>" in loans_page


def test_the_enterprise_withdraws_and_confirms_more_authorization(world, login) -> None:  # noqa: ANN001
    ent, bank = login("enterprise"), login("bank")
    number, _ = _apply(ent, world.product)
    _bank_act(bank, number, "accept")
    asked = _bank_act(bank, number, "request_auth", {"categories": ["housing_fund"], "mode": "汇总查询",
                                                     "note": "请补充公积金缴存情况"})
    assert asked.status_code == 303
    page = ent.get(f"/my/financing/applications/{number}").text
    assert "查看并确认补充授权" in page and "住房公积金" in page and "请补充公积金缴存情况" in page
    preview = ent.get(f"/my/financing/applications/{number}/authorization").text
    assert "住房公积金（授权查询）" in preview and "确认补充授权" in preview
    stale = _post(ent, f"/my/financing/applications/{number}/authorization", {"grant_digest": "x"})
    assert stale.status_code == 409 and "AUTHORIZATION_TEXT_CHANGED" in _alert_of(stale.text)
    r = _post(ent, f"/my/financing/applications/{number}/authorization",
              {"grant_digest": _hidden(preview, "grant_digest"), "request_id": _hidden(preview, "request_id")})
    assert r.status_code == 303 and "done=confirm_auth" in r.headers["location"]
    assert "已受理，审查中" in ent.get(r.headers["location"]).text

    page = ent.get(f"/my/financing/applications/{number}").text
    rid = _hidden(page.split('id="withdraw"', 1)[1], "request_id")
    needs_note = _post(ent, f"/my/financing/applications/{number}/act",
                       {"action": "withdraw", "reason_code": "W99", "request_id": rid})
    assert needs_note.status_code == 422 and "REASON_NOTE_REQUIRED" in _alert_of(needs_note.text)
    r = _post(ent, f"/my/financing/applications/{number}/act",
              {"action": "withdraw", "reason_code": "W01", "request_id": rid})
    assert r.status_code == 303
    done = ent.get(r.headers["location"]).text
    assert "企业已撤回" in done and "W01 已获其他融资" in done and "本申请已办结" in done
    # The bank is told the same, and a move on it now is refused with the reason in words.
    refused = _bank_act(bank, number, "offer", {"amount": "10", "rate": "4"}, rid="late")
    assert refused.status_code == 409 and "该申请已是“企业已撤回”，流程已结束" in _alert_of(refused.text)


# ── products: the bank drafts, the operator reviews ───────────────────────────────────────────────────

PRODUCT_FORM = {"name": "冰城订单贷", "summary": "凭订单融资", "kind": "订单融资", "sectors": ["制造业", "外贸"],
                "amount_min": "20", "amount_max": "500", "term_min_months": "3", "term_max_months": "24",
                "rate_min": "3.8", "rate_max": "7.2", "regions": ["230100"], "industries": ["C"],
                "min_grade": "", "min_years": "1", "auth_categories": ["tax", "social_insurance"],
                "auth_mode": "汇总查询", "auth_days": "60"}


def test_the_bank_drafts_and_submits_a_product_the_operator_returns_then_publishes(world, login) -> None:  # noqa: ANN001
    bank, op, reg = login("bank"), login("operator"), login("regulator")
    inverted = _post(bank, "/bank/products", {**PRODUCT_FORM, "amount_min": "800"})
    assert inverted.status_code == 422
    assert _alert_of(inverted.text) == "PRODUCT_RANGE_INVERTED 额度下限 800.00 万元 高于上限 500.00 万元，请交换或修正"
    assert 'value="冰城订单贷"' in inverted.text and 'value="外贸" checked' in inverted.text
    created = _post(bank, "/bank/products", PRODUCT_FORM)
    assert created.status_code == 303
    number = created.headers["location"].split("/")[-1].split("?")[0]
    page = bank.get(created.headers["location"]).text
    assert "产品草稿已保存" in page and "草稿" in page and "提交审核" in page and "修改草稿" in page
    edit = bank.get(f"/bank/products/{number}/versions/1/edit").text
    assert 'value="500"' in edit and 'value="3.80"' in edit and 'value="C" checked' in edit
    assert _post(bank, f"/bank/products/{number}/versions/1/edit",
                 {**PRODUCT_FORM, "rate_max": "6.9"}).status_code == 303
    assert _post(bank, f"/bank/products/{number}/versions/1/act", {"action": "submit"}).status_code == 303
    twice = _post(bank, f"/bank/products/{number}/versions/1/act", {"action": "submit"})
    assert twice.headers["location"].endswith("done=already")  # a second click, not an error

    queue = op.get("/market/staff").text
    assert number in queue and "冰城订单贷" in queue and "待审核" in queue
    assert number not in reg.get("/market/staff").text  # the regulator sees published products only
    assert _post(reg, f"/market/staff/products/{number}/versions/1/act", {"action": "publish"}).status_code == 403
    no_note = _post(op, f"/market/staff/products/{number}/versions/1/act", {"action": "return"})
    assert no_note.status_code == 422 and "REASON_REQUIRED" in _alert_of(no_note.text)
    assert _post(op, f"/market/staff/products/{number}/versions/1/act",
                 {"action": "return", "note": "请补充适用行业说明"}).status_code == 303
    assert "平台审核意见：请补充适用行业说明" in bank.get(f"/bank/products/{number}").text
    _post(bank, f"/bank/products/{number}/versions/1/act", {"action": "submit"})
    assert _post(op, f"/market/staff/products/{number}/versions/1/act", {"action": "publish"}).status_code == 303
    assert "冰城订单贷" in login("enterprise").get("/market").text

    # A new version is reviewed beside the live one, changed terms marked.
    assert _post(bank, f"/bank/products/{number}/versions", {**PRODUCT_FORM, "rate_min": "3.5",
                                                             "rate_max": "6.9"}).status_code == 303
    _post(bank, f"/bank/products/{number}/versions/2/act", {"action": "submit"})
    review = op.get(f"/market/staff/products/{number}").text
    assert 'id="compare"' in review and '<tr class="changed"><th>年利率</th><td>3.50% – 6.90%</td>' in review
    no_reason = _post(op, f"/market/staff/products/{number}/versions/1/act", {"action": "suspend"})
    assert no_reason.status_code == 422 and "暂停产品须说明原因" in no_reason.text
    assert _post(op, f"/market/staff/products/{number}/versions/1/act",
                 {"action": "suspend", "note": "核查投诉"}).status_code == 303
    page = bank.get(f"/bank/products/{number}").text
    assert "该产品由平台暂停，须由平台运营方恢复" in page and 'value="resume"' not in page
    with world.db.session() as s:
        assert s.execute(select(ProductVersion.state).where(ProductVersion.name == "冰城订单贷")
                         .order_by(ProductVersion.version)).scalars().all() == [flows.SUSPENDED, flows.REVIEW]


def test_another_banks_product_is_not_ours_to_manage(world, login) -> None:  # noqa: ANN001
    bank = login("bank")
    with world.db.session() as s:
        s.execute(update(User).where(User.username == "bank").values(org_code="91230100MA00000000"))
    assert bank.get(f"/bank/products/{world.product}", headers={"accept": "text/html"}).status_code == 404


# ── needs and quotes ────────────────────────────────────────────────────────────────────────────────────

def test_a_need_is_quoted_by_the_bank_and_picked_by_the_enterprise(world, login) -> None:  # noqa: ANN001
    ent, bank = login("enterprise"), login("bank")
    too_long = (clock.today() + timedelta(days=31)).isoformat()
    need = {"amount": "80", "term_months": "24", "purpose": "扩大产能", "kinds": ["纯信用", "保证"]}
    refused = _post(ent, "/my/financing/demands", {**need, "expires_on": too_long})
    assert refused.status_code == 422 and _alert_of(refused.text) == "DEMAND_INVALID 融资需求有效期须在 1–30 天之间"
    r = _post(ent, "/my/financing/demands", {**need, "expires_on": (clock.today() + timedelta(days=20)).isoformat()})
    assert r.status_code == 303
    number = r.headers["location"].split("/")[-1].split("?")[0]

    listing = bank.get("/bank/demands").text
    assert number in listing and "哈尔滨市龙信机械制造有限公司" in listing and "80.00 万元" in listing and "未报价" in listing
    form = bank.get(f"/bank/demands/{number}").text
    assert "龙江信用快贷" in form
    quote = {"product": world.product, "amount": "80", "rate": "9.9", "term_months": "24",
             "valid_until": (clock.today() + timedelta(days=5)).isoformat(), "note": "三个工作日内放款",
             "request_id": _hidden(form, "request_id")}
    bad = _post(bank, f"/bank/demands/{number}/quote", quote)
    assert bad.status_code == 422 and _alert_of(bad.text) == "QUOTE_PRODUCT_MISMATCH 报价利率须在产品利率 3.45%–6.50% 内"
    assert _post(bank, f"/bank/demands/{number}/quote", {**quote, "rate": "4.5"}).status_code == 303
    assert "80.00 万元 · 4.50%" in bank.get("/bank/demands").text

    mine = ent.get(f"/my/financing/demands/{number}").text
    assert "龙江银行股份有限公司" in mine and "三个工作日内放款" in mine and "选定此报价" in mine
    q = _hidden(mine, "quote")
    preview = _post(ent, f"/my/financing/demands/{number}/pick/preview", {"quote": q})
    assert preview.status_code == 200 and "信用信息查询授权书" in preview.text and "确认授权并选定" in preview.text
    data = {"quote": q, "grant_digest": _hidden(preview.text, "grant_digest")}
    picked = _post(ent, f"/my/financing/demands/{number}/pick", data)
    assert picked.status_code == 303 and "done=picked" in picked.headers["location"]
    again = _post(ent, f"/my/financing/demands/{number}/pick", data)  # the confirmation clicked twice
    assert again.status_code == 303 and again.headers["location"] == picked.headers["location"].replace(
        "done=picked", "done=already")
    app_page = ent.get(picked.headers["location"]).text
    assert "已受理，审查中" in app_page and "选定报价" in app_page
    with world.db.session() as s:
        assert s.execute(select(Demand.state)).scalar_one() == flows.MATCHED


# ── staff: cases of the city office ─────────────────────────────────────────────────────────────────────

def _overdue_case(world, ent: TestClient, bank: TestClient, dpd: int) -> str:  # noqa: ANN001
    number, _ = _apply(ent, world.product)
    _bank_act(bank, number, "accept")
    _bank_act(bank, number, "offer", {"amount": "40", "rate": "4.2", "term_months": "12"})
    page = ent.get(f"/my/financing/applications/{number}").text
    _post(ent, f"/my/financing/applications/{number}/act",
          {"action": "accept_offer", "request_id": _hidden(page.split('id="offer"', 1)[1], "request_id")})
    _bank_act(bank, number, "grant", {"amount": "40", "guarantee_type": "信用", "loan_ref": f"HRB-{dpd}",
                                      "first_loan": "否"})
    _bank_act(bank, number, "disburse", {"amount": "40"})
    r = _post(bank, f"/bank/applications/{number}/status", {"as_of": clock.today().isoformat(), "outstanding": "40",
                                                            "dpd": str(dpd), "overdue_principal": "2"})
    assert r.status_code == 303, r.text
    with world.db.session() as s:
        return s.execute(select(DefaultCase.number)).scalar_one()


def test_the_city_office_works_its_cases(world, login) -> None:  # noqa: ANN001
    ent, bank, op, reg = login("enterprise"), login("bank"), login("operator"), login("regulator")
    number = _overdue_case(world, ent, bank, 12)
    listing = op.get("/market/staff/cases", params={"city": "230100", "open_only": "true"}).text
    assert number in listing and "哈尔滨市" in listing and "已催告" in listing
    assert number not in op.get("/market/staff/cases", params={"city": "230600"}).text
    page = op.get(f"/market/staff/cases/{number}").text
    assert "再次催告" in page and "须逾期满 30 天，当前 12 天" in page and "平台消息" in page
    early = _post(op, f"/market/staff/cases/{number}/act",
                  {"action": "escalate", "held_on": "2026-11-15T09:00", "attendees": "法定代表人", "agreed": "还款"})
    assert early.status_code == 409 and "THRESHOLD_NOT_REACHED" in _alert_of(early.text)
    assert 'value="法定代表人"' in early.text
    assert _post(op, f"/market/staff/cases/{number}/act", {"action": "remind", "note": "电话未接通"}).status_code == 303
    assert "电话未接通" in op.get(f"/market/staff/cases/{number}").text

    # The next report crosses 30 days: the system escalates; the office then records its 约谈.
    with world.db.session() as s:
        s.execute(update(Loan).values(last_report_on=clock.today() - timedelta(days=1)))
    assert _post(bank, f"/bank/applications/{_app_number(world)}/status",
                 {"as_of": clock.today().isoformat(), "outstanding": "40", "dpd": "31",
                  "overdue_principal": "2"}).status_code == 303
    page = op.get(f"/market/staff/cases/{number}").text
    assert "已升级督办" in page and "form-interview" in page
    missing = _post(op, f"/market/staff/cases/{number}/act", {"action": "interview", "held_on": "2026-11-15T14:00"})
    assert missing.status_code == 422 and "INTERVIEW_NOTE_REQUIRED" in _alert_of(missing.text)
    r = _post(op, f"/market/staff/cases/{number}/act",
              {"action": "interview", "held_on": "2026-11-15T14:00", "place": "哈尔滨市信用办 302 室",
               "attendees": "企业法定代表人、龙江银行客户经理", "agreed": "11 月 30 日前归还逾期本金"})
    assert r.status_code == 303
    page = op.get(f"/market/staff/cases/{number}").text
    assert "约谈：2026-11-15 14:00，地点 哈尔滨市信用办 302 室" in page and "11 月 30 日前归还逾期本金" in page
    assert "11 月 30 日前归还逾期本金" in ent.get(f"/my/financing/cases/{number}").text

    seen = reg.get(f"/market/staff/cases/{number}").text
    assert "监管人员可查看" in seen and "form-interview" not in seen
    assert _post(reg, f"/market/staff/cases/{number}/act", {"action": "remind"}).status_code == 403
    apps = reg.get("/market/staff/applications").text
    assert "哈尔滨市龙信机械制造有限公司" in apps and "龙江银行股份有限公司" in apps and "已放款" in apps


def _app_number(world) -> str:  # noqa: ANN001
    with world.db.session() as s:
        return s.execute(select(Application.number)).scalar_one()


def test_the_operator_cancels_an_application_with_a_reason(world, login) -> None:  # noqa: ANN001
    ent, op = login("enterprise"), login("operator")
    number, _ = _apply(ent, world.product)
    page = op.get(f"/market/staff/applications/{number}").text
    assert "平台撤销" in page and "C02 产品下架" in page
    rid = _hidden(page, "request_id", "form-cancel")
    none = _post(op, f"/market/staff/applications/{number}/act", {"action": "cancel", "request_id": rid})
    assert none.status_code == 422 and "REASON_REQUIRED" in _alert_of(none.text)
    r = _post(op, f"/market/staff/applications/{number}/act",
              {"action": "cancel", "reason_code": "C04", "request_id": rid})
    assert r.status_code == 303
    assert "平台已撤销" in ent.get(f"/my/financing/applications/{number}").text


# ── post-loan authorization and alerts ──────────────────────────────────────────────────────────────────

def test_the_post_loan_authorization_brings_alerts_the_bank_marks_read(world, login) -> None:  # noqa: ANN001
    ent, bank = login("enterprise"), login("bank")
    _overdue_case(world, ent, bank, 3)
    number = _app_number(world)
    with world.db.session() as s:
        alerts.scan(s)  # places the cursor: history is not alerted
    page = ent.get(f"/my/financing/applications/{number}").text
    assert "查看并确认贷后管理授权" in page
    preview = ent.get(f"/my/financing/applications/{number}/post-loan").text
    assert "授权用途：贷后管理" in preview and "行政处罚" in preview
    r = _post(ent, f"/my/financing/applications/{number}/post-loan", {"grant_digest": _hidden(preview, "grant_digest")})
    assert r.status_code == 303 and "done=post_loan" in r.headers["location"]
    again = _post(ent, f"/my/financing/applications/{number}/post-loan",
                  {"grant_digest": _hidden(preview, "grant_digest")})
    assert again.headers["location"].endswith("done=already")
    assert "已授予贷后管理授权" in ent.get(r.headers["location"]).text

    with world.db.session() as s:
        content = {"decision_no": "哈市监罚〔2026〕9号", "penalty_type": "罚款", "reason": "虚假宣传",
                   "decided_on": "2026-11-14"}
        body = canonical_json(content)
        s.add(CreditRecord(entity_code=ENTITY, category="penalty", record_key=record_key(("decision_no",), content),
                           version=1, status="current", content=body, fingerprint=fingerprint(body),
                           period_start=clock.today(), period_end=clock.today(), provider="测试",
                           received_at=clock.now()))
        s.flush()
        assert alerts.scan(s) == 1
    feed = bank.get("/bank/alerts").text
    assert "行政处罚" in feed and "虚假宣传" in feed and "未读" in feed
    alert_id = re.search(r'/bank/alerts/(\d+)/read', feed).group(1)  # type: ignore[union-attr]
    r = _post(bank, f"/bank/alerts/{alert_id}/read", {"unread": "true"})
    assert r.status_code == 303 and r.headers["location"] == "/bank/alerts?unread=true&done=read"
    assert "没有未读的预警" in bank.get(r.headers["location"]).text
    with world.db.session() as s:
        assert s.execute(select(Alert.read_by)).scalar_one() == "bank"


def test_paging_and_sorting_of_the_queue(world, login) -> None:  # noqa: ANN001
    bank = login("bank")
    r = bank.get("/bank/applications", params={"sort": "amount", "desc": "false", "size": 5, "breached": "true"})
    assert r.status_code == 200 and "共 0 条" in r.text and "没有符合条件的申请" in r.text
    assert 'href="?breached=true&sort=amount&desc=true"' in r.text  # the header flips the order


def test_the_first_loan_declaration_the_platform_contradicts_is_shown_without_naming_the_other_bank(
        world, login) -> None:  # noqa: ANN001
    from tests.market.conftest import ENTERPRISE, NODE, OTHER_BANK, publish, terms
    from xinyidai.market import applications
    from xinyidai.market.applications import Actor

    with world.db.session() as s:  # an earlier loan of the same enterprise, at another bank
        number = publish(s, world.catalog, terms(name="哈行快贷"), bank=OTHER_BANK)
        pv = applications.preview(s, world.catalog, ENTERPRISE, number, "200000", 12, "周转")
        app = applications.submit(s, world.catalog, ENTERPRISE, product_number=number, amount="200000",
                                  term_months=12, purpose="周转", grant_digest=pv["grant_digest"], node_code=NODE)
        other = Actor.of(OTHER_BANK, "api")
        applications.decide(s, world.catalog, other, app.number, "accept")
        applications.decide(s, world.catalog, other, app.number, "offer", {"amount": "200000", "rate": "5"})
        applications.decide(s, world.catalog, Actor.of(ENTERPRISE, "api"), app.number, "accept_offer")
        applications.decide(s, world.catalog, other, app.number, "grant", {"amount": "200000", "guarantee_type": "保证",
                                                                           "loan_ref": "HEB-1", "first_loan": True},
                            node_code=NODE)
    ent, bank, op = login("enterprise"), login("bank"), login("operator")
    mine, _ = _apply(ent, world.product)
    _bank_act(bank, mine, "accept")
    _bank_act(bank, mine, "offer", {"amount": "40", "rate": "4.2", "term_months": "12"})
    page = ent.get(f"/my/financing/applications/{mine}").text
    _post(ent, f"/my/financing/applications/{mine}/act",
          {"action": "accept_offer", "request_id": _hidden(page.split('id="offer"', 1)[1], "request_id")})
    assert _bank_act(bank, mine, "grant", {"amount": "40", "guarantee_type": "信用", "loan_ref": "HRB-9",
                                           "first_loan": "是"}).status_code == 303
    seen = bank.get(f"/bank/applications/{mine}").text
    check = seen.split('id="first-loan-check"', 1)[1].split("</div>", 1)[0]
    assert "此前已有 1 笔贷款" in check and "其他机构一笔（2026-11-15 授信）" in check
    assert "哈尔滨银行" not in check and "20.00 万元" not in check  # another bank's loan: that it exists, not whose
    staff = op.get(f"/market/staff/applications/{mine}").text.split('id="first-loan-check"', 1)[1].split("</div>", 1)[0]
    assert "哈尔滨银行股份有限公司道里支行 20.00 万元" in staff  # the platform's staff see it whole
