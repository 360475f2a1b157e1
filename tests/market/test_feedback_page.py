"""The bank's feedback page over HTTP: the upload form with its CSRF token and request id, a file loaded once
even when the form is sent twice, a rejected file's row report (and as CSV), the example files, and who may
see what."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.market.conftest import BANK_A, BRANCH_B, ENTERPRISE, ENTITY, NODE, Market
from xinyidai.accounts.models import User
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.kit import clock
from xinyidai.market import applications, feedback
from xinyidai.market.models import Application, FeedbackFile

PASSWORD = "correct-horse-9"


def _login(app, username: str) -> TestClient:  # noqa: ANN001
    c = TestClient(app, base_url="http://testserver")
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/"},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


@pytest.fixture
def site(market: Market, tmp_path: Path) -> Iterator[tuple[Market, TestClient, TestClient, TestClient]]:
    hashed = PasswordHasher().hash(PASSWORD)
    with market.db.session() as s:
        for username, role, org in (("teller", "bank", BANK_A), ("teller-b", "bank", BRANCH_B),
                                    ("ent-admin", "enterprise", ENTITY)):
            s.add(User(username=username, display_name=f"测试{username}", role=role, password_hash=hashed, org_code=org,
                       created_at=clock.now()))
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=market.db.url), market.db)
    clients = (_login(app, "teller"), _login(app, "teller-b"), _login(app, "ent-admin"))
    yield market, *clients
    for c in clients:
        c.close()


def _form(page: str) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    assert set(fields) == {"csrf_token", "request_id"} and fields["request_id"].startswith("page-")
    return fields


def _file(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([["申请编号", "操作", "办理时间", "原因代码"], *rows])
    return buf.getvalue().encode("gb18030")


def _submitted(m: Market) -> str:
    with m.db.session() as s:
        pv = applications.preview(s, m.catalog, ENTERPRISE, m.product, "500000", 12, "采购原材料")
        return applications.submit(s, m.catalog, ENTERPRISE, product_number=m.product, amount="500000", term_months=12,
                                   purpose="采购原材料", grant_digest=pv["grant_digest"], node_code=NODE).number


def test_upload_once_and_read_the_report(site) -> None:  # noqa: ANN001
    m, bank, other, _ent = site
    number = _submitted(m)
    page = bank.get("/bank/feedback")
    assert page.status_code == 200 and "上传反馈文件" in page.text and "尚未上传反馈文件" in page.text
    assert page.headers["cache-control"] == "no-store"
    form = _form(page.text)

    bad = {"file": ("11月.csv", _file([[number, "授信", "2026-11-15", ""], ["RZ-NONE", "受理", "2026-11-15", ""]]),
                    "text/csv")}
    r = bank.post("/bank/feedback", data={**form, "kind": "decisions"}, files=bad, follow_redirects=False)
    assert r.status_code == 303
    report = bank.get(r.headers["location"])
    assert "未导入" in report.text and "UNKNOWN_APPLICATION" in report.text and "第 3 行" in report.text
    assert "VALUE_REQUIRED" in report.text  # 授信 without its amount, loan number …
    sent_again = bank.post("/bank/feedback", data={**form, "kind": "decisions"}, files=bad, follow_redirects=False)
    assert sent_again.headers["location"] == r.headers["location"]  # the same form twice: loaded once
    file_id = int(r.headers["location"].rsplit("/", 1)[1])
    issues = bank.get(f"/bank/feedback/{file_id}/issues.csv")
    assert issues.status_code == 200 and issues.text.startswith("\ufeff行号,列,内容,问题代码,说明")
    assert "UNKNOWN_APPLICATION" in issues.text

    good = {"file": ("11月-修正.csv", _file([[number, "受理", "2026-11-15", ""]]), "text/csv")}
    r = bank.post("/bank/feedback", data={**_form(bank.get("/bank/feedback").text), "kind": "decisions"}, files=good,
                  follow_redirects=False)
    assert "已导入" in bank.get(r.headers["location"]).text
    with m.db.session() as s:
        assert s.execute(select(Application.state).where(Application.number == number)).scalar_one() == "ACCEPTED"
        assert s.execute(select(func.count()).select_from(FeedbackFile)).scalar_one() == 2
    listed = bank.get("/bank/feedback", params={"kind": "decisions"}).text
    assert listed.count('<a href="/bank/feedback/') >= 2 and "11月-修正.csv" in listed

    # Another bank and an enterprise see none of it.
    assert other.get(f"/bank/feedback/{file_id}").status_code == 404
    assert "11月.csv" not in other.get("/bank/feedback").text
    assert _ent.get("/bank/feedback").status_code == 403


def test_a_form_without_its_token_or_with_a_wrong_kind_is_refused(site) -> None:  # noqa: ANN001
    m, bank, _other, _ent = site
    form = _form(bank.get("/bank/feedback").text)
    f = {"file": ("x.csv", _file([]), "text/csv")}
    r = bank.post("/bank/feedback", data={"request_id": form["request_id"], "kind": "decisions"}, files=f)
    assert r.status_code == 403 and "CSRF" in r.text
    r = bank.post("/bank/feedback", data={**form, "kind": "loans"}, files=f)
    assert r.status_code == 422 and "FEEDBACK_KIND" in r.text and 'id="upload-error"' in r.text
    r = bank.post("/bank/feedback", data={**form, "kind": "status"}, files={"file": ("x.pdf", b"%PDF", "application/pdf")})
    assert r.status_code == 422 and "UNSUPPORTED_FORMAT" in r.text
    with m.db.session() as s:
        assert s.execute(select(func.count()).select_from(FeedbackFile)).scalar_one() == 0


def test_example_files_download_with_the_columns(site, tmp_path) -> None:  # noqa: ANN001
    _m, bank, _other, ent = site
    r = bank.get("/bank/feedback/examples/decisions.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="example-decisions.csv"' in r.headers["content-disposition"]
    assert next(csv.reader(io.StringIO(r.content.decode("utf-8-sig")))) == [c.label for c in feedback.DECISION_COLUMNS]
    r = bank.get("/bank/feedback/examples/status.xlsx")
    ws = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    assert [c.value for c in next(ws.iter_rows())] == [c.label for c in feedback.STATUS_COLUMNS]
    assert bank.get("/bank/feedback/examples/loans.csv").status_code == 422
    assert ent.get("/bank/feedback/examples/status.csv").status_code == 403
