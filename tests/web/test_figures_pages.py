"""融资统计 over HTTP: the page with its charts and tables, every table as CSV and XLSX, the JSON endpoint with the
page's numbers, the period filter and its refusals, and who may see any of it (operators and regulators)."""

from __future__ import annotations

import io
import json
import re
from datetime import date
from html import unescape

import pytest
from bench.market import build
from openpyxl import load_workbook

from xinyidai.kit.db import Database
from xinyidai.market import figures
from xinyidai.market.figures import Period


@pytest.fixture
def loans(app, db: Database) -> Database:  # noqa: ANN001 - the app creates the users first
    build(db, 240, entities=60, heads=5, end=date(2026, 11, 15), analyze=False)
    return db


def _report(db: Database, period: Period | None = None) -> dict:
    with db.session() as s:
        d = figures.report_dict(figures.report(s.connection(), period))
    d.pop("computed_at")
    return d


@pytest.mark.parametrize("role", ["operator", "regulator"])
def test_staff_see_the_charts_each_with_its_table(loans: Database, login, role: str) -> None:  # noqa: ANN001
    c = login(role)
    r = c.get("/market/figures")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    html = r.text
    assert '<a href="/market/figures" class="active">融资统计</a>' in html
    assert '<script src="/static/market-figures.js" defer></script>' in html and "<script>" not in html
    charts = dict(re.findall(r'id="chart-(\w+)" data-unit="[^"]*" data-figure-chart=\'([^\']*)\'', html))
    assert set(charts) == {"gauge", "months", "cities", "banks", "kinds", "sectors"}
    option = json.loads(unescape(charts["cities"]))
    d = _report(loans)
    assert option["xAxis"]["data"] == [x["name"] for x in d["by_city"]]
    assert option["series"][0]["data"] == [round(x["credit_share_amount"] * 100, 1) for x in d["by_city"]]
    for name in ("months", "cities", "banks", "kinds", "sectors", "response", "conversion", "reasons", "totals"):
        assert f'id="table-{name}"' in html and f'href="/market/figures/download/{name}.csv"' in html
    assert f'<td class="num">{d["totals"]["loans"]:,}</td>' in html
    assert figures.SECTOR_NOTE in html


def test_the_json_endpoint_gives_the_page_numbers(loans: Database, login) -> None:  # noqa: ANN001
    c = login("regulator")
    r = c.get("/api/v1/market/figures")
    assert r.status_code == 200
    body = r.json()
    assert body.pop("computed_at") and body == _report(loans)
    r = c.get("/api/v1/market/figures", params={"from": "2025-01", "to": "2025-06"})
    body = r.json()
    body.pop("computed_at")
    assert body == _report(loans, Period(202501, 202506)) and body["period"] == {"from": "2025-01", "to": "2025-06"}
    assert [m["month"] for m in body["by_month"]] == [f"2025-{m:02d}" for m in range(1, 7)]


@pytest.mark.parametrize("role", ["bank", "enterprise", "security"])
def test_others_are_refused(loans: Database, login, role: str) -> None:  # noqa: ANN001
    c = login(role)
    for path in ("/market/figures", "/api/v1/market/figures", "/market/figures/download/cities.csv"):
        r = c.get(path, headers={"accept": "application/json"})
        assert r.status_code == 403 and r.json()["error"] == "ROLE_FORBIDDEN", path
    assert "融资统计" not in c.get("/").text


def test_nobody_logged_in_is_sent_to_log_in(app) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    c = TestClient(app)
    r = c.get("/market/figures", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = c.get("/api/v1/market/figures")
    assert r.status_code == 401 and set(r.json()) == {"error", "message", "detail"}


def test_a_bad_period_is_explained_on_the_page_and_in_the_api(loans: Database, login) -> None:  # noqa: ANN001
    c = login("operator")
    r = c.get("/market/figures", params={"from": "2026-07", "to": "2026-03"})
    assert r.status_code == 422 and 'id="period-error"' in r.text and "起始月份 2026-07 晚于截止月份 2026-03" in r.text
    assert 'value="2026-07"' in r.text and "data-figure-chart" not in r.text
    r = c.get("/api/v1/market/figures", params={"from": "2026-13"})
    assert r.status_code == 422
    assert r.json() == {"error": "BAD_MONTH", "message": "起始月份“2026-13”应写作 YYYY-MM，如 2026-03", "detail": None}
    r = c.get("/market/figures/download/cities.csv", params={"to": "x"}, headers={"accept": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "BAD_MONTH"


def test_every_table_downloads_as_csv_and_xlsx(loans: Database, login) -> None:  # noqa: ANN001
    c = login("operator")
    period = {"from": "2025-01", "to": "2026-06"}
    with loans.session() as s:
        ts = figures.tables(figures.report(s.connection(), Period(202501, 202606)))
    for name, table in ts.items():
        r = c.get(f"/market/figures/download/{name}.csv", params=period)
        assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
        assert f'filename="market-figures-{name}-202501-202606.csv"' in r.headers["content-disposition"]
        assert "filename*=UTF-8''%E8%9E%8D%E8%B5%84%E7%BB%9F%E8%AE%A1-" in r.headers["content-disposition"]
        assert r.content == figures.csv_bytes(table) and r.content.startswith("\ufeff".encode())
        r = c.get(f"/market/figures/download/{name}.xlsx", params=period)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
        sheet = load_workbook(io.BytesIO(r.content))[table.title[:31]]
        assert [x.value for x in sheet[1]] == [col.title for col in table.columns]
        assert sheet.max_row >= len(table.rows) + 1
    r = c.get("/market/figures/download/all.xlsx")
    assert load_workbook(io.BytesIO(r.content)).sheetnames == list(figures.TABLES.values())


@pytest.mark.parametrize(("path", "code"), [
    ("/market/figures/download/nothing.csv", "UNKNOWN_TABLE"),
    ("/market/figures/download/cities.pdf", "UNKNOWN_FORMAT"),
    ("/market/figures/download/all.csv", "UNKNOWN_FORMAT"),
])
def test_unknown_downloads_are_refused(loans: Database, login, path: str, code: str) -> None:  # noqa: ANN001
    r = login("operator").get(path, headers={"accept": "application/json"})
    assert r.status_code == 404 and r.json()["error"] == code


def test_an_empty_market_renders(app, login) -> None:  # noqa: ANN001
    r = login("operator").get("/market/figures")
    assert r.status_code == 200 and "统计期间内没有数据" in r.text
