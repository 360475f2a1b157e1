"""Institutions, their users and credentials: the service functions over a session."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.entities.helpers import (
    BANK_CODE,
    OPERATOR,
    OTHER_BANK_CODE,
    REGULATOR,
    bank_principal,
    onboard_bank,
)
from xinyidai.accounts.models import User
from xinyidai.entities.codes import make_uscc
from xinyidai.institutions import onboarding as svc
from xinyidai.institutions.models import ApiCredential
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent, verify_chain
from xinyidai.kit.crypto import sm2
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.pagination import PageRequest


def _code(fn, *args, **kwargs) -> str:  # noqa: ANN001
    with pytest.raises(DomainError) as info:
        fn(*args, **kwargs)
    return info.value.code


def test_onboard_validates_and_audits(db: Database) -> None:
    with db.session() as s:
        bad = BANK_CODE[:-1] + ("0" if BANK_CODE[-1] != "0" else "1")
        assert _code(svc.onboard, s, OPERATOR, code=bad, name="某银行", kind="银行") == "INVALID_USCC"
        assert _code(svc.onboard, s, OPERATOR, code=BANK_CODE, name="某银行", kind="钱庄") == "BAD_KIND"
        assert _code(svc.onboard, s, REGULATOR, code=BANK_CODE, name="某银行", kind="银行") == "OPERATOR_ONLY"
        assert _code(svc.onboard, s, bank_principal(), code=BANK_CODE, name="某银行", kind="银行") == "OPERATOR_ONLY"
        inst = svc.onboard(s, OPERATOR, code=BANK_CODE.lower(), name=" 哈尔滨测试银行 ", kind="银行")
        assert (inst.code, inst.name, inst.status) == (BANK_CODE, "哈尔滨测试银行", "active")
        assert _code(onboard_bank, s) == "INSTITUTION_EXISTS"
        assert _code(svc.onboard, s, OPERATOR, code=OTHER_BANK_CODE, name="支行", kind="银行分支机构",
                     parent_code=make_uscc("230103", 5)) == "UNKNOWN_PARENT"
        branch = svc.onboard(s, OPERATOR, code=OTHER_BANK_CODE, name="测试银行道里支行", kind="银行分支机构",
                             parent_code=BANK_CODE)
        assert branch.parent_code == BANK_CODE
    with db.session() as s:
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "institution.onboarded")
                       .order_by(AuditEvent.id)).scalars().first()
        assert ev.actor == "op" and ev.institution_code == BANK_CODE
        assert verify_chain(s).intact


def test_search_pages_sorts_and_scopes(db: Database) -> None:
    with db.session() as s:
        for i in range(25):
            svc.onboard(s, OPERATOR, code=make_uscc("230103", 900_100 + i), name=f"测试银行{i:02d}", kind="银行")
    with db.session() as s:
        page = svc.search(s, OPERATOR, "测试银行", req=PageRequest(2, 10, "name", False))
        assert page.total == 25 and page.pages == 3 and [i.name for i in page.items][0] == "测试银行10"
        assert svc.search(s, REGULATOR, "测试银行1").total == 10
        mine = make_uscc("230103", 900_103)
        assert [i.code for i in svc.search(s, bank_principal(mine)).items] == [mine]
        assert _code(svc.get, s, bank_principal(mine), make_uscc("230103", 900_104)) == "INSTITUTION_FORBIDDEN"
        crafted = svc.search(s, OPERATOR, req=PageRequest(1, 5, "name; DROP TABLE institutions", False))
        assert crafted.sort == "created_at"


def test_status_changes_need_a_reason_and_revocation_is_final(db: Database) -> None:
    with db.session() as s:
        onboard_bank(s)
        svc.issue_api_key(s, OPERATOR, BANK_CODE, label="生产")
        assert _code(svc.change_status, s, OPERATOR, BANK_CODE, "suspend", " ") == "REASON_REQUIRED"
        assert _code(svc.change_status, s, OPERATOR, BANK_CODE, "reactivate", "无需") == "BAD_TRANSITION"
        assert svc.change_status(s, OPERATOR, BANK_CODE, "suspend", "核查异常查询").status == "suspended"
        assert _code(svc.issue_api_key, s, bank_principal(), BANK_CODE) == "OPERATOR_ONLY"
        assert svc.change_status(s, OPERATOR, BANK_CODE, "reactivate", "核查完毕").status == "active"
        inst = svc.change_status(s, OPERATOR, BANK_CODE, "revoke", "停止合作")
        assert inst.status == "revoked" and inst.status_reason == "停止合作"
        assert all(c.status == "revoked" for c in svc.list_credentials(s, OPERATOR, BANK_CODE))
        assert _code(svc.change_status, s, OPERATOR, BANK_CODE, "reactivate", "误操作") == "BAD_TRANSITION"
        assert _code(svc.issue_api_key, s, OPERATOR, BANK_CODE) == "INSTITUTION_REVOKED"
    with db.session() as s:
        actions = [e.action for e in s.execute(select(AuditEvent).where(
            AuditEvent.target == f"institution:{BANK_CODE}").order_by(AuditEvent.id)).scalars()]
        assert actions == ["institution.onboarded", "institution.suspend", "institution.reactivate",
                           "institution.revoke"]


def test_institution_users(db: Database) -> None:
    with db.session() as s:
        onboard_bank(s)
        admin = svc.add_user(s, OPERATOR, BANK_CODE, username="bank-admin", display_name="王管理",
                             password="correct-horse-9", org_admin=True)
        teller = svc.add_user(s, OPERATOR, BANK_CODE, username="teller1", display_name="李信贷",
                              password="correct-horse-9")
        assert (admin.role, admin.org_code, admin.org_admin) == ("bank", BANK_CODE, True)
        assert teller.org_admin is False
        assert [u.username for u in svc.list_users(s, OPERATOR, BANK_CODE)] == ["bank-admin", "teller1"]
        assert _code(svc.add_user, s, OPERATOR, BANK_CODE, username="x", display_name="", password="short") \
            == "BAD_USERNAME"
        svc.set_user_active(s, OPERATOR, BANK_CODE, teller.id, False, "离职")
        assert s.get(User, teller.id).active is False


def test_api_key_is_shown_once_and_only_its_hash_kept(db: Database) -> None:
    with db.session() as s:
        onboard_bank(s)
        issued = svc.issue_api_key(s, OPERATOR, BANK_CODE, label="信贷系统",
                                   expires_at=clock.now() + timedelta(days=90))
        key_id, secret = svc.split_token(issued.token)
        assert issued.token == f"xyd_{key_id}.{secret}" and len(secret) >= 40
        assert _code(svc.issue_api_key, s, OPERATOR, BANK_CODE, expires_at=clock.now()) == "BAD_EXPIRY"
    with db.session() as s:
        row = s.get(ApiCredential, key_id)
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in repr(svc.credential_dict(row)) and "secret_hash" not in svc.credential_dict(row)
        for ev in s.execute(select(AuditEvent)).scalars():
            assert secret not in str(ev.detail)
    assert svc.split_token("xyd_nothex.secret") is None and svc.split_token("Bearer abc") is None


def test_rotation_keeps_the_old_key_for_the_grace_period_or_revokes_it(db: Database) -> None:
    with db.session() as s:
        onboard_bank(s)
        old = svc.issue_api_key(s, OPERATOR, BANK_CODE, label="生产").credential
        new, issued = svc.rotate(s, OPERATOR, BANK_CODE, old.key_id)
        assert issued is not None and new.key_id != old.key_id and new.label == "生产"
        assert old.status == "active" and old.expires_at == clock.now() + timedelta(hours=24)
        newer, _ = svc.rotate(s, OPERATOR, BANK_CODE, new.key_id, grace_hours=0)
        assert new.status == "revoked" and new.revoked_at is not None
        assert _code(svc.rotate, s, OPERATOR, BANK_CODE, new.key_id) == "CREDENTIAL_REVOKED"
        assert _code(svc.rotate, s, OPERATOR, BANK_CODE, newer.key_id, grace_hours=10_000) == "BAD_GRACE"


def test_signing_keys_are_checked_and_normalised(db: Database) -> None:
    key = sm2.PrivateKey.generate().public_key
    with db.session() as s:
        onboard_bank(s)
        cred = svc.register_public_key(s, OPERATOR, BANK_CODE, kind="sm2", public_key=key.to_pem(), label="签名")
        assert cred.public_key == key.to_hex() and cred.secret_hash is None
        assert _code(svc.register_public_key, s, OPERATOR, BANK_CODE, kind="sm2",
                     public_key=key.to_hex()[2:]) == "PUBLIC_KEY_EXISTS"  # 64-byte x‖y is the same key
        assert _code(svc.register_public_key, s, OPERATOR, BANK_CODE, kind="sm2",
                     public_key="04" + "11" * 64) == "BAD_PUBLIC_KEY"  # not on the curve
        assert _code(svc.register_public_key, s, OPERATOR, BANK_CODE, kind="ed25519",
                     public_key="ab" * 31) == "BAD_PUBLIC_KEY"
        assert _code(svc.register_public_key, s, OPERATOR, BANK_CODE, kind="rsa",
                     public_key="ab") == "BAD_CREDENTIAL_KIND"
        assert _code(svc.rotate, s, OPERATOR, BANK_CODE, cred.key_id) == "PUBLIC_KEY_REQUIRED"
        other = sm2.PrivateKey.generate().public_key
        new, issued = svc.rotate(s, OPERATOR, BANK_CODE, cred.key_id, grace_hours=1, public_key=other.to_hex())
        assert issued is None and new.kind == "sm2" and new.public_key == other.to_hex()


def test_credential_status_changes(db: Database) -> None:
    with db.session() as s:
        onboard_bank(s)
        onboard_bank(s, OTHER_BANK_CODE, "另一家银行")
        cred = svc.issue_api_key(s, OPERATOR, BANK_CODE).credential
        assert _code(svc.change_credential_status, s, OPERATOR, OTHER_BANK_CODE, cred.key_id, "suspend",
                     "不属于该机构") == "CREDENTIAL_NOT_FOUND"
        assert svc.change_credential_status(s, OPERATOR, BANK_CODE, cred.key_id, "suspend", "排查").status \
            == "suspended"
        assert svc.change_credential_status(s, OPERATOR, BANK_CODE, cred.key_id, "reactivate", "排查完毕").status \
            == "active"
        assert svc.change_credential_status(s, OPERATOR, BANK_CODE, cred.key_id, "revoke", "疑似泄露").status \
            == "revoked"
        assert _code(svc.change_credential_status, s, OPERATOR, BANK_CODE, cred.key_id, "reactivate",
                     "误操作") == "BAD_TRANSITION"
