"""Credit commitments: the administrator confirms exactly the text shown (its SM3 digest), and a later record
in the commitment's scope breaks it — found for all commitments by one set-based check."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tests.rights.repair_world import ENTERPRISE, OPERATOR, OTHER, admin, penalty, seed
from xinyidai.catalog.schema import Catalog
from xinyidai.kit import clock
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import DomainError
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.rights import commitments
from xinyidai.rights.commitments import CommitmentRequest
from xinyidai.rights.models import Commitment

GENERAL = CommitmentRequest("general", ("penalty",))


@pytest.fixture
def world(db: Database, catalog: Catalog) -> dict[str, Principal]:
    with db.session() as s:
        seed(s, catalog)
        return {"admin": admin(s), "staff": admin(s, "ent_staff", is_admin=False),
                "other": admin(s, "other_admin", OTHER)}


def _sign(db: Database, catalog: Catalog, p: Principal, req: CommitmentRequest = GENERAL) -> str:
    with db.session() as s:
        text, digest = commitments.preview(s, catalog, p, req)
        assert digest == sm3_hex(text.encode("utf-8"))
        return commitments.confirm(s, catalog, p, req, digest).number


def test_the_text_names_the_entity_the_date_and_the_scope(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    with db.session() as s:
        text, _ = commitments.preview(s, catalog, world["admin"], GENERAL)
    assert text.startswith("信用承诺书（主动型）") and "哈尔滨信易测试有限公司" in text and ENTERPRISE in text
    assert "承诺日期：2026-11-15" in text and "承诺范围：行政处罚" in text and "2026-11-15 至 2027-11-15" in text
    number = _sign(db, catalog, world["admin"])
    with db.session() as s:
        c = commitments.get(s, world["admin"], number)
        assert c.text == text and c.number == f"CN20261115{c.id:04d}" and c.valid_until == date(2027, 11, 15)
        assert c.confirmed_by == "ent_admin" and c.scope == "penalty"
        assert s.execute(select(AuditEvent.entity_code).where(AuditEvent.action == "rights.commitment.signed")
                         ).scalar_one() == ENTERPRISE


def test_a_changed_text_and_bad_requests_are_refused(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    with db.session() as s:
        _, digest = commitments.preview(s, catalog, world["admin"], GENERAL)
    clock.set_clock(lambda: datetime(2026, 11, 15, 16, 1, tzinfo=UTC))  # past midnight in Beijing: another text
    try:
        with db.session() as s, pytest.raises(DomainError) as exc:
            commitments.confirm(s, catalog, world["admin"], GENERAL, digest)
        assert exc.value.code == "COMMITMENT_TEXT_CHANGED"
    finally:
        clock.set_clock(lambda: datetime(2026, 11, 15, 2, 0, tzinfo=UTC))
    cases = [(world["admin"], CommitmentRequest("general", ("nonsense",)), "UNKNOWN_CATEGORY"),
             (world["admin"], CommitmentRequest("general", ()), "COMMITMENT_SCOPE_REQUIRED"),
             (world["admin"], CommitmentRequest("forever", ("penalty",)), "BAD_COMMITMENT_KIND"),
             (world["staff"], GENERAL, "ORG_ADMIN_ONLY"), (OPERATOR, GENERAL, "ROLE_FORBIDDEN")]
    for p, req, code in cases:
        with db.session() as s, pytest.raises(DomainError) as exc:
            commitments.confirm(s, catalog, p, req, "0" * 64)
        assert exc.value.code == code
    with db.session() as s, pytest.raises(DomainError) as exc:
        commitments.confirm(s, catalog, world["admin"], GENERAL, "")
    assert exc.value.code == "COMMITMENT_NOT_CONFIRMED"
    with db.session() as s:
        assert s.execute(select(Commitment)).first() is None


def test_a_later_penalty_breaks_a_commitment(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    """Seeded penalties are all older than the commitments; one decided after a commitment's date breaks
    it (and only that entity's), one decided the same day does not; a later check finds nothing new."""
    mine = _sign(db, catalog, world["admin"])
    theirs = _sign(db, catalog, world["other"])
    with db.session() as s:
        assert commitments.check_broken(s, date(2026, 11, 15), catalog) == 0
        penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕500号", "2026-11-15")  # the commitment's own day
        assert commitments.check_broken(s, date(2026, 11, 15), catalog) == 0
        late = penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕501号", "2026-11-20")
        assert commitments.check_broken(s, date(2026, 11, 19), catalog) == 0  # not yet in force
        assert commitments.check_broken(s, date(2026, 11, 20), catalog) == 1
        c = commitments.get(s, world["admin"], mine)
        assert c.broken_at is not None and c.broken_record_id == late.id
        assert "哈市监罚〔2026〕501号" in (c.broken_note or "") and "行政处罚" in (c.broken_note or "")
        assert commitments.get(s, world["other"], theirs).broken_at is None
        assert commitments.check_broken(s, date(2026, 11, 30), catalog) == 0  # flagged once
        assert s.execute(select(AuditEvent.entity_code).where(AuditEvent.action == "rights.commitment.broken")
                         ).scalar_one() == ENTERPRISE
        broken = commitments.listing(s, OPERATOR, PageRequest(), broken=True)
        assert [x.number for x in broken.items] == [mine]
        assert [x.number for x in commitments.listing(s, world["other"], PageRequest()).items] == [theirs]


def test_a_penalty_outside_the_scope_or_the_validity_breaks_nothing(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    with db.session() as s:
        c = Commitment(number="CN202511150001", entity_code=ENTERPRISE, kind="general", scope="judicial",
                       text="t", text_digest="0" * 64, confirmed_by="ent_admin",
                       confirmed_at=datetime(2025, 11, 15, 2, 0, tzinfo=UTC), valid_until=date(2026, 5, 1))
        s.add(c)
        s.add(Commitment(number="CN202511150002", entity_code=ENTERPRISE, kind="general", scope="penalty",
                         text="t", text_digest="0" * 64, confirmed_by="ent_admin",
                         confirmed_at=datetime(2025, 11, 15, 2, 0, tzinfo=UTC), valid_until=date(2026, 5, 1)))
        s.flush()
        # penalties of 2026-06-01 and later: after the second's validity, outside the first's scope
        assert commitments.check_broken(s, date(2026, 11, 15), catalog) == 0
        penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕050号", "2026-04-30")
        assert commitments.check_broken(s, date(2026, 11, 15), catalog) == 1


def test_the_commitments_day_is_its_beijing_date(world, db: Database, catalog: Catalog) -> None:  # noqa: ANN001
    """Confirmed at 01:00 in Beijing (17:00 UTC the day before): a penalty decided that Beijing day is not
    'after' the commitment, though it is after the commitment's UTC date."""
    with db.session() as s:
        s.add(Commitment(number="CN202611150009", entity_code=ENTERPRISE, kind="general", scope="penalty", text="t",
                         text_digest="0" * 64, confirmed_by="ent_admin",
                         confirmed_at=datetime(2026, 11, 14, 17, 0, tzinfo=UTC), valid_until=date(2027, 11, 15)))
        s.flush()
        penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕700号", "2026-11-15")
        assert commitments.check_broken(s, date(2026, 11, 15), catalog) == 0
        penalty(s, catalog, ENTERPRISE, "哈市监罚〔2026〕701号", "2026-11-16")
        assert commitments.check_broken(s, date(2026, 11, 16), catalog) == 1
