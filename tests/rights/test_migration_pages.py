"""The migration over HTTP: the operator imports the old site's file and reads the report (filter, CSV); a pending
account is sent to /activate by the log-in page and activates by the code from its mobile; its administrator
confirms a draft through the authorization text and declines another; another enterprise sees none of it. And
the command line."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.rights.migration_world import sample, sample_bytes, seed, workbook
from tests.web.conftest import PASSWORD, app, csrf_of, login  # noqa: F401 - fixtures used by name
from xinyidai.access.models import Authorization
from xinyidai.kit.db import Database
from xinyidai.rights.models import MigratedAuthorization, MigrationImport

NEW_PASSWORD = "new-horse-battery-9"


@pytest.fixture
def world(app, db: Database):  # noqa: ANN001, ANN201, F811
    with db.session() as s:
        seed(s)
    return app


def _upload(c: TestClient, data: bytes, name: str = "hlj.json"):  # noqa: ANN202
    return c.post("/rights/migrations", data={"csrf_token": c.csrf}, files={"file": (name, data)},  # type: ignore[attr-defined]
                  follow_redirects=False)


def _code(tmp_path: Path) -> str:
    lines = (tmp_path / "var" / "notifications.log").read_text(encoding="utf-8").splitlines()
    m = re.search(r"验证码 (\d{6})", json.loads(lines[-1])["message"])
    assert m
    return m.group(1)


def _activate(world, tmp_path: Path, username: str, phone: str) -> TestClient:  # noqa: ANN001
    c = TestClient(world, base_url="http://testserver")
    page = c.get("/activate")
    r = c.post("/activate", data={"username": username, "phone": phone, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 200 and "验证码已发送至该手机" in r.text
    bad = c.post("/activate/code", data={"code": "000000" if _code(tmp_path) != "000000" else "111111",
                                         "password": NEW_PASSWORD, "password2": NEW_PASSWORD,
                                         "csrf_token": csrf_of(r.text)})
    assert bad.status_code == 422 and 'data-code="CODE_INVALID"' in bad.text and "还可尝试 4 次" in bad.text
    done = c.post("/activate/code", data={"code": _code(tmp_path), "password": NEW_PASSWORD,
                                          "password2": NEW_PASSWORD, "csrf_token": csrf_of(bad.text)})
    assert done.status_code == 200 and "账户已激活" in done.text
    return c


def test_operator_imports_and_reads_the_report(world, login, db: Database) -> None:  # noqa: ANN001, F811
    op = login("operator")
    r = _upload(op, sample_bytes())
    assert r.status_code == 303, r.text
    detail = op.get(r.headers["location"])
    assert detail.status_code == 200 and "文件已导入" in detail.text
    assert "导入 3，未导入 8" in detail.text
    refused = op.get(r.headers["location"].split("?")[0] + "?outcome=refused&kind=enterprise")
    assert "不在本省市场主体名录中" in refused.text and 'data-outcome="imported"' not in refused.text
    assert "MIGRATION_ENTITY_NAME_MISMATCH" in refused.text
    import_id = r.headers["location"].split("/")[-1].split("?")[0]
    csv_text = op.get(f"/rights/migrations/{import_id}/refused.csv").text
    assert csv_text.count("\n") == 1 + 20 and "USERNAME_TAKEN" in csv_text and "INSTITUTION_UNKNOWN" in csv_text
    assert "hlj_admin2" not in csv_text
    assert f'href="/rights/migrations/{import_id}"' in op.get("/rights/migrations").text

    again = _upload(op, sample_bytes(), "again.json")
    assert again.status_code == 409 and 'data-code="MIGRATION_DUPLICATE_FILE"' in again.text
    broken = _upload(op, workbook(sample(), drop_sheet="账户"), "hlj.xlsx")
    assert broken.status_code == 422 and 'data-code="MIGRATION_SHEET_MISSING"' in broken.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MigrationImport)) == 1

    reg = login("regulator")
    assert reg.get(f"/rights/migrations/{import_id}").status_code == 200
    assert _upload(reg, b"{}").status_code == 403
    assert login("enterprise").get("/rights/migrations").status_code == 403


def test_pending_account_activates_and_confirms_its_drafts(world, login, db: Database, tmp_path: Path) -> None:  # noqa: ANN001, F811
    op = login("operator")
    assert _upload(op, sample_bytes()).status_code == 303

    # Before activation the log-in is refused, and the page says where to activate.
    c = TestClient(world, base_url="http://testserver")
    page = c.get("/login")
    refused = c.post("/login", data={"username": "hlj_admin1", "password": NEW_PASSWORD,
                                     "csrf_token": csrf_of(page.text), "next": "/"}, follow_redirects=False)
    assert refused.status_code == 401 and "首次登录前须先" in refused.text

    _activate(world, tmp_path, "hlj_admin1", "13800000001")
    admin = login("hlj_admin1", NEW_PASSWORD)
    listing = admin.get("/my/authorizations/migrated")
    assert listing.status_code == 200 and "HLJ-SQ-0001" in listing.text and "HLJ-SQ-0002" not in listing.text
    with db.session() as s:
        ids = dict(s.execute(select(MigratedAuthorization.old_number, MigratedAuthorization.id)).all())
    draft = admin.get(f"/my/authorizations/migrated/{ids['HLJ-SQ-0001']}")
    assert draft.status_code == 200 and 'id="authorization-text"' in draft.text
    digest = re.search(r'name="text_digest" value="([0-9a-f]{64})"', draft.text).group(1)  # type: ignore[union-attr]

    # Another enterprise sees nothing and cannot confirm.
    other = login("enterprise")
    assert other.get(f"/my/authorizations/migrated/{ids['HLJ-SQ-0001']}").status_code == 404
    assert "HLJ-SQ-0001" not in other.get("/my/authorizations/migrated").text
    r = other.post(f"/my/authorizations/migrated/{ids['HLJ-SQ-0001']}/confirm",
                   data={"csrf_token": other.csrf, "text_digest": digest})  # type: ignore[attr-defined]
    assert r.status_code == 404
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Authorization)) == 0

    r = admin.post(f"/my/authorizations/migrated/{ids['HLJ-SQ-0001']}/confirm",
                   data={"csrf_token": admin.csrf, "text_digest": digest}, follow_redirects=False)  # type: ignore[attr-defined]
    assert r.status_code == 303 and r.headers["location"].startswith("/my/authorizations/SQ")
    assert "授权已生效" in admin.get(r.headers["location"]).text

    r = admin.post(f"/my/authorizations/migrated/{ids['HLJ-SQ-0011']}/decline", data={"csrf_token": admin.csrf})  # type: ignore[attr-defined]
    assert r.status_code == 422 and 'data-code="DECLINE_NOT_CONFIRMED"' in r.text
    r = admin.post(f"/my/authorizations/migrated/{ids['HLJ-SQ-0011']}/decline",
                   data={"csrf_token": admin.csrf, "confirm": "yes"}, follow_redirects=False)  # type: ignore[attr-defined]
    assert r.status_code == 303
    after = admin.get("/my/authorizations/migrated")
    assert 'data-state="confirmed"' in after.text and 'data-state="declined"' in after.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Authorization)) == 1


def test_the_command_line_imports_and_reports(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xinyidai.cli import app as cli

    with db.session() as s:
        seed(s)
    for k in list(os.environ):
        if k.startswith("XINYIDAI_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", db.url)
    sample_file = tmp_path / "hlj.xlsx"
    sample_file.write_bytes(workbook(sample()))
    runner = CliRunner()
    r = runner.invoke(cli, ["rights", "migration", "import", str(sample_file)])
    assert r.exit_code == 0, r.output
    assert "账户 导入 3、未导入 8" in r.output
    import_id = re.search(r"编号 (\d+)", r.output).group(1)  # type: ignore[union-attr]
    r = runner.invoke(cli, ["rights", "migration", "report", import_id, "--refused"])
    assert r.exit_code == 0 and "MIGRATION_ENTITY_NOT_REGISTERED" in r.output and "已导入" not in r.output
    again = runner.invoke(cli, ["rights", "migration", "import", str(sample_file)])
    assert again.exit_code == 2 and "MIGRATION_DUPLICATE_FILE" in again.output
    assert runner.invoke(cli, ["rights", "migration", "report", "999"]).exit_code == 2
