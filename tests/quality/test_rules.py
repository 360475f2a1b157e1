"""Rule files: the default set, each kind of mistake reported with its rule and reason, versions."""

from __future__ import annotations

import pytest

from xinyidai.catalog.schema import Catalog
from xinyidai.kit.db import Database
from xinyidai.kit.errors import InvalidInput
from xinyidai.quality import rules
from xinyidai.quality.models import RuleSet

HEAD = "version: 1\nname: 测试\ntickets: {open_at: high, due_days: 10}\nrules:\n"


def one(**fields: object) -> str:
    rule = {"id": "r1", "name": "规则", "dimension": "completeness", "kind": "fill_rate", "severity": "high",
            "category": "tax", "item": "period", "params": {"expected": 0.9}}
    rule.update(fields)
    body = "".join(f"    {k}: {v}\n" for k, v in rule.items() if v is not None)
    return HEAD + "  -" + body[3:]


def errors_of(text: str, catalog: Catalog) -> list[str]:
    with pytest.raises(InvalidInput) as e:
        rules.parse(text, catalog)
    assert e.value.code == "RULES_INVALID"
    return e.value.detail["errors"]


def test_default_covers_every_kind(catalog: Catalog) -> None:
    parsed = rules.parse(rules.default_text(catalog), catalog)
    assert {r.kind for r in parsed.rules} == set(rules.KINDS)
    fills = [r for r in parsed.rules if r.kind == "fill_rate"]
    assert len(fills) == sum(len(c.items) for c in catalog.categories if c.group != "企业自报信息")
    assert {r.category for r in parsed.rules if r.kind == "missing_months"} >= {"tax", "social_insurance",
                                                                                   "housing_fund", "water"}


def test_a_good_file(catalog: Catalog) -> None:
    assert rules.parse(one(), catalog).rules[0].params == {"expected": 0.9}


@pytest.mark.parametrize(("fields", "reason"), [
    ({"dimension": "beauty"}, "未知的质量维度"),
    ({"kind": "magic"}, "未知的规则类型"),
    ({"category": "unicorns"}, "目录中没有类别"),
    ({"item": "no_such_item"}, "中没有字段"),
    ({"params": "{expected: 1.5}"}, "超出范围"),
    ({"params": "{expected: high}"}, "应为数值"),
    ({"params": "{}"}, "缺少参数 expected"),
    ({"severity": "extreme"}, "未知的严重程度"),
    ({"kind": "headcount_ratio", "category": None, "item": None, "dimension": "consistency",
      "params": "{factor: 1}"}, "超出范围"),
    ({"kind": "missing_months", "category": "penalty", "item": None, "params": None}, "不是按月报送"),
    ({"kind": "last_delivery", "category": "honor", "item": None, "params": "{grace_days: 400}"}, "无法检查时效"),
])
def test_bad_rule(catalog: Catalog, fields: dict, reason: str) -> None:
    errors = errors_of(one(**fields), catalog)
    assert any(e.startswith("规则 r1：") and reason in e for e in errors), errors


def test_every_mistake_listed_and_duplicates(catalog: Catalog) -> None:
    text = one(dimension="beauty", params="{expected: 2}") + one().split("rules:\n")[1]
    errors = errors_of(text, catalog)
    assert len(errors) == 3 and any("id 重复" in e for e in errors)
    assert errors_of("rules: [", catalog) == ["YAML 格式错误第 2 行"] or "YAML" in errors_of("rules: [", catalog)[0]
    assert any("due_days" in e for e in errors_of(one().replace("due_days: 10", "due_days: 0"), catalog))


def test_versions(db: Database, catalog: Catalog) -> None:
    with db.session() as s:
        active = rules.active(s, catalog)  # the default stored as version 1 on first use
        assert active.version == 1 and len(active.rules) > 100
    with db.session() as s, pytest.raises(InvalidInput) as e:
        rules.store(s, rules.default_text(catalog), "op", catalog=catalog)
    assert e.value.code == "RULES_UNCHANGED"
    with db.session() as s, pytest.raises(InvalidInput):
        rules.store(s, one(kind="magic"), "op", catalog=catalog)
    with db.session() as s:
        assert s.query(RuleSet).count() == 1
        rules.store(s, one(), "op", "只查一项", catalog=catalog)
    with db.session() as s:
        assert rules.active(s, catalog).version == 2 and [r.id for r in rules.active(s, catalog).rules] == ["r1"]
