"""GB/T 2260 administrative division codes: every provincial-level division, and Heilongjiang's
prefecture-level divisions in detail (the demo province).

Counties are not listed; a code is "valid" when its province exists and its shape is plausible.
"""

from __future__ import annotations

from xinyidai.kit.errors import InvalidInput

# All 34 provincial-level divisions in GB/T 2260 (31 on the mainland, Taiwan, Hong Kong, Macao).
PROVINCES: dict[str, str] = {
    "110000": "北京市",
    "120000": "天津市",
    "130000": "河北省",
    "140000": "山西省",
    "150000": "内蒙古自治区",
    "210000": "辽宁省",
    "220000": "吉林省",
    "230000": "黑龙江省",
    "310000": "上海市",
    "320000": "江苏省",
    "330000": "浙江省",
    "340000": "安徽省",
    "350000": "福建省",
    "360000": "江西省",
    "370000": "山东省",
    "410000": "河南省",
    "420000": "湖北省",
    "430000": "湖南省",
    "440000": "广东省",
    "450000": "广西壮族自治区",
    "460000": "海南省",
    "500000": "重庆市",
    "510000": "四川省",
    "520000": "贵州省",
    "530000": "云南省",
    "540000": "西藏自治区",
    "610000": "陕西省",
    "620000": "甘肃省",
    "630000": "青海省",
    "640000": "宁夏回族自治区",
    "650000": "新疆维吾尔自治区",
    "710000": "台湾省",
    "810000": "香港特别行政区",
    "820000": "澳门特别行政区",
}
_PROVINCE_PREFIXES = frozenset(code[:2] for code in PROVINCES)

HEILONGJIANG = "230000"

# Resident population at the 2020 (seventh) census, in millions: the demo's proxy for how many
# market entities each prefecture has, since per-prefecture registration counts are not published
# in one consistent table.
_POPULATION_2020: dict[str, tuple[str, float]] = {
    "230100": ("哈尔滨市", 10.00),
    "230200": ("齐齐哈尔市", 4.07),
    "230300": ("鸡西市", 1.50),
    "230400": ("鹤岗市", 0.89),
    "230500": ("双鸭山市", 1.21),
    "230600": ("大庆市", 2.78),
    "230700": ("伊春市", 0.88),
    "230800": ("佳木斯市", 2.16),
    "230900": ("七台河市", 0.69),
    "231000": ("牡丹江市", 2.29),
    "231100": ("黑河市", 1.29),
    "231200": ("绥化市", 3.76),
    "232700": ("大兴安岭地区", 0.33),
}
_TOTAL = sum(pop for _, pop in _POPULATION_2020.values())

# code → (name, share of the province's market entities); shares sum to 1.
HEILONGJIANG_PREFECTURES: dict[str, tuple[str, float]] = {
    code: (name, pop / _TOTAL) for code, (name, pop) in _POPULATION_2020.items()
}

_NAMES: dict[str, str] = {**PROVINCES, **{c: n for c, (n, _) in HEILONGJIANG_PREFECTURES.items()}}


def is_valid_region(code: str) -> bool:
    """6 ASCII digits, a real province, and no county part under a province-level "00" prefecture."""
    if not isinstance(code, str) or len(code) != 6 or not (code.isascii() and code.isdigit()):
        return False
    if code[:2] not in _PROVINCE_PREFIXES:
        return False
    return not (code[2:4] == "00" and code[4:] != "00")


def region_name(code: str) -> str | None:
    """Name of a province or Heilongjiang prefecture; "<prefecture>下辖区县" for a county below one."""
    if not is_valid_region(code):
        return None
    if code in _NAMES:
        return _NAMES[code]
    prefecture = _NAMES.get(code[:4] + "00")
    if prefecture is not None and code[2:4] != "00":
        return prefecture + "下辖区县"
    return None


def prefecture_of(code: str) -> str:
    """The prefecture-level code a county belongs to (a province code maps to itself).

    The first four digits identify the prefecture in every case, including 地区/盟 such as
    232700 大兴安岭地区 (whose counties are 2327xx) and the 省直辖 groups numbered 90.
    """
    if not is_valid_region(code):
        raise InvalidInput(f"行政区划代码“{code}”不符合GB/T 2260（应为6位数字且省级代码存在）")
    return code[:4] + "00"
