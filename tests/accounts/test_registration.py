"""Real-name registration and colleague accounts: the service functions, with the code read from the
file notifier as an applicant would read it from their phone."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.entities.helpers import ENTITY_CODE, ENTITY_NAME, LEGAL_REP, LEGAL_REP_ID, add_entity
from tests.web.conftest import csrf_of
from xinyidai.accounts import colleagues, registration
from xinyidai.accounts import users as accounts
from xinyidai.accounts.models import RealNameRegistration, User
from xinyidai.accounts.users import principal_of
from xinyidai.app import create_app
from xinyidai.config import load_settings
from xinyidai.entities.codes import make_id_number, make_uscc
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.notify import FileNotifier, make_notifier

SECRET = "test-node-secret"
PASSWORD = "correct-horse-9"


@pytest.fixture
def notifier(tmp_path: Path) -> FileNotifier:
    n = make_notifier("file", tmp_path / "var")
    assert isinstance(n, FileNotifier)
    return n


@pytest.fixture
def entity_db(db: Database) -> Iterator[Database]:
    with db.session() as s:
        add_entity(s)
    yield db


def _apply(db: Database, notifier: FileNotifier, **changes: Any) -> int:
    fields = {"entity_code": ENTITY_CODE, "entity_name": ENTITY_NAME, "person_name": LEGAL_REP,
              "id_number": LEGAL_REP_ID.lower(), "phone": "138 0451 0000", "username": "zhangsan",
              "password": PASSWORD, **changes}
    with db.session() as s:
        return registration.start(s, notifier, SECRET, **fields).id


def _refused(db: Database, fn, *args: Any, **kwargs: Any) -> str:  # noqa: ANN001
    """Call as a page handler does: the refusal's writes (audit, attempt count) are committed."""
    with db.session() as s, pytest.raises(DomainError) as info:
        fn(s, *args, **kwargs)
    return info.value.code


def _last_code(notifier: FileNotifier) -> str:
    m = re.search(r"验证码 (\d{6})", notifier.messages()[-1]["message"])
    assert m
    return m.group(1)


def _confirm(db: Database, reg_id: int, code: str) -> User:
    with db.session() as s:
        return registration.confirm(s, SECRET, reg_id, code)


def test_happy_path_creates_the_verified_administrator(entity_db: Database, notifier: FileNotifier) -> None:
    reg_id = _apply(entity_db, notifier, entity_name=" 哈尔滨测试科技有限公司 ")
    msg = notifier.messages()[-1]
    assert msg["to"] == "13804510000" and msg["kind"] == "registration" and ENTITY_NAME in msg["message"]
    code = _last_code(notifier)
    with entity_db.session() as s:
        reg = s.get(RealNameRegistration, reg_id)
        assert reg.status == "pending" and reg.code_expires_at == clock.now() + timedelta(minutes=10)
        assert LEGAL_REP_ID not in (reg.id_digest, reg.code_hash) and code not in reg.code_hash
        assert reg.id_digest == registration.id_digest(LEGAL_REP_ID)
    user = _confirm(entity_db, reg_id, code)
    assert (user.role, user.org_code, user.org_admin, user.display_name) == ("enterprise", ENTITY_CODE, True,
                                                                              LEGAL_REP)
    with entity_db.session() as s:
        assert s.get(RealNameRegistration, reg_id).status == "completed"
        _token, _ls, logged_in = accounts.authenticate(s, "zhangsan", PASSWORD, ttl_minutes=30)
        assert logged_in.id == user.id
        actions = [e.action for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
        assert actions[-4:] == ["registration.started", "user.created", "registration.completed", "login.ok"]
        for ev in s.execute(select(AuditEvent)).scalars():
            assert LEGAL_REP_ID not in str(ev.detail) and code not in str(ev.detail)


@pytest.mark.parametrize("change, failed", [
    ({"entity_name": "哈尔滨别的公司"}, ["entity_name"]),
    ({"person_name": "李四"}, ["legal_rep"]),
    ({"id_number": make_id_number("230103", date(1990, 1, 1), 5)}, ["legal_rep_id"]),
    ({"entity_code": make_uscc("230103", 78)}, ["code"]),
])
def test_wrong_details_get_one_message_but_the_audit_knows(entity_db: Database, notifier: FileNotifier,
                                                           change: dict, failed: list) -> None:
    with entity_db.session() as s, pytest.raises(DomainError) as info:
        registration.start(s, notifier, SECRET, **{
            "entity_code": ENTITY_CODE, "entity_name": ENTITY_NAME, "person_name": LEGAL_REP,
            "id_number": LEGAL_REP_ID, "phone": "13804510000", "username": "zhangsan", "password": PASSWORD,
            **change})
    assert info.value.code == "REGISTRATION_MISMATCH" and info.value.message == registration.MISMATCH
    assert notifier.messages() == []
    with entity_db.session() as s:
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "registration.mismatch")).scalar_one()
        assert ev.detail["failed"] == failed


def test_format_errors_are_specific(entity_db: Database, notifier: FileNotifier) -> None:
    assert _refused(entity_db, registration.start, notifier, SECRET, entity_code="123", entity_name=ENTITY_NAME,
                    person_name=LEGAL_REP, id_number=LEGAL_REP_ID, phone="13804510000", username="zs01",
                    password=PASSWORD) == "INVALID_USCC"
    assert _refused(entity_db, registration.start, notifier, SECRET, entity_code=ENTITY_CODE,
                    entity_name=ENTITY_NAME, person_name=LEGAL_REP, id_number=LEGAL_REP_ID, phone="12345",
                    username="zs01", password=PASSWORD) == "BAD_PHONE"
    assert _refused(entity_db, registration.start, notifier, SECRET, entity_code=ENTITY_CODE,
                    entity_name=ENTITY_NAME, person_name=LEGAL_REP, id_number=LEGAL_REP_ID, phone="13804510000",
                    username="zs01", password="short") == "WEAK_PASSWORD"


def test_probing_is_throttled(entity_db: Database, notifier: FileNotifier) -> None:
    for i in range(registration.MAX_MISMATCHES):
        assert _refused(entity_db, registration.start, notifier, SECRET, entity_code=ENTITY_CODE,
                        entity_name=ENTITY_NAME, person_name=f"猜{i}", id_number=LEGAL_REP_ID,
                        phone="13804510000", username="prober", password=PASSWORD) == "REGISTRATION_MISMATCH"
    with pytest.raises(DomainError) as info, entity_db.session() as s:
        registration.start(s, notifier, SECRET, entity_code=ENTITY_CODE, entity_name=ENTITY_NAME,
                           person_name=LEGAL_REP, id_number=LEGAL_REP_ID, phone="13804510000", username="prober",
                           password=PASSWORD)
    assert (info.value.code, info.value.status) == ("REGISTRATION_THROTTLED", 429)


def _register_form(c: TestClient, **changes: str) -> tuple[int, str]:
    page = c.get("/register")
    data = {"csrf_token": csrf_of(page.text), "entity_code": ENTITY_CODE, "entity_name": ENTITY_NAME,
            "person_name": LEGAL_REP, "id_number": LEGAL_REP_ID, "phone": "13804510000", "username": "fa-ren",
            "password": PASSWORD, "password2": PASSWORD, **changes}
    r = c.post("/register", data=data, follow_redirects=False)
    return r.status_code, r.text


def test_one_client_is_throttled_across_entities(entity_db: Database, tmp_path: Path) -> None:
    """Probing the register from one address, one entity at a time (each under the per-entity limit): after
    ten refused applications in an hour that address gets 429 unchecked; another address is served."""
    app = create_app(load_settings(env={}, var_dir=tmp_path / "var", database_url=entity_db.url), entity_db)
    prober = TestClient(app, client=("198.51.100.7", 50000))
    for i in range(10):
        assert _register_form(prober, entity_code=make_uscc("230103", 1000 + i))[0] == 422
    status, text = _register_form(prober)
    assert status == 429 and "失败次数过多" in text
    assert _register_form(TestClient(app, client=("203.0.113.9", 50000)))[0] == 303


def test_wrong_code_counts_and_five_end_the_application(entity_db: Database, notifier: FileNotifier) -> None:
    reg_id = _apply(entity_db, notifier)
    code = _last_code(notifier)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    for left in (4, 3, 2, 1):
        with entity_db.session() as s, pytest.raises(DomainError) as info:
            registration.confirm(s, SECRET, reg_id, wrong)
        assert info.value.code == "CODE_INVALID" and info.value.detail == {"attempts_left": left}
    assert _refused(entity_db, registration.confirm, SECRET, reg_id, wrong) == "CODE_ATTEMPTS_EXCEEDED"
    assert _refused(entity_db, registration.confirm, SECRET, reg_id, code) == "REGISTRATION_NOT_FOUND"
    with entity_db.session() as s:
        reg = s.get(RealNameRegistration, reg_id)
        assert (reg.status, reg.attempts) == ("expired", 5)
        assert s.execute(select(User).where(User.username == "zhangsan")).first() is None


def test_parallel_wrong_codes_get_no_more_checks_than_the_limit(entity_db: Database,
                                                              notifier: FileNotifier) -> None:
    """Eight wrong codes at once, each in its own thread and transaction: five are checked and end the
    application; the others are refused unchecked, and the right code no longer works."""
    reg_id = _apply(entity_db, notifier)
    code = _last_code(notifier)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    gate = threading.Barrier(8)
    codes: list[str] = []

    def attempt() -> None:
        gate.wait()
        codes.append(_refused(entity_db, registration.confirm, SECRET, reg_id, wrong))

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(codes) == 8 and set(codes) <= {"CODE_INVALID", "CODE_ATTEMPTS_EXCEEDED", "REGISTRATION_NOT_FOUND"}
    with entity_db.session() as s:
        checked = s.execute(select(func.count()).select_from(AuditEvent)
                            .where(AuditEvent.action == "registration.code_wrong")).scalar_one()
        reg = s.get(RealNameRegistration, reg_id)
        assert (checked, reg.attempts, reg.status) == (registration.MAX_ATTEMPTS, registration.MAX_ATTEMPTS, "expired")
    assert _refused(entity_db, registration.confirm, SECRET, reg_id, code) == "REGISTRATION_NOT_FOUND"


def test_expired_code(entity_db: Database, notifier: FileNotifier, fixed_clock) -> None:  # noqa: ANN001
    reg_id = _apply(entity_db, notifier)
    code = _last_code(notifier)
    clock.set_clock(lambda: fixed_clock + timedelta(minutes=10, seconds=1))
    assert _refused(entity_db, registration.confirm, SECRET, reg_id, code) == "CODE_EXPIRED"
    with entity_db.session() as s:
        assert s.get(RealNameRegistration, reg_id).status == "expired"


def test_a_new_application_voids_the_previous_code(entity_db: Database, notifier: FileNotifier) -> None:
    first = _apply(entity_db, notifier)
    first_code = _last_code(notifier)
    second = _apply(entity_db, notifier, username="zhangsan2")
    assert _refused(entity_db, registration.confirm, SECRET, first, first_code) == "REGISTRATION_NOT_FOUND"
    assert _confirm(entity_db, second, _last_code(notifier)).username == "zhangsan2"


def test_one_entity_one_administrator_who_adds_colleagues(entity_db: Database, notifier: FileNotifier) -> None:
    admin = _confirm(entity_db, _apply(entity_db, notifier), _last_code(notifier))
    with entity_db.session() as s, pytest.raises(DomainError) as info:
        registration.start(s, notifier, SECRET, entity_code=ENTITY_CODE, entity_name=ENTITY_NAME,
                           person_name=LEGAL_REP, id_number=LEGAL_REP_ID, phone="13900000000",
                           username="someone-else", password=PASSWORD)
    assert info.value.code == "ENTITY_HAS_ADMIN" and "联系该管理员" in info.value.message

    boss = principal_of(admin)
    with entity_db.session() as s:
        mate = colleagues.add_colleague(s, boss, username="caiwu01", display_name="王财务", password=PASSWORD)
        assert (mate.role, mate.org_code, mate.org_admin) == ("enterprise", ENTITY_CODE, False)
        assert [u.username for u in colleagues.list_colleagues(s, boss)] == ["zhangsan", "caiwu01"]
    mate_p = principal_of(mate)
    assert _refused(entity_db, colleagues.add_colleague, mate_p, username="x-y-z", display_name="某",
                    password=PASSWORD) == "ORG_ADMIN_ONLY"
    assert _refused(entity_db, colleagues.set_colleague_active, boss, admin.id, False) == "CANNOT_DISABLE_ADMIN"
    with entity_db.session() as s:
        colleagues.set_colleague_active(s, boss, mate.id, False, "离职")
    with entity_db.session() as s, pytest.raises(DomainError):
        accounts.authenticate(s, "caiwu01", PASSWORD, ttl_minutes=30)
    # an administrator of another entity cannot touch this one's accounts
    with entity_db.session() as s:
        other = accounts.create_user(s, username="other-admin", display_name="外企管理员", role="enterprise",
                                     password=PASSWORD, org_code=make_uscc("230103", 99))
        other.org_admin = True
    assert _refused(entity_db, colleagues.set_colleague_active, principal_of(other), mate.id, True) \
        == "USER_NOT_FOUND"
