"""Incidents go up: queued to the parent once per change and marked; on the parent, a child's report is stored
once, a newer one (the closure) replaces it, and a report from a non-child or of a bad shape is refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select

from xinyidai.incidents import register, reporting
from xinyidai.incidents.models import Incident, IncidentAction, IncidentEntity
from xinyidai.network import exchange
from xinyidai.network.exchange import ExchangeRefused
from xinyidai.network.models import OutboxEnvelope

from .conftest import CITY, HARBIN_A, NODE, OPERATOR, SEC1, SEC2, World
from .test_register import draft


def _outbox(w: World) -> list[tuple[str, str, str | None]]:
    with w.db.session() as s:
        return [tuple(r) for r in s.execute(select(OutboxEnvelope.recipient, OutboxEnvelope.kind,
                                                   OutboxEnvelope.source_ref).order_by(OutboxEnvelope.created_at))]


def test_each_change_is_reported_to_the_parent_once(world: World) -> None:
    with world.db.session() as s:
        number = register.record(s, SEC1, draft(world), NODE).number
    with world.db.session() as s:
        assert reporting.report_pending(s, world.ctx) == 1
        assert register.get(s, OPERATOR, number).reported_up_at is not None
    with world.db.session() as s:
        assert reporting.report_pending(s, world.ctx) == 0
    with world.db.session() as s:
        register.close(s, SEC2, number, "已查明并追责")
    with world.db.session() as s:
        assert reporting.report_pending(s, world.ctx) == 1
    assert _outbox(world) == [("CN", "incident", number)] * 2


@pytest.fixture
def report(world: World) -> dict[str, Any]:
    """A city's report, as its node would send it (made here with the same code, then renumbered)."""
    with world.db.session() as s:
        inc = register.record(s, SEC1, draft(world), NODE)
        register.add_action(s, SEC1, inc.number, "已暂停该机构查询")
        doc = reporting.incident_doc(s, inc)
    return {"incident": {**doc, "number": "AQ-20261114-007"}}


def _held(w: World) -> list[tuple[str | None, str | None, str, int, int]]:
    with w.db.session() as s:
        rows = s.execute(select(Incident).where(Incident.origin_node.is_not(None))).scalars().all()
        return [(r.origin_node, r.external_id, r.state,
                 s.execute(select(func.count()).select_from(IncidentAction).where(
                     IncidentAction.incident_id == r.id)).scalar_one(),
                 s.execute(select(func.count()).select_from(IncidentEntity).where(
                     IncidentEntity.incident_id == r.id)).scalar_one()) for r in rows]


def test_a_childs_incident_is_stored_once_and_its_closure_replaces_it(world: World, report: dict[str, Any]) -> None:
    with world.db.session() as s:
        assert exchange.apply(s, world.ctx, "incident", CITY, report) == {"stored": 1, "updated": 0}
    with world.db.session() as s:
        assert exchange.apply(s, world.ctx, "incident", CITY, copy.deepcopy(report)) == {"stored": 0,
                                                                                        "duplicates": 1}
    held = [(CITY, f"{CITY}-AQ-20261114-007", "open", 1, 1)]
    assert _held(world) == held
    closed = copy.deepcopy(report)
    closed["incident"].update(state="closed", closed_by="city-sec2", closed_at="2026-11-15T01:00:00+00:00",
                              closure="已追责")
    with world.db.session() as s:
        assert reporting.apply_incident(s, world.ctx, CITY, closed) == {"stored": 0, "updated": 1}
    assert _held(world) == [(CITY, f"{CITY}-AQ-20261114-007", "closed", 1, 1)]
    with world.db.session() as s:
        inc = register.get(s, OPERATOR, f"{CITY}-AQ-20261114-007")
        assert inc.closure == "已追责" and register.entity_codes(s, inc) == [HARBIN_A]
        with pytest.raises(Exception) as exc:
            register.add_action(s, SEC1, inc.number, "上级节点的措施")
        assert getattr(exc.value, "code", None) == "REPORTED_BY_CHILD"


@pytest.mark.parametrize(("sender", "change", "code"), [
    ("CN", {}, "NOT_A_CHILD"),
    ("CN-239999", {}, "NOT_A_CHILD"),
    (CITY, {"severity": "apocalyptic"}, "PAYLOAD_INVALID"),
    (CITY, {"found_at": "yesterday"}, "PAYLOAD_INVALID"),
    (CITY, {"found_at": "2026-11-14T10:00:00"}, "PAYLOAD_INVALID"),  # no zone
    (CITY, {"entities": "91230100"}, "PAYLOAD_INVALID"),
    (CITY, {"actions": [{"at": "2026-11-14T10:00:00+08:00", "by": "x"}]}, "PAYLOAD_INVALID"),
    (CITY, {"state": "closed"}, "PAYLOAD_INVALID"),  # closed without who, when and findings
    (CITY, {"number": None}, "PAYLOAD_INVALID"),
])
def test_a_bad_report_is_refused_and_nothing_stored(world: World, report: dict[str, Any], sender: str,
                                                   change: dict[str, Any], code: str) -> None:
    bad = copy.deepcopy(report)
    bad["incident"].update(change)
    with world.db.session() as s, pytest.raises(ExchangeRefused) as exc:
        exchange.apply(s, world.ctx, "incident", sender, bad)
    assert exc.value.code == code
    assert _held(world) == []


def test_a_payload_without_an_incident_is_refused(world: World) -> None:
    with world.db.session() as s, pytest.raises(ExchangeRefused) as exc:
        reporting.apply_incident(s, world.ctx, CITY, {"incidents": []})
    assert exc.value.code == "PAYLOAD_INVALID"
