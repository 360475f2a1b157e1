"""An institution under rectification (整改中) keeps working until a decided suspension stops it: rectify with a
deadline (not in the past), restore when rectified, and the two security officers' decision suspending it,
after which its API key is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.entities.helpers import BANK_CODE, OPERATOR, onboard_bank
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.institutions import onboarding as svc
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.network import deadlines, sanctions

ME = "/api/v1/institutions/me"
SEC_A = Principal(2, "sec-a", "安全管理员甲", "security", None)
SEC_B = Principal(3, "sec-b", "安全管理员乙", "security", None)


@pytest.fixture
def client(db: Database, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=db.url), db)
    with db.session() as s:
        onboard_bank(s).contact = "信贷部 0451-88886666"
    with TestClient(app) as c:
        yield c


def _token(db: Database) -> str:
    with db.session() as s:
        return svc.issue_api_key(s, OPERATOR, BANK_CODE, label="信贷系统").token


def test_rectify_restore_and_bad_deadline(client: TestClient, db: Database) -> None:
    token = _token(db)
    today = clock.today()
    with db.session() as s, pytest.raises(InvalidInput) as e:
        svc.rectify(s, OPERATOR, BANK_CODE, today, "期限不能是今天")
    assert e.value.code == "BAD_DEADLINE"
    with db.session() as s, pytest.raises(Forbidden):
        svc.rectify(s, Principal(9, "reg", "监管", "regulator", None), BANK_CODE, today + timedelta(days=3), "越权")
    with db.session() as s:
        assert s.get(FinancialInstitution, BANK_CODE).status == "active"  # nothing kept of the refusals
        svc.rectify(s, OPERATOR, BANK_CODE, today + timedelta(days=10), "接口日志不完整")
    with db.session() as s:
        inst = s.get(FinancialInstitution, BANK_CODE)
        assert (inst.status, inst.rectify_deadline) == ("rectifying", today + timedelta(days=10))
        assert svc.institution_dict(inst)["rectify_deadline"] == (today + timedelta(days=10)).isoformat()
    assert client.get(ME, headers={"X-Api-Key": token}).status_code == 200  # still works while rectifying
    with db.session() as s, pytest.raises(Conflict):
        svc.rectify(s, OPERATOR, BANK_CODE, today + timedelta(days=20), "再次要求")
    with db.session() as s:
        svc.restore(s, SEC_A, BANK_CODE, "已整改完成")
    with db.session() as s:
        inst = s.get(FinancialInstitution, BANK_CODE)
        assert (inst.status, inst.rectify_deadline) == ("active", None)
    with db.session() as s, pytest.raises(Conflict):
        svc.restore(s, SEC_A, BANK_CODE, "并未在整改")


def test_overdue_institution_is_suspended_by_two_officers_and_its_key_refused(client: TestClient,
                                                                              db: Database) -> None:
    token = _token(db)
    deadline = clock.today() + timedelta(days=2)
    with db.session() as s:
        svc.rectify(s, OPERATOR, BANK_CODE, deadline, "数据使用超出授权范围")
    with db.session() as s:
        done = deadlines.run(s, deadline + timedelta(days=1), None, None)
    assert done["proposals"] == 1
    with db.session() as s:
        (p,) = sanctions.listing(s, SEC_A, PageRequest(), state="open").items
        assert (p.target_kind, p.target_code, p.source) == ("institution", BANK_CODE, "deadline")
        sanctions.agree(s, SEC_A, p.number, "逾期属实")
        number = p.number
    with db.session() as s:
        sanctions.decide(s, SEC_B, number, True, "暂停接入至整改完成")
    with db.session() as s:
        assert s.get(FinancialInstitution, BANK_CODE).status == "suspended"
    r = client.get(ME, headers={"X-Api-Key": token})
    assert r.status_code == 403 and r.json()["error"] == "INSTITUTION_SUSPENDED"
    with db.session() as s:
        svc.change_status(s, OPERATOR, BANK_CODE, "reactivate", "整改完成")
    assert client.get(ME, headers={"X-Api-Key": token}).status_code == 200


def test_deadline_is_a_date_after_today(db: Database) -> None:
    with db.session() as s:
        onboard_bank(s)
    with db.session() as s, pytest.raises(InvalidInput):
        svc.rectify(s, OPERATOR, BANK_CODE, date(2020, 1, 1), "过去的日期")
