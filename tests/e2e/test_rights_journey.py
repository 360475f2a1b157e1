"""The enterprise's rights in a real browser (issue 19), on the demo province.

An objection: the `enterprise` account objects to one of its 进出口 records with a PDF as evidence; the record
shows 异议处理中 on its page and on the operator's; the operator accepts it and routes it to 哈尔滨海关 (the
`department` account), which corrects the value; the enterprise sees the case concluded and the record
corrected, the mark gone.

A credit repair: the demo planted a penalty past its three-month minimum; the enterprise applies with a PDF and
the repair commitment, the operator approves, and the penalty leaves the public tier: the enterprise's page says
已信用修复 and a bank's profile no longer lists it. Screenshots at 1440 px go to the test's tmp dir."""

from __future__ import annotations

import sqlite3

from helpers import desktop_page, login, shooter
from playwright.sync_api import Page, expect

DEMO_PASSWORD = "xinyidai-demo"
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _db(live_server) -> sqlite3.Connection:  # noqa: ANN001
    return sqlite3.connect(live_server.var_dir / "e2e.db")


def _enterprise_code(live_server) -> str:  # noqa: ANN001
    with _db(live_server) as conn:
        return conn.execute("SELECT org_code FROM users WHERE username = 'enterprise'").fetchone()[0]


def _attach(page: Page, name: str) -> None:
    page.locator("input[name='files']").set_input_files(
        files=[{"name": name, "mimeType": "application/pdf", "buffer": PDF}])


def test_an_objection_goes_to_the_department_and_the_record_is_corrected(live_server, browser,  # noqa: ANN001
                                                                         tmp_path) -> None:
    base = live_server.url
    shot = shooter(tmp_path)
    code = _enterprise_code(live_server)
    with _db(live_server) as conn:
        rec_id, key = conn.execute(
            "SELECT id, record_key FROM credit_records WHERE entity_code = ? AND category = 'import_export' "
            "AND status = 'current' AND provider = '哈尔滨海关' ORDER BY period_start DESC LIMIT 1", (code,)).fetchone()
    ent, op, dept = desktop_page(browser), desktop_page(browser), desktop_page(browser)
    try:
        # The enterprise finds the record on its own page and objects, with a PDF.
        login(ent, base, "enterprise", DEMO_PASSWORD)
        ent.goto(f"{base}/entities/{code}?category=import_export")
        link = ent.locator(f"a[href='/my/objections/new?record={rec_id}']")
        expect(link).to_have_count(1)
        link.click()
        ent.locator("textarea[name='complaint']").fill("本月出口额应为 1,234.56 万元，海关报送有误，附报关单汇总。")
        ent.locator("textarea[name='wanted']").fill("出口额 1234.56")
        _attach(ent, "报关单汇总.pdf")
        shot(ent, "rights-01-objection-form")
        ent.locator("#submit-objection").click()
        expect(ent.locator("body")).to_contain_text("待受理")
        number = ent.evaluate("() => location.pathname.split('/').pop()")
        assert number.startswith("YY"), number
        ent.goto(f"{base}/entities/{code}?category=import_export")
        expect(ent.locator("body")).to_contain_text("异议处理中")
        shot(ent, "rights-02-record-marked")

        # The operator sees the case, and the mark on the entity's page; accepts and routes it to customs.
        login(op, base, "operator", DEMO_PASSWORD)
        op.goto(f"{base}/rights/objections")
        expect(op.locator("body")).to_contain_text(number)
        shot(op, "rights-03-operator-queue")
        op.goto(f"{base}/rights/objections/{number}")
        expect(op.locator("#department")).to_contain_text("哈尔滨海关")
        op.locator("#accept-button").click()
        expect(op.locator("body")).to_contain_text("核查中")

        # 哈尔滨海关 corrects the export figure.
        login(dept, base, "department", DEMO_PASSWORD)
        dept.goto(f"{base}/department/objections")
        expect(dept.locator("body")).to_contain_text(number)
        dept.goto(f"{base}/department/objections/{number}")
        dept.locator("#outcome").select_option("corrected")
        dept.locator("#item_export_amount").fill("1234.56")
        dept.locator("textarea[name='statement']").fill("经核对报关单，出口额录入有误，已更正。")
        shot(dept, "rights-04-department-answer")
        dept.locator("#answer-button").click()
        expect(dept.locator("body")).to_contain_text("已更正")

        # The enterprise sees the outcome; the record is corrected and no longer marked.
        ent.goto(f"{base}/my/objections/{number}")
        expect(ent.locator("body")).to_contain_text("已办结")
        expect(ent.locator("body")).to_contain_text("经核对报关单")
        shot(ent, "rights-05-concluded")
        with _db(live_server) as conn:
            current = conn.execute(
                "SELECT content FROM credit_records WHERE entity_code = ? AND category = 'import_export' "
                "AND record_key = ? AND status = 'current'", (code, key)).fetchone()[0]
            live = conn.execute("SELECT count(*) FROM record_marks WHERE ref = ? AND lifted_at IS NULL",
                                (number,)).fetchone()[0]
        assert "1234.56" in current and live == 0
    finally:
        for p in (ent, op, dept):
            p.context.close()


def test_a_penalty_past_its_minimum_is_repaired_and_leaves_the_public_tier(live_server, browser,  # noqa: ANN001
                                                                           tmp_path) -> None:
    base = live_server.url
    shot = shooter(tmp_path)
    code = _enterprise_code(live_server)
    ent, op, bank = desktop_page(browser), desktop_page(browser), desktop_page(browser)
    try:
        # Before: a bank reading the enterprise's public penalties sees it.
        login(bank, base, "bank", DEMO_PASSWORD)
        bank.goto(f"{base}/bank/entities/{code}/records/penalty")
        bank.get_by_role("button", name="确认查询").click()
        expect(bank.locator("table.records")).to_contain_text("哈南应急罚")

        login(ent, base, "enterprise", DEMO_PASSWORD)
        ent.goto(f"{base}/my/repairs")
        row = ent.locator("tr", has_text="哈南应急罚")
        expect(row).to_contain_text("申请信用修复")
        shot(ent, "rights-11-my-repairs")
        row.get_by_role("link", name="申请信用修复").click()
        ent.locator("textarea[name='grounds']").fill("罚款 2 万元已于上月缴清，已按要求整改并规范明码标价。")
        _attach(ent, "缴款凭证.pdf")
        ent.locator("#confirm-commitment").check()
        shot(ent, "rights-12-repair-form")
        ent.locator("#submit-repair").click()
        expect(ent.locator("body")).to_contain_text("待审核")
        number = ent.evaluate("() => location.pathname.split('/').pop()")
        assert number.startswith("XF"), number

        login(op, base, "operator", DEMO_PASSWORD)
        op.goto(f"{base}/rights/repairs")
        expect(op.locator("body")).to_contain_text(number)
        op.goto(f"{base}/rights/repairs/{number}")
        op.locator("#approve-form textarea[name='note']").fill("罚款已缴清，整改材料齐全，同意提前停止公示。")
        shot(op, "rights-13-operator-review")
        op.locator("#approve").click()
        expect(op.locator("body")).to_contain_text("已修复")

        ent.goto(f"{base}/entities/{code}?category=penalty")
        expect(ent.locator("tr", has_text="哈南应急罚")).to_contain_text("已信用修复")
        shot(ent, "rights-14-repaired")

        # After: the bank's view of the public penalties no longer lists it.
        bank.goto(f"{base}/bank/entities/{code}/records/penalty")
        bank.get_by_role("button", name="确认查询").click()
        expect(bank.locator("table.records")).to_be_visible()  # the detail itself, not the confirmation
        expect(bank.locator("table.records")).not_to_contain_text("哈南应急罚")
        shot(bank, "rights-15-bank-after-repair")
    finally:
        for p in (ent, op, bank):
            p.context.close()
