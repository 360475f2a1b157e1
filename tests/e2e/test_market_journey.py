"""Financing in a real browser, on the demo province: the bank drafts and submits a product, the operator
publishes it, the enterprise applies and confirms the authorization, the bank accepts and offers, the
enterprise accepts the offer, the bank grants and disburses, then reports the loan 35 days overdue, and the
enterprise sees the 逾期催告 case. Screenshots at 1440 px go to the test's tmp dir (their paths are printed)."""

from __future__ import annotations

import re
from collections.abc import Callable

from helpers import desktop_page, login, shooter
from playwright.sync_api import Page, expect

DEMO_PASSWORD = "xinyidai-demo"
PRODUCT = "龙江e信贷（浏览器测试）"



def _draft_and_submit(bank: Page, base: str, shot: Callable[[Page, str], None]) -> str:
    bank.goto(base + "/bank/products")
    bank.get_by_role("link", name="新建产品").first.click()
    form = bank.locator("#product-form")
    form.locator("input[name=name]").fill(PRODUCT)
    form.locator("textarea[name=summary]").fill("面向全省小微企业的纯信用贷款，凭纳税和社保记录审批，最快三个工作日放款。")
    form.locator("select[name=kind]").select_option("纯信用")
    for sector in ("制造业", "科技"):
        form.locator(f"input[name=sectors][value={sector}]").check()
    for name, value in (("amount_min", "10"), ("amount_max", "300"), ("term_min_months", "6"),
                        ("term_max_months", "36"), ("rate_min", "3.45"), ("rate_max", "6.5")):
        form.locator(f"input[name={name}]").fill(value)
    form.locator("input[name=regions][value='230000']").check()
    shot(bank, "market-01-bank-product-form")
    form.get_by_role("button", name="保存草稿").click()
    expect(bank.get_by_role("status")).to_contain_text("产品草稿已保存")
    number = re.search(r"/bank/products/([\w-]+)", bank.url).group(1)  # type: ignore[union-attr]
    bank.get_by_role("button", name="提交审核").click()
    expect(bank.get_by_role("status")).to_contain_text("已提交平台审核")
    expect(bank.locator("h2 .badge")).to_have_text("待审核")
    shot(bank, "market-02-bank-product-submitted")
    return number


def test_from_a_product_to_an_overdue_loan(live_server, browser, tmp_path) -> None:  # noqa: ANN001
    base = live_server.url
    shot = shooter(tmp_path)
    bank, operator, ent = desktop_page(browser), desktop_page(browser), desktop_page(browser)
    try:
        login(bank, base, "bank", DEMO_PASSWORD)
        number = _draft_and_submit(bank, base, shot)

        # The operator finds it waiting for review and publishes it.
        login(operator, base, "operator", DEMO_PASSWORD)
        operator.get_by_role("link", name="融资服务").click()
        expect(operator.locator("#review-queue")).to_contain_text(PRODUCT)
        shot(operator, "market-03-operator-review-queue")
        operator.get_by_role("link", name=number).click()
        operator.get_by_role("button", name="审核发布").click()
        expect(operator.get_by_role("status")).to_contain_text("已审核发布")
        shot(operator, "market-04-operator-published")

        # The enterprise finds it, sees why it fits, applies and confirms the authorization.
        login(ent, base, "enterprise", DEMO_PASSWORD)
        ent.get_by_role("link", name="融资产品").click()
        ent.fill("input[name=amount]", "50")
        ent.get_by_role("button", name="筛选").click()
        card = ent.locator(f"article[data-product='{number}']")
        expect(card).to_contain_text("符合申请条件")
        expect(card).to_contain_text("申请金额 50.00 万元在额度")
        shot(ent, "market-05-enterprise-browse")
        card.get_by_role("link", name="查看并申请").click()
        apply_form = ent.locator("#apply-form")
        expect(apply_form.locator("input[name=amount]")).to_have_value("50")
        apply_form.locator("input[name=term_months]").fill("12")
        apply_form.locator("textarea[name=purpose]").fill("采购原材料，备战冬季订单")
        apply_form.get_by_role("button", name=re.compile("预览授权书")).click()
        expect(ent.locator("#authorization-text")).to_contain_text("授权用途：贷前审查")
        shot(ent, "market-06-enterprise-preview")
        ent.get_by_role("button", name="确认授权并提交申请").click()
        expect(ent.get_by_role("status")).to_contain_text("申请已提交")
        application = re.search(r"/my/financing/applications/([\w-]+)", ent.url).group(1)  # type: ignore[union-attr]

        # The bank accepts and makes an offer.
        bank.get_by_role("link", name="申请队列").click()
        expect(bank.locator("#queue")).to_contain_text(application)
        shot(bank, "market-07-bank-queue")
        bank.get_by_role("link", name=application).click()
        bank.locator("#form-accept").get_by_role("button", name="受理").click()
        expect(bank.get_by_role("status")).to_contain_text("已受理")
        offer = bank.locator("#form-offer")
        offer.locator("input[name=amount]").fill("40")
        offer.locator("input[name=rate]").fill("4.2")
        offer.get_by_role("button", name="发出预授信").click()
        expect(bank.get_by_role("status")).to_contain_text("预授信已发出")

        # The enterprise accepts the offer.
        ent.goto(f"{base}/my/financing/applications/{application}")
        expect(ent.locator("#offer")).to_contain_text("40.00 万元")
        shot(ent, "market-08-enterprise-offer")
        ent.get_by_role("button", name="接受预授信").click()
        expect(ent.get_by_role("status")).to_contain_text("已接受预授信")

        # The bank grants, disburses, and reports the loan 35 days overdue.
        bank.goto(f"{base}/bank/applications/{application}")
        grant = bank.locator("#form-grant")
        expect(grant.locator("input[name=amount]")).to_have_value("40")
        grant.locator("input[name=loan_ref]").fill("ICBC-HLJ-2026-000123")
        grant.locator("input[name=first_loan][value='是']").check()
        shot(bank, "market-09-bank-grant-form")
        grant.get_by_role("button", name="授信").click()
        expect(bank.get_by_role("status")).to_contain_text("已授信")
        bank.locator("#form-disburse").get_by_role("button", name="登记放款").click()
        expect(bank.get_by_role("status")).to_contain_text("放款已登记")
        status = bank.locator("#form-status")
        status.locator("input[name=dpd]").fill("35")
        status.locator("input[name=overdue_principal]").fill("3.5")
        status.locator("input[name=overdue_interest]").fill("0.12")
        status.get_by_role("button", name="报送").click()
        expect(bank.get_by_role("status")).to_contain_text("还款状态已报送")
        expect(bank.locator("#status-reports")).to_contain_text("35")
        expect(bank.locator("#loan")).to_contain_text("已升级督办")
        shot(bank, "market-10-bank-loan-overdue")

        # The enterprise sees the 逾期催告 and its case.
        ent.goto(f"{base}/my/financing/applications/{application}")
        expect(ent.get_by_role("alert")).to_contain_text("本笔贷款已逾期 35 天")
        expect(ent.locator(".offer-box")).to_have_count(0)
        shot(ent, "market-11-enterprise-application-overdue")
        ent.get_by_role("link", name="我的融资").first.click()
        ent.locator("nav.tabs").get_by_role("link", name="逾期催告").click()
        expect(ent.locator("#cases")).to_contain_text("已升级督办")
        ent.locator("#cases").get_by_role("link", name="说明情况").click()
        expect(ent.get_by_role("alert")).to_contain_text("已逾期 35 天")
        expect(ent.locator("#reminders")).to_contain_text("逾期第 1 天")
        shot(ent, "market-12-enterprise-case")

        # The city office sees the case the system escalated, ready for its 约谈 record.
        operator.goto(base + "/market/staff/cases")
        expect(operator.locator("#cases")).to_contain_text("已升级督办")
        operator.locator("#cases tbody a").first.click()
        expect(operator.locator("#form-interview")).to_be_visible()
        shot(operator, "market-13-operator-case")
    finally:
        for pg in (bank, operator, ent):
            pg.context.close()
