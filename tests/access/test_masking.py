"""Masking never lets a protected value through: for any values in protected items, nothing a tier does not
show as stored appears anywhere in the serialized response (property test), and the policy file is checked."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyidai.access.policy import (
    DROP,
    PolicyError,
    apply,
    band,
    default_policy,
    parse_policy,
    protected_items,
)

POLICY = default_policy()

ids = st.from_regex(r"23[0-9]{4}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}[0-9X]", fullmatch=True)
names = st.text(alphabet="王李张刘陈杨赵黄周吴建国华明丽芳", min_size=2, max_size=4)
accounts = st.from_regex(r"[A-Z]{2,4}-[0-9]{8,12}", fullmatch=True)
amounts = st.decimals(min_value=1, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


def _leaks(tier: str, catalog, values: dict[str, str]) -> list[str]:  # noqa: ANN001
    """Raw protected values visible in the shaped output of every category, for one tier."""
    found = []
    for cat in catalog.categories:
        fields = {}
        for item in cat.items:
            kind = POLICY.kind_of(cat, item)
            if kind in values:
                fields[item.code] = values[kind]
        shaped = POLICY.shape_fields(tier, cat, fields)
        text = orjson.dumps(shaped).decode()
        for code, raw in fields.items():
            how = POLICY.treatment(tier, POLICY.kind_of(cat, cat.item(code)))
            if how != "keep" and len(str(raw)) >= 4 and str(raw) in text:
                found.append(f"{cat.code}.{code}")
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(id_no=ids, name=names, account=accounts, amount=amounts)
def test_no_protected_value_leaves_any_tier(catalog, id_no: str, name: str, account: str, amount) -> None:  # noqa: ANN001
    values = {"id_number": id_no, "person_name": name * 2, "account": account, "amount": str(amount),
              "phone": "13812345678", "address": "黑龙江省哈尔滨市南岗区学府路1号院5栋", "personal": name * 3}
    for tier in ("公开", "汇总查询", "原始明细"):
        assert _leaks(tier, catalog, values) == []


def test_every_protected_item_is_known_to_the_policy(catalog) -> None:  # noqa: ANN001
    """Items marked personal in the catalogue are never shown as stored in the public or summary tiers."""
    for tier in ("公开", "汇总查询"):
        prot = protected_items(POLICY, catalog, tier)
        for cat in catalog.categories:
            for item in cat.items:
                if item.personal or item.type == "id_number":
                    assert (cat.code, item.code) in prot, f"{tier}: {cat.code}.{item.code} would be shown"


def test_treatments() -> None:
    assert apply("mask_id", "230102198005171234", None, POLICY.bands) == "230102**********34"
    assert apply("mask_phone", "13812345678", None, POLICY.bands) == "138****5678"
    assert apply("mask_tail4", "HRB-55667788", None, POLICY.bands) == "****7788"
    assert apply("mask_name", "王建国", None, POLICY.bands) == "王**"
    assert apply("mask_address", "黑龙江省哈尔滨市道里区友谊路88号", None, POLICY.bands) == "黑龙江省哈尔滨市道里区****"
    assert apply("drop", "x", None, POLICY.bands) is DROP
    assert band("600000", "元", POLICY.bands) == "50万～100万元"
    assert band("60", "万元", POLICY.bands) == "50万～100万元"
    assert band("2000000000", "元", POLICY.bands) == "1亿元以上"
    assert band("0", "元", POLICY.bands) == "0元"


def test_policy_file_is_checked() -> None:
    base = {"kinds": {}, "treatments": {t: {} for t in ("公开", "汇总查询", "原始明细")}, "bands": [0, 10]}
    parse_policy(base)
    with pytest.raises(PolicyError, match="原始明细"):
        parse_policy({**base, "treatments": {"公开": {}, "汇总查询": {}}})
    with pytest.raises(PolicyError, match="不可识别"):
        parse_policy({**base, "treatments": {**base["treatments"], "公开": {"id_number": "show"}}})
    with pytest.raises(PolicyError, match="递增"):
        parse_policy({**base, "bands": [10, 0]})
