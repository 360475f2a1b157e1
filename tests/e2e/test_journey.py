"""An operator's day in a real browser: overview, upload a delivery with defects, read its report, search an
entity and open it; the catalogue; a bank officer is kept out of the register."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from helpers import login
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

DEMO_PASSWORD = "xinyidai-demo"


def _demo_entities(live_server, n: int) -> list[tuple[str, str]]:  # noqa: ANN001
    engine = create_engine(f"sqlite:///{live_server.var_dir}/e2e.db")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, name FROM entities WHERE kind = '企业' ORDER BY code LIMIT :n"),
                            {"n": n}).all()
    engine.dispose()
    return [(r[0], r[1]) for r in rows]


def _defective_tax_file(path: Path, entities: list[tuple[str, str]]) -> Path:
    with open(path, "w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["统一社会信用代码", "主体名称", "所属期", "纳税信用等级", "应纳税额", "实缴税额", "欠税金额",
                    "是否欠税", "申报状态"])
        for code, name in entities:
            w.writerow([code, name, "2023-06", "B", "12000.00", "12000.00", "0", "否", "正常申报"])
        w.writerow(["91230100MA1B2C3D4X", "校验位错误", "2023-06", "A", "1", "1", "0", "否", "正常申报"])
        w.writerow([entities[0][0], entities[0][1], "2031-01", "A", "1", "1", "0", "否", "正常申报"])
        w.writerow([entities[1][0], entities[1][1], "2023-06", "E", "1", "1", "0", "否", "正常申报"])
    return path


def test_operator_uploads_reads_report_and_finds_entity(live_server, page, screenshot, tmp_path) -> None:  # noqa: ANN001
    login(page, live_server.url, "operator", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="数据概览")).to_be_visible()
    page.wait_for_function("document.querySelectorAll('[data-chart] canvas').length >= 4")
    # Records by category run from a handful to thousands: a logarithmic axis, each bar labelled with its count.
    category = page.evaluate("""() => {
        const o = echarts.getInstanceByDom(document.getElementById('chart-category')).getOption();
        return {axis: o.xAxis[0].type, labels: o.series[0].label.show, names: o.yAxis[0].data,
                counts: o.series[0].data};
    }""")
    # The 17 categories departments deliver (what enterprises report themselves is not collection).
    assert category["axis"] == "log" and category["labels"] and len(category["names"]) == 17
    assert min(c for c in category["counts"] if c) < max(category["counts"]) / 100  # the spread it is for
    screenshot(page, "01-overview")

    entities = _demo_entities(live_server, 12)
    upload = _defective_tax_file(tmp_path / "哈尔滨税务2026-01.csv", entities)
    page.goto(live_server.url + "/upload")
    page.select_option("select[name=category]", "tax")
    page.fill("input[name=provider]", "哈尔滨市税务局")
    page.fill("input[name=threshold]", "30")
    page.set_input_files("input[name=file]", str(upload))
    screenshot(page, "02-upload")
    page.get_by_role("button", name="上传并校验").click()
    page.wait_for_url(re.compile(r"/deliveries/\d+$"))
    expect(page.locator("h1 .badge")).to_have_text("部分接收", timeout=30_000)
    body = page.locator("main")
    expect(body).to_contain_text("INVALID_USCC")
    expect(body).to_contain_text("FUTURE_DATE")
    expect(body).to_contain_text("NOT_ALLOWED")
    expect(body).to_contain_text("CSV / GB18030")  # the encoding by its usual name
    expect(page.locator(".stat.good strong")).to_have_text("12")
    screenshot(page, "03-delivery-report")
    with page.expect_download() as dl:
        page.get_by_role("link", name="下载 CSV").click()
    report = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    assert report.splitlines()[0].startswith("交付批次") and "INVALID_USCC" in report

    code, name = entities[0]
    page.goto(live_server.url + "/entities")
    page.fill("input[name=q]", name[2:8])
    page.get_by_role("button", name="查询").click()
    expect(page.locator("table.data tbody")).to_contain_text(code)
    # sort by name, then open the entity
    page.get_by_role("link", name="名称").click()
    expect(page.locator("th.sorted")).to_contain_text("名称")
    screenshot(page, "04-entity-search")
    page.get_by_role("link", name=code).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    page.get_by_role("tab", name=re.compile("^纳税")).click()
    expect(page.locator("table.records")).to_contain_text("2023-06")
    screenshot(page, "05-entity-tax")
    page.get_by_role("link", name="版本历史").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("版本历史")

    page.goto(live_server.url + "/catalog?category=electricity")
    expect(page.locator("main")).to_contain_text("电费")
    screenshot(page, "06-catalog")


def test_deliveries_table_pages_and_sorts(live_server, page, screenshot) -> None:  # noqa: ANN001
    login(page, live_server.url, "regulator", DEMO_PASSWORD)
    page.goto(live_server.url + "/deliveries")
    expect(page.locator("table.data tbody tr").first).to_be_visible()
    page.get_by_role("link", name="拒收").click()
    expect(page.locator("th.sorted")).to_contain_text("拒收▲")
    page.get_by_role("link", name="拒收").click()  # again: most rejected rows first
    expect(page.locator("th.sorted")).to_contain_text("拒收▼")
    expect(page.locator("tbody tr").first.locator(".badge")).to_have_text("整批拒收")
    screenshot(page, "07-deliveries")
    rejected = page.locator("tbody tr", has=page.locator(".st-rejected")).first
    rejected.locator("a").first.click()
    expect(page.locator(".notice.bad")).to_contain_text("整批拒收")


def test_bank_officer_is_kept_out_of_the_register(live_server, page) -> None:  # noqa: ANN001
    login(page, live_server.url, "bank", DEMO_PASSWORD)
    resp = page.goto(live_server.url + "/entities")
    assert resp is not None and resp.status == 403
    expect(page.locator("main")).to_contain_text("无权访问")
