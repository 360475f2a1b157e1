"""GB 32100 / GB 11714 / GB 11643 identifiers, GB/T 2260 regions and GB/T 4754 industries."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyidai.entities.codes import (
    MAX_DEMO_SERIAL,
    USCC_ALPHABET,
    USCC_AUTHORITIES,
    InvalidIdNumber,
    InvalidUSCC,
    entity_kind_of,
    id_check_char,
    is_valid_id_number,
    is_valid_uscc,
    make_id_number,
    make_uscc,
    org_code_check_char,
    uscc_check_char,
    validate_id_number,
    validate_uscc,
)
from xinyidai.entities.industries import (
    DEMO_INDUSTRY_WEIGHTS,
    DIVISIONS,
    SECTIONS,
    industry_name,
    is_valid_industry,
    section_of,
)
from xinyidai.entities.regions import (
    HEILONGJIANG_PREFECTURES,
    PROVINCES,
    is_valid_region,
    prefecture_of,
    region_name,
)
from xinyidai.kit import clock
from xinyidai.kit.errors import InvalidInput

# Codes of well-known companies, as published on the 国家企业信用信息公示系统 and widely reproduced.
REAL_USCCS = {
    "91110000802100433B": "北京百度网讯科技有限公司",
    "914403001922038216": "华为技术有限公司",
    "91110108551385082Q": "小米科技有限责任公司",
    "9144030071526726XG": "腾讯科技（深圳）有限公司",  # its organization code ends in X
}
BAIDU = "91110000802100433B"

PAIRS = [(a, k) for a, (_, kinds) in USCC_AUTHORITIES.items() for k in kinds]
regions = st.sampled_from(sorted(HEILONGJIANG_PREFECTURES)) | st.from_regex(r"[1-8][0-9]{5}", fullmatch=True)
serials = st.integers(0, MAX_DEMO_SERIAL - 1)


def reference_uscc_check(first17: str) -> str:
    """The formula exactly as GB 32100 states it, independent of the module's lookup tables."""
    weights = [3**i % 31 for i in range(17)]
    c = 31 - sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, weights, strict=True)) % 31
    return USCC_ALPHABET[0 if c == 31 else c]


def reference_org_check(first8: str) -> str:
    c = 11 - sum(int(ch, 36) * w for ch, w in zip(first8, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def message(exc: pytest.ExceptionInfo[BaseException]) -> str:
    return str(exc.value)


@pytest.fixture
def fixed_today() -> Iterator[date]:
    clock.set_clock(lambda: datetime(2024, 6, 1, 4, 0, tzinfo=UTC))  # 12:00 in Beijing
    try:
        yield date(2024, 6, 1)
    finally:
        clock.set_clock(None)


# --- GB 32100 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(REAL_USCCS))
def test_published_codes_validate(code: str) -> None:
    assert validate_uscc(code) == code
    assert is_valid_uscc(code)
    assert uscc_check_char(code[:17]) == code[17]
    assert org_code_check_char(code[8:16]) == code[16]


def test_synthetic_boundary_codes() -> None:
    # Synthetic (made by make_uscc): the "31 → 0" final check and the "11 → 0" organization check.
    assert validate_uscc("91230100XY00001A20")[-1] == "0"
    assert validate_uscc("91230100XY0000020U")[16] == "0"
    assert org_code_check_char("00000000") == "0"
    assert org_code_check_char("00000006") == "X"


def test_lowercase_and_spaces_are_normalised() -> None:
    assert validate_uscc(f"  {BAIDU.lower()}\n") == BAIDU
    assert validate_uscc("9144030071526726xg") == "9144030071526726XG"


def test_error_is_typed() -> None:
    with pytest.raises(InvalidUSCC) as exc:
        validate_uscc("123")
    assert isinstance(exc.value, InvalidInput)
    assert exc.value.code == "INVALID_USCC" and exc.value.status == 422
    assert exc.value.to_dict()["error"] == "INVALID_USCC"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("123", "统一社会信用代码应为18位，实际为3位"),
        (BAIDU + "1", "统一社会信用代码应为18位，实际为19位"),
        ("9111O000802100433B", "统一社会信用代码第5位字符“O”不合法"),
        ("91110000802100433I", "统一社会信用代码第18位字符“I”不合法"),
        ("91110000802100433中", "统一社会信用代码第18位字符“中”不合法"),
        ("B1110000802100433B", "第1位登记管理部门码“B”不存在"),
        ("94110000802100433B", "第2位机构类别码“4”不适用于登记管理部门“工商”"),
        ("Y2110000802100433B", "第2位机构类别码“2”不适用于登记管理部门“其他”"),
        ("9111000A802100433B", "第3-8位登记管理机关行政区划码“11000A”应为6位数字"),
        ("91110000802100434B", "组织机构代码“802100434”校验不通过：第17位应为“3”，实际为“4”"),
        ("91110000802100433C", "统一社会信用代码校验码错误：第18位应为“B”，实际为“C”"),
    ],
)
def test_error_messages_say_what_is_wrong(code: str, expected: str) -> None:
    with pytest.raises(InvalidUSCC) as exc:
        validate_uscc(code)
    assert expected in message(exc)
    assert not is_valid_uscc(code)


def test_non_text_is_rejected() -> None:
    with pytest.raises(InvalidUSCC, match="必须是文本"):
        validate_uscc(None)  # type: ignore[arg-type]


def test_check_char_helpers_reject_bad_input() -> None:
    with pytest.raises(InvalidUSCC, match="前17位"):
        uscc_check_char("9111")
    with pytest.raises(InvalidUSCC, match="第3位字符“%”"):
        org_code_check_char("80%10043")


@settings(deadline=None)
@given(regions, serials, st.sampled_from(PAIRS))
def test_every_generated_code_validates(region: str, serial: int, pair: tuple[str, str]) -> None:
    code = make_uscc(region, serial, *pair)
    assert validate_uscc(code) == code
    assert code[:8] == pair[0] + pair[1] + region
    assert uscc_check_char(code[:17]) == reference_uscc_check(code[:17])
    assert code[16] == reference_org_check(code[8:16])


@settings(deadline=None)
@given(regions, serials, serials)
def test_distinct_serials_give_distinct_codes(region: str, a: int, b: int) -> None:
    assert (make_uscc(region, a) == make_uscc(region, b)) == (a == b)


def test_serials_are_injective_on_a_dense_range() -> None:
    # Around the boundary between the two precomputed halves (31**3) as well as from 0.
    ranges = [range(0, 20_000), range(31**3 - 5_000, 31**3 + 5_000), range(10**8 - 5_000, 10**8)]
    codes = [make_uscc("230100", i) for r in ranges for i in r]
    assert len(set(codes)) == len(codes)


def test_generator_is_deterministic_and_checks_its_arguments() -> None:
    assert make_uscc("230100", 12345) == make_uscc("230100", 12345)
    assert make_uscc("230100", 0) != make_uscc("230200", 0)
    with pytest.raises(ValueError, match="序号"):
        make_uscc("230100", MAX_DEMO_SERIAL)
    with pytest.raises(ValueError, match="序号"):
        make_uscc("230100", -1)
    with pytest.raises(ValueError, match="组合不存在"):
        make_uscc("230100", 1, "9", "4")
    with pytest.raises(ValueError, match="6位数字"):
        make_uscc("2301", 1)


@given(st.sampled_from(sorted(REAL_USCCS)) | st.builds(make_uscc, regions, serials), st.data())
def test_any_single_substitution_is_caught(code: str, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, 17))
    other = data.draw(st.sampled_from(USCC_ALPHABET.replace(code[pos], "")))
    assert not is_valid_uscc(code[:pos] + other + code[pos + 1 :])


@given(st.sampled_from(sorted(REAL_USCCS)) | st.builds(make_uscc, regions, serials), st.data())
def test_any_transposition_in_the_first_17_is_caught(code: str, data: st.DataObject) -> None:
    # The weights are 3**i mod 31 and 3 has order 30 mod 31, so w_i != w_j for all i != j < 17.
    i = data.draw(st.integers(0, 15))
    j = data.draw(st.integers(i + 1, 16))
    chars = list(code)
    chars[i], chars[j] = chars[j], chars[i]
    swapped = "".join(chars)
    assert is_valid_uscc(swapped) == (swapped == code)


def test_every_single_substitution_of_a_real_code_exhaustively() -> None:
    for pos in range(18):
        for ch in USCC_ALPHABET.replace(BAIDU[pos], ""):
            assert not is_valid_uscc(BAIDU[:pos] + ch + BAIDU[pos + 1 :]), (pos, ch)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("91230100XY00000046", "企业"),
        (make_uscc("230100", 1, "9", "3"), "企业"),
        (make_uscc("230100", 1, "9", "2"), "个体工商户"),
        (make_uscc("230100", 1, "5", "1"), "其他组织"),
        (make_uscc("230100", 1, "1", "2"), "其他组织"),
        (" 92230100xy00000010 ", "个体工商户"),
    ],
)
def test_entity_kind_of(code: str, kind: str) -> None:
    assert entity_kind_of(code) == kind


# --- GB 11643 ---------------------------------------------------------------------------------

SAMPLE_ID = "11010519491231002X"  # the worked example printed in GB 11643-1999


def test_published_id_sample_validates() -> None:
    assert validate_id_number(SAMPLE_ID) == SAMPLE_ID
    assert validate_id_number(" 11010519491231002x ") == SAMPLE_ID
    assert is_valid_id_number(SAMPLE_ID)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("1101051949123100", "公民身份号码应为18位，实际为16位"),
        ("11010519491231A02X", "第15位字符“A”不合法"),
        ("11010519491231002Y", "第18位字符“Y”不合法"),
        ("110105194902300021", "出生日期“19490230”不是有效日期"),
        ("110105194912310021", "校验码错误：第18位应为“X”，实际为“1”"),
    ],
)
def test_id_error_messages(number: str, expected: str) -> None:
    with pytest.raises(InvalidIdNumber) as exc:
        validate_id_number(number)
    assert expected in message(exc)
    assert exc.value.code == "INVALID_ID_NUMBER"
    assert not is_valid_id_number(number)


def test_future_birth_dates_are_rejected(fixed_today: date) -> None:
    assert is_valid_id_number(make_id_number("230102", fixed_today, 1))
    body = "23010220240602001"  # born tomorrow
    with pytest.raises(InvalidIdNumber, match="晚于今天"):
        validate_id_number(body + id_check_char(body))
    with pytest.raises(ValueError, match="晚于今天"):
        make_id_number("230102", date(2024, 6, 2), 1)


@settings(deadline=None)
@given(
    regions,
    st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)),
    st.integers(0, 999),
)
def test_generated_id_numbers_validate(region: str, birth: date, serial: int) -> None:
    number = make_id_number(region, birth, serial)
    assert validate_id_number(number) == number
    assert number[:6] == region and number[6:14] == birth.strftime("%Y%m%d")
    assert int(number[14:17]) % 2 == serial % 2  # odd sequence code = male


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)), st.integers(0, 999), st.data())
def test_any_single_id_substitution_is_caught(birth: date, serial: int, data: st.DataObject) -> None:
    number = make_id_number("230102", birth, serial)
    pos = data.draw(st.integers(0, 17))
    other = data.draw(st.sampled_from("0123456789X".replace(number[pos], "")))
    assert not is_valid_id_number(number[:pos] + other + number[pos + 1 :])


def test_make_id_number_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="顺序码"):
        make_id_number("230102", date(1990, 1, 1), 1000)
    with pytest.raises(ValueError, match="6位数字"):
        make_id_number("2301", date(1990, 1, 1), 1)


# --- GB/T 2260 --------------------------------------------------------------------------------


def test_heilongjiang_prefectures() -> None:
    assert len(HEILONGJIANG_PREFECTURES) == 13
    assert HEILONGJIANG_PREFECTURES["230100"][0] == "哈尔滨市"
    assert HEILONGJIANG_PREFECTURES["232700"][0] == "大兴安岭地区"
    weights = {code: w for code, (_, w) in HEILONGJIANG_PREFECTURES.items()}
    assert math.isclose(sum(weights.values()), 1.0)
    assert max(weights, key=weights.__getitem__) == "230100"
    assert min(weights, key=weights.__getitem__) == "232700"


def test_provinces() -> None:
    assert len(PROVINCES) == 34
    assert PROVINCES["110000"] == "北京市" and PROVINCES["820000"] == "澳门特别行政区"
    assert all(is_valid_region(code) for code in PROVINCES)


@pytest.mark.parametrize("code", ["230000", "230100", "230102", "232721", "110105", "429004", "650000"])
def test_valid_regions(code: str) -> None:
    assert is_valid_region(code)


@pytest.mark.parametrize(
    "code", ["240000", "000000", "990000", "23010", "2301000", "2301O0", "230012", "", "２３０１００"]
)
def test_invalid_regions(code: str) -> None:
    assert not is_valid_region(code)


def test_region_names_and_prefectures() -> None:
    assert region_name("230000") == "黑龙江省"
    assert region_name("231200") == "绥化市"
    assert region_name("230102") == "哈尔滨市道里区"  # a county-level division as addresses write it
    assert region_name("230183") == "哈尔滨市尚志市"
    assert region_name("232721") == "大兴安岭地区呼玛县"
    assert region_name("230717") == "伊春市伊美区"  # after the 2019 reorganisation
    assert region_name("230199") == "哈尔滨市下辖区县"  # shaped like a county, but not in the table
    assert region_name("110105") is None  # Beijing's districts are not shipped
    assert region_name("240000") is None
    assert prefecture_of("230102") == "230100"
    assert prefecture_of("232721") == "232700"
    assert prefecture_of("232700") == "232700"
    with pytest.raises(InvalidInput, match="GB/T 2260"):
        prefecture_of("2301")


# --- GB/T 4754-2017 ---------------------------------------------------------------------------

# Division ranges of each section as printed in the standard (checked independently of the data).
SECTION_RANGES = {
    "A": (1, 5), "B": (6, 12), "C": (13, 43), "D": (44, 46), "E": (47, 50), "F": (51, 52),
    "G": (53, 60), "H": (61, 62), "I": (63, 65), "J": (66, 69), "K": (70, 70), "L": (71, 72),
    "M": (73, 75), "N": (76, 79), "O": (80, 82), "P": (83, 83), "Q": (84, 85), "R": (86, 90),
    "S": (91, 96), "T": (97, 97),
}  # fmt: skip


def test_sections_and_divisions() -> None:
    assert list(SECTIONS) == list(SECTION_RANGES)
    assert list(DIVISIONS) == [f"{n:02d}" for n in range(1, 98)]
    for section, (lo, hi) in SECTION_RANGES.items():
        for n in range(lo, hi + 1):
            assert DIVISIONS[f"{n:02d}"][1] == section
    assert DIVISIONS["13"][0] == "农副食品加工业"
    assert DIVISIONS["51"][0] == "批发业"
    assert DIVISIONS["72"][0] == "商务服务业"
    assert DIVISIONS["96"][0] == "基层群众自治组织及其他组织"


@pytest.mark.parametrize("code", ["C", "c", "T", "01", "13", "131", "1311", "C1311", " c13 ", "97"])
def test_valid_industries(code: str) -> None:
    assert is_valid_industry(code)


@pytest.mark.parametrize("code", ["", "U", "00", "98", "1", "13111", "D1311", "CC13", "1a", "１３"])
def test_invalid_industries(code: str) -> None:
    assert not is_valid_industry(code)
    assert industry_name(code) is None


def test_industry_names_and_sections() -> None:
    assert industry_name("F") == "批发和零售业"
    assert industry_name("52") == "零售业"
    assert industry_name("6510") == "软件和信息技术服务业"  # the enclosing division's name
    assert section_of("1311") == "C"
    assert section_of("f") == "F"
    with pytest.raises(InvalidInput, match="GB/T 4754"):
        section_of("98")


def test_demo_industry_weights() -> None:
    codes = [code for code, _ in DEMO_INDUSTRY_WEIGHTS]
    assert 30 <= len(codes) <= 40 and len(set(codes)) == len(codes)
    assert all(code in DIVISIONS for code in codes)
    assert all(w > 0 for _, w in DEMO_INDUSTRY_WEIGHTS)
    assert math.isclose(sum(w for _, w in DEMO_INDUSTRY_WEIGHTS), 1.0)
    top_two = sorted(DEMO_INDUSTRY_WEIGHTS, key=lambda cw: -cw[1])[:2]
    assert {code for code, _ in top_two} == {"51", "52"}
