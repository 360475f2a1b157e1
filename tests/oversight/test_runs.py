"""The indicator system, each measure against a hand-built province with known answers, scoring, ranking with
ties and missing values, runs kept and never recomputed in place, and the refusals of bad input."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from tests.oversight import province
from tests.oversight.province import EXPECTED, HARBIN, QIQIHAR
from xinyidai.kit.audit import AuditEvent
from xinyidai.kit.db import Database
from xinyidai.kit.errors import Conflict, InvalidInput
from xinyidai.oversight import indicators, runs
from xinyidai.oversight.indicators import IndicatorsInvalid
from xinyidai.oversight.models import Run, RunValue

NOV = runs.period_of("2026-11", None)


@pytest.fixture
def built(db: Database) -> Database:
    with db.session() as s:
        province.build(s)
    return db


def test_each_measure_gives_the_known_answer(built: Database) -> None:
    with built.engine.connect() as conn:
        comp = runs.compute(conn, indicators.default(), NOV)
    by_city = {c.city_code: c for c in comp.results}
    wrong = []
    for code, expected in EXPECTED.items():
        for city, want in expected.items():
            got = by_city[city].values[code][0].value
            if (want is None) != (got is None) or (want is not None and got != pytest.approx(want)):
                wrong.append(f"{code} {city}: want {want}, got {got}")
    assert not wrong, "\n".join(wrong)
    # A city without any data has counts of zero and no per-thousand value (no register to divide by).
    mudanjiang = by_city["231000"].values
    assert mudanjiang["S1"][0].value == 0 and mudanjiang["S2"][0].value is None and mudanjiang["F2"][0].value == 0


def test_scores_totals_and_ranks(built: Database) -> None:
    system = indicators.default()
    with built.engine.connect() as conn:
        comp = runs.compute(conn, system, NOV)
    first, second = comp.results[0], comp.results[1]
    assert {first.city_code, second.city_code} == {HARBIN, QIQIHAR}
    # Totals are the weighted scores' sum, each score within 0–100.
    for c in comp.results:
        assert c.total == pytest.approx(sum(w for _, _, w in c.values.values()), abs=1e-3)
        assert all(sc is None or 0 <= sc <= 100 for _, sc, _ in c.values.values())
    # The eleven cities with no data tie: same total, same rank, the next place after them skipped.
    rest = comp.results[2:]
    assert len({round(c.total, 2) for c in rest}) == 1 and {c.rank for c in rest} == {3}
    # Target scoring: Harbin's S1 is 3 of 17 categories.
    assert first.values["S1"][1] == pytest.approx(100 * 3 / 17) or second.values["S1"][1] == pytest.approx(100 * 3 / 17)
    # Missing values are counted and score nothing.
    q = next(c for c in comp.results if c.city_code == QIQIHAR)
    assert q.missing == 4 and q.values["C2"][1] is None and q.values["C2"][2] == 0


def test_rank_is_competition_ranking_on_rounded_totals() -> None:
    assert runs.rank({"a": 90.0, "b": 80.004, "c": 80.0, "d": 70.0}) == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert runs.rank({"x": 0.0, "y": 0.0}) == {"x": 1, "y": 1}


def test_minmax_scoring_directions_and_a_flat_field() -> None:
    system = indicators.default()
    lower = system.indicator("C2")  # at most 24 hours
    assert runs.score(lower, 12, None, None) == 100.0  # under the 24-hour target
    assert runs.score(lower, 48, None, None) == pytest.approx(50.0)
    minmax = next(i for i in system.indicators if i.method == "minmax")
    assert runs.score(minmax, 5, 5, 5) == 100.0
    assert runs.score(minmax, 0, 0, 0) == 0.0  # all at zero: nobody earns the points
    assert runs.score(minmax, 5, 0, 10) == pytest.approx(50.0)
    assert runs.score(minmax, None, 0, 10) is None


def test_a_run_is_kept_and_never_recomputed_in_place(built: Database) -> None:
    with built.session() as s:
        r1 = runs.run(s, NOV, "regulator1")
        number = r1.number
    with built.session() as s:
        again = runs.run(s, NOV, "regulator2")
        assert again.number == number and again.computed_by == "regulator1"
        with pytest.raises(InvalidInput) as e:
            runs.run(s, NOV, "regulator2", recompute_reason="  ")
        assert e.value.code == "OVERSIGHT_REASON_REQUIRED"
        r2 = runs.run(s, NOV, "regulator2", recompute_reason="哈尔滨补报了11月数据")
        assert r2.number != number and r2.seq == 2
        assert s.execute(select(func.count()).select_from(Run)).scalar_one() == 2
        ranking = runs.ranking(s, r2)
        assert len(ranking.cities) == 13 and ranking.cities[0].rank == 1
        assert s.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "oversight.run")
                         ).scalar_one() == 2


def test_a_new_indicator_version_makes_a_new_run(built: Database) -> None:
    spec = copy.deepcopy(indicators.default().spec)
    spec["version"] = "2026.2"
    spec["indicators"][0]["weight"], spec["indicators"][1]["weight"] = 0.15, 0.01
    v2 = indicators.parse(spec)
    with built.session() as s:
        a = runs.run(s, NOV, "r")
        b = runs.run(s, NOV, "r", system=v2)
        assert a.system_version == "2026.1" and b.system_version == "2026.2" and a.number != b.number
        # A version's content cannot change under the same number.
        spec["name"] = "改了名称却没改版本号"
        with pytest.raises(Conflict) as e:
            indicators.store(s, indicators.parse(spec), "r")
        assert e.value.code == "INDICATORS_VERSION_TAKEN"


def test_a_period_with_no_data_is_refused_and_nothing_is_stored(built: Database) -> None:
    with built.session() as s, pytest.raises(runs.NoData) as e:
        runs.run(s, runs.period_of("2025-01", None), "r")
    assert e.value.code == "OVERSIGHT_NO_DATA" and "无法排名" in e.value.message
    with built.session() as s:
        assert s.execute(select(func.count()).select_from(Run)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(RunValue)).scalar_one() == 0


def test_drill_gives_the_rows_behind_a_value(built: Database) -> None:
    with built.session() as s:
        r = runs.run(s, NOV, "r")
        labels, rows, total = runs.drill_rows(s, r, HARBIN, "F2")
        assert total == 2 and {row[0] for row in rows} == {"L1", "L2"} and labels[0] == "贷款编号"
        labels, rows, total = runs.drill_rows(s, r, HARBIN, "S1")
        assert total == 10
        _, rows, total = runs.drill_rows(s, r, HARBIN, "F8")
        assert total == 2 and sorted(row[3] for row in rows) == ["否", "是"]
        _, rows, total = runs.drill_rows(s, r, HARBIN, "R1")
        assert total == 3  # administrators, before the period's end
        _, _, total = runs.drill_rows(s, r, HARBIN, "C3")
        assert total == 4


@pytest.mark.parametrize("change, needle", [
    (lambda s: s["indicators"][0].update(measure="no_such_measure"), "计算方法 'no_such_measure' 不存在"),
    (lambda s: s["indicators"][0].update(weight=0.5), "权重之和应为 1"),
    (lambda s: s["indicators"][1].update(code=s["indicators"][0]["code"]), "指标代码 S1 重复"),
    (lambda s: s["indicators"][0].pop("direction"), "缺少方向 direction"),
    (lambda s: s["indicators"][0].update(direction="up"), "应为 higher 或 lower"),
    (lambda s: s["indicators"][0].update(normalise={"method": "target"}), "目标值 normalise.target 应为正数"),
    (lambda s: s["indicators"][0].update(group="nowhere"), "不在 groups 中"),
    (lambda s: s.update(colour="red"), "未知的配置项 colour"),
])
def test_bad_indicator_files_are_refused_with_every_error_named(change, needle) -> None:  # noqa: ANN001
    spec = copy.deepcopy(indicators.default().spec)
    change(spec)
    with pytest.raises(IndicatorsInvalid) as e:
        indicators.parse(spec)
    assert e.value.code == "OVERSIGHT_INDICATORS_INVALID"
    assert any(needle in err for err in e.value.detail["errors"]), e.value.detail


def test_several_errors_are_named_at_once() -> None:
    spec = copy.deepcopy(indicators.default().spec)
    spec["indicators"][0]["measure"] = "nope"
    spec["indicators"][3].pop("direction")
    with pytest.raises(IndicatorsInvalid) as e:
        indicators.parse(spec)
    assert len(e.value.detail["errors"]) >= 2 and "处错误" in e.value.message


def test_not_yaml_is_refused() -> None:
    with pytest.raises(IndicatorsInvalid):
        indicators.load_text("version: [unclosed")
    with pytest.raises(IndicatorsInvalid):
        indicators.load_text("- a list\n- not a mapping\n")


def test_the_map_names_every_ranked_city_as_the_pages_do() -> None:
    """The map colours a division by name: each city ranked must be a feature of the shipped GeoJSON."""
    import json
    from importlib import resources

    geo = json.loads((resources.files("xinyidai.web") / "static" / "geo" / "heilongjiang.json").read_text("utf-8"))
    features = {f["properties"]["adcode"]: f["properties"]["name"] for f in geo["features"]}
    assert features == {c: runs.city_name(c) for c in runs.cities()}


def test_the_refused_share_counts_only_the_citys_own_node_in_the_period(built: Database) -> None:
    with built.session() as s:
        r = runs.run(s, NOV, "r")
        labels, rows, total = runs.drill_rows(s, r, HARBIN, "S3")
        assert total == 2 and labels[2] == "拒收代码" and {row[2] for row in rows} == {"SIGNATURE_INVALID"}
        v = runs.ranking(s, r).city(HARBIN).values["S3"]
        assert (v[0].numerator, v[0].denominator) == (2.0, 10.0)  # the October envelope is outside
