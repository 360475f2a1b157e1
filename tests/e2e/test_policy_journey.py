"""Policy money in a real browser, on the demo province: Harbin's finance office (`policy`) creates a 贴息
programme through its form and starts it; the demo bank enrols the enterprise account's loan DEMO-POLICY-0001
and claims a past period's 贴息 with a PDF as evidence; one officer reviews, the second (`policy2`) approves,
the first pays; the programme's figures count it; the enterprise sees the money on /my/policies. Screenshots at 1440 px go to the test's tmp
dir (their paths are printed)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

from helpers import desktop_page, login, shooter
from playwright.sync_api import expect

from xinyidai.demo.policy import LOAN_AMOUNT_YUAN, LOAN_REF, loan_dates
from xinyidai.kit import clock

DEMO_PASSWORD = "xinyidai-demo"
NAME = "哈尔滨市首贷贴息（浏览器测试）"
DAYS = 90
# A one-page PDF, as the bank's statement of the interest paid would be.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")



def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f}"


def test_an_interest_subsidy_from_programme_to_payment(live_server, browser, tmp_path) -> None:  # noqa: ANN001
    base = live_server.url
    shot = shooter(tmp_path)
    # The demo was built today (its as_of): the loan was granted and drawn 120 days ago. Today is the real
    # Beijing date the server lives in, not the tests' fixed clock.
    granted, _ = loan_dates(datetime.now(clock.CHINA_TZ).date())
    start, end = granted, granted + timedelta(days=DAYS - 1)  # 90 days, all in the past
    paid_interest = LOAN_AMOUNT_YUAN * 100 * 435 * DAYS // (10_000 * 360)  # at the loan's 4.35%, in 分
    subsidy = LOAN_AMOUNT_YUAN * 100 * 100 * DAYS // (10_000 * 360)  # at 1 个百分点: 2,500.00 元
    evidence = tmp_path / "付息凭证.pdf"
    evidence.write_bytes(PDF)
    officer, reviewer, bank, ent = desktop_page(browser), desktop_page(browser), desktop_page(browser), desktop_page(browser)
    try:
        # The finance office creates the programme through its form and starts it.
        login(officer, base, "policy", DEMO_PASSWORD)
        officer.get_by_role("link", name="政策项目").first.click()
        officer.get_by_role("link", name="新建政策项目").click()
        form = officer.locator("#programme-form")
        form.locator("input[name=kind][value=interest]").check()
        expect(form.locator("#rules-interest")).to_contain_text("财金〔2025〕81号")
        expect(form.locator("#rules-pool")).to_be_hidden()
        form.locator("input[name=name]").fill(NAME)
        form.locator("select[name=region_code]").select_option("230100")
        form.locator("input[name=starts_on]").fill(granted.replace(month=1, day=1).isoformat())
        form.locator("input[name=ends_on]").fill(granted.replace(month=12, day=31).isoformat())
        form.locator("input[name=budget]").fill("200")
        expect(form.locator("input[name='interest.rate_bp']")).to_have_value("1")
        shot(officer, "policy-01-officer-new-programme")
        form.get_by_role("button", name="保存草稿").click()
        expect(officer.get_by_role("status")).to_contain_text("政策项目草稿已保存")
        number = re.search(r"/policy/(ZC-[\w-]+)", officer.url).group(1)  # type: ignore[union-attr]
        officer.locator("#form-start").get_by_role("button", name="启动实施").click()
        expect(officer.get_by_role("status")).to_contain_text("政策已启动实施")
        expect(officer.locator("#money")).to_contain_text("200.00 万元")
        shot(officer, "policy-02-officer-programme-started")

        # The bank enrols the enterprise's loan and claims a past period's 贴息 with its evidence.
        login(bank, base, "bank", DEMO_PASSWORD)
        bank.goto(f"{base}/bank/policy/{number}")
        enrol = bank.locator("#form-enrol")
        enrol.locator("input[name=loan_no]").fill(LOAN_REF)
        enrol.get_by_role("button", name="备案").click()
        expect(bank.get_by_role("status")).to_contain_text("已备案")
        claim_form = bank.locator("#claim-interest")
        claim_form.locator("input[name=loan_no]").fill(LOAN_REF)
        claim_form.locator("input[name=start]").fill(start.isoformat())
        claim_form.locator("input[name=end]").fill(end.isoformat())
        claim_form.locator("input[name=paid_interest]").fill(_yuan(paid_interest).replace(",", ""))
        claim_form.locator("input[name=evidence]").set_input_files(str(evidence))
        shot(bank, "policy-03-bank-programme")
        claim_form.get_by_role("button", name="生成申领").click()
        expect(bank.get_by_role("status")).to_contain_text("申领草稿已生成")
        expect(bank.locator("main")).to_contain_text(f"{_yuan(subsidy)} 元")
        claim = re.search(r"/bank/policy/claims/(SL-[\w-]+)", bank.url).group(1)  # type: ignore[union-attr]
        bank.locator("#form-submit").get_by_role("button", name="提交申领").click()
        expect(bank.get_by_role("status")).to_contain_text("申领已提交")
        shot(bank, "policy-04-bank-claim-submitted")

        # One officer reviews; the two-officer rule keeps him from approving his own review.
        officer.get_by_role("link", name="申领审核").first.click()
        queue = officer.locator("#claim-queue")
        expect(queue).to_contain_text(claim)
        shot(officer, "policy-05-officer-queue")
        queue.get_by_role("link", name=claim).click()
        expect(officer.locator("#formula")).to_contain_text(f"× {DAYS} 天 ÷ 360 = {_yuan(subsidy)} 元")
        pdf = officer.context.request.get(f"{base}/policy/claims/{claim}/evidence")
        assert pdf.ok and pdf.body() == PDF
        officer.locator("#form-review").get_by_role("button", name="初审通过").click()
        expect(officer.get_by_role("status")).to_contain_text("已初审通过")
        expect(officer.locator("#two-officer")).to_contain_text("须由另一名工作人员复核")
        expect(officer.locator("#form-approve")).to_have_count(0)
        shot(officer, "policy-06-officer-reviewed")

        # The second officer approves.
        login(reviewer, base, "policy2", DEMO_PASSWORD)
        reviewer.goto(f"{base}/policy/claims/{claim}")
        reviewer.locator("#form-approve").get_by_role("button", name="复核通过").click()
        expect(reviewer.get_by_role("status")).to_contain_text("已复核通过")

        # The first records the payment.
        officer.goto(f"{base}/policy/claims/{claim}")
        pay = officer.locator("#form-pay")
        pay.locator("input[name=payment_ref]").fill("GK-HRB-E2E-0001")
        pay.get_by_role("button", name="登记拨付").click()
        expect(officer.get_by_role("status")).to_contain_text("拨付已登记")
        expect(officer.locator("#actions")).to_contain_text("GK-HRB-E2E-0001")
        expect(officer.locator("#timeline")).to_contain_text("登记拨付")
        shot(officer, "policy-07-officer-paid")
        officer.goto(f"{base}/policy/{number}?tab=ledger")
        expect(officer.locator("#ledger")).to_contain_text(f"拨付申领 {claim}")
        expect(officer.locator("#balance-check")).to_contain_text("借贷平衡")
        shot(officer, "policy-08-officer-ledger")

        # The programme's figures count the payment, drawn as a chart; the number opens the claim it counts.
        officer.goto(f"{base}/policy/figures/{number}")
        expect(officer.locator("#chart-money svg").first).to_be_visible()
        paid = officer.locator("#cards .stat.good").first
        expect(paid).to_contain_text(f"{Decimal(subsidy) / 1_000_000:,.2f}")
        shot(officer, "policy-09-officer-figures")
        paid.get_by_role("link").click()
        expect(officer.locator("#rows")).to_contain_text(claim)
        expect(officer.locator("#rows-total")).to_contain_text(f"{Decimal(subsidy) / 1_000_000:,.2f}")

        # The enterprise sees what it received.
        login(ent, base, "enterprise", DEMO_PASSWORD)
        ent.goto(f"{base}/my/policies")
        received = ent.locator("#received")
        expect(received).to_contain_text(NAME)
        expect(received).to_contain_text(f"{Decimal(subsidy) / 1_000_000:,.2f} 万元")
        shot(ent, "policy-10-enterprise-received")
    finally:
        for pg in (officer, reviewer, bank, ent):
            pg.context.close()
