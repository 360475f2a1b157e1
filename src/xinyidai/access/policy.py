"""The sharing policy (policy.yaml): which items are protected kinds, how each tier treats them, amount bands,
probing and anomaly thresholds. `Policy.shape()` is the one place a value is masked before it leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from xinyidai.catalog.schema import Catalog, Category, Item

TIERS = ("公开", "汇总查询", "原始明细")
TREATMENTS = ("keep", "drop", "mask_name", "mask_id", "mask_phone", "mask_tail4", "mask_address", "band", "mask")
DROP = object()  # what a dropped value becomes; callers leave the field out


class PolicyError(ValueError):
    """The policy file is inconsistent; the message says where."""


@dataclass(frozen=True)
class KindRule:
    types: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    units: tuple[str, ...] = ()

    def matches(self, item: Item) -> bool:
        if self.units and item.unit not in self.units:
            return False
        return (item.type in self.types or item.code in self.codes
                or any(w in item.code for w in self.words))


@dataclass(frozen=True)
class Policy:
    kinds: dict[str, KindRule]
    treatments: dict[str, dict[str, str]]
    bands: tuple[int, ...]
    probing_limit: int
    rules: dict[str, dict[str, int]]
    _kind_cache: dict[tuple[str, str], str | None] = field(default_factory=dict, compare=False, repr=False)

    def kind_of(self, category: Category, item: Item) -> str | None:
        key = (category.code, item.code)
        if key not in self._kind_cache:
            found = next((k for k, rule in self.kinds.items() if rule.matches(item)), None)
            if found is None and item.personal:
                found = "personal"
            self._kind_cache[key] = found
        return self._kind_cache[key]

    def treatment(self, tier: str, kind: str | None) -> str:
        if kind is None:
            return "keep"
        return self.treatments[tier].get(kind, "drop")

    def shape(self, tier: str, category: Category, item: Item, value: Any) -> Any:
        """The value as `tier` may show it, or DROP."""
        if value is None or value == "":
            return value
        how = self.treatment(tier, self.kind_of(category, item))
        return apply(how, value, item.unit, self.bands)

    def shape_fields(self, tier: str, category: Category, fields: dict[str, Any],
                     allowed_items: set[str] | None = None) -> dict[str, Any]:
        """A record's fields shaped for `tier`; items outside `allowed_items` (the authorization's item list)
        and items the catalogue no longer knows are left out."""
        out: dict[str, Any] = {}
        for code, value in fields.items():
            if allowed_items is not None and code not in allowed_items:
                continue
            try:
                item = category.item(code)
            except KeyError:
                continue
            shaped = self.shape(tier, category, item, value)
            if shaped is not DROP:
                out[code] = shaped
        return out


def apply(how: str, value: Any, unit: str | None, bands: tuple[int, ...]) -> Any:
    text = str(value)
    if how == "keep":
        return value
    if how == "drop":
        return DROP
    if how == "mask_name":
        return text[:1] + "*" * max(1, len(text) - 1)
    if how == "mask_id":
        return text[:6] + "*" * max(0, len(text) - 8) + text[-2:] if len(text) > 8 else "*" * len(text)
    if how == "mask_phone":
        return text[:3] + "****" + text[-4:] if len(text) >= 11 else "*" * len(text)
    if how == "mask_tail4":
        return "****" + text[-4:] if len(text) > 4 else "*" * len(text)
    if how == "mask_address":
        return _district(text)
    if how == "band":
        return band(value, unit, bands)
    if how == "mask":
        return text[:1] + "*" * max(1, len(text) - 1)
    raise PolicyError(f"未知的脱敏方式 {how}")


def _district(address: str) -> str:
    """An address up to its county-level part (区/县/市/旗), the rest replaced by stars."""
    for marker in ("区", "县", "旗"):
        i = address.find(marker)
        if 0 < i < len(address) - 1:
            return address[: i + 1] + "****"
    return address[:6] + "****" if len(address) > 6 else "****"


def _wan(n: int) -> str:
    if n >= 100_000_000:
        return f"{n // 100_000_000}亿"
    return f"{n // 10_000}万" if n >= 10_000 else str(n)


def band(value: Any, unit: str | None, bands: tuple[int, ...]) -> str:
    """An amount as the band it falls in ("10万～50万元"), never the amount itself."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "****"
    if unit == "万元":
        amount *= 10_000
    suffix = "美元" if unit == "万美元" else "元"
    if unit == "万美元":
        amount *= 10_000
    if amount <= 0:
        return f"0{suffix}"
    lower = 0
    for edge in bands:
        if amount < edge:
            return f"{_wan(lower)}～{_wan(edge)}{suffix}"
        lower = edge
    return f"{_wan(lower)}{suffix}以上"


def parse_policy(data: dict[str, Any]) -> Policy:
    try:
        kinds = {name: KindRule(**{k: tuple(v) for k, v in (rule or {}).items()})
                 for name, rule in data["kinds"].items()}
        treatments = {tier: dict(v) for tier, v in data["treatments"].items()}
        bands = tuple(int(b) for b in data["bands"])
        probing = int(data.get("probing_limit", 6))
        rules = {name: {k: int(v) for k, v in r.items()} for name, r in (data.get("rules") or {}).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"共享策略文件格式不正确：{exc}") from exc
    for tier in TIERS:
        if tier not in treatments:
            raise PolicyError(f"共享策略缺少“{tier}”层级的脱敏规则")
        for kind, how in treatments[tier].items():
            if how not in TREATMENTS:
                raise PolicyError(f"“{tier}”层级中 {kind} 的脱敏方式 {how} 不可识别")
    if list(bands) != sorted(bands):
        raise PolicyError("金额分档 bands 必须递增")
    return Policy(kinds, treatments, bands, probing, rules)


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    text = (resources.files("xinyidai.access") / "policy.yaml").read_text(encoding="utf-8")
    return parse_policy(yaml.safe_load(text))


def protected_items(policy: Policy, catalog: Catalog, tier: str) -> dict[tuple[str, str], str]:
    """(category, item) → treatment for every item that `tier` does not show as stored."""
    out = {}
    for cat in catalog.categories:
        for item in cat.items:
            how = policy.treatment(tier, policy.kind_of(cat, item))
            if how != "keep":
                out[(cat.code, item.code)] = how
    return out
