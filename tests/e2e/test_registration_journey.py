"""Real-name registration in a real browser, then the new administrator's first authorization: an
enterprise of the demo province registers (the register's name, legal representative and ID number; the
one-time code read from the file notifier), logs in, grants the demo bank a summary authorization, and the
bank opens the enterprise's profile under it."""

from __future__ import annotations

import json
import re

from helpers import login
from playwright.sync_api import Browser, expect
from sqlalchemy import create_engine, text
from test_sharing_journey import DEMO_PASSWORD, _bank_institution, _grant, _new_page


def _unregistered_enterprise(live_server) -> tuple[str, str, str, str]:  # noqa: ANN001
    engine = create_engine(f"sqlite:///{live_server.var_dir}/e2e.db")
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT e.code, e.name, e.legal_rep, e.legal_rep_id FROM entities e WHERE e.kind = '企业' "
            "AND e.legal_rep IS NOT NULL AND e.legal_rep_id IS NOT NULL AND e.status = '存续' "
            "AND NOT EXISTS (SELECT 1 FROM users u WHERE u.org_code = e.code) "
            "AND EXISTS (SELECT 1 FROM credit_records r WHERE r.entity_code = e.code AND r.category = 'tax') "
            "ORDER BY e.code LIMIT 1")).one()
    engine.dispose()
    return row[0], row[1], row[2], row[3]


def test_register_then_grant_then_bank_reads(live_server, page, browser: Browser, screenshot) -> None:  # noqa: ANN001
    base = live_server.url
    code, name, rep, rep_id = _unregistered_enterprise(live_server)
    inst_code, _ = _bank_institution(live_server)

    page.goto(base + "/login")
    page.get_by_role("link", name="企业实名注册").click()
    page.fill("input[name=entity_code]", code)
    page.fill("input[name=entity_name]", name)
    page.fill("input[name=person_name]", rep)
    page.fill("input[name=id_number]", "230102198001011234")  # wrong on purpose first
    page.fill("input[name=phone]", "13800138000")
    page.fill("input[name=username]", "new-admin")
    page.fill("input[name=password]", "a-long-passphrase-1")
    page.fill("input[name=password2]", "a-long-passphrase-1")
    page.locator("form button[type=submit]").click()
    expect(page.locator(".notice.bad")).to_be_visible()  # one message that does not say which field
    screenshot(page, "register-01-mismatch")
    page.fill("input[name=id_number]", rep_id)
    page.fill("input[name=password]", "a-long-passphrase-1")
    page.fill("input[name=password2]", "a-long-passphrase-1")
    page.locator("form button[type=submit]").click()
    expect(page.locator("input[name=code]")).to_be_visible()
    messages = [json.loads(x) for x in (live_server.var_dir / "notifications.log").read_text().splitlines()]
    otp = re.search(r"\d{6}", messages[-1]["message"]).group(0)
    page.fill("input[name=code]", otp)
    screenshot(page, "register-02-code")
    page.locator("form button[type=submit]").click()
    expect(page.get_by_role("heading", name="注册成功")).to_be_visible()
    screenshot(page, "register-03-done")

    login(page, base, "new-admin", "a-long-passphrase-1")
    number = _grant(page, base, inst_code, "贷前审查", "汇总查询", ["tax"])

    bank = _new_page(browser)
    try:
        login(bank, base, "bank", DEMO_PASSWORD)
        bank.goto(f"{base}/bank/entities/{code}")
        bank.get_by_role("button", name="确认查询").click()  # opened from the address bar: a read is confirmed
        expect(bank.get_by_role("heading", level=1)).to_contain_text(name)
        expect(bank.locator("#cat-tax")).to_contain_text(number)
        screenshot(bank, "register-04-bank-sees-new-enterprise")
    finally:
        bank.context.close()
