"""The incident register's pages and API over HTTP: a security officer records an incident naming the
enterprise, the enterprise sees it on 谁查看了我的数据 and another enterprise does not, the recording
officer cannot close it and a second one does; an operator reads but cannot write."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import ENTERPRISE_CODE, PASSWORD
from xinyidai.accounts.users import create_user
from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock

OTHER = make_uscc("230100", 7301)


@pytest.fixture
def world(app, db):  # noqa: ANN001, ANN201
    with db.session() as s:
        for code in (ENTERPRISE_CODE, OTHER):
            s.add(MarketEntity(code=code, name=f"企业{code[-4:]}", region_code="230100", updated_at=clock.now()))
        create_user(s, username="security2", display_name="测试安全2", role="security", password=PASSWORD)
        create_user(s, username="other-ent", display_name="另一企业", role="enterprise", password=PASSWORD,
                    org_code=OTHER)
    return app


def _record(c: TestClient, title: str, entity: str) -> str:
    form = c.get("/incidents/new")
    assert form.status_code == 200 and "登记安全事件" in form.text
    r = c.post("/incidents/new", data={
        "csrf_token": c.csrf, "kind": "leak", "severity": "major", "title": title,  # type: ignore[attr-defined]
        "description": "前置机日志显示异常导出", "found_at": "2026-11-15T09:00", "occurred_at": "2026-11-14T22:10",
        "party_kind": "platform", "party_code": "", "responsible_unit": "省公共信用中心",
        "data_affected": "企业纳税信息", "audit_event_ids": "", "entity_codes": entity}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].split("?")[0].rsplit("/", 1)[-1]


def test_the_enterprise_sees_its_incident_and_not_anothers(world, login) -> None:  # noqa: ANN001
    sec = login("security")
    mine = _record(sec, "前置机异常导出纳税数据", ENTERPRISE_CODE)
    _record(sec, "另一家企业的事件", OTHER)
    page = sec.get(f"/incidents/{mine}?done=recorded")
    assert page.status_code == 200 and "安全事件已登记" in page.text and ENTERPRISE_CODE in page.text

    ent = login("enterprise").get("/my/accesses")
    assert ent.status_code == 200 and "涉及本企业数据的安全事件" in ent.text
    assert "前置机异常导出纳税数据" in ent.text and "另一家企业的事件" not in ent.text
    assert "企业纳税信息" in ent.text and "处置中" in ent.text

    other = login("other-ent").get("/my/accesses")
    assert "另一家企业的事件" in other.text and "前置机异常导出纳税数据" not in other.text


def test_a_second_officer_closes_and_the_operator_only_reads(world, login) -> None:  # noqa: ANN001
    sec = login("security")
    number = _record(sec, "测试事件", ENTERPRISE_CODE)
    r = sec.post(f"/incidents/{number}/actions", data={"csrf_token": sec.csrf, "text": "已封禁异常账号"},  # type: ignore[attr-defined]
                 follow_redirects=False)
    assert r.status_code == 303
    refused = sec.post(f"/incidents/{number}/close", data={"csrf_token": sec.csrf, "closure": "自己结案"})  # type: ignore[attr-defined]
    assert refused.status_code == 403 and 'data-code="SAME_OFFICER"' in refused.text

    op = login("operator")
    assert number in op.get("/incidents?severity=major&sort=found_at").text
    assert op.post("/incidents/new", data={"csrf_token": op.csrf}).status_code == 403  # type: ignore[attr-defined]

    sec2 = login("security2")
    done = sec2.post(f"/incidents/{number}/close", data={"csrf_token": sec2.csrf, "closure": "查明原因，追究责任"})  # type: ignore[attr-defined]
    assert done.status_code == 200 and "事件已结案" in done.text and "查明原因，追究责任" in done.text
    assert "已封禁异常账号" in login("enterprise").get("/my/accesses").text


def test_the_form_comes_back_with_the_refusal(world, login) -> None:  # noqa: ANN001
    sec = login("security")
    r = sec.post("/incidents/new", data={
        "csrf_token": sec.csrf, "kind": "leak", "severity": "minor", "title": "标题保留",  # type: ignore[attr-defined]
        "description": "经过", "found_at": "2026-11-15T09:00", "party_kind": "platform",
        "responsible_unit": "平台", "audit_event_ids": "99999", "entity_codes": ""})
    assert r.status_code == 422 and 'data-code="AUDIT_EVENT_UNKNOWN"' in r.text and "标题保留" in r.text


def test_the_api_records_and_lists(world, login) -> None:  # noqa: ANN001
    sec = login("security")
    sec.headers["X-CSRF-Token"] = sec.csrf  # type: ignore[attr-defined]
    body = {"kind": "intrusion", "severity": "critical", "title": "接口遭暴力破解", "description": "登录失败激增",
            "found_at": "2026-11-15T01:00:00+00:00", "responsible_unit": "省公共信用中心",
            "entity_codes": [ENTERPRISE_CODE]}
    r = sec.post("/api/v1/incidents", json=body)
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert re.fullmatch(r"AQ-20261115-\d{3}", number) and r.json()["entities"] == [ENTERPRISE_CODE]
    bad = sec.post("/api/v1/incidents", json={**body, "audit_event_ids": [424242]})
    assert bad.status_code == 422 and bad.json()["error"] == "AUDIT_EVENT_UNKNOWN"
    listed = login("regulator").get("/api/v1/incidents?severity=critical").json()
    assert [x["number"] for x in listed["items"]] == [number]
    again = sec.post(f"/api/v1/incidents/{number}/close", json={"closure": "自己结案"})
    assert again.status_code == 403 and again.json()["error"] == "SAME_OFFICER"
