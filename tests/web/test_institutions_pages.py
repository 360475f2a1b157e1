"""Institution pages and JSON API, real-name registration pages and colleague accounts, over HTTP."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from tests.entities.helpers import BANK_CODE, ENTITY_CODE, ENTITY_NAME, LEGAL_REP, LEGAL_REP_ID, add_entity
from tests.web.conftest import PASSWORD, csrf_of
from xinyidai.kit.db import Database
from xinyidai.kit.notify import FileNotifier


def _onboard(c: TestClient, code: str = BANK_CODE, name: str = "哈尔滨测试银行股份有限公司") -> None:
    r = c.post("/institutions/new", data={"csrf_token": c.csrf, "code": code, "name": name, "kind": "银行",
                                          "region_code": "230100", "rate_per_minute": "600"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/institutions/{code}?done=onboarded", r.text


def _issue_key(c: TestClient, code: str = BANK_CODE) -> str:
    r = c.post(f"/institutions/{code}/credentials", data={"csrf_token": c.csrf, "kind": "api_key",
                                                         "label": "信贷系统", "expires_days": ""})
    assert r.status_code == 200 and "只显示这一次" in r.text
    assert r.headers["cache-control"] == "no-store"
    m = re.search(r'id="api-key-value" readonly value="(xyd_[0-9a-f]{16}\.[A-Za-z0-9_-]+)"', r.text)
    assert m
    return m.group(1)


def test_operator_onboards_and_manages_an_institution(login) -> None:  # noqa: ANN001
    c = login("operator")
    assert "金融机构" in c.get("/").text  # in the navigation
    page = c.get("/institutions/new")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    bad = c.post("/institutions/new", data={"csrf_token": c.csrf, "code": BANK_CODE[:17], "name": "某银行",
                                            "kind": "银行"})
    assert bad.status_code == 422 and "统一社会信用代码应为18位" in bad.text
    no_csrf = c.post("/institutions/new", data={"code": BANK_CODE, "name": "某银行", "kind": "银行"})
    assert no_csrf.status_code == 403
    _onboard(c)
    detail = c.get(f"/institutions/{BANK_CODE}?done=onboarded")
    assert "机构已接入" in detail.text and "哈尔滨测试银行股份有限公司" in detail.text
    facts = detail.text.split("机构用户")[0]
    assert "600 次/分钟" in facts and "经办：测试operator" in facts  # the unit, and a person's name, not a login
    assert re.search(r"<dt>上级机构</dt><dd><span class=\"muted\">无</span>", facts)  # not a dash, read as 一
    listing = c.get("/institutions?q=哈尔滨&sort=name&desc=false")
    assert listing.status_code == 200 and BANK_CODE in listing.text

    token = _issue_key(c)
    assert token not in c.get(f"/institutions/{BANK_CODE}").text  # shown once only
    assert c.get("/api/v1/institutions/me", headers={"X-Api-Key": token}).json()["code"] == BANK_CODE

    missing_reason = c.post(f"/institutions/{BANK_CODE}/status", data={"csrf_token": c.csrf, "action": "suspend",
                                                                      "reason": ""})
    assert missing_reason.status_code == 422 and "请填写原因" in missing_reason.text
    r = c.post(f"/institutions/{BANK_CODE}/status", data={"csrf_token": c.csrf, "action": "suspend",
                                                         "reason": "核查异常查询"}, follow_redirects=True)
    assert "机构已暂停" in r.text and "已暂停" in r.text
    refused = c.get("/api/v1/institutions/me", headers={"X-Api-Key": token})
    assert (refused.status_code, refused.json()["error"]) == (403, "INSTITUTION_SUSPENDED")
    c.post(f"/institutions/{BANK_CODE}/status", data={"csrf_token": c.csrf, "action": "reactivate",
                                                     "reason": "核查完毕"})

    key_id = token[4:20]
    r = c.post(f"/institutions/{BANK_CODE}/credentials/{key_id}/rotate",
               data={"csrf_token": c.csrf, "grace_hours": "0"})
    assert r.status_code == 200 and "只显示这一次" in r.text
    assert c.get("/api/v1/institutions/me", headers={"X-Api-Key": token}).json()["error"] == "CREDENTIAL_REVOKED"
    new_key_id = re.search(r"凭证编号 <code>([0-9a-f]{16})</code>", r.text).group(1)
    r = c.post(f"/institutions/{BANK_CODE}/credentials/{new_key_id}/status",
               data={"csrf_token": c.csrf, "action": "revoke", "reason": "测试吊销"}, follow_redirects=True)
    assert "凭证已吊销" in r.text


def test_bank_user_of_a_suspended_institution_is_refused(login) -> None:  # noqa: ANN001
    op = login("operator")
    _onboard(op)
    r = op.post(f"/institutions/{BANK_CODE}/users", data={"csrf_token": op.csrf, "username": "teller9",
                                                         "display_name": "李信贷", "password": PASSWORD,
                                                         "org_admin": "1"}, follow_redirects=True)
    assert "用户已添加" in r.text and "机构管理员" in r.text
    teller = login("teller9")
    me = teller.get("/api/v1/institutions/me").json()
    assert me["code"] == BANK_CODE and me["authenticated_by"] == "session"
    assert teller.get(f"/institutions/{BANK_CODE}").status_code == 200  # its own institution, read-only
    assert teller.get("/institutions").status_code == 403
    op.post(f"/institutions/{BANK_CODE}/status", data={"csrf_token": op.csrf, "action": "suspend",
                                                      "reason": "暂停合作"})
    r = teller.get("/api/v1/institutions/me")
    assert (r.status_code, r.json()["error"]) == (403, "INSTITUTION_SUSPENDED")
    assert teller.get("/catalog", headers={"accept": "text/html"}).status_code == 403


def test_roles_on_institution_pages(login) -> None:  # noqa: ANN001
    op = login("operator")
    _onboard(op)
    regulator = login("regulator")
    assert regulator.get("/institutions").status_code == 200
    assert regulator.get(f"/institutions/{BANK_CODE}").status_code == 200
    r = regulator.post(f"/institutions/{BANK_CODE}/status", data={"csrf_token": regulator.csrf,
                                                                 "action": "suspend", "reason": "越权"})
    assert r.status_code == 403
    bank = login("bank")  # a bank user of no onboarded institution
    assert bank.get(f"/institutions/{BANK_CODE}").status_code == 403
    assert login("enterprise").get("/institutions").status_code == 403


def test_json_api_for_operators(login) -> None:  # noqa: ANN001
    c = login("operator")
    h = {"X-CSRF-Token": c.csrf}
    r = c.post("/api/v1/institutions", json={"code": BANK_CODE, "name": "哈尔滨测试银行", "kind": "银行"}, headers=h)
    assert r.status_code == 201 and r.json()["status"] == "active"
    assert c.post("/api/v1/institutions", json={"code": BANK_CODE, "name": "重复的银行", "kind": "银行"},
                  headers=h).json()["error"] == "INSTITUTION_EXISTS"
    listing = c.get("/api/v1/institutions?q=哈尔滨").json()
    assert listing["total"] == 1 and listing["items"][0]["code"] == BANK_CODE
    issued = c.post(f"/api/v1/institutions/{BANK_CODE}/credentials", json={"label": "接口"}, headers=h)
    assert issued.status_code == 201 and issued.json()["api_key"].startswith("xyd_")
    assert "secret_hash" not in issued.json()
    key_id = issued.json()["key_id"]
    rotated = c.post(f"/api/v1/institutions/{BANK_CODE}/credentials/{key_id}/rotate", json={"grace_hours": 2},
                     headers=h).json()
    assert rotated["api_key"].startswith("xyd_") and rotated["old"]["expires_at"]
    creds = c.get(f"/api/v1/institutions/{BANK_CODE}/credentials").json()["items"]
    assert len(creds) == 2 and all("api_key" not in x for x in creds)
    r = c.post(f"/api/v1/institutions/{BANK_CODE}/status", json={"action": "suspend", "reason": "测试"}, headers=h)
    assert r.json()["status"] == "suspended"
    assert c.post(f"/api/v1/institutions/{BANK_CODE}/status", json={"action": "suspend", "reason": "测试"}
                  ).json()["error"] == "CSRF_FAILED"
    user = c.post(f"/api/v1/institutions/{BANK_CODE}/users", headers=h,
                  json={"username": "api-teller", "display_name": "接口用户", "password": PASSWORD}).json()
    assert user["role"] == "bank" and user["org_code"] == BANK_CODE
    assert "/api/v1/institutions" in c.get("/openapi.json").json()["paths"]
    assert "XYD-SIG-V1" in c.get("/openapi.json").json()["info"]["description"]


def _register(c: TestClient, **changes: str):  # noqa: ANN202
    page = c.get("/register")
    assert page.status_code == 200 and "企业实名注册" in page.text
    data = {"csrf_token": csrf_of(page.text), "entity_code": ENTITY_CODE, "entity_name": ENTITY_NAME,
            "person_name": LEGAL_REP, "id_number": LEGAL_REP_ID, "phone": "13804510000", "username": "fa-ren",
            "password": PASSWORD, "password2": PASSWORD, **changes}
    return c.post("/register", data=data, follow_redirects=False)


def test_registration_pages_and_colleagues(app, db: Database, tmp_path: Path, login) -> None:  # noqa: ANN001
    with db.session() as s:
        add_entity(s)
    notifications = FileNotifier(tmp_path / "var" / "notifications.log")
    c = TestClient(app)
    assert c.get("/register/confirm", follow_redirects=False).headers["location"] == "/register"
    forged = c.post("/register", data={"csrf_token": "forged", "entity_code": ENTITY_CODE})
    assert forged.status_code == 403

    wrong = _register(c, person_name="李四")
    assert wrong.status_code == 422 and "所填信息与市场主体登记信息不一致" in wrong.text
    assert LEGAL_REP_ID not in wrong.text  # the ID number is not echoed back

    r = _register(c)
    assert r.status_code == 303 and r.headers["location"] == "/register/confirm"
    page = c.get("/register/confirm")
    assert "138****0000" in page.text and ENTITY_NAME in page.text
    code = re.search(r"验证码 (\d{6})", notifications.messages()[-1]["message"]).group(1)
    bad = c.post("/register/confirm", data={"csrf_token": csrf_of(page.text), "code": "000000" if code != "000000"
                                            else "111111"})
    assert bad.status_code == 422 and "还可尝试 4 次" in bad.text
    done = c.post("/register/confirm", data={"csrf_token": csrf_of(bad.text), "code": code})
    assert done.status_code == 200 and "注册成功" in done.text and "fa-ren" in done.text

    again = _register(TestClient(app), username="another")
    assert again.status_code == 409 and "已有经过实名验证的管理员" in again.text

    admin = login("fa-ren")
    assert "同事账户" in admin.get("/").text
    r = admin.post("/my/colleagues", data={"csrf_token": admin.csrf, "username": "kuaiji", "display_name": "赵会计",
                                           "password": PASSWORD}, follow_redirects=True)
    assert "同事账户已添加" in r.text and "赵会计" in r.text
    mate = login("kuaiji")
    assert mate.get("/my/colleagues").status_code == 403
    assert mate.get(f"/api/v1/entities/{ENTITY_CODE}").status_code == 200
    uid = re.search(r'/my/colleagues/(\d+)/active', r.text).group(1)
    r = admin.post(f"/my/colleagues/{uid}/active", data={"csrf_token": admin.csrf, "active": "0"},
                   follow_redirects=True)
    assert "该账户已停用" in r.text
    assert mate.get("/api/v1/entities/" + ENTITY_CODE).status_code == 401  # its session ended
