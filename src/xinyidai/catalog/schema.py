"""The catalogue's shape and its loader.

The catalogue is data (a YAML file shipped in the package; a province may point `catalog_path` at its own).
The loader refuses a file that is not internally consistent, naming the place and the reason in Chinese.
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ItemType = Literal[
    "string",  # free text, max_length applies
    "integer",
    "decimal",
    "date",  # YYYY-MM-DD (also accepts YYYY/MM/DD, YYYYMMDD)
    "month",  # YYYY-MM
    "year",  # YYYY
    "boolean",  # 是/否
    "enum",  # one of `allowed`
    "uscc",  # GB 32100 unified social credit code
    "id_number",  # GB 11643 citizen ID number
    "region",  # GB/T 2260 division code
    "industry",  # GB/T 4754-2017 code (section letter, 2-, 3- or 4-digit class)
]
Channel = Literal["总对总", "省级", "市级"]
Frequency = Literal["实时", "每日", "每周", "每月", "每季", "每年", "不定期"]
Sensitivity = Literal["公开", "授权查询", "仅核验", "明示授权后原始明细"]
# 企业自报信息: what an enterprise states about itself (notice point 十一), kept apart from departments' data.
Group = Literal["公共信用信息", "融资相关信息", "企业自报信息"]

CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,40}$")

# The subject columns every delivery carries; they are not items of any category.
SUBJECT_CODE = "uscc"
SUBJECT_CODE_HEADERS = ("统一社会信用代码", "社会信用代码", "信用代码", "uscc")
SUBJECT_NAME = "entity_name"
SUBJECT_NAME_HEADERS = ("主体名称", "企业名称", "单位名称", "名称", "entity_name")


class CatalogError(ValueError):
    """The catalogue file is not valid; the message names where and why."""


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str
    aliases: tuple[str, ...] = ()
    type: ItemType = "string"
    unit: str | None = None
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int = Field(default=500, ge=1, le=100_000)
    # Names, ID numbers, phones, addresses, accounts of people: masked by policy when shared.
    personal: bool = False
    # Dates are refused when in the future, except items that name one by nature (valid-until, deadlines).
    allow_future: bool = False
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        if not CODE_RE.match(self.code):
            raise ValueError(f"字段代码 {self.code!r} 只能由小写字母、数字和下划线组成，且以字母开头")
        if self.type == "enum" and not self.allowed:
            raise ValueError(f"枚举字段 {self.code} 必须列出 allowed 取值")
        if self.type != "enum" and self.allowed:
            raise ValueError(f"字段 {self.code} 不是枚举类型，不应有 allowed")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"字段 {self.code} 的 min 大于 max")
        return self

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.name, self.code, *self.aliases)


class LongerMinimum(BaseModel):
    """Kinds of record whose minimum publication is longer, found by words in some of its items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: tuple[str, ...]
    contains: tuple[str, ...]
    min_months: int = Field(ge=0, le=600)


class Publication(BaseModel):
    """How long a penalty-like record is published (公示期) and when it may be repaired early (信用修复).

    The window runs from `date_item`; after `min_months` the enterprise may apply for early repair; at
    `max_months` (or the provider's own `until_item`, when earlier) it leaves the public tier by itself. A
    record whose `repaired_item` is 是 has been repaired. `basis` cites the rule, shown to people."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date_item: str
    min_months: int = Field(ge=0, le=600)
    max_months: int = Field(ge=1, le=600)
    longer: tuple[LongerMinimum, ...] = ()
    until_item: str | None = None
    repaired_item: str | None = None
    basis: str

    @model_validator(mode="after")
    def _ordered(self) -> Publication:
        if self.min_months > self.max_months or any(x.min_months > self.max_months for x in self.longer):
            raise ValueError("公示期的最短期限不能长于最长期限")
        return self


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str
    group: Group
    provider: str
    channel: Channel
    frequency: Frequency
    sensitivity: Sensitivity
    description: str | None = None
    # Items that, with the subject's code, identify one record: a second row with the same key is a
    # correction of the first (a new version), not another record.
    key: tuple[str, ...]
    # The item that dates the record (the period it covers or the day it happened), if any.
    period: str | None = None
    items: tuple[Item, ...]
    # Penalty-like categories: their publication window (None: published while current).
    publication: Publication | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Category:
        if not CODE_RE.match(self.code):
            raise ValueError(f"类别代码 {self.code!r} 格式不正确")
        codes = [i.code for i in self.items]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"类别 {self.code} 的字段代码重复：{', '.join(sorted(dup))}")
        # Compared as the loader compares them (normalised), and never shadowing the subject columns.
        headers: dict[str, str] = {_norm(h): "统一社会信用代码" for h in SUBJECT_CODE_HEADERS}
        headers.update({_norm(h): "主体名称" for h in SUBJECT_NAME_HEADERS})
        for item in self.items:
            for h in item.headers:
                seen = headers.get(_norm(h))
                if seen is not None and seen != item.code:
                    raise ValueError(f"类别 {self.code} 中表头 {h!r} 同时指向 {seen} 和 {item.code}")
                headers[_norm(h)] = item.code
        for k in self.key:
            if k not in codes:
                raise ValueError(f"类别 {self.code} 的主键字段 {k} 不在字段列表中")
            if not self.item(k).required:
                raise ValueError(f"类别 {self.code} 的主键字段 {k} 必须为必填")
        if self.period and self.period not in codes:
            raise ValueError(f"类别 {self.code} 的期间字段 {self.period} 不在字段列表中")
        if self.period and self.item(self.period).type not in ("date", "month", "year"):
            raise ValueError(f"类别 {self.code} 的期间字段 {self.period} 必须是日期、年月或年份类型")
        if self.publication:
            self._check_publication(self.publication, codes)
        return self

    def _check_publication(self, pub: Publication, codes: list[str]) -> None:
        wanted = {pub.date_item: ("date",), pub.until_item: ("date",), pub.repaired_item: ("boolean",)}
        for x in pub.longer:
            wanted.update({i: ("string", "enum") for i in x.items})
        for code, types in wanted.items():
            if code is None:
                continue
            if code not in codes:
                raise ValueError(f"类别 {self.code} 的公示期设置引用了不存在的字段 {code}")
            if self.item(code).type not in types:
                raise ValueError(f"类别 {self.code} 的公示期字段 {code} 类型应为 {'/'.join(types)}")

    def item(self, code: str) -> Item:
        return self._items_by_code[code]  # KeyError(code) for an unknown item

    @cached_property
    def _items_by_code(self) -> dict[str, Item]:
        # Looked up for every field of every record that is checked, masked or summarised.
        return {i.code: i for i in self.items}

    @cached_property
    def header_map(self) -> dict[str, str]:
        """Header text (normalised) → item code, including the subject columns."""
        m = {_norm(h): SUBJECT_CODE for h in SUBJECT_CODE_HEADERS}
        m.update({_norm(h): SUBJECT_NAME for h in SUBJECT_NAME_HEADERS})
        for item in self.items:
            for h in item.headers:
                m[_norm(h)] = item.code
        return m


def _norm(header: str) -> str:
    """Headers from departments vary in spacing, full-width brackets and unit suffixes."""
    h = header.strip().replace("\u3000", "").replace(" ", "").lower()
    return h.replace("（", "(").replace("）", ")")


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    categories: tuple[Category, ...]

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        codes = [c.code for c in self.categories]
        dup = {c for c in codes if codes.count(c) > 1}
        if dup:
            raise ValueError(f"类别代码重复：{', '.join(sorted(dup))}")
        return self

    def category(self, code_or_name: str) -> Category:
        return self._by_code_or_name[code_or_name]  # KeyError(code_or_name) when neither

    @cached_property
    def _by_code_or_name(self) -> dict[str, Category]:
        by: dict[str, Category] = {c.name: c for c in self.categories}
        by.update({c.code: c for c in self.categories})  # a code wins over another category's same name
        return by

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.categories]

    @cached_property
    def positions(self) -> dict[str, int]:
        """code → place in the list: pages show categories in the information list's order, not by code."""
        return {c.code: i for i, c in enumerate(self.categories)}

    def position(self, code: str) -> int:
        """A category's place in the list; one the list does not know comes after every one it does."""
        return self.positions.get(code, len(self.categories))


def normalise_header(header: str) -> str:
    return _norm(header)


def default_catalog_text() -> str:
    return resources.files("xinyidai.catalog").joinpath("catalog.yaml").read_text(encoding="utf-8")


def parse_catalog(text: str, source: str = "catalog.yaml") -> Catalog:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"信息清单 {source} 不是有效的 YAML：{exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"信息清单 {source} 的顶层必须是映射（name / version / categories）")
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CatalogError(f"信息清单 {source} 无效：{where}：{first['msg']}") from exc


_cache: dict[str, Catalog] = {}


def load_catalog(path: Path | None = None) -> Catalog:
    """The node's catalogue: the province's own file if configured, else the shipped default."""
    key = str(path) if path else ":default:"
    if key not in _cache:
        if path:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CatalogError(f"无法读取信息清单 {path}：{exc}") from exc
            _cache[key] = parse_catalog(text, str(path))
        else:
            _cache[key] = parse_catalog(default_catalog_text())
    return _cache[key]
