"""The shipped information list, the loader's refusals, and the plain-text / JSON renderings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from xinyidai.catalog.render import (
    ITEM_COLUMNS,
    catalog_as_dict,
    display_width,
    item_rows,
    render_category,
    render_text,
)
from xinyidai.catalog.schema import (
    SUBJECT_CODE_HEADERS,
    SUBJECT_NAME_HEADERS,
    Catalog,
    CatalogError,
    default_catalog_text,
    load_catalog,
    normalise_header,
    parse_catalog,
)
from xinyidai.kit.errors import NotFound

EXPECTED = [
    ("registration", "登记注册"),
    ("license", "行政许可"),
    ("penalty", "行政处罚"),
    ("judicial", "司法判决及执行"),
    ("dishonesty", "严重失信主体名单"),
    ("honor", "荣誉表彰"),
    ("policy_support", "政策支持"),
    ("tax", "纳税"),
    ("social_insurance", "社会保险"),
    ("housing_fund", "住房公积金"),
    ("import_export", "进出口"),
    ("water", "水费"),
    ("electricity", "电费"),
    ("gas", "燃气费"),
    ("real_estate", "不动产"),
    ("intellectual_property", "知识产权"),
    ("rnd", "科技研发"),
]
PUBLIC = {"registration", "license", "penalty", "judicial", "dishonesty", "honor", "policy_support"}
AUTHORIZED = {"social_insurance", "housing_fund", "import_export", "real_estate", "intellectual_property", "rnd",
              "water", "electricity", "gas"}
SENSITIVITIES = {"公开", "授权查询", "仅核验", "明示授权后原始明细"}
# What enterprises report about themselves (notice point 十一), after the 17 departments' categories.
SELF_REPORTED = ["self_products", "self_customers", "self_financing", "self_contacts", "self_certificates"]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# ── the shipped catalogue ─────────────────────────────────────────────────────────────────────────────


def test_shipped_catalogue_loads(catalog: Catalog) -> None:
    assert catalog.name == "黑龙江省融资信用信息共享清单"
    assert catalog.version == "2022.1"
    assert load_catalog() is catalog  # cached


def test_exactly_the_17_categories_in_order(catalog: Catalog) -> None:
    assert [(c.code, c.name) for c in catalog.categories][:17] == EXPECTED
    assert [c.code for c in catalog.categories][17:] == SELF_REPORTED
    assert catalog.category("纳税") is catalog.category("tax")


def test_groups(catalog: Catalog) -> None:
    for n, cat in enumerate(catalog.categories):
        assert cat.group == ("公共信用信息" if n < 7 else "融资相关信息" if n < 17 else "企业自报信息"), cat.code
        if cat.group == "企业自报信息":
            assert (cat.provider, cat.sensitivity, cat.frequency) == ("企业自报", "授权查询", "不定期"), cat.code


def test_sensitivities(catalog: Catalog) -> None:
    for cat in catalog.categories:
        assert cat.sensitivity in SENSITIVITIES, cat.code
        if cat.code in PUBLIC:
            assert cat.sensitivity == "公开", cat.code
        if cat.code in AUTHORIZED:
            assert cat.sensitivity == "授权查询", cat.code
    assert catalog.category("tax").sensitivity in ("明示授权后原始明细", "仅核验")


def test_channels(catalog: Catalog) -> None:
    for code in ("tax", "import_export", "judicial", "dishonesty"):
        assert catalog.category(code).channel == "总对总", code
    for code in ("water", "electricity", "gas"):
        assert catalog.category(code).channel == "市级", code


def test_keys_exist_and_are_required(catalog: Catalog) -> None:
    codes_with_key = set()
    for cat in catalog.categories:
        for k in cat.key:
            item = cat.item(k)
            assert item.required, f"{cat.code}.{k}"
        if cat.key:
            codes_with_key.add(cat.code)
    # Only registration (one record per entity) is identified by the subject alone.
    assert set(catalog.codes) - codes_with_key == {"registration"}


def test_periods_are_date_like(catalog: Catalog) -> None:
    for cat in catalog.categories:
        if cat.group == "企业自报信息":
            assert cat.period is None, cat.code  # undated statements, never a month's figures
            continue
        assert cat.period, cat.code
        assert cat.item(cat.period).type in ("date", "month", "year"), cat.code
    for code in ("tax", "social_insurance", "housing_fund", "import_export", "water", "electricity", "gas"):
        cat = catalog.category(code)
        assert cat.period == "period" and cat.item("period").type == "month", code
        assert "period" in cat.key, code


def test_headers_unique_within_a_category_and_never_a_subject_header(catalog: Catalog) -> None:
    subject = {normalise_header(h) for h in (*SUBJECT_CODE_HEADERS, *SUBJECT_NAME_HEADERS)}
    for cat in catalog.categories:
        seen: dict[str, str] = {}
        for item in cat.items:
            for h in item.headers:
                n = normalise_header(h)
                assert n not in subject, f"{cat.code}.{item.code}: {h}"
                assert seen.setdefault(n, item.code) == item.code, f"{cat.code}: {h}"
        assert cat.header_map["统一社会信用代码"] == "uscc"
        assert cat.header_map["主体名称"] == "entity_name"


def test_items_are_sound(catalog: Catalog) -> None:
    for cat in catalog.categories:
        for item in cat.items:
            if item.type == "decimal" and item.unit in ("元", "万元", "万美元"):
                assert item.min == 0, f"{cat.code}.{item.code}"
            if item.type == "integer":
                assert item.min is not None and item.min >= 0 and item.max is not None and item.max <= 1_000_000, \
                    f"{cat.code}.{item.code}"
            assert item.code not in ("uscc", "entity_name"), cat.code


def test_only_validity_ends_and_deadlines_may_lie_in_the_future(catalog: Catalog) -> None:
    future = {(c.code, i.code) for c in catalog.categories for i in c.items if i.allow_future}
    assert future == {
        ("registration", "operating_to"), ("license", "valid_from"), ("license", "valid_to"),
        ("penalty", "publicity_until"), ("honor", "valid_to"), ("real_estate", "use_to"),
        ("intellectual_property", "valid_to"), ("rnd", "valid_to"),
        # self-reported: an order's due date, a plan's wished-for date, a certificate's validity
        ("self_customers", "due_on"), ("self_financing", "needed_by"), ("self_certificates", "valid_to"),
    }
    for cat in catalog.categories:
        if cat.period:
            assert not cat.item(cat.period).allow_future, cat.code


def test_fields_the_demo_relies_on(catalog: Catalog) -> None:
    tax = catalog.category("tax")
    assert tax.item("tax_credit_grade").allowed == ("A", "B", "M", "C", "D")
    assert {"tax_payable", "tax_paid", "tax_arrears", "in_arrears", "filing_status"} <= {i.code for i in tax.items}
    assert tax.header_map[normalise_header("统计期")] == "period"
    assert catalog.category("penalty").key == ("decision_no",)
    assert catalog.category("penalty").item("fine_amount").unit == "万元"
    assert catalog.category("judicial").key == ("case_no",)
    for code, unit in (("water", "立方米"), ("electricity", "千瓦时"), ("gas", "立方米")):
        cat = catalog.category(code)
        assert cat.key == ("account_no", "period")
        assert cat.item("usage").unit == unit
        assert cat.item("status").allowed == ("正常", "欠费", "催缴")
    reg = catalog.category("registration")
    assert reg.item("legal_representative").personal and reg.item("legal_rep_id_no").personal
    assert reg.item("region").required and reg.item("status").required
    assert reg.item("business_scope").max_length == 4000


# ── loading a province's own file ─────────────────────────────────────────────────────────────────────


MINIMAL = """
name: 某市融资信用信息共享清单
version: "1"
categories:
  - code: tax
    name: 纳税
    group: 融资相关信息
    provider: 税务局
    channel: 总对总
    frequency: 每月
    sensitivity: 授权查询
    key: [period]
    period: period
    items:
      - {code: period, name: 所属期, type: month, required: true}
      - {code: grade, name: 纳税信用等级, type: enum, allowed: [A, B, M, C, D]}
"""


def test_province_file_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "province.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    cat = load_catalog(path)
    assert cat.name == "某市融资信用信息共享清单"
    assert cat.codes == ["tax"]


def test_province_file_may_widen_the_default(tmp_path: Path) -> None:
    data = yaml.safe_load(default_catalog_text())
    data["categories"].append({
        "code": "commitment", "name": "信用承诺", "group": "公共信用信息", "provider": "各承诺受理部门",
        "channel": "省级", "frequency": "每日", "sensitivity": "公开", "key": ["commitment_no"],
        "period": "committed_on",
        "items": [
            {"code": "commitment_no", "name": "承诺书编号", "required": True},
            {"code": "committed_on", "name": "承诺日期", "type": "date", "required": True},
        ],
    })
    path = tmp_path / "wider.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert len(load_catalog(path).categories) == len(load_catalog().categories) + 1


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="无法读取信息清单"):
        load_catalog(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace("required: true}", "required: true, colour: red}"), r"items\.0\.colour"),
        (lambda t: t.replace("    provider: 税务局", "    provider: 税务局\n    owner: 某人"), r"categories\.0\.owner"),
        (lambda t: t.replace(", allowed: [A, B, M, C, D]", ""), "枚举字段 grade 必须列出 allowed"),
        (lambda t: t.replace("type: month, required: true", "type: month, allowed: [x], required: true"),
         "不是枚举类型"),
        (lambda t: t.replace("key: [period]", "key: [nope]"), "主键字段 nope 不在字段列表中"),
        (lambda t: t.replace("type: month, required: true", "type: month"), "主键字段 period 必须为必填"),
        (lambda t: t.replace("period: period", "period: grade"), "期间字段 grade 必须是日期"),
        (lambda t: t.replace("code: grade", "code: period"), "字段代码重复：period"),
        (lambda t: t.replace("name: 纳税信用等级", "name: 所属期"), "表头 '所属期' 同时指向"),
        (lambda t: t.replace("code: grade", "code: Grade"), "只能由小写字母"),
        (lambda t: t.replace("sensitivity: 授权查询", "sensitivity: 保密"), r"categories\.0\.sensitivity"),
        (lambda t: t + t[t.index("  - code: tax"):], "类别代码重复：tax"),
    ],
)
def test_invalid_files_are_refused_with_a_clear_message(tmp_path: Path, change, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(change(MINIMAL), encoding="utf-8")
    with pytest.raises(CatalogError, match=expected) as err:
        load_catalog(path)
    assert str(path) in str(err.value)  # names the file


def test_bad_yaml() -> None:
    with pytest.raises(CatalogError, match="不是有效的 YAML"):
        parse_catalog(MINIMAL + "  - [unclosed\n", "bad.yaml")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", ""])
def test_not_a_mapping(text: str) -> None:
    with pytest.raises(CatalogError, match="顶层必须是映射"):
        parse_catalog(text, "bad.yaml")


# ── rendering ─────────────────────────────────────────────────────────────────────────────────────────


def test_display_width() -> None:
    assert display_width("abc") == 3
    assert display_width("纳税") == 4
    assert display_width("（A）") == 5
    assert display_width("e\u0301") == 1


def test_render_text_names_every_category(catalog: Catalog) -> None:
    text = render_text(catalog)
    assert catalog.name in text
    for code, name in EXPECTED:
        assert f"{name} ({code})" in text
    for word in ("提供部门", "共享渠道", "更新频率", "共享方式", "主键", "期间字段", *ITEM_COLUMNS):
        assert word in text


def _cell_offsets(line: str, cells: list[str]) -> list[int]:
    """Display offset at which each cell starts, found left to right."""
    offsets, pos = [], 0
    for cell in cells:
        idx = line.index(cell, pos)
        offsets.append(display_width(line[:idx]))
        pos = idx + len(cell)
    return offsets


@pytest.mark.parametrize("code", [c for c, _ in EXPECTED])
def test_item_rows_are_aligned_by_display_width(catalog: Catalog, code: str) -> None:
    category = catalog.category(code)
    lines = render_category(category).splitlines()
    header = next(line for line in lines if line.strip().startswith(ITEM_COLUMNS[0]))
    rows = [(item_rows(item)[0], f"  {item.code} ") for item in category.items]
    prefix_widths = set()
    column_starts = {i: {_cell_offsets(header, list(ITEM_COLUMNS))[i]} for i in range(len(ITEM_COLUMNS))}
    for cells, start in rows:
        line = next(line for line in lines if line.startswith(start))
        # Everything up to the last column has one width: the last cell starts at the same place.
        prefix_widths.add(display_width(line) - display_width(cells[-1]))
        for i, offset in enumerate(_cell_offsets(line, cells)):
            if cells[i]:
                column_starts[i].add(offset)
    assert len(prefix_widths) == 1, prefix_widths
    assert all(len(s) == 1 for s in column_starts.values()), column_starts


def test_render_one_category(catalog: Catalog) -> None:
    text = render_text(catalog, "tax")
    assert "纳税 (tax)" in text and "行政处罚" not in text
    assert "所属期 (period)" in text and "明示授权后原始明细" in text
    assert render_text(catalog, "纳税") == text
    assert "（无：每个主体一条记录）" in render_text(catalog, "registration")
    with pytest.raises(NotFound, match="没有类别 'nope'"):
        render_text(catalog, "nope")


def test_long_allowed_values_wrap(catalog: Catalog) -> None:
    rows = item_rows(catalog.category("penalty").item("penalty_type"))
    assert len(rows) > 1
    assert "/".join(r[5].rstrip("/") for r in rows) == "/".join(catalog.category("penalty").item("penalty_type").allowed)


def test_catalog_as_dict(catalog: Catalog) -> None:
    data = catalog_as_dict(catalog)
    json.dumps(data, ensure_ascii=False)  # plain JSON
    assert data["name"] == catalog.name
    assert [c["code"] for c in data["categories"]] == catalog.codes
    tax = data["categories"][catalog.codes.index("tax")]
    assert tax["headers"][:2] == ["统一社会信用代码", "主体名称"]
    assert tax["headers"][2:] == [i.name for i in catalog.category("tax").items]
    assert tax["key"] == ["period"]
    period = tax["items"][0]
    assert period["code"] == "period" and "统计期" in period["headers"]
    assert Catalog.model_validate({k: v for k, v in data.items()} | {
        "categories": [{k: v for k, v in c.items() if k != "headers"} | {
            "items": [{k: v for k, v in i.items() if k != "headers"} for i in c["items"]]
        } for c in data["categories"]]
    }) == catalog


def test_headers_that_clash_after_normalising_or_with_the_subject_are_refused() -> None:
    base = MINIMAL.rstrip("\n") + "\n"
    clash = base + "      - {code: amount_a, name: 金额（万元）, type: decimal}\n" \
                   "      - {code: amount_b, name: 金额(万元), type: decimal}\n"
    with pytest.raises(CatalogError, match="同时指向"):
        parse_catalog(clash)
    with pytest.raises(CatalogError, match="主体名称"):
        parse_catalog(base + "      - {code: other_name, name: 企业名称, type: string}\n")
