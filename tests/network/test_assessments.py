"""Periodic re-assessment of connected children: validity from approval, a re-assessment through the same signed
application and the same two officers, and the daily reminders with a suspension proposed on expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from xinyidai.config import Settings
from xinyidai.kit import audit, clock
from xinyidai.kit.crypto.suite import Identity, get_suite
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.network import assessments, envelope, peers, relay
from xinyidai.network.models import ConnectionReminder, Peer, SanctionProposal

from .nodes import ASSESSMENT, OFFICER, SECURITY

CHILD = Settings(node_code="CN-230100", node_role="municipal", node_name="哈尔滨市融资信用服务平台")
OTHER_SECURITY = Principal(0, "sec-two", "安全管理员乙", "security", None)
START = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)  # 10:00 in Beijing: approval day 2026-11-15
UNTIL = date(2027, 11, 15)  # 365 days later: the last valid day


class MovableClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def to(self, day: date) -> None:
        """10:00 Beijing time on `day`."""
        self.at = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


@pytest.fixture
def moving() -> Iterator[MovableClock]:
    c = MovableClock(START)
    clock.set_clock(c)
    yield c
    clock.set_clock(None)


@pytest.fixture
def child_key() -> Identity:
    return get_suite("intl").generate_identity()


def _apply(s, identity: Identity, assessment: dict[str, str] | None = None) -> Peer:  # noqa: ANN001
    doc = peers.application(CHILD, identity, endpoint="http://127.0.0.1:9", contact="哈尔滨 运维 0451-1",
                            assessment=assessment or ASSESSMENT, region_prefix="2301")
    return peers.receive_application(s, "provincial", doc)


@pytest.fixture
def connected(db: Database, moving: MovableClock, child_key: Identity) -> Database:
    with db.session() as s:
        _apply(s, child_key)
        peers.check(s, OFFICER, CHILD.node_code, "材料齐全")
        peers.decide(s, SECURITY, CHILD.node_code, True, "自评估符合等保三级要求")
    return db


def _peer(db: Database) -> Peer:
    with db.session() as s:
        p = s.get(Peer, CHILD.node_code)
        s.expunge(p)
        return p


def _refused(db: Database, fn) -> DomainError:  # noqa: ANN001
    with pytest.raises(DomainError) as info, db.session() as s:
        fn(s)
    return info.value


def test_approval_starts_validity_and_status_moves_with_the_clock(connected: Database) -> None:
    p = _peer(connected)
    assert p.assessed_at == START and p.assessment_valid_until == UNTIL
    assert assessments.status(p, UNTIL - timedelta(days=31)).state == "valid"
    due = assessments.status(p, UNTIL - timedelta(days=30))
    assert (due.state, due.label, due.days_left) == ("due", "即将到期", 30)
    at = assessments.status(p, UNTIL)
    assert (at.state, at.days_left) == ("due", 0)
    after = assessments.status(p, UNTIL + timedelta(days=1))
    assert (after.state, after.label, after.days_left) == ("expired", "已过期", -1)
    with connected.session() as s:
        assert assessments.expired_count(s, UNTIL) == 0
        assert assessments.expired_count(s, UNTIL + timedelta(days=1)) == 1
        assert [x.code for x in assessments.due(s, UNTIL - timedelta(days=31)).items] == []
        assert [x.code for x in assessments.due(s, UNTIL - timedelta(days=30)).items] == [CHILD.node_code]


def test_validity_setting_and_migrated_peers(db: Database, moving: MovableClock, child_key: Identity) -> None:
    with db.session() as s:
        _apply(s, child_key)
        peers.check(s, OFFICER, CHILD.node_code, "材料齐全")
        peers.decide(s, SECURITY, CHILD.node_code, True, "符合要求", valid_days=90)
        assert s.get(Peer, CHILD.node_code).assessment_valid_until == date(2027, 2, 13)
        # a peer connected before validity was recorded dates its assessment from the decision
        s.add(Peer(code="CN-230200", name="齐齐哈尔市平台", role="municipal", relation="child", mode="push",
                   suite="intl", public_key={}, key_id="k2", status="active", assessment=ASSESSMENT,
                   applied_at=START - timedelta(days=500), decided_at=START - timedelta(days=400)))
        s.add(Peer(code="CN", name="国家平台", role="national", relation="parent", mode="push", suite="intl",
                   public_key={}, key_id="k0", status="active", assessment={}, applied_at=START - timedelta(days=900)))
    with db.session() as s:
        migrated = s.get(Peer, "CN-230200")
        v = assessments.status(migrated, clock.today())
        assert v.state == "expired" and v.valid_until == (START - timedelta(days=400)).date() + timedelta(days=365)
        assert assessments.status(s.get(Peer, "CN"), clock.today()).state == "none"  # the parent is not ours
        page = assessments.due(s, clock.today(), req=PageRequest(1, 10))
        assert [x.code for x in page.items] == ["CN-230200"]
        assert assessments.expired_count(s, clock.today()) == 1


def test_reassessment_not_due_is_refused_and_nothing_is_stored(connected: Database, child_key: Identity) -> None:
    err = _refused(connected, lambda s: _apply(s, child_key))
    assert err.code == "REASSESSMENT_NOT_DUE" and UNTIL.isoformat() in err.message
    p = _peer(connected)
    assert p.reassessment is None and p.status == "active"


def test_reassessment_through_the_same_flow(connected: Database, moving: MovableClock, child_key: Identity
                                            ) -> None:
    moving.to(UNTIL - timedelta(days=20))
    before = _peer(connected)
    renewed = ASSESSMENT | {"mlps_certificate": "23010099-2027-0031", "logging": "审计日志留存 5 年"}
    with connected.session() as s:
        _apply(s, child_key, renewed)
    p = _peer(connected)
    assert p.reassessment == renewed and p.status == "active" and p.key_id == before.key_id
    assert p.assessment == ASSESSMENT and p.assessment_valid_until == UNTIL

    # still connected: its envelopes are accepted as before
    parent_key = get_suite("intl").generate_identity()
    _, wire = envelope.make_envelope(child_key, CHILD.node_code, "CN-230000", parent_key.public_bundle(), "ping", {})
    with connected.session() as s:
        assert envelope.open_envelope(wire, "CN-230000", parent_key, relay.peer_keys(s)).header["kind"] == "ping"

    assert _refused(connected, lambda s: _apply(s, child_key, renewed)).code == "REASSESSMENT_PENDING"
    assert _refused(connected, lambda s: assessments.decide_reassessment(
        s, SECURITY, CHILD.node_code, True, "符合要求")).code == "NOT_CHECKED"
    assert _refused(connected, lambda s: assessments.check_reassessment(
        s, SECURITY, CHILD.node_code, "看过")).code == "ROLE_FORBIDDEN"
    checker = Principal(0, "sec-officer", "兼任登记审核", "operator", None)  # the same person as the decider
    with connected.session() as s:
        assessments.check_reassessment(s, checker, CHILD.node_code, "材料齐全")
    assert _refused(connected, lambda s: assessments.decide_reassessment(
        s, SECURITY, CHILD.node_code, True, "符合要求")).code == "SEPARATION_OF_DUTIES"
    with connected.session() as s:
        assessments.decide_reassessment(s, OTHER_SECURITY, CHILD.node_code, True, "重新评估符合要求")
    p = _peer(connected)
    assert p.assessment == renewed and p.reassessment is None and p.reassessment_checked_by is None
    assert p.assessed_at == moving.at and p.assessment_valid_until == UNTIL - timedelta(days=20) + timedelta(days=365)
    assert p.status == "active"
    with connected.session() as s:
        actions = list(s.execute(select(audit.AuditEvent.action).where(
            audit.AuditEvent.target == f"peer:{CHILD.node_code}").order_by(audit.AuditEvent.id)).scalars())
    assert actions[-3:] == ["peer.reassessment_filed", "peer.reassessment_checked", "peer.reassessment_approved"]


def test_rejected_reassessment_keeps_the_old_assessment(connected: Database, moving: MovableClock,
                                                        child_key: Identity) -> None:
    moving.to(UNTIL + timedelta(days=3))  # even after expiry the child re-assesses through the same path
    with connected.session() as s:
        _apply(s, child_key, ASSESSMENT | {"logging": "留存 1 年"})
        assessments.check_reassessment(s, OFFICER, CHILD.node_code, "材料齐全")
        assessments.decide_reassessment(s, SECURITY, CHILD.node_code, False, "日志留存期限不足")
    p = _peer(connected)
    assert p.assessment == ASSESSMENT and p.assessment_valid_until == UNTIL and p.reassessment is None
    assert p.status == "active"


def test_new_level_or_certificate_may_be_filed_any_time(connected: Database, child_key: Identity) -> None:
    with connected.session() as s:
        _apply(s, child_key, ASSESSMENT | {"mlps_level": "4"})
    assert _peer(connected).reassessment["mlps_level"] == "4"


def test_reassessment_with_another_key_is_refused(connected: Database, moving: MovableClock) -> None:
    moving.to(UNTIL - timedelta(days=5))
    stranger = get_suite("intl").generate_identity()
    assert _refused(connected, lambda s: _apply(s, stranger)).code == "KEY_MISMATCH"
    assert _peer(connected).reassessment is None


def _daily(db: Database, moving: MovableClock, day: date) -> dict[str, int]:
    moving.to(day)
    with db.session() as s:
        return assessments.daily(s, day)


def test_reminders_once_per_step_and_one_proposal_on_expiry(connected: Database, moving: MovableClock) -> None:
    assert _daily(connected, moving, UNTIL - timedelta(days=31))["reminders"] == 0
    for left, step in ((30, "d-30"), (7, "d-7"), (0, "d0")):
        assert _daily(connected, moving, UNTIL - timedelta(days=left))["reminders"] == 1, step
        assert _daily(connected, moving, UNTIL - timedelta(days=left))["reminders"] == 0, step  # run twice
    assert _daily(connected, moving, UNTIL - timedelta(days=3))["reminders"] == 0  # d-7 already sent
    first = _daily(connected, moving, UNTIL + timedelta(days=1))
    assert first["reminders"] == 1 and first["proposals"] == 1
    assert _daily(connected, moving, UNTIL + timedelta(days=1))["proposals"] == 0
    assert _daily(connected, moving, UNTIL + timedelta(days=2)) == {"checked": 1, "reminders": 0, "proposals": 0}
    with connected.session() as s:
        rows = s.execute(select(ConnectionReminder.kind, ConnectionReminder.step)
                         .order_by(ConnectionReminder.id)).all()
        assert [tuple(r) for r in rows] == [("assessment_due", "d-30"), ("assessment_due", "d-7"),
                                            ("assessment_due", "d0"), ("assessment_expired", "d+1")]
        proposals = list(s.execute(select(SanctionProposal)).scalars())
        assert len(proposals) == 1
        assert (proposals[0].target_code, proposals[0].action, proposals[0].source, proposals[0].source_ref,
                proposals[0].state) == (CHILD.node_code, "suspend", "assessment", UNTIL.isoformat(), "proposed")
        assert s.execute(select(func.count()).select_from(Peer).where(Peer.status == "active")).scalar_one() == 1


def test_a_connected_city_reassesses_with_its_cli(tmp_path) -> None:  # noqa: ANN001
    """Through real processes: `xinyidai node reassess` signs with the city's key and the province keeps it."""
    import json

    from .nodes import Node

    province = Node("CN-230000", "provincial", "黑龙江省融资信用服务平台", tmp_path / "province")
    city = Node("CN-230100", "municipal", "哈尔滨市融资信用服务平台", tmp_path / "harbin")
    try:
        province.init()
        province.start()
        city.init(parent=province)
        city.apply_to(province, region="2301")
        same = city.root / "same.json"
        same.write_text(json.dumps(ASSESSMENT, ensure_ascii=False), encoding="utf-8")
        r = city.cli("node", "reassess", "--contact", "运维 0451-1", "--assessment", str(same), check=False)
        assert r.returncode == 1 and "REASSESSMENT_NOT_DUE" in r.stderr
        renewed = city.root / "renewed.json"
        renewed.write_text(json.dumps(ASSESSMENT | {"mlps_certificate": "23010099-2027-0001"}, ensure_ascii=False),
                           encoding="utf-8")
        r = city.cli("node", "reassess", "--contact", "运维 0451-1", "--assessment", str(renewed))
        assert "重新评估已受理" in r.stdout
        db = province.db()
        with db.session() as s:
            p = s.get(Peer, "CN-230100")
            assert p.status == "active" and p.reassessment["mlps_certificate"] == "23010099-2027-0001"
            assert p.assessment_valid_until is not None
        db.dispose()
    finally:
        province.kill()


def test_the_daily_run_checks_deadlines_and_assessments_together(connected: Database, moving: MovableClock) -> None:
    """What the server's chore and `node deadlines` run: both schedules, each step once."""
    from xinyidai.network import daily

    day = UNTIL + timedelta(days=1)
    moving.to(day)
    with connected.session() as s:
        first = daily.run(s, day, None, None, assessments.DEFAULT_VALID_DAYS)
    assert first["assessment_proposals"] == 1 and first["checked"] == 0 and first["proposals"] == 0
    with connected.session() as s:
        again = daily.run(s, day, None, None, assessments.DEFAULT_VALID_DAYS)
    assert again["assessment_proposals"] == 0 and again["assessment_checked"] == 1
