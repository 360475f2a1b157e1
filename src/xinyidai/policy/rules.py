"""A programme's rules as data: what each kind of programme may say, the defaults a city starts from (each with
the scheme it comes from), and the checks that refuse rules contradicting themselves.

Rules are kept as canonical JSON in a version (`RuleVersion.rules`); `parse` turns them into the typed
`Rules` every computation takes, and `validate` is what a form, the API and the demo all call, so no
programme can hold rules that `parse` would refuse."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from xinyidai.credit.indicators import GRADE_ORDER
from xinyidai.entities.industries import DIVISIONS, SECTIONS
from xinyidai.kit.errors import InvalidInput
from xinyidai.market.money import MAX_FEN

# The schemes the defaults come from, shown beside them on the programme form.
SOURCES = {
    "interest": "财金〔2025〕81号：对符合条件的中小微企业贷款给予 1 个百分点贴息，单户贴息本金不超过 1,000 万元、"
                "贴息期限不超过 1 年，中央财政承担 90%、省级财政承担 10%。",
    "guarantee": "国办发〔2019〕6号：政府性融资担保机构平均担保费率不超过 1%，对其支小支农业务给予担保费补贴。",
    "pool": "深圳市中小微企业贷款风险补偿资金池：对不良贷款本金损失补偿约 30%（2019 年实施细则）；"
            "白银市互助贷款风险补偿担保基金管理办法第十六条：合作银行逾期率超过 5% 时暂停新增业务。",
}
LEVELS = ("中央", "省级", "市级", "县级")
DAY_BASES = (360, 365)
MAX_RATE_BP = 1000  # 10 percentage points: far above any real subsidy, and it keeps the integer sums in range
MAX_CAP_FEN = 10**12  # 100 亿元: caps above this are typing mistakes; it keeps 2·principal·rate·days in BIGINT


@dataclass(frozen=True)
class Rules:
    """The typed rules of one version. Rates and shares are basis points (1 个百分点 = 100; 30% = 3000)."""

    kind: str
    # who may be enrolled (every kind)
    industries: tuple[str, ...] = ()  # GB/T 4754 sections (letters) or divisions (2 digits); empty: any
    min_grade: str | None = None  # the enterprise's public evaluation grade at least this
    credit_only: bool = False  # only 信用 loans
    first_only: bool = False  # only first loans (首贷)
    allow_stacking: bool = False  # may a loan also be in another programme of the same kind
    # 贴息
    rate_bp: int = 0  # subsidy rate, percentage points a year ×100; guarantee: subsidy rate on covered amount
    cap_fen: int = 0  # eligible principal per enterprise
    max_days: int = 0  # longest subsidised term, from first drawdown
    day_basis: int = 360
    split: dict[str, int] = field(default_factory=dict)  # level → share in bp, summing to 10000
    # 担保费补贴
    fee_ceiling_bp: int = 0  # a guarantor charging more is not eligible
    # 风险补偿
    share_bp: int = 0  # share of principal loss compensated
    credit_share_bp: int = 0  # … for credit loans (0: as share_bp)
    first_share_bp: int = 0  # … for first loans (0: as share_bp)
    bank_cap_fen: int = 0  # per bank and calendar year (0: no cap)
    suspend_overdue_bp: int = 0  # a bank's overdue rate in the programme above this suspends its enrolments

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["industries"] = list(self.industries)
        keep = COMMON | KIND_KEYS[self.kind]
        return {k: v for k, v in d.items() if k in keep}

    def compensation_share(self, is_credit: bool, is_first: bool) -> int:
        """The share a loss is compensated at: the highest tier the loan reaches."""
        share = self.share_bp
        if is_credit and self.credit_share_bp:
            share = max(share, self.credit_share_bp)
        if is_first and self.first_share_bp:
            share = max(share, self.first_share_bp)
        return share

    def divisions(self) -> tuple[set[str], set[str]]:
        """(section letters, 2-digit divisions) a loan's industry must fall in — a section brings its
        divisions — or two empty sets when any industry qualifies."""
        letters = {c for c in self.industries if c in SECTIONS}
        divs = {c for c in self.industries if c not in SECTIONS}
        divs |= {d for d, (_, sec) in DIVISIONS.items() if sec in letters}
        return letters, divs


COMMON = {"kind", "industries", "min_grade", "credit_only", "first_only", "allow_stacking"}
KIND_KEYS = {
    "interest": {"rate_bp", "cap_fen", "max_days", "day_basis", "split"},
    "guarantee": {"rate_bp", "fee_ceiling_bp", "max_days", "day_basis", "split"},
    "pool": {"share_bp", "credit_share_bp", "first_share_bp", "bank_cap_fen", "suspend_overdue_bp", "split"},
}
LABELS = {
    "industries": "适用行业", "min_grade": "最低信用评价等级", "credit_only": "仅限信用贷款", "first_only": "仅限首贷",
    "allow_stacking": "允许与同类政策叠加", "rate_bp": "补贴比例", "cap_fen": "单户贴息本金上限",
    "max_days": "最长补贴期限（天）", "day_basis": "计息天数基准", "split": "各级财政分担比例",
    "fee_ceiling_bp": "担保费率上限", "share_bp": "损失补偿比例", "credit_share_bp": "信用贷款补偿比例",
    "first_share_bp": "首贷补偿比例", "bank_cap_fen": "单家银行年度补偿上限", "suspend_overdue_bp": "暂停业务的逾期率阈值",
}


def defaults(kind: str) -> Rules:
    """The rules a city starts from (see SOURCES); it changes them on the form."""
    if kind == "interest":
        return Rules("interest", rate_bp=100, cap_fen=10_000_000 * 100, max_days=365, day_basis=360,
                     split={"中央": 9000, "省级": 1000})
    if kind == "guarantee":
        return Rules("guarantee", rate_bp=50, fee_ceiling_bp=100, max_days=365, day_basis=360, split={"市级": 10000})
    if kind == "pool":
        return Rules("pool", credit_only=True, share_bp=3000, credit_share_bp=4000, first_share_bp=4000,
                     bank_cap_fen=5_000_000 * 100, suspend_overdue_bp=500, split={"市级": 10000})
    raise InvalidInput(f"未知的政策类型“{kind}”，应为：贴息 interest、担保费补贴 guarantee、风险补偿 pool",
                       code="BAD_POLICY_KIND")


def _bad(key: str, why: str) -> InvalidInput:
    return InvalidInput(f"{LABELS.get(key, key)}{why}", code="RULES_CONTRADICT", detail={"rule": key})


def _int(raw: dict[str, Any], key: str, low: int, high: int, default: int) -> int:
    v = raw.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | str | float | Decimal):
        raise _bad(key, f"“{v}”不是整数")
    try:
        d = Decimal(str(v))
    except (InvalidOperation, ValueError):
        raise _bad(key, f"“{v}”不是整数") from None
    if not d.is_finite() or d != d.to_integral_value():
        raise _bad(key, f"“{v}”不是整数")
    n = int(d)
    if n < low:
        raise _bad(key, f"为 {n}，不能小于 {low}")
    if n > high:
        raise _bad(key, f"为 {n}，不能大于 {high}")
    return n


def _bool(raw: dict[str, Any], key: str, default: bool) -> bool:
    v = raw.get(key, default)
    if not isinstance(v, bool):
        raise _bad(key, f"“{v}”应为 true 或 false")
    return v


def _split(raw: dict[str, Any], default: dict[str, int]) -> dict[str, int]:
    v = raw.get("split", default)
    if not isinstance(v, dict) or not v:
        raise _bad("split", "须列出至少一级财政及其分担比例")
    out: dict[str, int] = {}
    for level, share in v.items():
        if level not in LEVELS:
            raise _bad("split", f"中的“{level}”不是财政层级（{'、'.join(LEVELS)}）")
        out[level] = _int({"split": share}, "split", 1, 10_000, 0)
    if sum(out.values()) != 10_000:
        total = Decimal(sum(out.values())) / 100
        raise _bad("split", f"合计为 {total}%，须恰好为 100%")
    return out


def parse(raw: Any, kind: str) -> Rules:
    """Typed rules from what a form, a file or the API sent, with the kind's defaults for what it left out.
    Refuses unknown keys, values out of range and rules that contradict themselves."""
    if not isinstance(raw, dict):
        raise InvalidInput("政策规则须为键值对象", code="RULES_FORMAT")
    base = defaults(kind)
    allowed = COMMON | KIND_KEYS[kind]
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput(f"{ {'interest': '贴息', 'guarantee': '担保费补贴', 'pool': '风险补偿'}[kind] }政策没有这些规则："
                           f"{'、'.join(unknown)}", code="RULES_UNKNOWN_KEY", detail={"unknown": unknown})
    if raw.get("kind", kind) != kind:
        raise _bad("kind", f"“{raw.get('kind')}”与政策类型不一致")
    industries = raw.get("industries", [])
    if isinstance(industries, str):
        industries = [c for c in industries.replace("，", ",").replace(" ", ",").split(",") if c]
    if not isinstance(industries, list):
        raise _bad("industries", "须为行业门类字母或两位大类代码的列表")
    codes: list[str] = []
    for c in industries:
        code = str(c).strip().upper()
        if code not in SECTIONS and code not in DIVISIONS:
            raise _bad("industries", f"中的“{c}”不是GB/T 4754-2017的门类（如 C）或大类（如 13）")
        if code not in codes:
            codes.append(code)
    grade = raw.get("min_grade", base.min_grade) or None
    if grade is not None and grade not in GRADE_ORDER:
        raise _bad("min_grade", f"“{grade}”不是评价等级（{'、'.join(GRADE_ORDER)}）")
    common = {"industries": tuple(sorted(codes)), "min_grade": grade,
              "credit_only": _bool(raw, "credit_only", base.credit_only),
              "first_only": _bool(raw, "first_only", base.first_only),
              "allow_stacking": _bool(raw, "allow_stacking", base.allow_stacking)}
    if kind in ("interest", "guarantee"):
        rules = Rules(kind, **common, rate_bp=_int(raw, "rate_bp", 1, MAX_RATE_BP, base.rate_bp),
                      cap_fen=_int(raw, "cap_fen", 1, MAX_CAP_FEN, base.cap_fen) if kind == "interest" else 0,
                      max_days=_int(raw, "max_days", 1, 3660, base.max_days),
                      day_basis=_int(raw, "day_basis", 360, 365, base.day_basis),
                      fee_ceiling_bp=(_int(raw, "fee_ceiling_bp", 0, 1000, base.fee_ceiling_bp)
                                      if kind == "guarantee" else 0),
                      split=_split(raw, base.split))
        if rules.day_basis not in DAY_BASES:
            raise _bad("day_basis", f"为 {rules.day_basis}，只能是 360 或 365")
        if kind == "guarantee" and rules.rate_bp > rules.fee_ceiling_bp > 0:
            raise _bad("rate_bp", f"为 {Decimal(rules.rate_bp) / 100}%，高于担保费率上限 "
                                  f"{Decimal(rules.fee_ceiling_bp) / 100}%：补贴不能超过担保费本身")
        return rules
    rules = Rules(kind, **common, share_bp=_int(raw, "share_bp", 1, 10_000, base.share_bp),
                  credit_share_bp=_int(raw, "credit_share_bp", 0, 10_000, base.credit_share_bp),
                  first_share_bp=_int(raw, "first_share_bp", 0, 10_000, base.first_share_bp),
                  bank_cap_fen=_int(raw, "bank_cap_fen", 0, MAX_FEN, base.bank_cap_fen),
                  suspend_overdue_bp=_int(raw, "suspend_overdue_bp", 0, 10_000, base.suspend_overdue_bp),
                  split=_split(raw, base.split))
    for key in ("credit_share_bp", "first_share_bp"):
        tier = getattr(rules, key)
        if tier and tier < rules.share_bp:
            raise _bad(key, f"为 {Decimal(tier) / 100}%，低于一般损失补偿比例 {Decimal(rules.share_bp) / 100}%："
                            "倾斜档应不低于一般档")
    return rules


def canonical(rules: Rules) -> tuple[dict[str, Any], str]:
    """The rules as stored, and the SHA-256 of their canonical JSON (shown on claims, so a recomputation
    can show it used the same rules)."""
    doc = rules.as_dict()
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return doc, hashlib.sha256(text.encode()).hexdigest()


def describe(rules: Rules) -> list[tuple[str, str]]:
    """The rules in words, for pages and the enterprise's view: (label, value)."""
    def pct(b: int) -> str:
        return f"{Decimal(b) / 100:g}%"

    def wan(f: int) -> str:
        return f"{Decimal(f) / 1_000_000:,.2f} 万元"

    out: list[tuple[str, str]] = []
    if rules.kind == "interest":
        out += [("贴息比例", f"{Decimal(rules.rate_bp) / 100:g} 个百分点/年"), ("单户贴息本金上限", wan(rules.cap_fen)),
                ("最长贴息期限", f"{rules.max_days} 天"), ("计息基准", f"实际天数/{rules.day_basis}")]
    elif rules.kind == "guarantee":
        out += [("补贴比例", f"担保金额的 {pct(rules.rate_bp)}/年"), ("担保费率上限", pct(rules.fee_ceiling_bp)),
                ("最长补贴期限", f"{rules.max_days} 天"), ("计息基准", f"实际天数/{rules.day_basis}")]
    else:
        out += [("损失补偿比例", pct(rules.share_bp))]
        if rules.credit_share_bp:
            out.append(("信用贷款补偿比例", pct(rules.credit_share_bp)))
        if rules.first_share_bp:
            out.append(("首贷补偿比例", pct(rules.first_share_bp)))
        out.append(("单家银行年度补偿上限", wan(rules.bank_cap_fen) if rules.bank_cap_fen else "不设上限"))
        if rules.suspend_overdue_bp:
            out.append(("暂停新增备案的逾期率", f"高于 {pct(rules.suspend_overdue_bp)}"))
    out.append(("各级财政分担", "、".join(f"{k} {pct(v)}" for k, v in rules.split.items())))
    out.append(("适用行业", "、".join(rules.industries) if rules.industries else "不限"))
    out.append(("最低信用评价等级", rules.min_grade or "不限"))
    if rules.credit_only:
        out.append(("贷款类型", "仅限信用贷款"))
    if rules.first_only:
        out.append(("首贷", "仅限首贷"))
    out.append(("与同类政策叠加", "允许" if rules.allow_stacking else "不允许"))
    return out
