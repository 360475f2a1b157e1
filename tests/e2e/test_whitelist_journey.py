"""White lists in a real browser on the demo province: the operator sees the published list with each
entity's reasons; the demo bank finds it and the key-project list pushed to it and opens the list's entries."""

from __future__ import annotations

from helpers import login
from playwright.sync_api import Page, expect

DEMO_PASSWORD = "xinyidai-demo"


def test_operator_list_and_bank_delivery(live_server, page: Page, browser, screenshot) -> None:  # noqa: ANN001
    base = live_server.url
    login(page, base, "operator", DEMO_PASSWORD)
    page.goto(base + "/whitelists/lists")
    # The demo's white list, beside its key-project list (newer, so listed first).
    listed = page.locator("table.data tbody tr", has_text="WL-CN-230000-sme-good-credit").first
    expect(page.locator("table.data tbody")).to_contain_text("KP-CN-230000-")
    listed.get_by_role("link").first.click()
    expect(page.locator("table.data").first).to_contain_text("不低于")  # each entry says why it is there
    screenshot(page, "whitelist-01-operator-list")

    bank = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        login(bank, base, "bank", DEMO_PASSWORD)
        bank.goto(base + "/bank/whitelists")
        expect(bank.locator("#delivered")).to_contain_text("WL-CN-230000-sme-good-credit")
        expect(bank.locator("#delivered")).to_contain_text("重点项目清单")  # the demo bank subscribed to both
        screenshot(bank, "whitelist-02-bank-delivered")
        bank.locator("#delivered tbody tr", has_text="WL-CN-230000-sme-good-credit").first.get_by_role("link").first.click()
        expect(bank.locator("table.data").last).to_contain_text("91")  # entity codes on the list
        screenshot(bank, "whitelist-03-bank-entries")
    finally:
        bank.close()
