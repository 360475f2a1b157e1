"""融资统计 in a real browser: loans written into the demo province by the benchmark's builder, then the
regulator opens the figures, every chart draws, a period narrows them and the workbook downloads."""

from __future__ import annotations

from datetime import date

from bench.market import build
from helpers import login
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from xinyidai.kit.db import Database

DEMO_PASSWORD = "xinyidai-demo"
CHARTS = ("gauge", "months", "cities", "banks", "kinds", "sectors")


def test_regulator_reads_the_figures_and_downloads_them(live_server, page: Page, screenshot) -> None:  # noqa: ANN001
    db = Database(live_server.env["XINYIDAI_DATABASE_URL"])
    try:
        build(db, 3000, heads=12, end=date.today())
    finally:
        db.dispose()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    base = live_server.url
    login(page, base, "regulator", DEMO_PASSWORD)
    page.get_by_role("link", name="融资统计").click()
    expect(page.locator("h1")).to_contain_text("融资统计")
    for name in CHARTS:
        expect(page.locator(f"#chart-{name} svg")).to_have_count(1)
    expect(page.locator("#table-cities tbody tr")).not_to_have_count(0)
    expect(page.locator("#chart-gauge")).to_contain_text("%")
    screenshot(page, "figures-01-regulator")

    page.locator("input[name=from]").fill("2025-01")
    page.locator("input[name=to]").fill("2025-06")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("h1")).to_contain_text("2025-01 至 2025-06")
    expect(page.locator("#table-months tbody tr")).to_have_count(6)
    with page.expect_download() as info:
        page.locator("#download-all").click()
    download = info.value
    assert download.suggested_filename == "融资统计-全部统计表-202501-202506.xlsx"
    with open(download.path(), "rb") as fh:  # a temporary name without the .xlsx openpyxl looks for
        book = load_workbook(fh)
    assert book["按月份"].max_row >= 7
    screenshot(page, "figures-02-period")
    assert not errors, errors
