"""A security incident in a real browser, on the demo province: the security officer records an incident
naming an audit entry about the demo enterprise — the form brings in the enterprise from that entry — the
enterprise sees it on 谁查看了我的数据, a step is recorded, and the second officer (`security2`) closes it,
which the enterprise then sees too. Screenshots at 1440 px go to the test's tmp dir (their paths are printed)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from helpers import desktop_page, login, shooter
from playwright.sync_api import expect

from xinyidai.kit import clock

DEMO_PASSWORD = "xinyidai-demo"
TITLE = "前置机日志异常导出企业纳税信息（浏览器测试）"



def _audit_entry_of_the_enterprise(var_dir: Path) -> tuple[str, int]:
    """The demo enterprise's code and an audit entry about it (its accesses were recorded by the demo)."""
    with sqlite3.connect(var_dir / "e2e.db") as conn:
        code = conn.execute("SELECT org_code FROM users WHERE username = 'enterprise'").fetchone()[0]
        row = conn.execute("SELECT max(id) FROM audit_events WHERE entity_code = ?", (code,)).fetchone()
    assert row[0], "the demo recorded no audit entry about its enterprise"
    return code, int(row[0])


def test_an_incident_from_record_to_closure(live_server, browser, tmp_path) -> None:  # noqa: ANN001
    base = live_server.url
    shot = shooter(tmp_path)
    code, event_id = _audit_entry_of_the_enterprise(live_server.var_dir)
    # The server lives on the real clock, not the tests' fixed one.
    occurred = (datetime.now(clock.CHINA_TZ) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    officer, second, ent = desktop_page(browser), desktop_page(browser), desktop_page(browser)
    try:
        login(officer, base, "security", DEMO_PASSWORD)
        officer.get_by_role("link", name="安全事件").first.click()
        officer.get_by_role("link", name="登记安全事件").click()
        form = officer.locator("#incident-form")
        form.locator("select[name=kind]").select_option("misuse")
        form.locator("select[name=severity]").select_option("major")
        form.locator("input[name=title]").fill(TITLE)
        form.locator("textarea[name=description]").fill("安全巡检发现前置机于夜间批量导出企业纳税信息，已与审计记录核对。")
        form.locator("input[name=occurred_at]").fill(occurred)
        form.locator("input[name=responsible_unit]").fill("省公共信用中心运维部")
        form.locator("textarea[name=data_affected]").fill("企业纳税信息（纳税信用等级、应纳税额）")
        form.locator("input[name=audit_event_ids]").fill(str(event_id))
        form.get_by_role("button", name="带出涉及企业").click()
        expect(officer.locator("#proposed")).to_contain_text("带出 1 家")
        expect(officer.locator("textarea[name=entity_codes]")).to_have_value(code)
        expect(officer.locator("input[name=title]")).to_have_value(TITLE)
        shot(officer, "incident-01-officer-form")
        officer.get_by_role("button", name="登记", exact=True).click()
        expect(officer.get_by_role("status")).to_contain_text("安全事件已登记")
        expect(officer.locator("#incident-entities")).to_contain_text(code)
        expect(officer.locator("#incident-audit")).to_contain_text(str(event_id))
        expect(officer.locator("#closure")).to_contain_text("须由另一名安全管理员结案")
        number = officer.locator(".crumbs").inner_text().rsplit("/", 1)[-1].strip()
        officer.locator("#action-form textarea[name=text]").fill("已停用前置机导出账号，并通知涉及企业")
        officer.get_by_role("button", name="记录措施").click()
        expect(officer.get_by_role("status")).to_contain_text("处置措施已记录")
        expect(officer.locator("#incident-actions")).to_contain_text("已停用前置机导出账号")
        shot(officer, "incident-02-officer-recorded")

        login(ent, base, "enterprise", DEMO_PASSWORD)
        ent.goto(base + "/my/accesses")
        notice = ent.locator("#data-incidents")
        expect(notice).to_contain_text("涉及本企业数据的安全事件")
        expect(notice).to_contain_text(TITLE)
        expect(notice).to_contain_text("已停用前置机导出账号")
        expect(notice).to_contain_text("处置中")
        shot(ent, "incident-03-enterprise-sees-it")

        login(second, base, "security2", DEMO_PASSWORD)
        second.goto(f"{base}/incidents?state=open")
        second.get_by_role("link", name=number).click()
        second.locator("#close-form textarea[name=closure]").fill(
            "经查为运维账号权限配置错误所致；责令运维部整改并对责任人通报批评，导出文件已确认销毁。")
        second.get_by_role("button", name="结案").click()
        expect(second.get_by_role("status")).to_contain_text("事件已结案")
        expect(second.locator("#incident-state")).to_have_text("已结案")
        expect(second.locator("#action-form")).to_have_count(0)
        shot(second, "incident-04-second-officer-closed")

        ent.reload()
        expect(ent.locator("#data-incidents")).to_contain_text("已结案")
        expect(ent.locator("#data-incidents")).to_contain_text("责令运维部整改")
        shot(ent, "incident-05-enterprise-sees-closure")
    finally:
        for pg in (officer, second, ent):
            pg.context.close()
