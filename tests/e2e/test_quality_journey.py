"""The ticket loop of data governance in a real browser (issue 18), on the demo province: the operator finds on
数据质量 that 哈尔滨海关's monthly 进出口 data is late (the demo planted it), opens a ticket from the finding; the
customs office's own account (`department`) sees the ticket, uploads a new delivery and answers with it; the
operator re-checks, the rule runs again for that department only, and the ticket closes. Screenshots at 1440 px
go to the test's tmp dir (their paths are printed)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from helpers import desktop_page, login, shooter
from playwright.sync_api import expect

from xinyidai.kit import clock

DEMO_PASSWORD = "xinyidai-demo"
CUSTOMS = "哈尔滨海关"
RULE = "timeliness.import_export"


def _customs_file(var_dir: Path, target: Path) -> Path:
    """Last month's 进出口 figures of five registered entities, as a customs office would deliver them (GBK)."""
    with sqlite3.connect(var_dir / "e2e.db") as conn:
        entities = conn.execute("SELECT code, name FROM entities ORDER BY code LIMIT 5").fetchall()
    month = (datetime.now(clock.CHINA_TZ).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    lines = ["统一社会信用代码,主体名称,所属期,海关注册编码,进口额,出口额,报关单数"]
    lines += [f"{code},{name},{month},2301{i:06d},{1000 * i}.50,{2000 * i}.00,{3 + i}"
              for i, (code, name) in enumerate(entities, 1)]
    target.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return target


def test_a_finding_becomes_a_ticket_the_department_answers_and_a_recheck_closes(live_server, browser,  # noqa: ANN001
                                                                                tmp_path) -> None:
    base = live_server.url
    shot = shooter(tmp_path)
    upload = _customs_file(live_server.var_dir, tmp_path / "哈尔滨海关-进出口-补报.csv")
    operator, dept = desktop_page(browser), desktop_page(browser)
    try:
        # The operator reads the demo's first run and opens the finding about the customs office.
        login(operator, base, "operator", DEMO_PASSWORD)
        operator.get_by_role("link", name="数据质量").first.click()
        expect(operator.locator("h1")).to_contain_text("数据质量监测")
        row = operator.locator("tr", has_text=RULE)
        expect(row).to_contain_text(CUSTOMS)
        shot(operator, "quality-01-operator-findings")
        row.locator("a").first.click()
        expect(operator.locator("body")).to_contain_text("已逾期")
        shot(operator, "quality-02-finding")
        operator.get_by_role("button", name="开具整改工单").click()
        expect(operator.locator("#ticket-state")).to_have_attribute("data-state", "open")
        number = operator.locator("h1").evaluate("() => location.pathname.split('/').pop()")
        assert number.startswith("QT-"), number
        expect(operator.locator("#ticket-steps")).to_contain_text("开单")

        # The customs office sees its ticket, delivers last month's figures and answers with that delivery.
        login(dept, base, "department", DEMO_PASSWORD)
        expect(dept.locator("#department-tickets")).to_contain_text(number)
        shot(dept, "quality-03-department-home")
        form = dept.locator("#upload")
        expect(form.locator("select[name=category]")).to_have_value("import_export")
        form.locator("input[name=file]").set_input_files(str(upload))
        form.get_by_role("button", name="上传并校验").click()
        newest = dept.locator("#department-deliveries tbody tr").first
        expect(newest).to_contain_text("补报")
        for _ in range(30):  # the delivery is checked in the background; the page shows its state when reloaded
            if "已接收" in newest.inner_text():
                break
            dept.wait_for_timeout(500)
            dept.reload()
        expect(newest).to_contain_text("已接收")
        dept.locator("#department-tickets").get_by_role("link", name=number).click()
        answer = dept.locator("#answer-form")
        answer.locator("select[name=kind]").select_option("delivery")
        answer.locator("select[name=delivery_id]").select_option(index=1)
        answer.locator("textarea[name=text]").fill("已补报上月进出口数据，今后按月报送。")
        answer.get_by_role("button", name="提交答复").click()
        expect(dept.locator("#ticket-state")).to_have_attribute("data-state", "answered")
        shot(dept, "quality-04-department-answered")

        # The operator re-checks: the rule runs again for the customs office only and finds nothing late.
        operator.reload()
        expect(operator.locator("#ticket-state")).to_have_attribute("data-state", "answered")
        operator.locator("#recheck").click()
        expect(operator.locator("#ticket-state")).to_have_attribute("data-state", "closed")
        expect(operator.locator("#ticket-steps")).to_contain_text("复核")
        shot(operator, "quality-05-ticket-closed")

        # The department sees it closed too, and nothing of another department is within its reach.
        dept.goto(f"{base}/department")
        expect(dept.locator("#department-tickets")).to_contain_text("已关闭")
        assert dept.goto(f"{base}/quality/sources").status == 403
    finally:
        operator.context.close()
        dept.context.close()
