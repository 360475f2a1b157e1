"""A run's progress, a single rule with a provider, the failure path, hooks and the nightly schedule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xinyidai.catalog.schema import Catalog
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import InvalidInput
from xinyidai.quality import checks, runs
from xinyidai.quality.models import Finding, ProviderScore, QualityRun


def test_progress_and_hooks(db: Database, catalog: Catalog) -> None:
    seen: list[tuple[int, int, str]] = []
    hooked: list[str] = []
    runs.AFTER_RUN.append(lambda s, run: hooked.append(run.status))
    try:
        run_id = runs.run_rules(db, catalog, "op", progress=lambda d, t, c: seen.append((d, t, c)))
    finally:
        runs.AFTER_RUN.pop()
    with db.session() as s:
        run = s.get(QualityRun, run_id)
        assert run is not None and run.status == "done" and run.done == run.total
    assert hooked == ["done"]
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen) and seen[-1][0] == seen[-1][1]


def test_one_rule_unknown_rule(db: Database, catalog: Catalog) -> None:
    run_id = runs.run_rules(db, catalog, "op", rule_ids=["consistency.key_conflict"], provider="某局")
    with db.session() as s:
        run = s.get(QualityRun, run_id)
        assert run is not None and run.scope == "rule:consistency.key_conflict@某局" and run.total == 1
        assert s.query(ProviderScore).count() == 0  # scores only for full runs
    with pytest.raises(InvalidInput) as e:
        runs.run_rules(db, catalog, "op", rule_ids=["nope"])
    assert e.value.code == "RULE_UNKNOWN"


def test_a_failing_rule_fails_the_run(db: Database, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: checks.Context, rules: object) -> list:
        raise RuntimeError("磁盘已满")
    monkeypatch.setitem(checks.KIND_FUNCTIONS, "headcount_ratio", broken)
    run_id = runs.run_rules(db, catalog, "op")
    with db.session() as s:
        run = s.get(QualityRun, run_id)
        assert run is not None and run.status == "failed"
        assert "consistency.headcount" in (run.message or "") and "磁盘已满" in (run.message or "")
        assert s.query(Finding).filter(Finding.run_id == run_id).count() == 0


def test_nightly(db: Database, catalog: Catalog) -> None:
    clock.set_clock(lambda: datetime(2026, 11, 14, 17, 0, tzinfo=UTC))  # 01:00 Beijing: not yet
    assert runs.nightly(db, catalog) is None
    clock.set_clock(lambda: datetime(2026, 11, 14, 18, 30, tzinfo=UTC))  # 02:30 Beijing
    assert runs.nightly(db, catalog) is None  # the first full run is a person's decision
    clock.set_clock(lambda: datetime(2026, 11, 13, 10, 0, tzinfo=UTC))
    runs.run_rules(db, catalog, "operator")  # yesterday's, by a person
    clock.set_clock(lambda: datetime(2026, 11, 14, 18, 30, tzinfo=UTC))
    first = runs.nightly(db, catalog)
    assert first is not None
    assert runs.nightly(db, catalog) is None  # once a day
    clock.set_clock(lambda: datetime(2026, 11, 15, 19, 0, tzinfo=UTC))  # the next day, 03:00 Beijing
    runs.run_rules(db, catalog, "operator")  # a person ran it after 02:00: that is the day's run
    assert runs.nightly(db, catalog) is None
