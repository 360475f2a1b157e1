"""The register: record, steps, closure by a second officer; each bad input refused with its code and nothing
stored; a serious incident's proposal to suspend its party."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from xinyidai.incidents import escalation, register
from xinyidai.incidents.models import Incident, IncidentAction, IncidentAuditLink, IncidentEntity
from xinyidai.incidents.register import IncidentDraft
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import DomainError
from xinyidai.kit.pagination import PageRequest
from xinyidai.network.models import SanctionProposal

from .conftest import BANK, HARBIN_A, HARBIN_B, JILIN, NODE, OPERATOR, SEC1, SEC2, World


def draft(w: World, **over: Any) -> IncidentDraft:
    base = IncidentDraft(kind="misuse", severity="major", title="机构超范围查询企业纳税信息",
                         description="测试银行在授权到期后仍查询企业纳税信息", found_at=clock.now() - timedelta(hours=2),
                         occurred_at=clock.now() - timedelta(days=1), responsible_unit="测试银行哈尔滨分行",
                         party_kind="institution", party_code=BANK, data_affected="纳税信息 2026 年 7–9 月",
                         audit_event_ids=[w.audit_ids[0]], entity_codes=[HARBIN_A])
    return replace(base, **over)


def counts(w: World) -> tuple[int, ...]:
    with w.db.session() as s:
        return tuple(s.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (Incident, IncidentAuditLink, IncidentEntity, IncidentAction, audit.AuditEvent))


def test_record_act_and_close_by_another_officer(world: World) -> None:
    with world.db.session() as s:
        inc = register.record(s, SEC1, draft(world), NODE)
        number = inc.number
    assert number.startswith("AQ-20261115-")
    with world.db.session() as s:
        register.add_action(s, SEC1, number, "已暂停该机构 API 密钥")
        register.add_action(s, SEC1, number, "已通知企业")  # same instant: kept apart, both kept
    with world.db.session() as s:
        register.close(s, SEC2, number, "机构未按期停止查询，责令整改并通报")
    with world.db.session() as s:
        inc = register.get(s, OPERATOR, number)
        assert (inc.state, inc.closed_by) == ("closed", "sec2")
        assert [a.text for a in register.actions(s, inc)] == ["已暂停该机构 API 密钥", "已通知企业"]
        assert register.entity_codes(s, inc) == [HARBIN_A]
        assert [e.id for e in register.audit_links(s, inc)] == [world.audit_ids[0]]
        actions = list(s.execute(select(audit.AuditEvent.action).where(
            audit.AuditEvent.target == f"incident:{number}").order_by(audit.AuditEvent.id)).scalars())
    assert actions == ["incident.recorded", "incident.action", "incident.action", "incident.closed"]


@pytest.mark.parametrize(("over", "code"), [
    ({"audit_event_ids": [1, 987654]}, "AUDIT_EVENT_UNKNOWN"),
    ({"entity_codes": [HARBIN_B, JILIN]}, "ENTITY_NOT_OURS"),
    ({"entity_codes": [HARBIN_A[:-1] + ("0" if HARBIN_A[-1] != "0" else "1")]}, "INVALID_USCC"),
    ({"found_at": "tomorrow"}, "FOUND_IN_FUTURE"),
    ({"party_kind": "peer", "party_code": "CN-239900"}, "PARTY_UNKNOWN"),
    ({"severity": "huge"}, "BAD_SEVERITY"),
    ({"title": " "}, "TITLE_REQUIRED"),
])
def test_bad_input_is_refused_and_nothing_stored(world: World, over: dict[str, Any], code: str) -> None:
    if over.get("found_at") == "tomorrow":  # the clock is fixed per test: a moment after it, built here
        over = {"found_at": clock.now() + timedelta(days=1), "occurred_at": None}
    before = counts(world)
    with world.db.session() as s, pytest.raises(DomainError) as exc:
        register.record(s, SEC1, draft(world, **over), NODE)
    assert exc.value.code == code
    assert counts(world) == before
    if code == "AUDIT_EVENT_UNKNOWN":
        assert exc.value.detail == {"unknown": [987654]} and "987654" in exc.value.message


def test_occurred_in_the_future_is_refused(world: World) -> None:
    with world.db.session() as s, pytest.raises(DomainError) as exc:
        register.record(s, SEC1, draft(world, occurred_at=clock.now() + timedelta(hours=3)), NODE)
    assert exc.value.code == "OCCURRED_IN_FUTURE"
    assert counts(world)[0] == 0


def test_only_security_officers_write(world: World) -> None:
    with world.db.session() as s, pytest.raises(DomainError) as exc:
        register.record(s, OPERATOR, draft(world), NODE)
    assert exc.value.code == "ROLE_FORBIDDEN"
    with world.db.session() as s:
        number = register.record(s, SEC1, draft(world), NODE).number
    for call in (lambda s: register.add_action(s, OPERATOR, number, "越权"),
                 lambda s: register.close(s, OPERATOR, number, "越权结案")):
        with world.db.session() as s, pytest.raises(DomainError) as exc:
            call(s)
        assert exc.value.code == "ROLE_FORBIDDEN"


def test_the_recording_officer_cannot_close_and_a_closed_incident_does_not_change(world: World) -> None:
    with world.db.session() as s:
        number = register.record(s, SEC1, draft(world), NODE).number
    with world.db.session() as s, pytest.raises(DomainError) as exc:
        register.close(s, SEC1, number, "自己结案")
    assert exc.value.code == "SAME_OFFICER"
    with world.db.session() as s, pytest.raises(DomainError) as exc:
        register.close(s, SEC2, number, " ")
    assert exc.value.code == "CLOSURE_REQUIRED"
    with world.db.session() as s:
        register.close(s, SEC2, number, "已查明原因并追责")
    before = counts(world)
    for call in (lambda s: register.close(s, SEC2, number, "再次结案"),
                 lambda s: register.add_action(s, SEC1, number, "结案后的措施")):
        with world.db.session() as s, pytest.raises(DomainError) as exc:
            call(s)
        assert exc.value.code == "INCIDENT_CLOSED"
    assert counts(world) == before


def test_enterprises_are_proposed_from_the_audit_entries_in_our_region(world: World) -> None:
    with world.db.session() as s:
        assert register.proposed_entities(s, world.audit_ids, NODE) == [HARBIN_A]


def test_readers_and_paging(world: World) -> None:
    with world.db.session() as s:
        for sev in ("minor", "critical", "major"):
            register.record(s, SEC1, draft(world, severity=sev), NODE)
    with world.db.session() as s:
        page = register.listing(s, OPERATOR, PageRequest(1, 2, "severity", False))
        assert page.total == 3 and len(page.items) == 2
        assert register.listing(s, OPERATOR, PageRequest(), severity="critical").total == 1
        bank = replace(OPERATOR, role="bank", org_code=BANK)
        assert register.listing(s, bank, PageRequest()).total == 0


def test_a_serious_incident_proposes_suspending_its_party_once(world: World) -> None:
    with world.db.session() as s:
        minor = register.record(s, SEC1, draft(world), NODE).number
        serious = register.record(s, SEC1, draft(world, severity="serious"), NODE).number
    with world.db.session() as s, pytest.raises(DomainError) as exc:
        escalation.propose_suspension(s, SEC1, minor)
    assert exc.value.code == "NOT_SERIOUS"
    with world.db.session() as s:
        first = escalation.propose_suspension(s, SEC1, serious).number
    with world.db.session() as s:
        assert escalation.propose_suspension(s, SEC2, serious).number == first
        rows = list(s.execute(select(SanctionProposal)).scalars())
    assert [(r.target_kind, r.target_code, r.action, r.source, r.source_ref, r.state) for r in rows] == [
        ("institution", BANK, "suspend", "incident", serious, "proposed")]
