"""Anomaly rules over the access log: enumeration, bursts, off-hours, refusals; one alert per window."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy import select

from xinyidai.access import anomalies
from xinyidai.access.models import AccessAlert
from xinyidai.access.policy import default_policy
from xinyidai.kit import audit, clock
from xinyidai.kit.pagination import PageRequest

POLICY = dataclasses.replace(default_policy(), rules={
    "enumeration": {"window_minutes": 60, "threshold": 5}, "burst": {"window_minutes": 1, "threshold": 8},
    "off_hours": {"start_hour": 22, "end_hour": 6, "threshold": 3}, "refusals": {"window_minutes": 60, "threshold": 2}})


def access(s, inst: str, entity: str, action: str = "access.profile") -> None:  # noqa: ANN001
    audit.record(s, "officer", action, f"entity:{entity}", entity_code=entity, institution_code=inst)


def test_enumeration_and_burst(db) -> None:  # noqa: ANN001
    with db.session() as s:
        for i in range(9):
            access(s, "BANK-A", f"E{i:017d}")
        access(s, "BANK-B", "E0")
        assert anomalies.scan(s, POLICY) == 2
        assert anomalies.scan(s, POLICY) == 0  # the same window raises nothing new
        rules = sorted(a.rule for a in s.execute(select(AccessAlert)).scalars())
        assert rules == ["burst", "enumeration"]
        assert all(a.institution_code == "BANK-A" for a in s.execute(select(AccessAlert)).scalars())


def test_refusals_and_off_hours(db) -> None:  # noqa: ANN001
    night = datetime(2026, 11, 14, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    clock.set_clock(lambda: night)
    with db.session() as s:
        for i in range(4):
            access(s, "BANK-N", f"E{i:017d}")
        for _ in range(3):
            access(s, "BANK-R", "E1", "access.refused")
        assert anomalies.scan(s, POLICY) == 2
        page = anomalies.list_alerts(s, PageRequest(1, 20, "created_at", True), status="open")
        assert {a.rule for a in page.items} == {"off_hours", "refusals"}
        closed = anomalies.close_alert(s, page.items[0].id, "security", "已电话核实")
        assert closed.status == "closed" and closed.handled_by == "security"
        assert audit.verify_chain(s).intact
