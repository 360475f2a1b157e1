"""Departments and their accounts, by service and from the command line: a department is named as its deliveries
name their provider, serves the province or one of its cities, and its staff log in with role `department`;
bad input is refused with a Chinese message and code and stores nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from xinyidai.accounts.models import User
from xinyidai.cli import app
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.quality import departments
from xinyidai.quality.models import Department

PASSWORD = "correct-horse-9"


def test_create_and_add_account(db: Database) -> None:
    with db.session() as s:
        d = departments.create(s, code="Tax-Bureau ", name="黑龙江省税务局", region="230000", contact="13800000001",
                               actor="op")
        departments.create(s, code="hrb-water", name="哈尔滨供排水集团", region="230100", contact=None, actor="op")
        u = departments.add_account(s, "tax-bureau", "tax1", "", PASSWORD, "op")
        assert d.code == "tax-bureau" and (u.role, u.org_code, u.display_name) == ("department", "tax-bureau",
                                                                                   "黑龙江省税务局")
        assert departments.by_name(s, "哈尔滨供排水集团").code == "hrb-water"  # type: ignore[union-attr]
        assert departments.by_name(s, "未登记") is None
        assert [x.username for x in departments.accounts(s, "tax-bureau")] == ["tax1"]
        assert s.execute(select(func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action.like("quality.department.%"))).scalar_one() == 3


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"region": "220100"}, "BAD_REGION"),  # Jilin's Changchun: not this province
    ({"region": "230102"}, "BAD_REGION"),  # a district, not a city
    ({"region": "23010"}, "BAD_REGION"),
    ({"code": "税务"}, "BAD_DEPARTMENT_CODE"),
    ({"code": "1tax"}, "BAD_DEPARTMENT_CODE"),
    ({"name": "税"}, "BAD_DEPARTMENT_NAME"),
    ({"code": "tax-bureau"}, "DEPARTMENT_EXISTS"),
    ({"name": "黑龙江省税务局"}, "DEPARTMENT_NAME_TAKEN"),
])
def test_bad_departments_are_refused(db: Database, kwargs: dict[str, str], code: str) -> None:
    with db.session() as s:
        departments.create(s, code="tax-bureau", name="黑龙江省税务局", region="230000", contact=None, actor="op")
    args = {"code": "other", "name": "另一个部门", "region": "230100", **kwargs}
    with db.session() as s, pytest.raises(DomainError) as exc:
        departments.create(s, contact=None, actor="op", **args)
    assert exc.value.code == code
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Department)).scalar_one() == 1


def test_account_of_an_unknown_department_is_refused(db: Database) -> None:
    with db.session() as s, pytest.raises(DomainError) as exc:
        departments.add_account(s, "nobody", "x-user", "某人", PASSWORD, "op")
    assert exc.value.code == "DEPARTMENT_NOT_FOUND"
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == 0


@pytest.fixture
def run(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    for k in list(os.environ):
        if k.startswith("XINYIDAI_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XINYIDAI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("XINYIDAI_DATABASE_URL", db.url)
    monkeypatch.setenv("XINYIDAI_NEW_PASSWORD", PASSWORD)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):  # noqa: ANN202
        r = runner.invoke(app, ["quality", *args])
        assert (r.exit_code == 0) == ok, r.output
        return r

    yield invoke


def test_cli(run, db: Database) -> None:  # noqa: ANN001
    assert "已登记部门 tax-bureau" in run("department", "add", "tax-bureau", "--name", "黑龙江省税务局",
                                           "--contact", "13800000001").output
    bad = run("department", "add", "jl", "--name", "吉林某局", "--region", "220100", ok=False)
    assert "所属区划" in bad.output
    assert "已为部门 tax-bureau 开设账户 tax1" in run("department", "add-user", "tax-bureau", "tax1").output
    assert "黑龙江省税务局" in run("department", "list").output and "账户 1" in run("department", "list").output
    run("ticket", "list")
    assert "逾期督办 0 张" in run("ticket", "escalate").output
    with db.session() as s:
        assert s.execute(select(User.role).where(User.username == "tax1")).scalar_one() == "department"
