"""The ranking's pages and JSON API through the application: who may see them, a run computed from the page and
from the API, the map's data, a city's drill-down, the XLSX export, the refusals in words (no data, a bad
month, a bad indicator file) with nothing stored."""

from __future__ import annotations

import html as html_lib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.oversight import province, signin
from tests.oversight.province import HARBIN
from xinyidai.accounts.models import User
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.oversight.models import IndicatorSystemVersion, Run

PASSWORD = "correct horse battery staple"


def _login(app: Any, username: str) -> Any:
    return signin.login(app, username, PASSWORD)


def _csrf(c: TestClient, path: str) -> str:
    return signin.token_of(c.get(path).text)


@pytest.fixture
def clients(db: Database, tmp_path: Path) -> Iterator[dict[str, TestClient]]:
    from xinyidai.app import create_app
    from xinyidai.config import load_settings

    hashed = PasswordHasher().hash(PASSWORD)
    with db.session() as s:
        province.build(s)
        for username, role, org in (("reg", "regulator", None), ("op", "operator", None),
                                    ("teller", "bank", province.BANK), ("ent", "enterprise", province.h(0))):
            s.add(User(username=username, display_name=f"测试{username}", role=role, password_hash=hashed,
                       org_code=org, created_at=clock.now()))
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)
    out = {name: _login(app, name) for name in ("reg", "op", "teller", "ent")}
    out["db"] = db  # type: ignore[assignment]
    yield out
    for name, c in out.items():
        if name != "db":
            c.close()


def _runs(db: Database) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(Run)).scalar_one()


def test_a_regulator_computes_a_month_from_the_page_and_drills_into_it(clients: dict[str, Any]) -> None:
    reg = clients["reg"]
    page = reg.get("/oversight?start=2026-11")
    assert page.status_code == 200 and "尚未计算" in page.text
    r = reg.post("/oversight/runs", data={"start": "2026-11", "end": "", "csrf_token": _csrf(reg, "/oversight")},
                 follow_redirects=False)
    assert r.status_code == 303
    html = reg.get(r.headers["location"]).text
    assert html.count('<tr data-city="') == 13 and "哈尔滨市" in html
    option = json.loads(html_lib.unescape(re.search(r"data-oversight-map='([^']+)'", html).group(1)))  # type: ignore[union-attr]
    assert option["series"][0]["map"] == "heilongjiang"
    assert {d["name"] for d in option["series"][0]["data"]} >= {"哈尔滨市", "大兴安岭地区"}
    number = re.search(r"KH-202611-202611-[0-9a-f]{8}-1", html).group(0)  # type: ignore[union-attr]
    city = reg.get(f"/oversight/runs/{number}/cities/{HARBIN}")
    assert city.status_code == 200 and city.text.count('data-indicator="') == 17
    drill = reg.get(f"/oversight/runs/{number}/cities/{HARBIN}/F2")
    assert drill.status_code == 200 and "L1" in drill.text and "L2" in drill.text and "L0" not in drill.text
    assert reg.get(f"/oversight/runs/{number}/cities/999999").status_code == 404
    assert reg.get(f"/oversight/runs/{number}/cities/{HARBIN}/ZZ").status_code == 404
    # The same month again gives the stored run; nothing is recomputed.
    reg.post("/oversight/runs", data={"start": "2026-11", "csrf_token": _csrf(reg, "/oversight")})
    assert _runs(clients["db"]) == 1


def test_the_export_carries_the_stored_run(clients: dict[str, Any]) -> None:
    reg = clients["reg"]
    body = reg.post("/api/v1/oversight/runs", json={"start": "2026-11"}, headers={"X-CSRF-Token": _csrf(reg, "/oversight")})
    assert body.status_code == 200, body.text
    data = body.json()
    assert len(data["cities"]) == 13 and data["cities"][0]["rank"] == 1
    harbin = next(c for c in data["cities"] if c["city_code"] == HARBIN)
    assert next(v for v in harbin["values"] if v["indicator"] == "F2")["value"] == pytest.approx(400.0)
    number = data["run"]["number"]
    x = reg.get(f"/oversight/runs/{number}.xlsx")
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(x.content))
    ranked = [r for r in wb["排名"].iter_rows(min_row=2, values_only=True) if isinstance(r[0], int)]
    assert [r[1] for r in ranked] == [c["city_code"] for c in data["cities"]]
    values = {(r[0], r[2]): r[5] for r in wb["指标值与得分"].iter_rows(min_row=2, values_only=True)}
    assert values[(HARBIN, "F4")] == pytest.approx(25.0) and values[(HARBIN, "C2")] == pytest.approx(2.0)
    assert reg.get(f"/api/v1/oversight/runs/{number}").json()["run"]["number"] == number
    assert [r["number"] for r in reg.get("/api/v1/oversight/runs").json()] == [number]


def test_only_the_office_and_the_operator_see_it(clients: dict[str, Any]) -> None:
    for who in ("teller", "ent"):
        assert clients[who].get("/oversight").status_code == 403
        assert clients[who].get("/api/v1/oversight/runs").status_code == 403
    assert clients["op"].get("/oversight").status_code == 200
    anon = TestClient(clients["reg"].app)
    assert anon.get("/api/v1/oversight/runs").status_code in (401, 403)


def test_refusals_in_words_and_nothing_stored(clients: dict[str, Any]) -> None:
    reg = clients["reg"]
    token = _csrf(reg, "/oversight")
    empty = reg.post("/oversight/runs", data={"start": "2025-01", "csrf_token": token})
    assert empty.status_code == 422 and "无法排名" in empty.text and "OVERSIGHT_NO_DATA" in empty.text
    bad = reg.post("/api/v1/oversight/runs", json={"start": "2026-13"}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 422 and bad.json()["error"] == "BAD_MONTH"
    inverted = reg.post("/api/v1/oversight/runs", json={"start": "2026-11", "end": "2026-01"},
                        headers={"X-CSRF-Token": token})
    assert inverted.json()["error"] == "MONTH_RANGE_INVERTED"
    assert _runs(clients["db"]) == 0


def test_a_bad_indicator_file_is_refused_with_every_error_listed(clients: dict[str, Any]) -> None:
    reg = clients["reg"]
    token = _csrf(reg, "/oversight/indicators")
    yaml_text = ("version: '9'\nname: 坏文件\ngroups: [{code: g, name: 组}]\nindicators:\n"
                 "  - {code: A, name: 甲, group: g, measure: nope, weight: 0.5, normalise: {method: minmax}}\n"
                 "  - {code: A, name: 乙, group: g, measure: applications, direction: higher, weight: 0.2,"
                 " normalise: {method: minmax}}\n")
    r = reg.post("/oversight/indicators", data={"csrf_token": token},
                 files={"file": ("坏.yaml", yaml_text.encode(), "application/x-yaml")})
    assert r.status_code == 422
    for needle in ("计算方法 &#39;nope&#39; 不存在", "缺少方向 direction", "指标代码 A 重复", "权重之和应为 1"):
        assert needle in r.text, needle
    with clients["db"].session() as s:
        assert s.execute(select(func.count()).select_from(IndicatorSystemVersion)
                         .where(IndicatorSystemVersion.version == "9")).scalar_one() == 0
    # The operator may read the system but not load one.
    assert clients["op"].post("/oversight/indicators", data={"csrf_token": _csrf(clients["op"], "/oversight")},
                              files={"file": ("a.yaml", b"x", "application/x-yaml")}).status_code == 403


def test_banks_tasks_and_reports_as_json(clients: dict[str, Any]) -> None:
    reg = clients["reg"]
    lines = reg.get("/api/v1/oversight/banks?from=2026-11&to=2026-11")
    assert lines.status_code == 200, lines.text
    bank = next(b for b in lines.json() if b["code"] == province.BANK)
    # Harbin's and Qiqihar's November loans are all the test bank's: 600 万元 in three loans, two first loans.
    assert bank["loans"] == 3 and bank["granted"] == pytest.approx(6_000_000.0) and bank["first_loans"] == 2
    assert reg.get("/api/v1/oversight/banks?from=2026-13").json()["error"] == "BAD_MONTH"
    token = _csrf(reg, "/oversight")
    reg.post("/oversight/tasks/notice", data={"csrf_token": token})
    listed = reg.get("/api/v1/oversight/tasks?kind=notice").json()
    assert len(listed) == 14 and listed[0]["deadline"] <= listed[-1]["deadline"]
    assert all(t["overdue"] for t in listed if t["deadline"] < "2026-11-15" and t["state"] != "done")
    assert reg.get("/api/v1/oversight/tasks?state=nope").status_code == 422
    assert reg.get("/api/v1/oversight/reports").json() == []
    for who in ("teller", "ent"):
        assert clients[who].get("/api/v1/oversight/banks").status_code == 403
        assert clients[who].get("/api/v1/oversight/tasks").status_code == 403
