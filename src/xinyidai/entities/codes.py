"""Chinese identifier standards: GB 32100 统一社会信用代码 (with its embedded GB 11714 组织机构代码)
and GB 11643 公民身份号码 — validators with precise Chinese messages, and fast demo generators.

Written from the standards' text; the check-digit arithmetic is small enough to read in one go.
"""

from __future__ import annotations

import re
from datetime import date
from operator import mul

from xinyidai.kit import clock
from xinyidai.kit.errors import InvalidInput

# ---------------------------------------------------------------------------------------------
# GB 32100-2015 统一社会信用代码
# ---------------------------------------------------------------------------------------------

# I O Z S V are left out so that codes survive handwriting and OCR (they look like 1 0 2 5 U).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_SHAPE = re.compile("[0-9A-HJ-NPQRTUWXY]*")
# The weights are 3**i mod 31; 31 is prime, so every single substitution and every adjacent
# transposition within the first 17 characters changes the sum mod 31 and is caught.
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# 登记管理部门码 → (部门, {机构类别码: 机构类别}) as published with GB 32100 (incl. the later A and N).
USCC_AUTHORITIES: dict[str, tuple[str, dict[str, str]]] = {
    "1": ("机构编制", {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"}),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": (
        "司法行政",
        {
            "1": "律师执业机构",
            "2": "公证处",
            "3": "基层法律服务所",
            "4": "司法鉴定机构",
            "5": "仲裁委员会",
            "9": "其他",
        },
    ),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": (
        "旅游",
        {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"},
    ),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": ("农业", {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"}),
    "Y": ("其他", {"1": "其他"}),
}

# GB 11714: body characters are digits and A–Z valued 10–35 (the full Latin alphabet, unlike USCC).
_ORG_VALUE = {c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# (11 - sum mod 11) with 10 → X and 11 → 0, indexed directly by sum mod 11.
_ORG_CHECK_BY_MOD = tuple({10: "X", 11: "0"}.get(11 - m, str(11 - m)) for m in range(11))
_USCC_CHECK_BY_MOD = tuple(USCC_ALPHABET[(31 - m) % 31] for m in range(31))


class InvalidUSCC(InvalidInput):
    code = "INVALID_USCC"
    message = "统一社会信用代码不正确"


def _normalise(code: object, what: str, exc: type[InvalidInput]) -> str:
    if not isinstance(code, str):
        raise exc(f"{what}必须是文本")
    s = code.strip()
    # Only ASCII is upper-cased: str.upper() can change the length of other text ('ß' → 'SS'),
    # which would make the positions in our messages wrong.
    return s.upper() if s.isascii() else s


def org_code_check_char(first8: str) -> str:
    """GB 11714 check character for an 8-character organization-code body."""
    body = first8.strip().upper()
    if len(body) != 8:
        raise InvalidUSCC(f"组织机构代码本体应为8位，实际为{len(body)}位")
    for pos, ch in enumerate(body, start=1):
        if ch not in _ORG_VALUE:
            raise InvalidUSCC(f"组织机构代码第{pos}位字符“{ch}”不合法（只允许数字和大写英文字母）")
    return _ORG_CHECK_BY_MOD[sum(map(mul, map(_ORG_VALUE.__getitem__, body), _ORG_WEIGHTS)) % 11]


def _check_uscc_chars(s: str) -> None:
    if _USCC_SHAPE.fullmatch(s):  # fast path; the loop below only runs to name the culprit
        return
    for pos, ch in enumerate(s, start=1):
        if ch not in _USCC_VALUE:
            raise InvalidUSCC(
                f"统一社会信用代码第{pos}位字符“{ch}”不合法（只允许数字和除I、O、Z、S、V以外的大写英文字母）"
            )


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character (the 18th) for the first 17 characters."""
    s = first17.strip().upper()
    if len(s) != 17:
        raise InvalidUSCC(f"计算校验码需要统一社会信用代码的前17位，实际为{len(s)}位")
    _check_uscc_chars(s)
    return _USCC_CHECK_BY_MOD[sum(map(mul, map(_USCC_VALUE.__getitem__, s), _USCC_WEIGHTS)) % 31]


def validate_uscc(code: str) -> str:
    """Return the normalised code, or raise InvalidUSCC saying exactly what is wrong (first fault wins)."""
    s = _normalise(code, "统一社会信用代码", InvalidUSCC)
    if len(s) != 18:
        raise InvalidUSCC(f"统一社会信用代码应为18位，实际为{len(s)}位", detail={"length": len(s)})
    _check_uscc_chars(s)

    authority, kind = s[0], s[1]
    entry = USCC_AUTHORITIES.get(authority)
    if entry is None:
        raise InvalidUSCC(f"统一社会信用代码第1位登记管理部门码“{authority}”不存在")
    dept, kinds = entry
    if kind not in kinds:
        allowed = "、".join(kinds)
        raise InvalidUSCC(
            f"统一社会信用代码第2位机构类别码“{kind}”不适用于登记管理部门“{dept}”（可用：{allowed}）"
        )

    division = s[2:8]
    if not division.isdigit():
        raise InvalidUSCC(f"统一社会信用代码第3-8位登记管理机关行政区划码“{division}”应为6位数字")

    expected_org = org_code_check_char(s[8:16])
    if s[16] != expected_org:
        raise InvalidUSCC(
            f"统一社会信用代码第9-17位组织机构代码“{s[8:17]}”校验不通过：第17位应为“{expected_org}”，实际为“{s[16]}”"
        )

    expected = uscc_check_char(s[:17])
    if s[17] != expected:
        raise InvalidUSCC(
            f"统一社会信用代码校验码错误：第18位应为“{expected}”，实际为“{s[17]}”",
            detail={"expected": expected},
        )
    return s


def is_valid_uscc(code: str) -> bool:
    try:
        validate_uscc(code)
    except InvalidUSCC:
        return False
    return True


def entity_kind_of(uscc: str) -> str:
    """企业 / 个体工商户 / 其他组织 from the first two characters (no full validation: callers validate)."""
    head = uscc.strip().upper()[:2]
    if head in ("91", "93"):  # 企业, 农民专业合作社 (treated as an enterprise for financing)
        return "企业"
    if head == "92":
        return "个体工商户"
    return "其他组织"


# --- demo generator ---------------------------------------------------------------------------
# Body = "XY" + serial in base 31 over the USCC alphabet (6 characters, so 31**6 ≈ 8.9e8 distinct).
# "XY" (信易) keeps synthetic codes out of the "MA…" series that market regulators issue today;
# a clash with some real code still cannot be ruled out, so demo data must never pass as real.
_SYNTHETIC_MARK = "XY"
_HALF = 31**3
MAX_DEMO_SERIAL = _HALF * _HALF  # exclusive

# Per-half lookup tables (chars, org-code partial sum, USCC partial sum), built on first use so
# importing this module stays cheap; with them make_uscc is one divmod and a few additions.
_HIGH: list[tuple[str, int, int]] = []
_LOW: list[tuple[str, int, int]] = []
# Org check character and its weighted contribution to the USCC sum, by org sum mod 11.
_ORG_CHECK_TERM = tuple((c, _USCC_VALUE[c] * _USCC_WEIGHTS[16]) for c in _ORG_CHECK_BY_MOD)
_PREFIXES: dict[tuple[str, str, str], tuple[str, int, int]] = {}


def _half_table(first: int) -> list[tuple[str, int, int]]:
    """Every 3-character base-31 string placed at body positions first..first+2."""
    table = []
    for n in range(_HALF):
        digits = (n // 961, n // 31 % 31, n % 31)
        chars = "".join(USCC_ALPHABET[d] for d in digits)
        org = sum(_ORG_VALUE[c] * _ORG_WEIGHTS[first + i] for i, c in enumerate(chars))
        uscc = sum(d * _USCC_WEIGHTS[8 + first + i] for i, d in enumerate(digits))
        table.append((chars, org, uscc))
    return table


def _prefix(region_code: str, authority: str, kind: str) -> tuple[str, int, int]:
    """Validate and cache everything about a code that does not depend on the serial."""
    entry = USCC_AUTHORITIES.get(authority)
    if entry is None or kind not in entry[1]:
        raise ValueError(f"登记管理部门码“{authority}”与机构类别码“{kind}”的组合不存在")
    if len(region_code) != 6 or not (region_code.isascii() and region_code.isdigit()):
        raise ValueError(f"行政区划码“{region_code}”应为6位数字")
    if not _HIGH:
        # _LOW first: another thread that sees _HIGH filled must also find _LOW filled.
        _LOW[:] = _half_table(5)
        _HIGH[:] = _half_table(2)
    head = authority + kind + region_code + _SYNTHETIC_MARK
    org = sum(_ORG_VALUE[c] * w for c, w in zip(_SYNTHETIC_MARK, _ORG_WEIGHTS, strict=False))
    uscc = sum(_USCC_VALUE[c] * w for c, w in zip(head, _USCC_WEIGHTS, strict=False))
    _PREFIXES[(region_code, authority, kind)] = result = (head, org, uscc)
    return result


def make_uscc(region_code: str, serial: int, authority: str = "9", kind: str = "1") -> str:
    """A valid, deterministic synthetic code; distinct serials give distinct codes per region/kind."""
    head, org, uscc = _PREFIXES.get((region_code, authority, kind)) or _prefix(region_code, authority, kind)
    if not 0 <= serial < MAX_DEMO_SERIAL:
        raise ValueError(f"序号应在0到{MAX_DEMO_SERIAL - 1}之间，实际为{serial}")
    hi, lo = divmod(serial, _HALF)
    h_chars, h_org, h_uscc = _HIGH[hi]
    l_chars, l_org, l_uscc = _LOW[lo]
    org_char, org_term = _ORG_CHECK_TERM[(org + h_org + l_org) % 11]
    return head + h_chars + l_chars + org_char + _USCC_CHECK_BY_MOD[(uscc + h_uscc + l_uscc + org_term) % 31]


# ---------------------------------------------------------------------------------------------
# GB 11643-1999 公民身份号码 (ISO 7064 MOD 11-2)
# ---------------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class InvalidIdNumber(InvalidInput):
    code = "INVALID_ID_NUMBER"
    message = "公民身份号码不正确"


def id_check_char(first17: str) -> str:
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise InvalidIdNumber("计算校验码需要公民身份号码的前17位数字")
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def validate_id_number(s: str) -> str:
    """Return the normalised number (x → X), or raise InvalidIdNumber saying what is wrong."""
    n = _normalise(s, "公民身份号码", InvalidIdNumber)
    if len(n) != 18:
        raise InvalidIdNumber(f"公民身份号码应为18位，实际为{len(n)}位")
    for pos, ch in enumerate(n[:17], start=1):
        if not ("0" <= ch <= "9"):
            raise InvalidIdNumber(f"公民身份号码第{pos}位字符“{ch}”不合法（前17位只能是数字）")
    if n[17] not in _ID_CHECK:
        raise InvalidIdNumber(f"公民身份号码第18位字符“{n[17]}”不合法（只能是数字或X）")

    raw = n[6:14]
    try:
        birth = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise InvalidIdNumber(f"公民身份号码第7-14位出生日期“{raw}”不是有效日期") from None
    if birth > clock.today():
        raise InvalidIdNumber(f"公民身份号码中的出生日期“{birth.isoformat()}”晚于今天")

    expected = id_check_char(n[:17])
    if n[17] != expected:
        raise InvalidIdNumber(f"公民身份号码校验码错误：第18位应为“{expected}”，实际为“{n[17]}”")
    return n


def is_valid_id_number(s: str) -> bool:
    try:
        validate_id_number(s)
    except InvalidIdNumber:
        return False
    return True


def make_id_number(region_code: str, birth: date, serial: int) -> str:
    """A valid synthetic number; the sequence code's parity carries the sex (odd = male)."""
    if len(region_code) != 6 or not (region_code.isascii() and region_code.isdigit()):
        raise ValueError(f"行政区划码“{region_code}”应为6位数字")
    if not 0 <= serial <= 999:
        raise ValueError(f"顺序码应在0到999之间，实际为{serial}")
    if birth > clock.today():
        raise ValueError(f"出生日期{birth.isoformat()}晚于今天")
    if birth.year < 1000:
        raise ValueError(f"出生日期{birth.isoformat()}的年份不是4位")
    body = f"{region_code}{birth:%Y%m%d}{serial:03d}"
    return body + id_check_char(body)
