"""The authorized-sharing pages over HTTP: an enterprise grants (preview → confirm with the text digest), a
bank reads the profile and verifies a claim, the enterprise sees who looked and revokes, the bank is refused
with the code on the page; CSRF and roles are enforced; the staff pages search the log and work alerts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.access.conftest import BANK_A, BANK_B, ENTITY, populate
from tests.web.conftest import csrf_of
from xinyidai.access.models import Authorization
from xinyidai.accounts.models import User
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent

BANK_NAME = "龙江银行股份有限公司"


@pytest.fixture
def world(app, db, catalog):  # noqa: ANN001, ANN201
    """The sharing world of tests/access, with the web users attached to its enterprise and bank."""
    populate(db, catalog)
    with db.session() as s:
        s.execute(update(User).where(User.username == "enterprise").values(org_code=ENTITY))
        s.execute(update(User).where(User.username == "bank").values(org_code=BANK_A))
    return app


@pytest.fixture
def login(login):  # noqa: ANN001, ANN201
    """Clients as a browser is within the site: it says a page of this site made each request (reads that
    spend an authorization's use are served only then; see test_a_spending_page_opened_from_elsewhere_asks_first)."""
    def _login(username: str) -> TestClient:
        c = login(username)
        c.headers["Sec-Fetch-Site"] = "same-origin"
        return c
    return _login


def _hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no hidden field {name}"
    return m.group(1)


def _grant(c: TestClient, mode: str = "汇总查询", purpose: str = "贷前审查",
           categories: tuple[str, ...] = ("tax", "social_insurance")) -> str:
    """Grant through the pages: the form, the preview (its text), the confirmation with the digest."""
    form = c.get("/my/authorizations/new")
    assert form.status_code == 200 and BANK_NAME in form.text and "明示授权后原始明细" in form.text
    data = {"csrf_token": c.csrf, "institution_code": BANK_A, "purpose": purpose, "mode": mode,  # type: ignore[attr-defined]
            "categories": list(categories), "valid_until": (clock.now().date() + timedelta(days=30)).isoformat(),
            "max_uses": ""}
    preview = c.post("/my/authorizations/preview", data=data)
    assert preview.status_code == 200 and "信用信息查询授权书" in preview.text and BANK_NAME in preview.text
    digest = _hidden(preview.text, "text_digest")
    done = c.post("/my/authorizations", data={**data, "text_digest": digest}, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = c.get(done.headers["location"])
    assert "授权已生效" in page.text and "有效" in page.text
    return done.headers["location"].rsplit("/", 1)[-1].split("?")[0]


def test_grant_view_revoke_refuse(world, login) -> None:  # noqa: ANN001
    ent = login("enterprise")
    number = _grant(ent)
    listing = ent.get("/my/authorizations")
    assert number in listing.text and BANK_NAME in listing.text

    bank = login("bank")
    home = bank.get("/bank")
    assert home.status_code == 200 and "哈尔滨市龙信机械制造有限公司" in home.text and number in home.text
    profile = bank.get(f"/bank/entities/{ENTITY}")
    assert profile.status_code == 200
    assert "纳税" in profile.text and "汇总查询" in profile.text and number in profile.text
    assert "no-store" in profile.headers["cache-control"]

    detail = bank.get(f"/bank/entities/{ENTITY}/records/penalty")  # a public category: detail for anyone
    assert detail.status_code == 200 and "哈市监罚" in detail.text
    csv = bank.get(f"/bank/entities/{ENTITY}/records/penalty/export")
    assert csv.headers["content-type"].startswith("text/csv") and "追溯码" in csv.text
    summary_only = bank.get(f"/bank/entities/{ENTITY}/records/tax")  # 汇总查询 does not open the detail
    assert summary_only.status_code == 403 and "MODE_NOT_ALLOWED" in summary_only.text

    accesses = ent.get("/my/accesses")
    assert BANK_NAME in accesses.text and "查询信用概况" in accesses.text and "access-chart-data" in accesses.text

    unconfirmed = ent.post(f"/my/authorizations/{number}/revoke",
                           data={"csrf_token": ent.csrf, "reason": "贷款已结清"}, follow_redirects=False)
    assert unconfirmed.status_code == 422 and "请勾选" in unconfirmed.text and "贷款已结清" in unconfirmed.text
    letter = ent.get(f"/my/authorizations/{number}").text
    assert "撤销立即生效" in unconfirmed.text and "撤销立即生效" in letter
    assert "<dd>测试enterprise · " in letter  # who confirmed, by name, not by login
    assert bank.get(f"/bank/entities/{ENTITY}?authorization={number}").status_code == 200  # not revoked yet
    revoked = ent.post(f"/my/authorizations/{number}/revoke",
                       data={"csrf_token": ent.csrf, "reason": "贷款已结清", "confirm": "yes"}, follow_redirects=False)
    assert revoked.status_code == 303
    assert "<dd>测试enterprise · " in ent.get(f"/my/authorizations/{number}").text.split("<dt>撤销</dt>", 1)[1]
    page = ent.get(revoked.headers["location"])
    assert "已撤销" in page.text and "贷款已结清" in page.text

    refused = bank.get(f"/bank/entities/{ENTITY}?authorization={number}")
    assert refused.status_code == 403
    assert "AUTHORIZATION_REVOKED" in refused.text and "企业已撤销该授权" in refused.text and "已撤销" in refused.text
    # Without naming the authorization the bank sees the public tier only.
    public = bank.get(f"/bank/entities/{ENTITY}")
    assert public.status_code == 200 and "仅公开信息" in public.text
    assert "AUTHORIZATION_REVOKED" in ent.get("/my/accesses").text


def test_preview_digest_must_match(world, login) -> None:  # noqa: ANN001
    ent = login("enterprise")
    data = {"csrf_token": ent.csrf, "institution_code": BANK_A, "purpose": "贷前审查", "mode": "汇总查询",
            "categories": ["tax"], "valid_until": (clock.now().date() + timedelta(days=10)).isoformat()}
    r = ent.post("/my/authorizations", data={**data, "text_digest": "0" * 64})
    assert r.status_code == 409 and "AUTHORIZATION_TEXT_CHANGED" in r.text
    back = ent.post("/my/authorizations/new", data=data)  # 返回修改: the form, filled in as it was
    assert back.status_code == 200 and 'value="tax" checked' in back.text
    bad = ent.post("/my/authorizations/preview", data={**data, "mode": "核验比对"})
    assert bad.status_code == 422 and "“核验比对”方式只能用于“核验”用途，贷前审查请选择汇总查询或原始明细" in bad.text
    assert "新建授权" in bad.text
    assert "（BAD_MODE）" not in bad.text  # the reason in words; the code is for programs
    none = ent.post("/my/authorizations/preview", data={**data, "categories": []})
    assert "请至少选择一类信息" in none.text and "NO_CATEGORY）" not in none.text
    unknown = ent.post("/my/authorizations/preview", data={**data, "categories": ["nonexistent"]})
    assert "所请求的信息类别不在信息清单中" in unknown.text and "信息类别 nonexistent" not in unknown.text


def test_verification_form_is_idempotent(world, login) -> None:  # noqa: ANN001
    ent = login("enterprise")
    _grant(ent, mode="核验比对", purpose="核验")
    bank = login("bank")
    form = bank.get(f"/bank/entities/{ENTITY}/verify")
    assert form.status_code == 200
    rid = _hidden(form.text, "request_id")
    claim = {"csrf_token": bank.csrf, "request_id": rid, "target_0": "tax:tax_paid", "aggregate_0": "sum",
             "op_0": "ge", "value_0": "500000", "from_0": "2025-01", "to_0": "2025-12",
             "target_1": "social_insurance:insured_count", "aggregate_1": "latest", "op_1": "eq", "value_1": "99"}
    r = bank.post(f"/bank/entities/{ENTITY}/verify", data=claim)
    assert r.status_code == 200, r.text
    assert "相符" in r.text and "不符" in r.text and "签名密钥" in r.text
    assert "SM2 签名、SM3 摘要 ·" in r.text  # the receipt names its algorithms, not the suite's code "sm"
    assert "期间合计 不低于（≥） 500,000.00 元" in r.text  # amounts read as amounts, counts as counts
    assert "最近一期 等于 99<" in r.text
    assert _hidden(r.text, "request_id") != rid  # a fresh id for the next question
    again = bank.post(f"/bank/entities/{ENTITY}/verify", data=claim)
    assert "未重复计次" in again.text
    empty = bank.post(f"/bank/entities/{ENTITY}/verify", data={"csrf_token": bank.csrf, "request_id": "x1"})
    assert empty.status_code == 422 and "BAD_CLAIMS" in empty.text
    assert "已记入审计日志" not in empty.text  # refused as a form, before it became a request: nothing logged


def test_verification_form_refuses_a_value_that_is_not_a_number(world, login, db) -> None:  # noqa: ANN001
    """"abc" in a ≥ claim is refused before a use of the authorization is spent (it could only ever be
    answered 无法判断), the refusal is logged, and the page says why."""
    ent = login("enterprise")
    number = _grant(ent, mode="核验比对", purpose="核验")
    bank = login("bank")
    r = bank.post(f"/bank/entities/{ENTITY}/verify", data={
        "csrf_token": bank.csrf, "request_id": "abc-1", "target_0": "tax:tax_paid", "aggregate_0": "sum",
        "op_0": "ge", "value_0": "abc"})
    assert r.status_code == 422 and "INVALID_CLAIM" in r.text and "不是数字" in r.text
    assert "签名密钥" not in r.text and "已记入审计日志" in r.text
    with db.session() as s:
        assert s.execute(select(Authorization.uses).where(Authorization.number == number)).scalar_one() == 0
        actions = s.execute(select(AuditEvent.action).where(AuditEvent.request_id == "abc-1")).scalars().all()
        assert actions == ["access.refused"]


def test_verification_without_authorization_is_refused_and_logged(world, login) -> None:  # noqa: ANN001
    bank = login("bank")
    r = bank.post(f"/bank/entities/{ENTITY}/verify", data={
        "csrf_token": bank.csrf, "request_id": "r-1", "target_0": "tax", "op_0": "exists"})
    assert r.status_code == 403 and "NO_AUTHORIZATION" in r.text
    staff = login("security")
    audit = staff.get(f"/access/audit?entity={ENTITY}")
    assert audit.status_code == 200 and "访问被拒绝" in audit.text and "NO_AUTHORIZATION" in audit.text


def test_csrf_is_required(world, login) -> None:  # noqa: ANN001
    ent = login("enterprise")
    r = ent.post("/my/authorizations/preview", data={"institution_code": BANK_A, "purpose": "贷前审查",
                                                     "mode": "汇总查询", "categories": ["tax"]})
    assert r.status_code == 403 and "CSRF_FAILED" in r.text
    bank = login("bank")
    r = bank.post(f"/bank/entities/{ENTITY}/verify", data={"csrf_token": "forged", "target_0": "tax"})
    assert r.status_code == 403 and "CSRF_FAILED" in r.text


@pytest.mark.parametrize(("user", "path"), [
    ("bank", "/my/authorizations"), ("bank", "/my/accesses"), ("enterprise", "/bank"),
    ("enterprise", f"/bank/entities/{ENTITY}"), ("operator", "/bank"), ("bank", "/access/audit"),
    ("enterprise", "/access/alerts"),
])
def test_roles_not_admitted_get_403(world, login, user: str, path: str) -> None:  # noqa: ANN001
    r = login(user).get(path)
    assert r.status_code == 403 and "ROLE_FORBIDDEN" in r.text


def test_alerts_scan_and_close(world, login, fixed_clock) -> None:  # noqa: ANN001
    reg = login("regulator")
    page = reg.get("/access/alerts")
    assert page.status_code == 200 and "立即检测" not in page.text
    assert reg.post("/access/alerts/scan", data={"csrf_token": reg.csrf}).status_code == 403
    op = login("operator")
    bank = login("bank")
    for _ in range(21):  # more refusals than the 频繁被拒 threshold (20 an hour)
        bank.get(f"/bank/entities/{ENTITY}?authorization=SQ-NONE")
    clock.set_clock(lambda: fixed_clock + timedelta(minutes=1))  # the rules look at the window before now
    r = op.post("/access/alerts/scan", data={"csrf_token": op.csrf}, follow_redirects=False)
    assert r.status_code == 303
    alerts = op.get(r.headers["location"])
    assert "检测完成" in alerts.text
    m = re.search(r'action="/access/alerts/(\d+)/close"', alerts.text)
    assert m and "频繁被拒" in alerts.text
    closed = op.post(f"/access/alerts/{m.group(1)}/close", data={"csrf_token": csrf_of(alerts.text),
                                                                 "note": "已核实，系测试"}, follow_redirects=False)
    assert closed.status_code == 303
    assert "已核实，系测试" in op.get("/access/alerts?status=closed").text


def test_export_names_what_it_was_made_under(world, login) -> None:  # noqa: ANN001
    """The enterprise sees an export's purpose, authorization and category, as for every other access; a
    grant names the authorization it made; people are named, and refusals read as reasons, not codes."""
    ent = login("enterprise")
    number = _grant(ent, mode="原始明细", purpose="贷中管理", categories=("tax",))
    bank = login("bank")
    csv = bank.get(f"/bank/entities/{ENTITY}/records/tax/export?purpose=贷中管理")
    assert csv.status_code == 200 and number in csv.text
    bank.get(f"/bank/entities/{ENTITY}/records/social_insurance?purpose=贷中管理")  # out of scope: refused
    items = ent.get("/api/v1/access/my/accesses").json()["items"]
    export = next(i for i in items if i["action"] == "access.export")
    assert export["purpose"] == "贷中管理" and export["authorizations"] == [number]
    assert export["categories"] == {"tax": "原始明细"}
    granted = next(i for i in items if i["action"] == "authorization.granted")
    assert granted["authorizations"] == [number]
    refused = next(i for i in items if i["action"] == "access.refused")
    assert refused["code"] and refused["reason"]  # the API keeps the code, with the reason beside it
    page = ent.get("/my/accesses?action=access.export").text
    assert "导出明细" in page and number in page and "贷中管理" in page and "纳税" in page
    assert "测试bank" in page  # the officer's name, not the login name
    page = ent.get("/my/accesses?action=access.refused").text
    assert refused["reason"] in page and f">{refused['code']}<" not in page
    staff = login("security").get(f"/access/audit?entity={ENTITY}").text
    assert "哈尔滨市龙信机械制造有限公司" in staff and refused["reason"] in staff and "测试bank" in staff


def test_accesses_filtered_by_institution(world, login) -> None:  # noqa: ANN001
    ent = login("enterprise")
    number = _grant(ent)
    login("bank").get(f"/bank/entities/{ENTITY}")
    detail = ent.get(f"/my/authorizations/{number}").text
    assert f'href="/my/accesses?institution={BANK_A}"' in detail
    row = '<td class="nw">查询信用概况</td>'
    mine = ent.get(f"/my/accesses?institution={BANK_A}")
    assert mine.status_code == 200 and row in mine.text and "清除机构筛选" in mine.text
    other = ent.get(f"/my/accesses?institution={BANK_B}").text
    assert row not in other and "暂无访问记录" in other
    assert row in ent.get("/my/accesses").text
    api = ent.get("/api/v1/access/my/accesses", params={"institution": BANK_B}).json()
    assert api["total"] == 0


def test_bank_pages_read_as_the_enterprise_pages_do(world, login) -> None:  # noqa: ANN001
    ent = login("enterprise")
    _grant(ent, mode="原始明细", categories=("tax", "social_insurance"))
    bank = login("bank")
    profile = bank.get(f"/bank/entities/{ENTITY}").text
    assert "500.00 万元" in profile and "合计合计" not in profile
    assert "1,234,567.89 元" in profile  # the latest 申报销售收入, with separators and its unit
    detail = bank.get(f"/bank/entities/{ENTITY}/records/tax")
    assert detail.status_code == 200 and "1,234,567.89" in detail.text
    assert detail.text.count("<th>所属期") == 1  # the catalogue's period item, not a second column
    assert "哈尔滨市龙信机械制造有限公司" in detail.text.split("<h1")[0]  # the name in the breadcrumb
    unknown = bank.get(f"/bank/entities/{ENTITY}/records/nonexistent")
    assert "所请求的信息类别不在信息清单中" in unknown.text and "信息类别 nonexistent" not in unknown.text
    verify = bank.get(f"/bank/entities/{ENTITY}/verify").text
    assert "核验比对 · 哈尔滨市龙信机械制造有限公司" in verify


@pytest.mark.parametrize(("code", "status", "message"), [
    ("12345", 422, "统一社会信用代码应为 18 位字母或数字"),
    ("91230102XY0000999Z", 404, "未找到该市场主体"),
])
def test_bank_lookup_of_no_entity_says_so(world, login, code: str, status: int, message: str) -> None:  # noqa: ANN001
    r = login("bank").get(f"/bank/entities/{code}")
    assert r.status_code == status and message in r.text
    assert "该企业尚未向本机构授权" not in r.text and "本机构获得的授权" not in r.text


def _uses(db, number: str) -> int:  # noqa: ANN001
    with db.session() as s:
        return s.execute(select(Authorization.uses).where(Authorization.number == number)).scalar_one()


def _accesses(db) -> list[str]:  # noqa: ANN001
    with db.session() as s:
        return list(s.execute(select(AuditEvent.action).where(AuditEvent.action.like("access.%"))).scalars())


@pytest.mark.parametrize("path", [f"/bank/entities/{ENTITY}", f"/bank/entities/{ENTITY}/records/tax",
                                  f"/bank/entities/{ENTITY}/records/tax/export"])
def test_a_spending_page_opened_from_elsewhere_asks_first(world, login, db, path: str) -> None:  # noqa: ANN001
    """Issue 23, item 7: a read that spends a use of the enterprise's authorization is a GET with a SameSite=Lax
    cookie, so a link on another site (or in a mail, or a bookmark) opened by a bank officer would spend it in
    the bank's name. Unless the browser says a page of this site made the request, the page only asks; the
    officer's confirmation is a POST with the session's CSRF token, which no other site can forge."""
    number = _grant(login("enterprise"), mode="原始明细", categories=("tax",))
    bank = login("bank")
    url = f"{path}?purpose=贷前审查&authorization={number}"
    del bank.headers["Sec-Fetch-Site"]  # a browser too old to say
    for site in ("cross-site", "same-site", "none", None):
        r = bank.get(url, headers={"Sec-Fetch-Site": site} if site else {})
        assert r.status_code == 200 and "确认查询" in r.text, site
        assert "1,234,567.89" not in r.text and "追溯码" not in r.text
        assert "no-store" in r.headers["cache-control"]
    assert _uses(db, number) == 0 and _accesses(db) == []
    action = re.search(r'<form id="confirm-read" method="post" action="([^"]+)"', r.text).group(1).replace("&amp;", "&")
    assert action == url.replace("贷前审查", "%E8%B4%B7%E5%89%8D%E5%AE%A1%E6%9F%A5")
    forged = bank.post(action, data={"csrf_token": "forged"})
    assert forged.status_code == 403 and "CSRF_FAILED" in forged.text
    assert _uses(db, number) == 0 and _accesses(db) == []
    confirmed = bank.post(action, data={"csrf_token": _hidden(r.text, "csrf_token")})
    assert confirmed.status_code == 200 and "确认查询" not in confirmed.text
    assert "1,234,567.89" in confirmed.text or "追溯码" in confirmed.text
    assert _uses(db, number) == 1
    same = bank.get(url, headers={"Sec-Fetch-Site": "same-origin"})  # a link on the platform's own pages
    assert same.status_code == 200 and "确认查询" not in same.text and _uses(db, number) == 2


def test_public_views_say_public_information(world, login, db) -> None:  # noqa: ANN001
    """Issue 23, item 7: reading 行政处罚 (public) under an authorization for 纳税/社会保险/水费 spends none of its
    uses, and the enterprise and the staff read it as 公开信息, not as 查看原始明细 under no authorization."""
    ent = login("enterprise")
    number = _grant(ent, mode="原始明细", categories=("tax", "social_insurance", "water"))
    bank = login("bank")
    assert bank.get(f"/bank/entities/{ENTITY}/records/penalty").status_code == 200
    assert _uses(db, number) == 0
    row = re.search(r"<tr[^>]*><td class=\"nw\">[^<]*</td><td class=\"nw\">查看公开信息</td>.*?</tr>",
                    ent.get("/my/accesses").text, re.S)
    assert row and "公开信息" in row.group(0).split("查看公开信息", 1)[1] and "查看原始明细" not in row.group(0)
    staff = login("security").get(f"/access/audit?entity={ENTITY}").text.split("<tbody>", 1)[1]
    assert "查看公开信息" in staff and "查看原始明细" not in staff
    assert re.search(r"查看公开信息</td>.*?<td class=\"small\">\s*<span class=\"muted\">公开信息</span>", staff, re.S)
    assert "依据：公开信息" in login("security").get("/audit").text  # the audit log page names the field too
