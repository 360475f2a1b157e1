"""The node network in the browser: a city's application reviewed by two officers at the province (review
queue → peer's file → check → decision), then the topology page showing the records the city sends; then the
province's progress report — prepared by its business-environment office, approved and sent by a second
person — shown and compared at the national node.

Real nodes (tests/network/nodes.py): the province and the city are `xinyidai serve` processes with their
own databases; the officers are real users created through `xinyidai user add`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import login
from tests.network.nodes import ASSESSMENT, Node, wait_for

PASSWORD = "network-officer-9"


def _add_user(node: Node, username: str, role: str, name: str) -> None:
    env = dict(node.env, XINYIDAI_NEW_PASSWORD=PASSWORD)
    subprocess.run([sys.executable, "-m", "xinyidai", "user", "add", username, "--role", role, "--name", name],
                   env=env, cwd=node.root, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def province_and_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Node, Node]]:
    root: Path = tmp_path_factory.mktemp("net-e2e")
    national = Node("CN", "national", "全国中小企业融资综合信用服务平台", root / "national")
    province = Node("CN-230000", "provincial", "黑龙江省融资信用服务平台", root / "province")
    city = Node("CN-230100", "municipal", "哈尔滨市融资信用服务平台", root / "harbin")
    try:
        national.init()
        national.start()
        province.init(parent=national)
        province.start()
        province.apply_to(national, region="23")
        _add_user(province, "wang-op", "operator", "登记审核员 王审核")
        _add_user(province, "sun-sec", "security", "安全管理员 孙安全")
        city.root.mkdir(parents=True)
        city.cli("db", "upgrade")
        city.cli("demo", "--entities", "40", "--months", "3")  # a little data of its own to send up
        city.init(parent=province)
        path = city.root / "assessment.json"
        path.write_text(json.dumps(ASSESSMENT, ensure_ascii=False), encoding="utf-8")
        city.cli("node", "apply", "--contact", "哈尔滨市信用中心 运维 0451-12345", "--assessment", str(path),
                 "--region", "2301")
        yield province, city, national
    finally:
        for n in (city, province, national):
            n.kill()


def test_review_queue_and_topology(province_and_city, page, screenshot) -> None:  # noqa: ANN001
    province, city, _ = province_and_city
    base = province.url

    # the registration officer: the queue, the file, the check
    login(page, base, "wang-op", PASSWORD)
    page.click("header nav a:has-text('节点网络')")
    page.click("nav.nw-tabs a:has-text('接入审核')")
    row = page.locator("#applications tr[data-peer='CN-230100']")
    assert "待登记审核" in row.inner_text()
    screenshot(page, "network-01-review-queue")
    row.locator("a:has-text('查看档案')").click()
    page.wait_for_url("**/network/peers/CN-230100")
    assert page.locator("#assessment").inner_text().count("\n") >= 7
    assert page.locator("form[data-action='approve']").count() == 0  # deciding is the security officer's
    form = page.locator("form[data-action='check']")
    form.locator("input[name=reason]").fill("申请材料齐全，自评估与测评报告一致")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**done=check")
    assert "已审核通过" in page.locator(".notice.ok").inner_text()
    screenshot(page, "network-02-checked")
    page.locator("header form[action='/logout'] button").click()
    page.wait_for_url("**/login**")

    # the security officer: decides
    login(page, base, "sun-sec", PASSWORD)
    page.goto(base + "/network/applications")
    assert "待安全管理员决定" in page.locator("#applications tr[data-peer='CN-230100']").inner_text()
    page.goto(base + "/network/peers/CN-230100")
    form = page.locator("form[data-action='approve']")
    form.locator("input[name=reason]").fill("自评估符合等保三级要求，批准接入")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**done=approve")
    assert page.locator("#peer-status").inner_text() == "已接入"
    history = page.locator("#history").inner_text()
    assert "wang-op" in history and "sun-sec" in history and "批准接入" in history
    screenshot(page, "network-03-peer-file")

    # now the city runs: its records reach the province, and the topology page (polling) shows them
    city.start()
    wait_for(lambda: province.count("SELECT count(*) FROM credit_records WHERE origin_node = 'CN-230100'") > 0,
             timeout=90)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "/network")
    city_row = page.locator("#peers-table tr[data-peer='CN-230100']")
    page.wait_for_function(
        "() => { const r = document.querySelector(\"#peers-table tr[data-peer='CN-230100']\");"
        " return r && !r.innerText.includes('尚未联系'); }", timeout=30_000)
    assert "已接入" in city_row.inner_text()
    parent_row = page.locator("#peers-table tr[data-peer='CN']")
    assert "上级节点" in parent_row.inner_text()
    page.wait_for_function("() => !!document.querySelector('[data-topology-chart] canvas')")
    page.wait_for_timeout(3500)  # one htmx refresh: the chart is redrawn from the new fragment
    assert page.locator("[data-topology-chart] canvas").count() >= 1
    assert errors == []  # the redraw after each refresh must not trip ECharts
    screenshot(page, "network-04-topology")


def test_the_province_reports_up_and_the_national_node_shows_it(province_and_city, browser, tmp_path) -> None:  # noqa: ANN001
    from datetime import datetime

    from helpers import desktop_page, shooter

    from xinyidai.kit import clock

    province, city, national = province_and_city
    _add_user(province, "zhao-reg", "regulator", "省营商环境建设监督局 赵监管")
    _add_user(national, "cn-reg", "regulator", "国家平台 监管人员")
    # The city's records reach the province in this month (the test above connected it): a month to report on.
    wait_for(lambda: province.count("SELECT count(*) FROM credit_records WHERE origin_node = 'CN-230100'") > 0,
             timeout=90)
    month = datetime.now(clock.CHINA_TZ).strftime("%Y-%m")
    shot = shooter(tmp_path)
    office, second, nation = desktop_page(browser), desktop_page(browser), desktop_page(browser)
    try:
        login(office, province.url, "zhao-reg", PASSWORD)
        office.goto(province.url + "/oversight/reports")
        office.locator("#prepare-form input[name=from]").fill(month)
        office.locator("#prepare-form button").click()
        office.wait_for_url("**done=prepared")
        number = office.locator("#report-facts code").first.inner_text()
        assert office.locator("#approve-form").count() == 0  # not by the one who prepared it

        login(second, province.url, "wang-op", PASSWORD)
        second.goto(f"{province.url}/oversight/reports/{number}")
        second.locator("#approve-form button").click()
        second.wait_for_url("**done=approved")
        second.locator("#send-form button").click()
        second.wait_for_url("**done=sent")
        assert second.locator("#report-state").get_attribute("data-state") == "sent"
        shot(second, "network-05-report-sent")

        # The province's relay delivers it; the national node lists the province's latest report.
        wait_for(lambda: national.count("SELECT count(*) FROM oversight_reports WHERE origin_node = 'CN-230000'") > 0,
                 timeout=90)
        login(nation, national.url, "cn-reg", PASSWORD)
        nation.goto(national.url + "/oversight/reports")
        row = nation.locator("#children [data-node='CN-230000']")
        assert number in row.inner_text()
        shot(nation, "network-06-national-reports")
        pdf = nation.request.get(f"{national.url}/oversight/reports/CN-230000-{number}.pdf")
        assert pdf.ok and pdf.body()[:5] == b"%PDF-"

        # Last (it changes the province's key for whatever follows): the security officer rotates the
        # province's key on its page; the announcement reaches the national node and the city over HTTP.
        security = desktop_page(browser)
        login(security, province.url, "sun-sec", PASSWORD)
        security.goto(province.url + "/network")
        keys = security.locator("#node-keys")
        old_key = keys.locator("tr[data-status='current']").get_attribute("data-key")
        keys.locator("input[name=reason]").fill("年度密钥轮换")
        keys.locator("input[name=overlap_hours]").fill("72")
        keys.locator("button[type=submit]").click()
        security.wait_for_url("**/network**")
        keys = security.locator("#node-keys")
        assert keys.locator(f"tr[data-key='{old_key}']").get_attribute("data-status") == "retiring"
        new_key = keys.locator("tr[data-status='current']").get_attribute("data-key")
        assert new_key and new_key != old_key
        for neighbour in (national, city):
            wait_for(lambda n=neighbour: n.count(
                "SELECT count(*) FROM peers WHERE code = 'CN-230000' AND key_id = :new AND retiring_key_id = :old",
                new=new_key, old=old_key) == 1, timeout=60)
        security.reload()
        shot(security, "network-07-key-rotated")
        security.context.close()
    finally:
        for pg in (office, second, nation):
            pg.context.close()
