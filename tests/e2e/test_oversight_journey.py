"""Oversight in a real browser, on the demo province (whose demo computed six months of rankings): the province's
business-environment office (`regulator`) opens 考核排名, the map of the 13 cities draws from the GeoJSON, a
click on a city opens its values and trend, a value opens the rows behind it, the run downloads as XLSX, a
month with no data is refused in words, follow-ups are opened for the cities ranked last, and the banks are
monitored; a progress report is prepared by the office and approved, signed, by the operator. Screenshots at 1440 px go to the test's tmp dir (their paths are printed)."""

from __future__ import annotations

import io
from pathlib import Path

from helpers import desktop_page, login, shooter
from openpyxl import load_workbook
from playwright.sync_api import expect

DEMO_PASSWORD = "xinyidai-demo"


def test_the_office_ranks_the_cities_and_follows_up(live_server, browser, tmp_path) -> None:  # noqa: ANN001
    base = live_server.url
    shot = shooter(tmp_path)
    office = desktop_page(browser)
    errors: list[str] = []
    office.on("pageerror", lambda e: errors.append(str(e)))
    try:
        login(office, base, "regulator", DEMO_PASSWORD)
        office.get_by_role("link", name="考核排名").first.click()
        expect(office.locator("h1")).to_contain_text("考核排名")
        # The map draws the 13 divisions from the schematic GeoJSON, coloured by total.
        expect(office.locator("#ranking-map[data-ready='1'] svg")).to_have_count(1)
        expect(office.locator("#ranking-map path")).not_to_have_count(0)
        month = office.locator("#period-form input[name=start]").input_value()
        rows = office.locator("#ranking-table tbody tr")
        expect(rows).to_have_count(13)
        expect(rows.first.locator("td").first).to_have_text("1")
        shot(office, "oversight-01-ranking-map")

        # Sorting by total ascending puts the last place first.
        office.locator("#ranking-table th a", has_text="总分").click()
        office.locator("#ranking-table th a", has_text="总分").click()
        last_rank = office.locator("#ranking-table tbody tr").first.locator("td").first.inner_text()
        assert int(last_rank) >= 1

        # Drill: a city's values and trend, then the loans behind its 授信金额.
        first_city = office.locator("#ranking-table tbody tr td a").first
        city_name = first_city.inner_text()
        first_city.click()
        expect(office.locator("h1")).to_contain_text(city_name)
        expect(office.locator("#city-values tbody tr")).to_have_count(17)
        expect(office.locator("#chart-trend svg")).to_have_count(1)
        shot(office, "oversight-02-city")
        office.locator("#city-values a", has_text="F2 授信金额").click()
        expect(office.locator("h1")).to_contain_text("授信金额")
        expect(office.locator("#drill-rows thead")).to_contain_text("贷款编号")
        shot(office, "oversight-03-drill")

        # Export the run as a workbook.
        office.get_by_role("link", name="← 返回").first.click()
        office.get_by_role("link", name="← 返回排名").click()
        with office.expect_download() as dl:
            office.locator("#export-xlsx").click()
        wb = load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()))
        assert wb.sheetnames == ["排名", "指标值与得分", "指标体系"]
        ranked = [r for r in wb["排名"].iter_rows(min_row=2, values_only=True) if isinstance(r[0], int)]
        assert len(ranked) == 13 and ranked[0][0] == 1
        assert wb["指标值与得分"].max_row == 1 + 13 * 17

        # A month with nothing in it is refused in words, and nothing is ranked.
        office.locator("#period-form input[name=start]").fill("2001-01")
        office.locator("#period-form input[name=end]").fill("")
        office.locator("#period-form button").click()
        expect(office.locator("#no-run")).to_contain_text("尚未计算")
        office.locator("#compute-form button").click()
        expect(office.locator("#run-error")).to_contain_text("无法排名")
        expect(office.locator("#run-error")).to_contain_text("OVERSIGHT_NO_DATA")
        shot(office, "oversight-04-no-data")

        # Follow-ups for the latest run's bottom places.
        office.get_by_role("link", name="考核排名").first.click()
        office.locator("#followups-form button").click()
        expect(office.locator("h1")).to_contain_text("督办")
        shot(office, "oversight-05-tasks")

        # The banks, monitored.
        office.get_by_role("link", name="银行监测").first.click()
        expect(office.locator("h1")).to_contain_text("银行监测")
        shot(office, "oversight-06-banks")

        # A progress report for the latest month: prepared by the office, approved and signed by a second
        # person (the operator); the preparer may not approve it.
        office.get_by_role("link", name="进展报告").first.click()
        office.locator("#prepare-form input[name=from]").fill(month)
        office.locator("#prepare-form button").click()
        expect(office.locator("#report-state")).to_have_attribute("data-state", "draft")
        expect(office.locator("#approve-form")).to_have_count(0)
        expect(office.locator("#report-ranking tbody tr")).to_have_count(13)
        number = office.locator("#report-facts code").first.inner_text()
        second = desktop_page(browser)
        try:
            login(second, base, "operator", DEMO_PASSWORD)
            second.goto(f"{base}/oversight/reports/{number}")
            second.locator("#approve-form button").click()
            expect(second.locator("#report-state")).to_have_attribute("data-state", "approved")
            expect(second.locator("#report-signature")).to_contain_text("sm")
            shot(second, "oversight-07-report-approved")
            pdf = second.request.get(f"{base}/oversight/reports/{number}.pdf")
            assert pdf.ok and pdf.body()[:5] == b"%PDF-"
        finally:
            second.context.close()
        assert not errors, errors
    finally:
        office.context.close()
