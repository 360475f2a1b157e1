"""Authorized sharing in a real browser: the enterprise grants the demo bank a summary authorization (纳税,
社会保险) and a verification one; the bank opens the enterprise, sees the summary and verifies a claim; the
enterprise sees both accesses in 谁查看了我的数据 and revokes; the bank is then refused with the code shown."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from helpers import login
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, text

DEMO_PASSWORD = "xinyidai-demo"


def _db_url(live_server) -> str:  # noqa: ANN001
    return f"sqlite:///{live_server.var_dir}/e2e.db"


def _bank_institution(live_server) -> tuple[str, str]:  # noqa: ANN001
    """The demo bank user's institution (code, name): the demo must have onboarded it and attached the user."""
    engine = create_engine(_db_url(live_server))
    with engine.connect() as conn:
        row = conn.execute(text("SELECT i.code, i.name FROM users u JOIN institutions i ON i.code = u.org_code "
                                "WHERE u.username = 'bank' AND i.status = 'active'")).first()
    engine.dispose()
    if row is None:
        pytest.fail("演示数据中 bank 账户没有关联已接入的金融机构（xinyidai demo 应当建立）", pytrace=False)
    return row[0], row[1]


def _tax_paid_total(live_server, code: str) -> Decimal:  # noqa: ANN001
    """What the platform holds of the enterprise's tax paid, all periods: the answer a claim is checked against."""
    engine = create_engine(_db_url(live_server))
    with engine.connect() as conn:
        contents = conn.execute(text("SELECT content FROM credit_records WHERE entity_code = :c AND category = 'tax' "
                                     "AND status = 'current'"), {"c": code}).scalars().all()
        insured = conn.execute(text("SELECT count(*) FROM credit_records WHERE entity_code = :c "
                                    "AND category = 'social_insurance' AND status = 'current'"), {"c": code}).scalar()
    engine.dispose()
    assert insured, "the demo enterprise should have social insurance records"
    return sum((Decimal(str(json.loads(c)["tax_paid"])) for c in contents if json.loads(c).get("tax_paid")),
               Decimal(0))


def _enterprise(live_server) -> tuple[str, str]:  # noqa: ANN001
    engine = create_engine(_db_url(live_server))
    with engine.connect() as conn:
        row = conn.execute(text("SELECT e.code, e.name FROM users u JOIN entities e ON e.code = u.org_code "
                                "WHERE u.username = 'enterprise'")).one()
    engine.dispose()
    return row[0], row[1]


def _new_page(browser: Browser) -> Page:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    ctx.set_default_timeout(30_000)
    return ctx.new_page()


def _grant(page: Page, base: str, institution: str, purpose: str, mode: str, categories: list[str],
           shot=None) -> str:  # noqa: ANN001
    page.goto(base + "/my/authorizations")
    page.get_by_role("link", name="新建授权").first.click()
    expect(page.get_by_role("heading", name="新建授权")).to_be_visible()
    page.select_option("select[name=institution_code]", institution)
    page.select_option("select[name=purpose]", purpose)
    page.select_option("select[name=mode]", mode)
    for c in categories:
        page.check(f"input[name=categories][value={c}]")
    page.fill("input[name=max_uses]", "50")
    if shot:
        shot(page, "sharing-01-grant-form")
    page.get_by_role("button", name="预览授权书").click()
    expect(page.get_by_role("heading", name="确认授权书")).to_be_visible()
    text_box = page.locator("#authorization-text")
    expect(text_box).to_contain_text("信用信息查询授权书")
    expect(text_box).to_contain_text(f"授权方式：{mode}")
    if shot:
        shot(page, "sharing-02-preview")
    page.get_by_role("button", name="确认授权").click()
    page.wait_for_url(re.compile(r"/my/authorizations/SQ\w+"))
    expect(page.get_by_role("status")).to_contain_text("授权已生效")
    return page.url.rsplit("/", 1)[-1].split("?")[0]


def test_grant_query_verify_revoke_refuse(live_server, page, browser, screenshot) -> None:  # noqa: ANN001
    base = live_server.url
    inst_code, inst_name = _bank_institution(live_server)
    ent_code, ent_name = _enterprise(live_server)

    # The enterprise grants a summary authorization and a verification one.
    login(page, base, "enterprise", DEMO_PASSWORD)
    summary_no = _grant(page, base, inst_code, "贷前审查", "汇总查询", ["tax", "social_insurance"], screenshot)
    screenshot(page, "sharing-03-granted")
    verify_no = _grant(page, base, inst_code, "核验", "核验比对", ["tax", "social_insurance"])
    page.goto(base + "/my/authorizations")
    expect(page.locator("table.data tbody")).to_contain_text(summary_no)
    expect(page.locator("table.data tbody")).to_contain_text(verify_no)
    screenshot(page, "sharing-04-my-authorizations")

    # The bank sees the enterprise, opens its profile and the summary.
    bank = _new_page(browser)
    try:
        login(bank, base, "bank", DEMO_PASSWORD)
        bank.goto(base + "/bank")
        expect(bank.locator("table.data tbody")).to_contain_text(ent_name)
        screenshot(bank, "sharing-05-bank-home")
        bank.get_by_role("link", name=ent_name).click()  # the demo's other enterprises are listed too
        expect(bank.get_by_role("heading", level=1)).to_contain_text(ent_name)
        tax = bank.locator("#cat-tax")
        expect(tax).to_contain_text("汇总查询")
        expect(tax).to_contain_text(summary_no)
        expect(bank.locator("#cat-social_insurance")).to_contain_text("汇总查询")
        screenshot(bank, "sharing-06-bank-profile")

        # Claims whose answers are known from the records: true, false, and "has records" left on the
        # form's default comparison (which must then ask whether records exist, not compare a value).
        total = _tax_paid_total(live_server, ent_code)
        assert total > 1
        bank.get_by_role("link", name="核验比对").first.click()
        for i, value in enumerate(("1", str(total + 1))):
            bank.select_option(f"select[name=target_{i}]", "tax:tax_paid")
            bank.select_option(f"select[name=aggregate_{i}]", "sum")
            bank.select_option(f"select[name=op_{i}]", "ge")
            bank.fill(f"input[name=value_{i}]", value)
            bank.fill(f"input[name=from_{i}]", "2000-01")
            bank.fill(f"input[name=to_{i}]", "2100-12")
        bank.select_option("select[name=target_2]", "social_insurance")
        bank.get_by_role("button", name="提交核验").click()
        result = bank.locator(".verify-result")
        expect(result).to_contain_text("核验结果")
        expect(result.locator("tbody .badge")).to_have_text(["相符", "不符", "相符"])
        expect(result).to_contain_text(verify_no)
        expect(result).to_contain_text("签名密钥")
        screenshot(bank, "sharing-07-bank-verify")

        # The enterprise sees who looked, then revokes both authorizations.
        page.goto(base + "/my/accesses")
        rows = page.locator("table.data tbody")
        expect(rows).to_contain_text(inst_name)
        expect(rows).to_contain_text("查询信用概况")
        expect(rows).to_contain_text("核验比对")
        page.wait_for_function("document.querySelectorAll('[data-access-chart] canvas').length >= 1")
        screenshot(page, "sharing-08-who-looked")
        for number in (summary_no, verify_no):
            page.goto(f"{base}/my/authorizations/{number}")
            page.fill("input[name=reason]", "贷款申请已撤回")
            page.check("input[name=confirm]")  # revoking asks the enterprise to confirm first
            page.get_by_role("button", name="撤销授权").click()
            expect(page.get_by_role("status")).to_contain_text("授权已撤销")
            expect(page.get_by_role("heading", level=1)).to_contain_text("已撤销")
        screenshot(page, "sharing-09-revoked")

        # The bank is refused: under the revoked authorization, and for verification. Opened from the address
        # bar (not from a page of the platform), a read that would spend a use asks to be confirmed first.
        bank.goto(f"{base}/bank/entities/{ent_code}?authorization={summary_no}")
        expect(bank.get_by_role("heading", level=1)).to_have_text("确认查询")
        expect(bank.locator("#confirm-read")).to_be_visible()
        screenshot(bank, "sharing-10-bank-confirm")
        bank.get_by_role("button", name="确认查询").click()
        refusal = bank.locator(".refusal")
        expect(refusal).to_contain_text("企业已撤销该授权")
        expect(refusal).to_contain_text("AUTHORIZATION_REVOKED")
        expect(bank.locator("table.compact")).to_contain_text("已撤销")
        screenshot(bank, "sharing-10-bank-refused")
        bank.goto(f"{base}/bank/entities/{ent_code}/verify")
        bank.select_option("select[name=target_0]", "tax")
        bank.select_option("select[name=op_0]", "exists")
        bank.get_by_role("button", name="提交核验").click()
        expect(bank.locator(".refusal")).to_contain_text("AUTHORIZATION_REVOKED")
        screenshot(bank, "sharing-11-verify-refused")

        page.goto(base + "/my/accesses")
        expect(page.locator("table.data tbody")).to_contain_text("已拒绝 授权已撤销")  # a reason, not a code
    finally:
        bank.context.close()


def test_staff_search_the_access_log_and_run_the_rules(live_server, page, screenshot) -> None:  # noqa: ANN001
    ent_code, _ = _enterprise(live_server)
    login(page, live_server.url, "security", DEMO_PASSWORD)
    page.get_by_role("link", name="访问日志").click()
    page.fill("input[name=entity]", ent_code)
    page.get_by_role("button", name="检索").click()
    # The demo's other bank has looked at the enterprise (see xinyidai.demo.applications): its row is there.
    rows = page.locator("table.data tbody tr", has_text="哈尔滨银行股份有限公司")
    expect(rows.first).to_contain_text("查询信用概况")
    expect(rows.first).to_contain_text(ent_code)
    screenshot(page, "sharing-12-staff-audit")
    page.get_by_role("link", name="异常告警").click()
    page.get_by_role("button", name="立即检测").click()
    expect(page.get_by_role("status")).to_contain_text("检测完成")
    # The demo's third bank asked too widely and was refused too often: both rules have flagged it.
    alerts = page.locator("table.data tbody")
    expect(alerts.locator("tr", has_text="频繁被拒")).to_contain_text("龙江银行股份有限公司")
    expect(alerts.locator("tr", has_text="批量遍历主体")).to_contain_text("龙江银行股份有限公司")
    screenshot(page, "sharing-13-staff-alerts")
