"""The indicator system as data: the shipped default loads; a bad file is refused with the problem named;
points, grades and reasons come out as the rules say, by either method."""

from __future__ import annotations

import copy
from typing import Any

import polars as pl
import pytest

from xinyidai.credit import indicators as ind
from xinyidai.credit.evaluation import SCHEMA
from xinyidai.credit.features import BY_CODE, show_value


def _spec() -> dict[str, Any]:
    return {"version": "t-1", "name": "测试体系", "method": "base", "base": 700, "min": 0, "max": 1000,
            "grades": [{"grade": "A", "min": 800, "max": 1001}, {"grade": "B", "min": 600, "max": 800},
                       {"grade": "D", "min": 0, "max": 600}],
            "dimensions": [{"code": "op", "name": "经营", "indicators": [
                {"code": "tax", "name": "纳税信用", "feature": "tax_grade",
                 "rules": [{"values": ["A"], "points": 60, "note": "A级"}, {"values": ["D"], "points": -200}]},
                {"code": "pen", "name": "处罚", "feature": "penalties_3y",
                 "rules": [{"min": 1, "max": 3, "points": -20, "note": "有处罚"}, {"min": 3, "points": -80}]}]}]}


def _frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([{"entity_code": f"E{i}", "records": r.pop("records", 5), **{k: r.get(k) for k in SCHEMA}}
                         for i, r in enumerate(rows)], schema={"entity_code": pl.Utf8, "records": pl.Int64, **SCHEMA})


def test_default_system_loads_and_grades_cover_the_scale() -> None:
    system = ind.parse(ind.default_spec())
    assert [b.grade for b in system.bands] == ["A+", "A", "B+", "B", "C", "D"]
    assert system.grade_of(0) == "D" and system.grade_of(1000) == "A+"
    assert len(system.indicators) >= 25


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s["dimensions"][0]["indicators"][0].update(feature="no_such_feature"), "未知特征"),
    (lambda s: s["grades"][1].update(max=850), "等级区间重叠"),
    (lambda s: s["grades"][1].update(min=650), "不连续"),
    (lambda s: s["grades"][0].update(grade="Z"), "未知等级"),
    (lambda s: s["dimensions"][0]["indicators"][1]["rules"].append({"min": 2, "max": 4, "points": 1}), "区间重叠"),
    (lambda s: s["dimensions"][0]["indicators"][0]["rules"].append({"values": ["A"], "points": 1}), "重复匹配"),
    (lambda s: s["dimensions"][0]["indicators"][0]["rules"].append({"min": 1, "points": 1}), "values"),
    (lambda s: s.update(method="weighted"), "权重之和"),
    (lambda s: s.update(colour="red"), "未知的配置项"),
    (lambda s: s.update(dimensions=[{"code": "x", "name": "空", "indicators": []}]), "没有任何指标"),
])
def test_bad_files_are_refused_with_the_problem_named(change: Any, message: str) -> None:
    spec = copy.deepcopy(_spec())
    change(spec)
    with pytest.raises(ind.IndicatorSystemInvalid) as err:
        ind.parse(spec)
    assert message in err.value.message and err.value.code == "INDICATORS_INVALID"


def test_yaml_syntax_error_is_refused() -> None:
    with pytest.raises(ind.IndicatorSystemInvalid, match="YAML"):
        ind.load_text("version: [unclosed")


def test_points_grades_and_reasons() -> None:
    system = ind.parse(_spec())
    out = ind.apply(system, _frame({"tax_grade": "A", "penalties_3y": 0}, {"tax_grade": "D", "penalties_3y": 4},
                                   {"tax_grade": None, "penalties_3y": 1}, {"records": 0}))
    rows = out.select("score", "grade", "status", "moves").rows()
    assert rows[0] == (760.0, "B", "ok", "tax:60")
    assert rows[1] == (420.0, "D", "ok", "tax:-200;pen:-80")
    assert rows[2] == (680.0, "B", "ok", "pen:-20")  # unknown tax grade scores nothing
    assert rows[3] == (None, None, "insufficient", None)
    lines = ind.reason_lines(ind.explain(system, {"tax_grade": "D", "penalties_3y": 4}, rows[1][3]))
    assert lines[0].startswith("纳税信用") and "-200分" in lines[0]  # the largest effect first
    assert "处罚" in lines[1]


def test_weighted_method() -> None:
    spec = _spec()
    spec.update(method="weighted", base=0)
    spec["dimensions"][0].update(weight=0.6, base=60)
    spec["dimensions"].append({"code": "ip", "name": "创新", "weight": 0.4, "base": 50, "indicators": [
        {"code": "pat", "name": "专利", "feature": "invention_patents", "rules": [{"min": 1, "points": 50}]}]})
    system = ind.parse(spec)
    out = ind.apply(system, _frame({"tax_grade": "A", "invention_patents": 2}))
    # (0.6 × min(60+60, 100) + 0.4 × (50+50)) × 1000/100
    assert out["score"][0] == pytest.approx(1000.0)
    out = ind.apply(system, _frame({"tax_grade": "D", "invention_patents": 0}))
    assert out["score"][0] == pytest.approx(0.6 * 0 * 10 + 0.4 * 50 * 10)


def test_values_are_shown_by_unit_and_kind() -> None:
    """Amounts with thousands separators (never 3.98427e+06), ratios as percentages, counts as integers."""
    show = {code: show_value(BY_CODE[code], v) for code, v in (
        ("tax_paid_12m", 3984270.0), ("enforcement_amount", 388384.0), ("registered_capital", 2000.0),
        ("penalty_fines_3y", 0.075), ("utility_on_time_ratio", 1.0), ("si_headcount_change", 0.1212),
        ("sales_growth", -0.034), ("tax_months_12m", 12.0), ("dishonest_listed", 1.0), ("tax_grade", "A"),
        ("age_years", None))}
    assert show == {"tax_paid_12m": "3,984,270", "enforcement_amount": "388,384", "registered_capital": "2,000",
                    "penalty_fines_3y": "0.08", "utility_on_time_ratio": "100%", "si_headcount_change": "+12.1%",
                    "sales_growth": "-3.4%", "tax_months_12m": "12", "dishonest_listed": "是", "tax_grade": "A",
                    "age_years": "未知"}
    spec = _spec()
    spec["dimensions"][0]["indicators"].append(
        {"code": "paid", "name": "实缴税额", "feature": "tax_paid_12m", "rules": [{"min": 1e6, "points": 10}]})
    system = ind.parse(spec)
    moves = ind.apply(system, _frame({"tax_grade": "B", "penalties_3y": 0, "tax_paid_12m": 3984270.0}))["moves"][0]
    lines = ind.reason_lines(ind.explain(system, {"tax_grade": "B", "tax_paid_12m": 3984270.0}, moves))
    assert any("近12个月实缴税额：3,984,270元" in line for line in lines), lines
