"""Point-in-time features: an evaluation as of a date sees exactly the versions current at the end of that
Beijing day and only facts dated by then; a category missing for a whole region is unknown, not zero; an
entity with no records is "insufficient", never a silent score."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from xinyidai.credit import evaluation, frames
from xinyidai.credit import features as F
from xinyidai.entities.codes import make_uscc
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.records.canonical import canonical_json, fingerprint
from xinyidai.records.models import CreditRecord

A = make_uscc("230102", 501)
B = make_uscc("230102", 502)  # same region as A
C = make_uscc("230203", 503)  # another region: no tax delivered there at all
EMPTY = make_uscc("230102", 504)


def _at(d: date, hour: int = 10) -> datetime:
    """A moment on Beijing date `d`."""
    return datetime(d.year, d.month, d.day, hour, tzinfo=clock.CHINA_TZ).astimezone(UTC)


def _rec(code: str, cat: str, key: str, content: dict, received: datetime, *, version: int = 1,
         status: str = "current", superseded: datetime | None = None, start: date | None = None) -> CreditRecord:
    body = canonical_json(content)
    return CreditRecord(entity_code=code, category=cat, record_key=key, version=version, status=status,
                        content=body, fingerprint=fingerprint(body), period_start=start, period_end=start,
                        provider="测试", received_at=received, superseded_at=superseded)


@pytest.fixture
def loaded(db: Database) -> Database:
    with db.session() as s:
        for code, region in ((A, "230102"), (B, "230102"), (C, "230203"), (EMPTY, "230102")):
            s.add(MarketEntity(code=code, name=f"企业{code[-4:]}", kind="企业", region_code=region, status="存续",
                               updated_at=clock.now()))
        s.add(_rec(A, "registration", "", {"established_on": "2010-01-01", "status": "存续"}, _at(date(2026, 1, 5)),
                   start=date(2010, 1, 1)))
        # Tax grade B delivered in March, corrected to A on 2026-06-10 (the old version superseded then).
        s.add(_rec(A, "tax", "2026-02", {"period": "2026-02", "tax_credit_grade": "B", "tax_paid": 100},
                   _at(date(2026, 3, 15)), status="superseded", superseded=_at(date(2026, 6, 10)),
                   start=date(2026, 2, 1)))
        s.add(_rec(A, "tax", "2026-02", {"period": "2026-02", "tax_credit_grade": "A", "tax_paid": 100},
                   _at(date(2026, 6, 10)), version=2, start=date(2026, 2, 1)))
        # A penalty decided in July but (wrongly) received earlier: a fact dated later does not exist yet.
        s.add(_rec(A, "penalty", "P1", {"decided_on": "2026-07-20", "penalty_type": "罚款"}, _at(date(2026, 5, 1)),
                   start=date(2026, 7, 20)))
        # Dishonesty listed and later removed.
        s.add(_rec(A, "dishonesty", "D1", {"listed_on": "2026-04-01", "removed_on": "2026-08-01"},
                   _at(date(2026, 4, 2)), start=date(2026, 4, 1)))
        s.add(_rec(B, "tax", "2026-05", {"period": "2026-05", "tax_credit_grade": "M"}, _at(date(2026, 6, 1)),
                   start=date(2026, 5, 1)))
        s.add(_rec(C, "registration", "", {"established_on": "2020-01-01"}, _at(date(2026, 1, 5)),
                   start=date(2020, 1, 1)))
    return db


def _feats(db: Database, code: str, as_of: date) -> tuple[dict, int]:
    with db.session() as s:
        return F.entity_features(s, code, as_of)


def test_versions_and_dates_as_of(loaded: Database) -> None:
    before, n = _feats(loaded, A, date(2026, 6, 9))
    assert n == 3 and before["tax_grade"] == "B"  # the correction had not arrived
    assert before["penalties_3y"] == 0  # decided in July
    assert before["dishonest_listed"] == 1
    after, _ = _feats(loaded, A, date(2026, 6, 10))
    assert after["tax_grade"] == "A"  # received during 2026-06-10 (Beijing): part of that day
    later, _ = _feats(loaded, A, date(2026, 8, 15))
    assert later["penalties_3y"] == 1 and later["dishonest_listed"] == 0  # removed on 08-01
    nothing, n = _feats(loaded, A, date(2025, 12, 31))
    assert n == 0 and nothing == {}


def test_end_of_beijing_day_is_the_cut() -> None:
    cut = F.end_of_day_utc(date(2026, 6, 10))
    assert cut == datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # midnight in Beijing
    assert _at(date(2026, 6, 10), 23) < cut < _at(date(2026, 6, 11), 0) + timedelta(seconds=1)


def test_a_category_missing_for_the_whole_region_is_unknown(loaded: Database) -> None:
    feats, _ = _feats(loaded, C, date(2026, 7, 1))
    assert feats["tax_grade"] is None and feats["tax_paid_12m"] is None  # nobody in 230203 has tax data
    assert "tax" in F.unavailable_for_features(feats)
    mine, _ = _feats(loaded, A, date(2026, 7, 1))
    assert mine["tax_paid_12m"] is not None  # the region delivers tax: a count of zero months is a fact
    assert mine["penalties_3y"] == 0 and "penalty" not in F.unavailable_for_features(mine)


def test_evaluation_is_insufficient_without_records_and_explains_otherwise(loaded: Database) -> None:
    with loaded.session() as s:
        empty = evaluation.evaluate_one(s, EMPTY, date(2026, 7, 1))
        assert empty["status"] == "insufficient" and empty["score"] is None and empty["grade"] is None
        assert "数据不足" in empty["message"]
        a = evaluation.evaluate_one(s, A, date(2026, 7, 1))
        assert a["status"] == "ok" and a["grade"] and a["reasons"]
        assert any("严重失信" in line for line in a["reasons"])  # listed on 2026-07-01
        c = evaluation.evaluate_one(s, C, date(2026, 7, 1))
        assert "tax" in c["missing_categories"]


def test_batch_run_matches_single_evaluation_and_keeps_history(loaded: Database) -> None:
    for day in (date(2026, 6, 9), date(2026, 8, 15)):
        run = evaluation.evaluate_all(loaded, day, "test")
        assert run.status == "done" and run.done == 4 and run.insufficient >= 1
    with loaded.session() as s:
        stored = evaluation.result_for(s, A)
        live = evaluation.evaluate_one(s, A, date(2026, 8, 15))
        assert stored is not None and (stored["score"], stored["grade"]) == (live["score"], live["grade"])
        points = evaluation.trend(s, A)
        assert [p["as_of"] for p in points] == ["2026-06-09", "2026-08-15"]
        assert points[0]["score"] < points[1]["score"]  # no longer on the dishonesty list, tax grade A


def test_active_and_challenger_scorecards_score_beside_the_public_evaluation(loaded: Database) -> None:
    import numpy as np
    from sqlalchemy import func, select

    from xinyidai.credit import scorecards
    from xinyidai.credit.models import Evaluation

    rng = np.random.default_rng(5)
    n = 600
    paid, months = rng.lognormal(10, 1, n), rng.integers(0, 30, n)
    grade = rng.choice(["A", "B", "C"], n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 - 0.08 * months + (grade == "C") * 1.2)))).astype(int).tolist()
    frame = {"tax_paid_12m": paid.tolist(), "si_continuity": months.tolist(), "tax_grade": grade.tolist()}
    with loaded.session() as s:
        active = scorecards.train_model(s, "测试卡", "test", frame=frame, target=y, categorical={"tax_grade"})
        challenger = scorecards.train_model(s, "测试卡", "test", frame=frame, target=y,
                                                categorical={"tax_grade"}, pdo=40)
        scorecards.set_status(s, active.id, "active", "test")
        scorecards.set_status(s, challenger.id, "challenger", "test")
    run = evaluation.evaluate_all(loaded, date(2026, 8, 15), "test")
    assert run.model_ids == [active.id, challenger.id]
    with loaded.session() as s:
        rows = s.execute(select(Evaluation.model_ref, Evaluation.status, func.count(), func.count(Evaluation.score))
                         .where(Evaluation.run_id == run.id, Evaluation.method == "scorecard")
                         .group_by(Evaluation.model_ref, Evaluation.status)).all()
        # Each model scored the three entities with records; the one without records is "insufficient".
        assert sorted(rows) == [("测试卡:v1", "insufficient", 1, 0), ("测试卡:v1", "ok", 3, 3),
                                ("测试卡:v2", "insufficient", 1, 0), ("测试卡:v2", "ok", 3, 3)]


def test_a_run_reports_progress_while_features_are_built_in_batches(loaded: Database, monkeypatch) -> None:  # noqa: ANN001
    # One snapshot per batch: every batch's progress is written from another connection while the build
    # goes on (on SQLite this waited for the build's write lock, and failed, above 10,000 entities).
    monkeypatch.setattr(evaluation, "FEATURE_BATCH", 1)
    seen: list[int] = []
    real_set = evaluation._set

    def spy(db: Database, run_id: int, **values: object) -> None:
        real_set(db, run_id, **values)
        if values.get("phase") == "features":
            seen.append(int(values["done"]))  # type: ignore[call-overload]

    monkeypatch.setattr(evaluation, "_set", spy)
    run = evaluation.evaluate_all(loaded, date(2026, 8, 15), "test")
    assert run.status == "done" and run.done == 4
    assert seen == [1, 2, 3, 4]


def test_the_feature_frame_read_a_part_at_a_time_is_the_whole(loaded: Database, monkeypatch) -> None:  # noqa: ANN001
    day = date(2026, 8, 15)
    evaluation.build_features(loaded, day)
    with loaded.session() as s:
        whole = frames.feature_frame(s.connection(), day).sort("entity_code")
        monkeypatch.setattr(frames, "FRAME_PART", 1)  # one snapshot per part
        parted = frames.feature_frame(s.connection(), day).sort("entity_code")
        some = frames.feature_frame(s.connection(), day, [A, C]).sort("entity_code")
        none = frames.feature_frame(s.connection(), date(2020, 1, 1))
    assert whole.height == 4 and parted.equals(whole)
    assert some["entity_code"].to_list() == sorted([A, C])
    assert none.height == 0 and none.columns == whole.columns


def test_a_change_to_too_many_entities_re_evaluates_all(loaded: Database, monkeypatch) -> None:  # noqa: ANN001
    # Every statement naming the changed entities would need one parameter each (PostgreSQL takes 65,535).
    first = evaluation.evaluate_all(loaded, date(2026, 8, 15), "test")
    _penalise(loaded, A, B)
    few = evaluation.evaluate_changed(loaded, date(2026, 8, 15), "test")
    assert few is not None and few.scope == "changed" and few.done == 2
    _penalise(loaded, C, EMPTY)
    monkeypatch.setattr(evaluation, "MAX_CHANGED", 1)
    many = evaluation.evaluate_changed(loaded, date(2026, 8, 15), "test")
    assert first.done == 4 and many is not None and many.scope == "all" and many.done == 4


def _penalise(db: Database, *codes: str) -> None:
    """A new penalty for each entity, received after the run just made (the tests' clock may stand still)."""
    with db.session() as s:
        for code in codes:
            s.add(_rec(code, "penalty", "P9", {"decided_on": "2026-08-01", "penalty_type": "警告"},
                       clock.now() + timedelta(minutes=1), start=date(2026, 8, 1)))
