"""The delivery list and report pages, a record's history and the information list, as people read them."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.records.helpers import REG_HEADER, TAX_HEADER, codes, registration_rows, tax_rows, write_csv
from xinyidai.records.loading import ingest_file
from xinyidai.records.models import Delivery


def _text(html: str) -> str:
    """The page's visible text, tags dropped and whitespace collapsed, to match what a person reads."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def registered(db, catalog, tmp_path: Path) -> list[str]:  # noqa: ANN001
    ents = codes(10)
    d, _ = ingest_file(db, catalog, write_csv(tmp_path / "reg.csv", REG_HEADER, registration_rows(ents)),
                       provider="测试市场监管局", category="registration", submitted_by="demo", source="demo")
    assert d.status == "accepted"
    return ents


def test_a_delivery_refused_whole_accounts_for_every_row(app, login, db, catalog, registered, tmp_path) -> None:  # noqa: ANN001
    rows = tax_rows(registered[:6], ["2026-10"]) + [[c, "x", "2026-10", "Z", "1", "1", "0", "否", "正常申报"]
                                                   for c in registered[6:10]]
    d, _ = ingest_file(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, rows), provider="测试税务局",
                       category="tax", submitted_by="operator", source="upload", threshold=0.2)
    assert (d.status, d.rows_total, d.rows_rejected) == ("rejected", 10, 4)
    html = login("operator").get(f"/deliveries/{d.id}").text
    page = _text(html)
    assert "THRESHOLD_EXCEEDED" not in html  # the code stays in the JSON API; people read the reason
    assert "总行数 10" in page and "未通过校验 4" in page and "通过校验、未入库 6" in page and "入库 0" in page
    assert "其余 6 行检查通过，但随整批退回" in page
    # Submitted by an account: its display name, the username kept as a tooltip.
    assert '<dd title="账户 operator">测试operator</dd>' in html
    assert "网页上传" in page and "CSV / UTF-8" in page
    listing = login("operator").get("/deliveries").text
    assert "整批拒收：其余 6 行检查通过但未入库" in listing


def test_the_delivery_list_names_formats_and_sorts_categories_as_the_catalogue(
        app, login, db, catalog, registered, tmp_path) -> None:  # noqa: ANN001
    ingest_file(db, catalog, write_csv(tmp_path / "t.csv", TAX_HEADER, tax_rows(registered, ["2026-10"])),
                provider="测试税务局", category="tax", submitted_by="operator")
    with db.session() as s:
        # As the demo generator writes its batches: no file, format "demo".
        s.execute(update(Delivery).where(Delivery.id == 1).values(format="demo", encoding=None))
        # A category whose code sorts before "registration" but which the catalogue lists after it.
        s.execute(update(Delivery).where(Delivery.id == 2).values(category="electricity"))
    c = login("operator")
    html = c.get("/deliveries?sort=category&desc=false").text
    shown = re.findall(r"<td>(登记注册|电费)</td>", html)
    assert shown == ["登记注册", "电费"]  # catalogue order; by code "electricity" would come first
    assert re.search(r"<td>演示数据</td>", html) and "<td>demo" not in html
    assert re.search(r"<td>CSV <small", html)
    demo = _text(c.get("/deliveries/1").text)
    assert "报送人 系统（演示数据）" in demo and "报送方式 演示数据" in demo


def test_a_records_history_reads_as_the_entity_page(app, login, db, registered) -> None:  # noqa: ANN001
    c = login("operator")
    entity = c.get(f"/entities/{registered[0]}").text
    first_cell = re.search(r'<tr class="rs-current"><td[^>]*>(.*?)</td>', entity, re.S)
    assert first_cell and "版本历史" in first_cell.group(1)  # in the first column, not after 18 others
    record_id = re.search(r'href="/records/(\d+)/history"', first_cell.group(1)).group(1)
    page = _text(c.get(f"/records/{record_id}/history").text)
    assert "接收于 2026-11-15 10:00:00 ·" in page and "UTC" not in page  # Beijing time, as everywhere
    assert "注册资本 100.00 万元" in page  # as the entity page writes money
    assert "所属行政区划 哈尔滨市道里区" in page and "所属行政区划 230102" not in page
    assert "国民经济行业代码 零售业" in page


def test_the_information_list_names_types_in_chinese(app, login) -> None:  # noqa: ANN001
    html = login("bank").get("/catalog?category=registration").text
    rows = re.findall(r"<tr[^>]*><td>(.*?)</tr>", html, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", "<td>" + r, re.S) for r in rows]
    assert len(cells) == 19  # the subject's code, then the category's 18 items
    types = {c[2] for c in cells}
    assert {"统一社会信用代码", "枚举", "文本", "数值", "日期", "身份证号码", "行政区划代码", "行业代码"} == types
    assert {c[4] for c in cells} == {"是", "否"} and {c[6] for c in cells} == {"是", "否"}  # never blank
    assert "不小于 0" in html  # registered capital's range in words, not "0 ~ "


@pytest.mark.parametrize(("user", "home"), [("bank", "/bank"), ("enterprise", "/my")])
def test_banks_and_enterprises_go_to_their_own_home_not_the_provinces_statistics(
        app, login, user: str, home: str) -> None:  # noqa: ANN001
    """Issue 23, item 11: the province-wide operations statistics are for the platform's staff; a bank's or an
    enterprise's user opening / is sent to their own home, and the statistics API refuses them."""
    c = login(user)
    r = c.get("/", follow_redirects=False)
    assert (r.status_code, r.headers.get("location")) == (303, home)
    api = c.get("/api/v1/stats/overview")
    assert (api.status_code, api.json()["error"]) == (403, "ROLE_FORBIDDEN")
    menu = c.get("/bank" if user == "bank" else "/my/authorizations").text.split("</nav>", 1)[0]
    assert "<nav>" in menu and not re.search(r'<a href="/"[^>]*>数据概览</a>', menu)  # nor does the menu


@pytest.mark.parametrize("user", ["operator", "regulator", "security"])
def test_staff_see_the_overview(app, login, user: str) -> None:  # noqa: ANN001
    c = login(user)
    page = c.get("/", follow_redirects=False)
    assert page.status_code == 200 and "数据概览" in page.text
    assert c.get("/api/v1/stats/overview").status_code == 200
