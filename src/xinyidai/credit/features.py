"""Point-in-time features of an entity, computed from its credit records in the 17 categories.

"As of" a Beijing date D means: the version of each record that was current at the end of D (received by
then, and not yet superseded or withdrawn by then), and only facts dated on or before D (a tax month that
starts after D, a penalty decided after D, a licence granted after D do not exist yet). An evaluation as of
D therefore gives the same result today and in a year, whatever was delivered or corrected since.

A category that no provider in the entity's region delivers at all is *unavailable*: its features are None
(missing), so the evaluation neither rewards nor punishes it and says so. A category that the region does
deliver but the entity has no record in gives zero counts (no penalty on record is a fact).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from xinyidai.catalog import publication
from xinyidai.catalog.schema import Category, load_catalog
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.records.models import CreditRecord

FEATURE_SET = "fs-2026.2"  # bumped whenever a definition below changes meaning (2: penalties end with their 公示期)


@dataclass(frozen=True)
class Feature:
    code: str
    label: str  # 中文名称, shown with reasons
    category: str  # the catalog category it is computed from
    kind: str = "num"  # num / cat
    unit: str = ""
    shown: str = ""  # how a person reads the value: "" as is, share (0.95 → 95%), change (+12.1%), flag (是/否)


_F = Feature
FEATURES: tuple[Feature, ...] = (
    _F("age_years", "成立年限", "registration", unit="年"),
    _F("registered_capital", "注册资本", "registration", unit="万元"),
    _F("status_abnormal", "登记状态异常（注销/吊销/停业/撤销）", "registration", shown="flag"),
    _F("industry", "行业门类代码", "registration", kind="cat"),
    _F("tax_grade", "纳税信用等级", "tax", kind="cat"),
    _F("tax_paid_12m", "近12个月实缴税额", "tax", unit="元"),
    _F("sales_12m", "近12个月申报销售收入", "tax", unit="元"),
    _F("sales_growth", "销售收入同比增长率", "tax", shown="change"),
    _F("tax_months_12m", "近12个月纳税申报月数", "tax", unit="个月"),
    _F("tax_late_12m", "近12个月逾期或未申报次数", "tax", unit="次"),
    _F("tax_arrears_months_12m", "近12个月欠税月数", "tax", unit="个月"),
    _F("si_headcount", "社保参保人数", "social_insurance", unit="人"),
    _F("si_headcount_change", "参保人数同比变化率", "social_insurance", shown="change"),
    _F("si_continuity", "社保连续正常缴纳月数", "social_insurance", unit="个月"),
    _F("si_arrears_months_12m", "近12个月社保欠缴月数", "social_insurance", unit="个月"),
    _F("hf_continuity", "公积金连续正常缴存月数", "housing_fund", unit="个月"),
    _F("hf_arrears_months_12m", "近12个月公积金欠缴月数", "housing_fund", unit="个月"),
    _F("utility_months_12m", "近12个月水电气缴费月数", "utilities", unit="个月"),
    _F("utility_arrears_months_12m", "近12个月水电气欠费月数", "utilities", unit="个月"),
    _F("utility_on_time_ratio", "水电气按时缴费比例", "utilities", shown="share"),
    _F("penalties_3y", "近3年行政处罚次数（未修复）", "penalty", unit="次"),
    _F("serious_penalties_3y", "近3年较重行政处罚次数", "penalty", unit="次"),
    _F("penalty_fines_3y", "近3年罚款金额", "penalty", unit="万元"),
    _F("enforcement_open", "未结执行案件数（被执行人）", "judicial", unit="件"),
    _F("enforcement_amount", "未履行金额", "judicial", unit="元"),
    _F("lawsuits_defendant_3y", "近3年作为被告的案件数", "judicial", unit="件"),
    _F("dishonest_listed", "列入严重失信主体名单", "dishonesty", shown="flag"),
    _F("licenses_valid", "有效行政许可数", "license", unit="项"),
    _F("honors_valid", "有效荣誉表彰数", "honor", unit="项"),
    _F("honor_level", "最高荣誉级别（国家级=4…县级=1）", "honor"),
    _F("policy_support_3y", "近3年获得政策支持次数", "policy_support", unit="次"),
    _F("invention_patents", "有效发明专利数", "intellectual_property", unit="件"),
    _F("ip_valid", "有效知识产权总数", "intellectual_property", unit="件"),
    _F("ip_pledged", "已质押知识产权数", "intellectual_property", unit="件"),
    _F("high_tech", "有效高新技术企业认定", "rnd", shown="flag"),
    _F("specialized", "有效专精特新认定", "rnd", shown="flag"),
    _F("rnd_expense", "最近年度研发投入", "rnd", unit="万元"),
    _F("real_estate_count", "不动产数量", "real_estate", unit="处"),
    _F("real_estate_seized", "被查封不动产数量", "real_estate", unit="处"),
    _F("trade_12m", "近12个月进出口总额", "import_export", unit="万美元"),
    _F("customs_grade", "海关信用等级", "import_export", kind="cat"),
    _F("categories_present", "有记录的信息类别数", "*", unit="类"),
)
BY_CODE: dict[str, Feature] = {f.code: f for f in FEATURES}


def _plain(v: float, places: int) -> str:
    """Thousands separators, rounded half up (0.075 → 0.08, as a person rounds) to at most `places` decimals,
    trailing zeros dropped."""
    d = Decimal(repr(float(v))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    d = d or abs(d)  # no "-0"
    return f"{d:,f}".rstrip("0").rstrip(".") if "." in f"{d:f}" else f"{d:,f}"


def show_value(f: Feature, value: Any) -> str:
    """A feature's value as a person reads it next to its label and unit: amounts with thousands separators
    (never 3.98427e+06), ratios as percentages, flags as 是/否; `未知` when there is none."""
    if value is None:
        return "未知"
    if f.kind == "cat" or isinstance(value, str):
        return str(value)
    v = float(value)
    if f.shown == "flag":
        return "是" if v else "否"
    if f.shown in ("share", "change"):
        pct = _plain(v * 100, 1)
        return f"{'+' if f.shown == 'change' and v > 0 and pct != '0' else ''}{pct}%"
    return _plain(v, 2)
UTILITY_CATEGORIES = ("water", "electricity", "gas")
SERIOUS_PENALTIES = {"暂扣许可证件", "降低资质等级", "吊销许可证件", "限制开展生产经营活动", "责令停产停业", "责令关闭",
                     "限制从业"}
ABNORMAL_STATUS = {"注销", "吊销", "停业", "撤销"}
HONOR_LEVELS = {"国家级": 4, "省级": 3, "市级": 2, "县级": 1}
OPEN_ENFORCEMENT = {"执行中", "终结本次执行"}


def source_category(f: Feature) -> tuple[str, ...]:
    return UTILITY_CATEGORIES if f.category == "utilities" else (f.category,)


def end_of_day_utc(d: date) -> datetime:
    """The first instant after Beijing date `d`, in UTC: records received before it count as of `d`."""
    return datetime.combine(d + timedelta(days=1), time.min, clock.CHINA_TZ).astimezone(UTC)


def as_of_filter(as_of: date) -> list[Any]:
    """The version of each record current at the end of `as_of`, and only facts dated by then."""
    cut = end_of_day_utc(as_of)
    return [CreditRecord.received_at < cut,
            or_(CreditRecord.superseded_at.is_(None), CreditRecord.superseded_at >= cut),
            or_(CreditRecord.period_start.is_(None), CreditRecord.period_start <= as_of)]


# ── helpers over one entity's records ───────────────────────────────────────────────────────────────────

def _d(v: Any) -> date | None:
    if not v:
        return None
    try:
        return date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


def _n(v: Any) -> float:
    try:
        return float(v) if v not in (None, "") else 0.0
    except (TypeError, ValueError):
        return 0.0


def _month_index(period: str) -> int | None:
    try:
        y, m = str(period)[:7].split("-")
        return int(y) * 12 + int(m) - 1
    except ValueError:
        return None


def _continuity(months: Mapping[int, bool], last: int) -> int:
    """Consecutive good months ending at the latest month on record (gaps break the run)."""
    upto = [m for m in months if m <= last]
    if not upto:
        return 0
    m, run = max(upto), 0
    while months.get(m) is True:
        run, m = run + 1, m - 1
    return run


def _window(rows: list[dict[str, Any]], first: int, last: int) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        mi = _month_index(r.get("period", ""))
        if mi is not None and first <= mi <= last:
            out.append(r)
    return out


def _penalty_category() -> Category:
    return load_catalog().category("penalty")


def _published(r: dict[str, Any], as_of: date) -> bool:
    """A penalty counts only while it is published (公示期, catalog.publication) on `as_of`: one whose window
    ended, or that was repaired, leaves the evaluation from that day. The version read is the one current on
    `as_of`, so an evaluation as of a day before the end or the repair is unchanged."""
    w = publication.window(_penalty_category(), r)
    return w is None or w.public_on(as_of)


def compute(as_of: date, by_category: Mapping[str, list[dict[str, Any]]], unavailable: Iterable[str] = ()
            ) -> dict[str, Any]:
    """The features of one entity from its records as of `as_of` (content dicts, grouped by category).
    Categories in `unavailable` (not delivered for the entity's region) give None for their features."""
    missing = set(unavailable)
    cur = as_of.year * 12 + as_of.month - 1
    last_full = cur - 1  # the month in progress is not complete
    y1, y2 = last_full - 11, last_full - 23
    three_years = as_of - timedelta(days=3 * 365)
    f: dict[str, Any] = {}

    reg = by_category.get("registration") or []
    r0 = reg[0] if reg else {}
    est = _d(r0.get("established_on"))
    f["age_years"] = round((as_of - est).days / 365.25, 2) if est else None
    f["registered_capital"] = _n(r0.get("registered_capital")) if r0.get("registered_capital") is not None else None
    f["status_abnormal"] = (1 if r0.get("status") in ABNORMAL_STATUS else 0) if r0 else None
    f["industry"] = str(r0.get("industry") or "")[:2] or None

    tax = sorted(by_category.get("tax") or [], key=lambda r: str(r.get("period", "")))
    t12, t24 = _window(tax, y1, last_full), _window(tax, y2, y1 - 1)
    f["tax_grade"] = next((str(r["tax_credit_grade"]) for r in reversed(tax) if r.get("tax_credit_grade")), None)
    f["tax_paid_12m"] = sum(_n(r.get("tax_paid")) for r in t12)
    f["sales_12m"] = sum(_n(r.get("declared_sales")) for r in t12)
    prior = sum(_n(r.get("declared_sales")) for r in t24)
    f["sales_growth"] = round(f["sales_12m"] / prior - 1, 4) if prior > 0 and t24 else None
    f["tax_months_12m"] = len(t12)
    f["tax_late_12m"] = sum(1 for r in t12 if r.get("filing_status") in ("逾期申报", "未申报"))
    f["tax_arrears_months_12m"] = sum(1 for r in t12 if r.get("in_arrears") or _n(r.get("tax_arrears")) > 0)

    si = sorted(by_category.get("social_insurance") or [], key=lambda r: str(r.get("period", "")))
    s12 = _window(si, y1, last_full)
    latest = s12[-1] if s12 else None
    f["si_headcount"] = int(_n(latest.get("insured_count"))) if latest else 0
    year_before = [r for r in si if _month_index(r.get("period", "")) == (_month_index(latest["period"]) or 0) - 12
                   ] if latest else []
    before = _n(year_before[0].get("insured_count")) if year_before else 0
    f["si_headcount_change"] = round(f["si_headcount"] / before - 1, 4) if before > 0 else None
    f["si_continuity"] = _continuity({_month_index(r["period"]): r.get("status") == "正常" and _n(r.get("arrears")) <= 0
                                      for r in si if _month_index(r.get("period", "")) is not None}, last_full)
    f["si_arrears_months_12m"] = sum(1 for r in s12 if r.get("status") in ("欠缴", "中断") or _n(r.get("arrears")) > 0)

    hf = by_category.get("housing_fund") or []
    h12 = _window(hf, y1, last_full)
    f["hf_continuity"] = _continuity({_month_index(r["period"]): r.get("status") == "正常" and _n(r.get("arrears")) <= 0
                                      for r in hf if _month_index(r.get("period", "")) is not None}, last_full)
    f["hf_arrears_months_12m"] = sum(1 for r in h12 if r.get("status") in ("欠缴",) or _n(r.get("arrears")) > 0)

    util_rows = [r for c in UTILITY_CATEGORIES if c not in missing for r in (by_category.get(c) or [])]
    u12 = _window(util_rows, y1, last_full)
    util_months: dict[int, bool] = {}
    for r in u12:
        mi = _month_index(r["period"])
        ok = r.get("status") == "正常" and _n(r.get("arrears")) <= 0
        util_months[mi] = util_months.get(mi, True) and ok  # type: ignore[index]
    f["utility_months_12m"] = len(util_months)
    f["utility_arrears_months_12m"] = sum(1 for ok in util_months.values() if not ok)
    f["utility_on_time_ratio"] = round(sum(util_months.values()) / len(util_months), 4) if util_months else None

    pen = [r for r in by_category.get("penalty") or [] if (_d(r.get("decided_on")) or date.min) >= three_years
           and not r.get("credit_repaired") and _published(r, as_of)]
    f["penalties_3y"] = len(pen)
    f["serious_penalties_3y"] = sum(1 for r in pen if r.get("penalty_type") in SERIOUS_PENALTIES)
    f["penalty_fines_3y"] = round(sum(_n(r.get("fine_amount")) for r in pen), 4)

    jud = by_category.get("judicial") or []
    open_enf = [r for r in jud if r.get("party_role") == "被执行人" and r.get("enforcement_status") in OPEN_ENFORCEMENT
                and not ((_d(r.get("closed_on")) or date.max) <= as_of)]
    f["enforcement_open"] = len(open_enf)
    f["enforcement_amount"] = round(sum(_n(r.get("unperformed_amount")) for r in open_enf), 2)
    f["lawsuits_defendant_3y"] = sum(1 for r in jud if r.get("party_role") in ("被告", "被上诉人", "被申请人")
                                     and (_d(r.get("filed_on")) or date.min) >= three_years)

    dis = by_category.get("dishonesty") or []
    f["dishonest_listed"] = int(any((_d(r.get("removed_on")) or date.max) > as_of for r in dis))

    f["licenses_valid"] = sum(1 for r in by_category.get("license") or []
                              if r.get("license_status", "有效") == "有效" and (_d(r.get("valid_to")) or date.max) >= as_of)
    honors = [r for r in by_category.get("honor") or [] if (_d(r.get("valid_to")) or date.max) >= as_of]
    f["honors_valid"] = len(honors)
    f["honor_level"] = max((HONOR_LEVELS.get(str(r.get("level")), 0) for r in honors), default=0)
    f["policy_support_3y"] = sum(1 for r in by_category.get("policy_support") or []
                                 if (_d(r.get("approved_on")) or date.min) >= three_years)

    ip = [r for r in by_category.get("intellectual_property") or [] if r.get("legal_status") in ("有效", "质押")
          and (_d(r.get("valid_to")) or date.max) >= as_of]
    f["invention_patents"] = sum(1 for r in ip if r.get("ip_type") == "发明专利")
    f["ip_valid"] = len(ip)
    f["ip_pledged"] = sum(1 for r in ip if r.get("pledged") or r.get("legal_status") == "质押")

    rnd = [r for r in by_category.get("rnd") or [] if (_d(r.get("valid_to")) or date.max) >= as_of]
    f["high_tech"] = int(any(r.get("recognition_type") == "高新技术企业" for r in rnd))
    f["specialized"] = int(any(str(r.get("recognition_type", "")).startswith("专精特新") for r in rnd))
    latest_rnd = max(by_category.get("rnd") or [], key=lambda r: str(r.get("rnd_year", "")), default=None)
    f["rnd_expense"] = _n(latest_rnd.get("rnd_expense")) if latest_rnd else 0.0

    re_rows = by_category.get("real_estate") or []
    f["real_estate_count"] = len(re_rows)
    f["real_estate_seized"] = sum(1 for r in re_rows if r.get("seized"))

    trade = _window(by_category.get("import_export") or [], y1, last_full)
    f["trade_12m"] = round(sum(_n(r.get("import_amount")) + _n(r.get("export_amount")) for r in trade), 4)
    f["customs_grade"] = next((str(r["customs_credit_grade"]) for r in reversed(
        sorted(by_category.get("import_export") or [], key=lambda r: str(r.get("period", ""))))
        if r.get("customs_credit_grade")), None)

    f["categories_present"] = sum(1 for c, rows in by_category.items() if rows)
    for feat in FEATURES:  # unavailable for the region: unknown, not zero
        if feat.category != "*" and all(c in missing for c in source_category(feat)):
            f[feat.code] = None
    return f


# ── reading records as of a date ────────────────────────────────────────────────────────────────────────

def _stream(s: Session, as_of: date, codes: list[str] | None) -> Iterator[tuple[str, str, str]]:
    # What an enterprise reports about itself (provider 企业自报, notice point 十一) never counts in its evaluation.
    stmt = (select(CreditRecord.entity_code, CreditRecord.category, CreditRecord.content)
            .where(*as_of_filter(as_of), CreditRecord.status.in_(("current", "superseded", "withdrawn")),
                   CreditRecord.provider != SELF_REPORTED))
    if codes is not None:
        stmt = stmt.where(CreditRecord.entity_code.in_(codes))
    yield from s.execute(stmt.order_by(CreditRecord.entity_code).execution_options(yield_per=20_000))


def region_coverage(s: Session, as_of: date) -> dict[str, set[str]]:
    """For each region (GB/T 2260 county code), the categories delivered for at least one of its entities
    as of `as_of`. A category absent from a region's set is unavailable there."""
    stmt = (select(MarketEntity.region_code, CreditRecord.category).distinct()
            .join(MarketEntity, MarketEntity.code == CreditRecord.entity_code)
            .where(*as_of_filter(as_of)))
    out: dict[str, set[str]] = defaultdict(set)
    for region, cat in s.execute(stmt):
        out[region].add(cat)
    return out


SELF_REPORTED = "企业自报"  # the provider of self-reported records (rights.selfreport.PROVIDER)
ALL_CATEGORIES = ("registration", "license", "penalty", "judicial", "dishonesty", "honor", "policy_support", "tax",
                  "social_insurance", "housing_fund", "import_export", "water", "electricity", "gas", "real_estate",
                  "intellectual_property", "rnd")
# Categories whose absence across a region means "not collected here" rather than "nothing to report":
# negative lists (penalties, judgments, dishonesty) are published everywhere, so absence is a clean record.
COVERAGE_SENSITIVE = ("tax", "social_insurance", "housing_fund", "import_export", "water", "electricity", "gas",
                      "real_estate", "intellectual_property", "rnd", "license", "honor", "policy_support")


def unavailable_for(region: str | None, coverage: Mapping[str, set[str]]) -> set[str]:
    have = coverage.get(region or "", set())
    return {c for c in COVERAGE_SENSITIVE if c not in have}


def iter_entity_features(s: Session, as_of: date, codes: list[str] | None = None
                         ) -> Iterator[tuple[str, dict[str, Any], int]]:
    """(entity code, features, records used) for every entity with records as of `as_of` (or `codes`)."""
    coverage = region_coverage(s, as_of)
    regions = dict(s.execute(select(MarketEntity.code, MarketEntity.region_code)).all()) if codes is None else \
        dict(s.execute(select(MarketEntity.code, MarketEntity.region_code)
                       .where(MarketEntity.code.in_(codes))).all())
    current: str | None = None
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    n = 0
    for code, cat, content in _stream(s, as_of, codes):
        if code != current:
            if current is not None:
                yield current, compute(as_of, groups, unavailable_for(regions.get(current), coverage)), n
            current, groups, n = code, defaultdict(list), 0
        groups[cat].append(orjson.loads(content))
        n += 1
    if current is not None:
        yield current, compute(as_of, groups, unavailable_for(regions.get(current), coverage)), n


def entity_features(s: Session, code: str, as_of: date) -> tuple[dict[str, Any], int]:
    """One entity's features as of a date, and how many records they rest on (0: no data at all)."""
    for _, feats, n in iter_entity_features(s, as_of, [code]):
        return feats, n
    return {}, 0


__all__ = ["BY_CODE", "FEATURES", "FEATURE_SET", "Feature", "as_of_filter", "compute", "entity_features",
           "unavailable_for_features",
           "iter_entity_features", "region_coverage"]


def unavailable_for_features(feats: Mapping[str, Any]) -> set[str]:
    """The categories a features dict marks unavailable (every feature drawn from them unknown)."""
    by_cat: dict[str, list[Any]] = defaultdict(list)
    for feat in FEATURES:
        if feat.category != "*":
            by_cat[feat.category].append(feats.get(feat.code))
    return {c for c, vals in by_cat.items() if vals and all(v is None for v in vals)} if feats else set()
