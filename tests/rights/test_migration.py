"""Importing the old site's file (黑龙江站整体迁移): every bad row named in the report with its code, nothing else
touched, the same file refused the second time, a malformed file refused whole; a migrated account activates only
by the one-time code sent to its registered mobile; drafts create nothing until the administrator confirms."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.rights.migration_world import BANK, COUNTS, E1, E2, REFUSED, sample, sample_bytes, seed, workbook
from xinyidai.access.models import Authorization
from xinyidai.accounts import users as accounts
from xinyidai.accounts.models import User
from xinyidai.accounts.users import principal_of
from xinyidai.catalog.schema import Catalog
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.notify import FileNotifier, make_notifier
from xinyidai.rights import activation, migration
from xinyidai.rights.models import MigratedAccount, MigratedAuthorization, MigrationImport, MigrationRow

SECRET = "test-node-secret"
PASSWORD = "new-horse-battery-9"


@pytest.fixture
def world(db: Database) -> Iterator[Database]:
    with db.session() as s:
        seed(s)
    yield db


@pytest.fixture
def notifier(tmp_path: Path) -> FileNotifier:
    n = make_notifier("file", tmp_path / "var")
    assert isinstance(n, FileNotifier)
    return n


def _import(db: Database, catalog: Catalog, data: bytes, name: str = "hlj.json") -> int:
    with db.session() as s:
        return migration.import_file(s, catalog, data, name, "op").id


def _refused(db: Database, fn, *args, **kwargs) -> DomainError:  # noqa: ANN001
    """Call as a page does: a refusal's own writes (audit, counted tries) are committed."""
    s = db.sessions()
    try:
        with pytest.raises(DomainError) as info:
            fn(s, *args, **kwargs)
        s.commit()
    finally:
        s.close()
    return info.value


def _state(db: Database) -> tuple[int, ...]:
    with db.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (
            MigrationImport, MigrationRow, MigratedAccount, MigratedAuthorization, User, Authorization))


@pytest.mark.parametrize("fmt", ["json", "xlsx"])
def test_the_report_names_every_refused_row_and_imports_the_rest(world: Database, catalog: Catalog, fmt: str) -> None:
    data = sample_bytes() if fmt == "json" else workbook(sample())
    import_id = _import(world, catalog, data, f"hlj.{fmt}")
    with world.session() as s:
        imp = s.get(MigrationImport, import_id)
        assert imp is not None and imp.counts == COUNTS
        rows = list(s.execute(select(MigrationRow).where(MigrationRow.import_id == import_id)).scalars())
        offset = 1 if fmt == "xlsx" else 0  # a workbook's rows are numbered as the sheet shows them
        refused = {(r.kind, r.row_no - offset): r.code for r in rows if r.outcome == "refused"}
        assert refused == REFUSED
        assert all(r.message and re.search(r"[\u4e00-\u9fff]", r.message) for r in rows)
        by_ref = {(r.kind, r.ref): r for r in rows if r.outcome == "refused"}
        assert "不在本省市场主体名录中" in by_ref[("enterprise", "91230103XY0000G73G")].message

        # Accounts come in inactive with an unusable password; drafts only, no live authorization.
        users = {u.username: u for u in s.execute(select(User).where(User.username.like("hlj_%"))).scalars()}
        assert set(users) == {"hlj_admin1", "hlj_staff1", "hlj_admin2"}
        assert not any(u.active for u in users.values())
        assert users["hlj_admin1"].org_admin and not users["hlj_staff1"].org_admin
        assert users["hlj_staff1"].org_code == E1
        assert s.get(MigratedAccount, users["hlj_staff1"].id).phone == "13800000002"
        with pytest.raises(DomainError):
            accounts.authenticate(s, "hlj_admin1", users["hlj_admin1"].password_hash, 60)
        drafts = {d.old_number: d for d in s.execute(select(MigratedAuthorization)).scalars()}
        assert set(drafts) == {"HLJ-SQ-0001", "HLJ-SQ-0002", "HLJ-SQ-0011"}
        assert drafts["HLJ-SQ-0002"].scopes == ["tax"] and drafts["HLJ-SQ-0001"].scopes == ["tax", "social_insurance"]
        assert all(d.state == "draft" for d in drafts.values())
        assert s.scalar(select(func.count()).select_from(Authorization)) == 0
        seen = {e.entity_code for e in s.execute(select(AuditEvent).where(
            AuditEvent.action == "migration.entity_imported")).scalars()}
        assert seen == {E1, E2}  # each enterprise sees what came over on its own pages

    before = _state(world)  # the same file again: refused, nothing changed
    err = _refused(world, migration.import_file, catalog, data, "again.json", "op")
    assert err.code == "MIGRATION_DUPLICATE_FILE" and _state(world) == before


def _gbk(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("gb18030")


@pytest.mark.parametrize(("make", "code"), [
    (lambda: b"\xd0\xcf\x11\xe0not a workbook at all", "MIGRATION_FILE_FORMAT"),
    (lambda: workbook(sample())[:400], "MIGRATION_FILE_INVALID"),
    (lambda: workbook(sample(), drop_sheet="授权"), "MIGRATION_SHEET_MISSING"),
    (lambda: workbook(sample(), drop_column="手机号"), "MIGRATION_COLUMN_MISSING"),
    (lambda: _gbk(sample()), "MIGRATION_FILE_ENCODING"),
    (lambda: b'{"enterprises": [', "MIGRATION_FILE_INVALID"),
    (lambda: json.dumps({"enterprises": [], "accounts": []}).encode(), "MIGRATION_SHEET_MISSING"),
    (lambda: b"", "MIGRATION_FILE_EMPTY"),
])
def test_a_malformed_file_is_refused_whole(world: Database, catalog: Catalog, make, code: str) -> None:  # noqa: ANN001
    before = _state(world)
    err = _refused(world, migration.import_file, catalog, make(), "bad", "op")
    assert err.code == code and "整个文件未导入" in err.message
    assert _state(world) == before


def _code(notifier: FileNotifier) -> str:
    m = re.search(r"验证码 (\d{6})", notifier.messages()[-1]["message"])
    assert m
    return m.group(1)


def _start(db: Database, notifier: FileNotifier, username: str, phone: str) -> tuple[str, str]:
    with db.session() as s:
        return activation.start(s, notifier, SECRET, username=username, phone=phone)


def test_a_pending_account_activates_by_code_then_logs_in(world: Database, catalog: Catalog,
                                                          notifier: FileNotifier) -> None:
    _import(world, catalog, sample_bytes())
    with world.session() as s, pytest.raises(DomainError):
        accounts.authenticate(s, "hlj_admin1", PASSWORD, 60)

    # The same answer for an unknown username, a wrong number and the right one; only the right one gets a code.
    unknown = _start(world, notifier, "nobody_here", "13800000001")
    wrong = _start(world, notifier, "hlj_admin1", "13900000000")
    assert notifier.messages() == [] and unknown[0] == wrong[0]
    err = _refused(world, activation.confirm, SECRET, wrong[1], "000000", PASSWORD, PASSWORD)
    assert err.code == "CODE_INVALID"
    message, ticket = _start(world, notifier, "hlj_admin1", "138-0000-0001")
    assert message == unknown[0] and notifier.messages()[-1]["to"] == "13800000001"
    code = _code(notifier)

    # A ticket not handed out with this code spends none of its tries.
    assert _refused(world, activation.confirm, SECRET, wrong[1], code, PASSWORD, PASSWORD).code == "CODE_INVALID"
    assert _refused(world, activation.confirm, SECRET, ticket, code, "short", "short").code == "WEAK_PASSWORD"
    bad = "000000" if code != "000000" else "111111"
    err = _refused(world, activation.confirm, SECRET, ticket, bad, PASSWORD, PASSWORD)
    assert err.code == "CODE_INVALID" and "还可尝试 4 次" in err.message
    with world.session() as s:
        user = s.execute(select(User).where(User.username == "hlj_admin1")).scalar_one()
        assert s.get(MigratedAccount, user.id).tries == 1 and not user.active

    with world.session() as s:
        activated = activation.confirm(s, SECRET, ticket, code, PASSWORD, PASSWORD)
        assert activated.active and activated.org_admin
    with world.session() as s:
        token, _ls, u = accounts.authenticate(s, "hlj_admin1", PASSWORD, 60)
        assert token and u.username == "hlj_admin1"
        ma = s.get(MigratedAccount, u.id)
        assert ma.state == "verified" and ma.verified_at is not None and ma.code_hash is None
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "migration.account_activated", AuditEvent.entity_code == E1)) == 1
    # Verified: the code cannot be used again, nor a new one asked for.
    assert _refused(world, activation.confirm, SECRET, ticket, code, PASSWORD, PASSWORD).code == "CODE_INVALID"


def test_a_code_expires_and_five_wrong_codes_end_it(world: Database, catalog: Catalog,
                                                    notifier: FileNotifier) -> None:
    _import(world, catalog, sample_bytes())
    _msg, ticket = _start(world, notifier, "hlj_staff1", "13800000002")
    code = _code(notifier)
    clock.set_clock(lambda: _later(11))
    try:
        err = _refused(world, activation.confirm, SECRET, ticket, code, PASSWORD, PASSWORD)
        assert err.code == "CODE_EXPIRED"
    finally:
        clock.set_clock(lambda: _later(0))

    _msg, ticket = _start(world, notifier, "hlj_staff1", "13800000002")
    code = _code(notifier)
    bad = "000000" if code != "000000" else "111111"
    codes = [_refused(world, activation.confirm, SECRET, ticket, bad, PASSWORD, PASSWORD).code for _ in range(5)]
    assert codes == ["CODE_INVALID"] * 4 + ["CODE_ATTEMPTS_EXCEEDED"]
    assert _refused(world, activation.confirm, SECRET, ticket, code, PASSWORD, PASSWORD).code == "CODE_EXPIRED"
    with world.session() as s:
        assert not s.execute(select(User.active).where(User.username == "hlj_staff1")).scalar_one()


def _later(minutes: int):  # noqa: ANN202
    from tests.conftest import FIXED_NOW
    return FIXED_NOW + timedelta(minutes=minutes)


def test_a_draft_creates_nothing_until_its_administrator_confirms(world: Database, catalog: Catalog,
                                                                  notifier: FileNotifier) -> None:
    _import(world, catalog, sample_bytes())
    for username, phone in (("hlj_admin1", "13800000001"), ("hlj_staff1", "13800000002"),
                            ("hlj_admin2", "13800000003")):
        _msg, ticket = _start(world, notifier, username, phone)
        with world.session() as s:
            activation.confirm(s, SECRET, ticket, _code(notifier), PASSWORD, PASSWORD)
    with world.session() as s:
        users = {u.username: principal_of(u) for u in s.execute(select(User)).scalars()}
        admin1, staff1, admin2 = users["hlj_admin1"], users["hlj_staff1"], users["hlj_admin2"]
        mine = {d.old_number: d.id for d in migration.drafts(s, admin1)}
        assert set(mine) == {"HLJ-SQ-0001", "HLJ-SQ-0011"}
        assert {d.old_number for d in migration.drafts(s, admin2)} == {"HLJ-SQ-0002"}
        text, digest = migration.preview_draft(s, catalog, admin1, migration.get_draft(s, admin1, mine["HLJ-SQ-0001"]))
        assert "哈尔滨迁移测试银行" in text and "2027-06-30" in text
        other_text, _ = migration.preview_draft(s, catalog, admin2,
                                                migration.get_draft(s, admin2, migration.drafts(s, admin2)[0].id))
        assert "2027-11-16" in other_text  # 2028-12-31 capped at what a grant may run to (366 days)

    # Another enterprise cannot see or confirm; a colleague who is not the administrator cannot either.
    assert _refused(world, migration.confirm_draft, catalog, admin2, mine["HLJ-SQ-0001"], digest).code == \
        "MIGRATED_AUTHORIZATION_NOT_FOUND"
    assert _refused(world, migration.confirm_draft, catalog, staff1, mine["HLJ-SQ-0001"], digest).code == \
        "ORG_ADMIN_ONLY"
    assert _refused(world, migration.confirm_draft, catalog, admin1, mine["HLJ-SQ-0001"], "0" * 64).code == \
        "AUTHORIZATION_TEXT_CHANGED"
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(Authorization)) == 0

    with world.session() as s:
        a = migration.confirm_draft(s, catalog, admin1, mine["HLJ-SQ-0001"], digest)
        number = a.number
    with world.session() as s:
        a = s.execute(select(Authorization).where(Authorization.number == number)).scalar_one()
        assert (a.entity_code, a.institution_code, a.status, a.confirmed_by) == (E1, BANK, "active", "hlj_admin1")
        assert {sc.category for sc in a.scopes} == {"tax", "social_insurance"} and a.text_digest == digest
        d = s.get(MigratedAuthorization, mine["HLJ-SQ-0001"])
        assert d.state == "confirmed" and d.authorization_id == a.id
    assert _refused(world, migration.confirm_draft, catalog, admin1, mine["HLJ-SQ-0001"], digest).code == \
        "MIGRATED_AUTHORIZATION_DECIDED"

    with world.session() as s:
        migration.decline_draft(s, admin1, mine["HLJ-SQ-0011"])
    with world.session() as s:
        assert s.get(MigratedAuthorization, mine["HLJ-SQ-0011"]).state == "declined"
        assert s.scalar(select(func.count()).select_from(Authorization)) == 1


def test_a_draft_past_its_validity_expires_and_cannot_be_confirmed(world: Database, catalog: Catalog) -> None:
    _import(world, catalog, sample_bytes())
    with world.session() as s:
        d = s.execute(select(MigratedAuthorization).where(MigratedAuthorization.old_number == "HLJ-SQ-0011")
                      ).scalar_one()
        admin = User(username="e1_admin", display_name="管理员", role="enterprise", password_hash="x", org_code=E1,
                     org_admin=True, active=True, created_at=clock.now())
        s.add(admin)
        s.flush()
        p, draft_id = principal_of(admin), d.id
    clock.set_clock(lambda: _later(60 * 24 * 140))  # past 2027-03-31
    try:
        assert _refused(world, migration.confirm_draft, catalog, p, draft_id, "x").code == \
            "MIGRATED_AUTHORIZATION_EXPIRED"
        with world.session() as s:
            assert migration.expire_drafts(s) == 1
        with world.session() as s:
            assert s.get(MigratedAuthorization, draft_id).state == "expired"
            assert s.scalar(select(func.count()).select_from(Authorization)) == 0
    finally:
        clock.set_clock(lambda: _later(0))


def test_an_administrator_registered_meanwhile_keeps_the_role(world: Database, catalog: Catalog,
                                                              notifier: FileNotifier) -> None:
    """The register's real-name administrator who arrived while the migrated one was pending stays the one
    administrator: the migrated account activates as a colleague."""
    _import(world, catalog, sample_bytes())
    with world.session() as s:
        s.add(User(username="e2_real", display_name="实名管理员", role="enterprise", password_hash="x", org_code=E2,
                   org_admin=True, active=True, created_at=clock.now()))
    _msg, ticket = _start(world, notifier, "hlj_admin2", "13800000003")
    with world.session() as s:
        u = activation.confirm(s, SECRET, ticket, _code(notifier), PASSWORD, PASSWORD)
        assert u.active and not u.org_admin
        e = s.execute(select(AuditEvent).where(AuditEvent.action == "migration.account_activated")).scalar_one()
        assert e.detail["demoted"] is True and e.entity_code == E2
