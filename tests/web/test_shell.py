"""The web shell over HTTP: log-in, sessions, CSRF, roles, pages, API errors, upload, OpenAPI."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.records.helpers import REG_HEADER, TAX_HEADER, codes, registration_rows, tax_rows, write_csv
from tests.web.conftest import ENTERPRISE_CODE, csrf_of
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent


def test_pages_require_login_and_redirect_back(app) -> None:  # noqa: ANN001
    c = TestClient(app)
    r = c.get("/entities?q=哈尔滨", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/entities")
    api = c.get("/api/v1/entities")
    assert api.status_code == 401 and api.json()["error"] == "UNAUTHENTICATED"
    assert set(api.json()) == {"error", "message", "detail"}


STRANGER = ("198.51.100.7", 50000)
OWNER = ("203.0.113.9", 50000)


def _try_login(c: TestClient, username: str, password: str = "nope") -> tuple[int, str]:
    """A log-in through the form: the status and the notice the page shows (the redirect's target if none)."""
    page = c.get("/login")
    r = c.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
               follow_redirects=False)
    notice = re.search(r'<div class="notice bad" role="alert">(.*?)</div>', r.text)
    return r.status_code, notice.group(1) if notice else r.headers.get("location", "")


def test_refusals_look_alike_and_a_stranger_cannot_lock_the_owner_out(app, db) -> None:  # noqa: ANN001
    """Unknown user, wrong password and a locked account get one answer; the lock holds for the client that
    earned it, not for the account's owner elsewhere; the audit log keeps the real reasons."""
    stranger = TestClient(app, client=STRANGER)
    unknown = _try_login(stranger, "no-such-user")
    wrong = [_try_login(stranger, "operator") for _ in range(5)]
    locked = _try_login(stranger, "operator", "correct-horse-9")
    assert unknown[0] == 401 and "用户名或密码不正确" in unknown[1]
    assert set(wrong) == {unknown} and locked == unknown
    assert _try_login(TestClient(app, client=OWNER), "operator", "correct-horse-9") == (303, "/")
    with db.session() as s:
        reasons = [(e.action, e.detail["reason"]) for e in s.execute(
            select(AuditEvent).where(AuditEvent.action.in_(("login.failed", "login.refused")))
            .order_by(AuditEvent.id)).scalars()]
    assert reasons == [("login.failed", "unknown")] + [("login.failed", "password")] * 5 + \
        [("login.refused", "locked")]


def test_one_client_is_throttled_across_usernames(app, db) -> None:  # noqa: ANN001
    """Spraying one password over many usernames from one address: after 20 failures in 15 minutes that
    address gets 429 without any check (its refusals summed up in the audit log), while others log in as
    usual."""
    stranger = TestClient(app, client=STRANGER)
    for i in range(20):
        assert _try_login(stranger, f"guess{i}")[0] == 401
    status, notice = _try_login(stranger, "operator", "correct-horse-9")
    assert status == 429 and "登录失败次数过多" in notice
    assert [_try_login(stranger, "operator", "correct-horse-9")[0] for _ in range(3)] == [429] * 3
    assert _try_login(TestClient(app, client=OWNER), "operator", "correct-horse-9") == (303, "/")
    with db.session() as s:
        throttled = s.execute(select(AuditEvent).where(AuditEvent.action == "login.refused")).scalars().all()
    assert [e.detail["reason"] for e in throttled] == ["throttled"]  # the next three are only counted


def test_login_form_needs_its_csrf_token(app) -> None:  # noqa: ANN001
    c = TestClient(app)
    c.get("/login")
    r = c.post("/login", data={"username": "operator", "password": "correct-horse-9", "csrf_token": "forged"})
    assert r.status_code == 403 and r.json()["error"] == "CSRF_FAILED"


def test_open_redirect_is_refused(app) -> None:  # noqa: ANN001
    c = TestClient(app)
    page = c.get("/login")
    r = c.post("/login", data={"username": "operator", "password": "correct-horse-9",
                                "csrf_token": csrf_of(page.text), "next": "//evil.example/"},
               follow_redirects=False)
    assert r.headers["location"] == "/"


def test_session_expires(login, fixed_clock) -> None:  # noqa: ANN001
    c = login("operator")
    assert c.get("/api/v1/stats/overview").status_code == 200
    clock.set_clock(lambda: fixed_clock + timedelta(hours=3))
    assert c.get("/api/v1/stats/overview").status_code == 401


def test_unsafe_requests_need_csrf(login) -> None:  # noqa: ANN001
    c = login("operator")
    r = c.post("/api/v1/records/1/withdraw", json={"reason": "测试原因"})
    assert r.status_code == 403 and r.json()["error"] == "CSRF_FAILED"
    r = c.post("/api/v1/records/1/withdraw", json={"reason": "测试原因"}, headers={"X-CSRF-Token": c.csrf})
    assert r.status_code == 404 and r.json()["error"] == "RECORD_NOT_FOUND"


def test_roles_are_denied_by_default(login) -> None:  # noqa: ANN001
    bank = login("bank")
    assert bank.get("/api/v1/entities").status_code == 403
    assert bank.get("/api/v1/entities/91230100XY00000121/records").json()["error"] == "ENTITY_FORBIDDEN"
    assert bank.get("/api/v1/deliveries").status_code == 403
    assert bank.get("/catalog").status_code == 200
    regulator = login("regulator")
    assert regulator.get("/upload").status_code == 403


def _load_demo_data(c: TestClient, tmp_path) -> list[str]:  # noqa: ANN001
    ents = codes(5)
    reg = write_csv(tmp_path / "reg.csv", REG_HEADER, registration_rows(ents))
    with open(reg, "rb") as fh:
        r = c.post("/api/v1/deliveries?wait=true", files={"file": ("登记.csv", fh, "text/csv")},
                   data={"category": "registration", "provider": "黑龙江省市场监督管理局"},
                   headers={"X-CSRF-Token": c.csrf})
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    tax = write_csv(tmp_path / "tax.csv", TAX_HEADER, tax_rows(ents, ["2026-09", "2026-10"]), "gbk")
    with open(tax, "rb") as fh:
        r = c.post("/api/v1/deliveries?wait=true", files={"file": ("纳税.csv", fh, "text/csv")},
                   data={"category": "tax", "provider": "哈尔滨市税务局"}, headers={"X-CSRF-Token": c.csrf})
    assert r.json()["rows_new"] == 10 and r.json()["encoding"] == "gb18030"
    return ents


def test_api_upload_search_and_records(login, tmp_path) -> None:  # noqa: ANN001
    c = login("operator")
    ents = _load_demo_data(c, tmp_path)
    found = c.get("/api/v1/entities", params={"q": "测试3"}).json()
    assert found["total"] == 1 and found["items"][0]["code"] == ents[3]
    assert c.get("/api/v1/entities", params={"q": ents[0][:10]}).json()["total"] == 5
    one = c.get(f"/api/v1/entities/{ents[0]}").json()
    assert one["record_counts"] == {"registration": 1, "tax": 2} and one["region_name"]
    recs = c.get(f"/api/v1/entities/{ents[0]}/records", params={"category": "tax"}).json()["items"]
    assert [r["content"]["period"] for r in recs] == ["2026-10", "2026-09"]
    page = c.get(f"/entities/{ents[0]}?category=tax")
    assert page.status_code == 200 and "纳税信用等级" in page.text and "2026-10" in page.text
    assert c.get("/").status_code == 200
    assert "哈尔滨市税务局" in c.get("/deliveries").text


def test_search_fields_are_not_injectable(login, tmp_path) -> None:  # noqa: ANN001
    c = login("operator")
    _load_demo_data(c, tmp_path)
    for q in ("' OR 1=1 --", "%", "_", "{{7*7}}", "<script>alert(1)</script>"):
        r = c.get("/api/v1/entities", params={"q": q})
        assert r.status_code == 200 and r.json()["total"] == 0, q
        html = c.get("/entities", params={"q": q}).text
        assert "<script>alert(1)</script>" not in html and "49" not in html.split("共")[0][-50:]
    assert c.get("/api/v1/entities", params={"sort": "name; DROP TABLE entities"}).status_code == 200


def test_enterprise_sees_only_itself(login, tmp_path) -> None:  # noqa: ANN001
    op = login("operator")
    ents = _load_demo_data(op, tmp_path)
    assert ents[0] == ENTERPRISE_CODE
    ent = login("enterprise")
    assert ent.get("/my", follow_redirects=False).headers["location"] == f"/entities/{ENTERPRISE_CODE}"
    assert ent.get(f"/api/v1/entities/{ENTERPRISE_CODE}/records").status_code == 200
    assert ent.get(f"/api/v1/entities/{ents[1]}/records").status_code == 403
    assert ent.get("/api/v1/entities").status_code == 403


def test_upload_page_and_report_download(login, tmp_path) -> None:  # noqa: ANN001
    c = login("operator")
    ents = _load_demo_data(c, tmp_path)
    rows = tax_rows(ents, ["2026-08"]) + [["bad-code", "x", "2026-08", "A", "1", "1", "0", "否", "正常申报"]]
    path = write_csv(tmp_path / "t.csv", TAX_HEADER, rows)
    page = c.get("/upload")
    with open(path, "rb") as fh:
        r = c.post("/upload", files={"file": ("t.csv", fh, "text/csv")},
                   data={"category": "tax", "provider": "哈尔滨市税务局", "threshold": "50",
                         "csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    did = int(r.headers["location"].rsplit("/", 1)[1])
    app = c.app
    app.state.node.executor.shutdown(wait=True)  # let the background job finish
    report = c.get(f"/deliveries/{did}")
    assert "部分接收" in report.text and "INVALID_USCC" in report.text
    csv_text = c.get(f"/api/v1/deliveries/{did}/issues.csv").content.decode("utf-8-sig")
    assert "INVALID_USCC" in csv_text.splitlines()[1]


def test_unknown_category_and_bad_file_type(login, tmp_path) -> None:  # noqa: ANN001
    c = login("operator")
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with open(p, "rb") as fh:
        r = c.post("/api/v1/deliveries", files={"file": ("x.csv", fh)}, data={"category": "lottery", "provider": "某局"},
                   headers={"X-CSRF-Token": c.csrf})
    assert r.status_code == 422 and r.json()["error"] == "UNKNOWN_CATEGORY"
    with open(p, "rb") as fh:
        r = c.post("/api/v1/deliveries", files={"file": ("x.exe", fh)}, data={"category": "tax", "provider": "某局"},
                   headers={"X-CSRF-Token": c.csrf})
    assert r.json()["error"] == "UNSUPPORTED_FORMAT" and "CSV" in r.json()["message"]


def test_openapi_and_docs(app) -> None:  # noqa: ANN001
    c = TestClient(app)
    spec = c.get("/openapi.json").json()
    assert "/api/v1/deliveries" in spec["paths"] and "/api/v1/entities/{code}/records" in spec["paths"]
    assert c.get("/docs").status_code == 200
    assert c.get("/healthz").json() == {"status": "ok"}
    assert c.get("/no-such-page").json()["error"] == "NOT_FOUND"


def test_navigation_marks_the_longest_matching_entry() -> None:
    from functools import partial

    from xinyidai.app import NAV
    from xinyidai.web.templating import nav_active as nav_of

    nav_active = partial(nav_of, NAV)
    assert nav_active("/bank/whitelists", "bank") == "/bank/whitelists"
    assert nav_active("/bank/entities/X", "bank") == "/bank"
    assert nav_active("/my/credit", "enterprise") == "/my/credit"
    assert nav_active("/my", "enterprise") == "/my"
    assert nav_active("/", "operator") == "/"
    assert nav_active("/credit/models/3", "operator") == "/credit"
    assert nav_active("/whitelists", "security") is None  # not a page of that role


def test_audit_log_reads_in_chinese(login) -> None:  # noqa: ANN001
    from xinyidai.audit.labels import action_label, detail_lines

    names = {"water": "水费", "housing_fund": "住房公积金", "tax": "纳税"}.get
    assert action_label("login.ok") == "登录" and action_label("access.verify") == "核验比对"
    assert action_label("whitelist.seen") == "查看白名单" and action_label("no.such") == "no.such"
    assert detail_lines({"categories": ["water"], "outcomes": ["undeterminable"]}, names) == [
        ("信息类别", "水费"), ("核验结果", "无法判断")]
    assert detail_lines({"categories": {"housing_fund": "原始明细"}, "rows": 24}, names) == [
        ("信息类别", "住房公积金（原始明细）"), ("行数", "24")]
    assert detail_lines({"lists": ["WL-1", "WL-2"], "odd_key": {"tax": 1}}, names) == [
        ("名单", "WL-1、WL-2"), ("odd_key", "tax：1")]

    page = login("operator").get("/audit")
    assert page.status_code == 200
    assert '<span title="login.ok">登录</span>' in page.text  # the code stays in the title for who needs it
    shown = re.sub(r"<[^>]+>", "", page.text.split("<tbody>")[1].split("</tbody>")[0])
    assert "login.ok" not in shown and "=" not in shown  # no raw codes, no key=value dumps
    assert '<td title="operator">测试operator</td>' in page.text  # who acted, by name


def test_audit_page_verifies_and_lists_each_break_with_advice(login, db) -> None:  # noqa: ANN001
    from sqlalchemy import delete, func, select

    from xinyidai.kit.audit import AuditEvent

    security = login("security")
    page = security.get("/audit", params={"verify": "true"})
    assert page.status_code == 200 and "审计链完整" in page.text and "没有上级节点" in page.text
    with db.session() as s:  # the newest entry deleted behind the platform's back
        s.execute(delete(AuditEvent).where(AuditEvent.id == s.execute(select(func.max(AuditEvent.id))).scalar_one()))
    page = security.get("/audit", params={"verify": "true"})
    assert "审计链不完整：发现 1 处问题" in page.text
    assert "AUDIT_HEAD_MISMATCH" in page.text and "最新的记录被删除" in page.text and "处理建议：" in page.text


def test_moments_read_in_beijing_time_from_a_datetime_or_iso_text() -> None:
    from datetime import UTC, datetime

    from xinyidai.web.templating import fmt_dt

    moment = datetime(2026, 11, 15, 2, 0, 5, 123456, tzinfo=UTC)
    assert fmt_dt(moment) == fmt_dt(moment.isoformat()) == "2026-11-15 10:00:05"  # the keys' files keep ISO text
    assert fmt_dt(None) == fmt_dt("") == "" and fmt_dt("不是时间") == "不是时间"
