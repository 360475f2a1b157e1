"""The synthetic province: market entities and their credit records, written in bulk.

`build_demo` fills an empty, migrated database with a Heilongjiang that never existed: N market entities over
the 13 prefecture-level divisions, their registration and records in all 17 categories of the catalogue,
one "initial load" delivery per category, a handful of real delivery files with real defects loaded through
the ordinary pipeline (see `defects.py`), three onboarded financial institutions (`DEMO_INSTITUTIONS`)
and one account per role (the `bank` account belongs to the first institution).

Determinism: everything is drawn from one `random.Random(seed)` in a fixed order, and every date is derived
from `as_of` (default: today) — the same seed, N, months and as_of give the same rows. Timestamps
(`received_at`, `updated_at`) come from `clock.now()`.

Speed: entities are generated and written in chunks (one transaction each); records are built as tuples and
inserted with the driver's `executemany` through `Connection.exec_driver_sql`, with the column values
converted once by SQLAlchemy's own bind processors. Rows go out in the order they are made, so within a
chunk the per-region credit codes grow monotonically and the indexes are appended to, not scattered. From
PARALLEL_FROM entities on, the inserts run in a second process (`ProcessWriter`), so generating and writing
use both cores; memory stays bounded by a chunk's entities and one batch of rows.
"""

from __future__ import annotations

import calendar
import logging
import marshal
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from random import Random
from typing import Any

import orjson
from sqlalchemy import Connection, insert

from xinyidai.entities.codes import MAX_DEMO_SERIAL, make_id_number, make_uscc
from xinyidai.entities.industries import DEMO_INDUSTRY_WEIGHTS
from xinyidai.entities.models import MarketEntity
from xinyidai.kit.digest import sm3_hex, sm3_stream
from xinyidai.records.canonical import canonical_json, fingerprint, record_key
from xinyidai.records.models import CreditRecord

from . import distributions as dist
from .distributions import PREFECTURES, Picker, Prefecture, lognormal, nice_amount, region_label

log = logging.getLogger(__name__)

_dumps, _SORT_KEYS = orjson.dumps, orjson.OPT_SORT_KEYS
_SM3 = sm3_stream()

DEMO_PASSWORD = "xinyidai-demo"
CHUNK_ENTITIES = 20_000
FLUSH_ROWS = 20_000
PARALLEL_FROM = 50_000
Progress = Callable[[str, int, int], None]

# Who delivers each category in the initial load (the catalogue names the kind of department; these are
# the province's concrete ones, or the aggregate for bodies that exist once per city).
INITIAL_PROVIDERS: dict[str, str] = {
    "registration": "黑龙江省市场监督管理局",
    "license": "黑龙江省各行政许可机关（双公示）",
    "penalty": "黑龙江省各行政执法机关（双公示）",
    "judicial": "最高人民法院（总对总）",
    "dishonesty": "国家公共信用信息中心（总对总）",
    "honor": "黑龙江省各授予部门",
    "policy_support": "黑龙江省各政策实施部门",
    "tax": "国家税务总局黑龙江省税务局",
    "social_insurance": "黑龙江省人力资源和社会保障厅",
    "housing_fund": "黑龙江省各市住房公积金管理中心",
    "import_export": "哈尔滨海关",
    "water": "黑龙江省各市供水企业",
    "electricity": "国网黑龙江省电力有限公司",
    "gas": "黑龙江省各市燃气企业",
    "real_estate": "黑龙江省自然资源厅（不动产登记）",
    "intellectual_property": "黑龙江省知识产权局",
    "rnd": "黑龙江省科学技术厅",
}

# The items each category's content may carry; build_demo checks them against the catalogue in use.
EMITTED_ITEMS: dict[str, tuple[str, ...]] = {
    "registration": ("entity_type", "company_type", "legal_representative", "legal_rep_id_no",
                     "registered_capital", "capital_currency", "established_on", "operating_from", "operating_to",
                     "registration_authority", "approved_on", "reg_no", "address", "region", "industry", "status",
                     "closed_on", "business_scope"),
    "license": ("decision_doc_name", "decision_no", "license_category", "license_name", "license_no",
                "license_content", "decided_on", "valid_from", "valid_to", "authority", "authority_uscc",
                "license_status"),
    "penalty": ("decision_no", "penalty_type", "violation_type", "reason", "basis", "penalty_content",
                "fine_amount", "confiscated_amount", "decided_on", "authority", "authority_uscc",
                "publicity_until", "credit_repaired"),
    "judicial": ("case_no", "case_type", "party_role", "cause", "subject_amount", "unperformed_amount",
                 "filed_on", "closed_on", "judgment_result", "enforcement_status", "court"),
    "dishonesty": ("list_type", "decision_no", "listed_on", "reason", "basis", "authority", "removed_on",
                   "removal_reason"),
    "honor": ("honor_name", "level", "authority", "awarded_on", "doc_no", "valid_to", "content"),
    "policy_support": ("project_name", "support_type", "amount", "approved_on", "authority", "project_no",
                       "policy_basis"),
    "tax": ("period", "taxpayer_type", "tax_credit_grade", "declared_sales", "tax_payable", "tax_paid",
            "vat_paid", "cit_paid", "tax_arrears", "in_arrears", "filing_status"),
    "social_insurance": ("period", "insurance_types", "insured_count", "contribution_base", "amount_due",
                         "amount_paid", "arrears", "status"),
    "housing_fund": ("period", "account_no", "depositor_count", "deposit_base", "deposit_rate", "amount_due",
                     "amount_paid", "arrears", "status"),
    "import_export": ("period", "customs_code", "import_amount", "export_amount", "declaration_count",
                      "customs_credit_grade"),
    "water": ("period", "account_no", "usage_type", "usage", "amount_due", "amount_paid", "arrears", "status"),
    "electricity": ("period", "account_no", "usage_type", "capacity", "usage", "amount_due", "amount_paid",
                    "arrears", "status"),
    "gas": ("period", "account_no", "usage_type", "usage", "amount_due", "amount_paid", "arrears", "status"),
    "real_estate": ("certificate_no", "unit_no", "location", "right_type", "right_nature", "land_use", "area",
                    "registered_on", "use_to", "mortgaged", "seized"),
    "intellectual_property": ("ip_type", "application_no", "ip_name", "filed_on", "granted_on", "valid_to",
                              "legal_status", "pledged"),
    "rnd": ("recognition_type", "certificate_no", "recognized_on", "valid_to", "rnd_year", "rnd_expense",
            "rnd_staff", "authority"),
}
CATEGORY_ORDER = tuple(EMITTED_ITEMS)


# ---------------------------------------------------------------------------------------------------------
# What build_demo returns
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    display_name: str
    password: str
    org_code: str | None


@dataclass(frozen=True)
class DemoInstitution:
    code: str
    name: str
    kind: str
    region_code: str


# Onboarded by the demo; the demo `bank` account works for the first. Codes sit at the top of the serial
# range, which entity codes (serials from 0 up) never reach.
DEMO_INSTITUTIONS = (
    ("中国工商银行股份有限公司黑龙江省分行", "银行分支机构", "230103"),
    ("哈尔滨银行股份有限公司", "银行", "230102"),
    ("龙江银行股份有限公司", "银行", "230103"),
)
# A government financing guarantor (政府性融资担保机构) for the policy programmes; the demo `guarantor` account
# works for it. Not a lender: it makes no loans of its own.
DEMO_GUARANTOR = ("哈尔滨市中小企业融资担保有限责任公司", "担保机构", "230102")


@dataclass(frozen=True)
class DemoDelivery:
    id: int
    category: str
    provider: str
    filename: str
    status: str
    rows_total: int
    rows_rejected: int
    error_code: str | None = None


@dataclass
class DemoSummary:
    seed: int
    as_of: date
    months: int
    entities: int
    records: dict[str, int]
    deliveries: list[DemoDelivery]
    accounts: list[DemoAccount]
    enterprise_code: str | None
    elapsed_seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    institutions: list[DemoInstitution] = field(default_factory=list)

    @property
    def total_records(self) -> int:
        return sum(self.records.values())


# ---------------------------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Period:
    label: str  # 2024-06
    year: int
    month: int
    start: date
    end: date
    start_ord: int
    end_ord: int


def periods_before(as_of: date, months: int) -> list[Period]:
    """The `months` calendar months before as_of's month, oldest first (the current month is not over)."""
    out = []
    y, m = as_of.year, as_of.month
    for _ in range(months):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        start, end = date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])
        out.append(Period(f"{y:04d}-{m:02d}", y, m, start, end, start.toordinal(), end.toordinal()))
    out.reverse()
    return out


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


# ---------------------------------------------------------------------------------------------------------
# Market entities
# ---------------------------------------------------------------------------------------------------------

class Entity:
    """One synthetic market entity and the traits its records are drawn from."""

    __slots__ = ("idx", "code", "name", "kind", "etype", "head", "region", "pref", "division", "established",
                 "est_ord", "status", "closed_on", "legal_rep", "legal_rep_id", "capital", "address", "brand",
                 "headcount", "revenue", "first", "last", "company_type", "showcase", "risky", "active")

    def __init__(self) -> None:
        self.closed_on: date | None = None
        self.showcase = False  # entity 0: a sound enterprise with records in nearly every category
        self.risky = False  # entity 1: an enterprise on the dishonesty list, in arrears and under enforcement


# (USCC authority+kind, entities.kind, registration entity_type)
_KIND_ENTERPRISE = ("91", "企业", "企业")
_KIND_INDIVIDUAL = ("92", "个体工商户", "个体工商户")
_KIND_COOP = ("93", "企业", "农民专业合作社")  # entity_kind_of counts cooperatives as enterprises
_KIND_ASSOCIATION = ("51", "其他组织", "其他组织")


def _industry_pickers() -> tuple[Picker[str], Picker[str]]:
    corp = [(c, w) for c, w in DEMO_INDUSTRY_WEIGHTS if dist.INDUSTRY_WORDS.get(c, ((),))[0]]
    shop = [(c, w) for c, w in DEMO_INDUSTRY_WEIGHTS if dist.INDUSTRY_WORDS.get(c, ((), ()))[1]]
    return Picker([c for c, _ in corp], [w for _, w in corp]), Picker([c for c, _ in shop], [w for _, w in shop])


_CORP_INDUSTRY, _SHOP_INDUSTRY = _industry_pickers()
_PREF_PICKER = Picker(list(PREFECTURES.values()), [p.weight for p in PREFECTURES.values()])
_COUNTY_PICKERS = {p.code: Picker([c for c, _, _ in p.counties], [w for _, _, w in p.counties])
                   for p in PREFECTURES.values()}
_BRAND_STEP = dist.coprime_step(len(dist.BRANDS), 977)
_PERSON_STEP = dist.coprime_step(dist.PERSON_NAMES_COUNT, 7919)


class NameBook:
    """Unique names without remembering them: the k-th entity of a (place, trade word) gets the k-th slot of
    a fixed permutation of brands (or, for individual businesses, of person names). Memory is one counter
    per (place, word), a few thousand in all."""

    def __init__(self) -> None:
        self._slots: dict[tuple[str, str], list[int]] = {}

    def take(self, place: str, word: str) -> tuple[int, int]:
        key = (place, word)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = [0, dist.stable_hash(place + "|" + word)]
        k = slot[0]
        slot[0] = k + 1
        return k, slot[1]

    def brand(self, place: str, word: str) -> str:
        k, off = self.take(place, word)
        n = len(dist.BRANDS)
        tier, j = divmod(k, n)
        return dist.BRANDS[(_BRAND_STEP * j + off) % n] + dist.brand_extras(tier)

    def person(self, place: str, word: str) -> tuple[str, int]:
        """(person name, tier): tier 0 while the place/word still has unused names, then 1, 2, …"""
        k, off = self.take(place, word)
        n = dist.PERSON_NAMES_COUNT
        tier, j = divmod(k, n)
        return dist.person_name(_PERSON_STEP * j + off), tier


# ---------------------------------------------------------------------------------------------------------
# The province being built: one RNG, counters for document numbers, and the record generators
# ---------------------------------------------------------------------------------------------------------

class Province:
    """Generation state. Not thread-safe; used in one fixed order so that a seed reproduces the data."""

    def __init__(self, seed: int, as_of: date, months: int) -> None:
        self.rng = Random(seed)
        self.as_of = as_of
        self.as_of_ord = as_of.toordinal()
        self.periods = periods_before(as_of, months)
        self.names = NameBook()
        self.counters: dict[Any, int] = {}
        self._org_codes: dict[str, str] = {}
        # The heating-season grade year: the grade published in April applies until next March.
        y = as_of.year if as_of.month >= 4 else as_of.year - 1
        self.grade_switch_ord = date(y, 4, 1).toordinal()
        self.min_year = 1995
        self.prefecture: str | None = None  # restrict entities to one prefecture (network demo's cities)

    # -- small helpers ------------------------------------------------------------------------------------

    def next_serial(self, *key: Any, start: int = 1) -> int:
        n = self.counters.get(key, start - 1) + 1
        self.counters[key] = n
        return n

    def org_code(self, name: str, region: str = "230000") -> str:
        """A stable synthetic credit code for a government body (登记管理部门 1 机构编制, 类别 1 机关)."""
        code = self._org_codes.get(name)
        if code is None:
            code = self._org_codes[name] = make_uscc(region, dist.stable_hash(name) % MAX_DEMO_SERIAL, "1", "1")
        return code

    def day(self, lo_ord: int, hi_ord: int) -> date:
        return date.fromordinal(lo_ord + int(self.rng.random() * (hi_ord - lo_ord + 1)))

    def recent_day(self, lo_ord: int, hi_ord: int, scale_days: float) -> date:
        back = int(self.rng.expovariate(1.0 / scale_days))
        return date.fromordinal(max(lo_ord, hi_ord - back))

    # -- entities -----------------------------------------------------------------------------------------

    def entity(self, idx: int) -> Entity:
        rng = self.rng
        r = rng.random
        e = Entity()
        e.idx = idx
        showcase, risky = idx == 0, idx == 1
        fixed = showcase or risky
        u = r()
        if fixed or u < 0.35:
            kind = _KIND_ENTERPRISE
        elif u < 0.95:
            kind = _KIND_INDIVIDUAL
        elif u < 0.99:
            kind = _KIND_COOP
        else:
            kind = _KIND_ASSOCIATION
        e.head, e.kind, e.etype = kind
        head = e.head

        if self.prefecture:  # a city node's demo: all of its entities in its own prefecture
            pref: Prefecture = PREFECTURES[self.prefecture]
        else:
            pref = PREFECTURES["230100"] if fixed else _PREF_PICKER.pick(rng)
        e.pref = pref
        if fixed and pref.code != "230100":
            region = pref.counties[0 if showcase else min(1, len(pref.counties) - 1)][0]
        elif fixed:
            region = "230103" if showcase else "230104"
        elif (head == "91" and r() < 0.06) or (head == "51" and r() < 0.5):
            region = pref.code
        else:
            region = _COUNTY_PICKERS[pref.code].pick(rng)
        e.region = region
        label = region_label(region)

        if fixed:
            division = "13" if showcase else "47"
        elif head == "91":
            division = _CORP_INDUSTRY.pick(rng)
        elif head == "92":
            division = _SHOP_INDUSTRY.pick(rng)
        elif head == "93":
            division = dist.COOP_DIVISIONS.pick(rng)
        else:
            division = dist.ASSOCIATION_DIVISION
        e.division = division
        e.code = make_uscc(region, idx, head[0], head[1])

        # Established 1995 – last year, recent years more often (the register grows every year).
        last_year = self.as_of.year - 1
        mean_age = 7.0 if head == "91" else 5.0
        if fixed:
            established = date(self.as_of.year - (11 if showcase else 7), 5 if showcase else 3, 18)
        else:
            year = max(self.min_year, last_year - int(rng.expovariate(1.0 / mean_age)))
            y0 = date(year, 1, 1).toordinal()
            established = date.fromordinal(y0 + int(r() * (365 + calendar.isleap(year))))
        e.established = established
        e.est_ord = established.toordinal()

        # Names
        legal_rep = None
        if head == "91":
            words = dist.INDUSTRY_WORDS[division][0]
            word = words[int(r() * len(words))]
            place = "黑龙江" if (not fixed and r() < 0.08) else pref.short
            brand = "北禾" if showcase else self.names.brand(place, word)
            s = 0.5 if risky else r()
            if showcase or s >= 0.96:
                suffix, ctype = "股份有限公司", "股份有限公司（非上市、自然人投资或控股）"
            else:
                suffix = "有限公司" if s < 0.74 else "有限责任公司"
                ctype = "有限责任公司（自然人投资或控股）" if r() < 0.8 else "有限责任公司（自然人独资）"
            name = f"{place}{brand}{word}{suffix}"
        elif head == "92":
            shops = dist.INDUSTRY_WORDS[division][1]
            shop = shops[int(r() * len(shops))]
            person, tier = self.names.person(label, shop)
            brand = person
            if tier == 0:
                name, legal_rep = f"{label}{person}{shop}", person
            else:
                name = f"{label}{person}{shop}{tier + 1}号店"
            ctype = "个人经营" if r() < 0.9 else "家庭经营"
        elif head == "93":
            words = dist.COOP_WORDS[division]
            word = words[int(r() * len(words))]
            brand = self.names.brand(label, word)
            name = f"{label}{brand}{word}专业合作社"
            ctype = "农民专业合作社"
        else:
            word = dist.ASSOCIATION_WORDS[int(r() * len(dist.ASSOCIATION_WORDS))]
            k, off = self.names.take(label, word)
            brand = "" if k == 0 else (dist.BRANDS[(_BRAND_STEP * ((k - 1) % len(dist.BRANDS)) + off)
                                                   % len(dist.BRANDS)] + dist.brand_extras((k - 1) // len(dist.BRANDS)))
            name = f"{label}{brand}{word}"
            ctype = "社会团体"
        e.name, e.brand, e.company_type = name, brand or pref.short[:1], ctype

        # Status
        s = r()
        if fixed:
            status = "存续"
        elif s < (0.06 if head in ("91", "92") else 0.04):
            status = "注销"
        elif s < (0.08 if head in ("91", "92") else 0.045):
            status = "吊销"
        elif head == "92":
            status = "在业" if r() < 0.8 else "存续"
        else:
            status = "存续" if r() < 0.85 else "在业"
        e.status = status
        e.active = status in ("存续", "在业")
        if not e.active:
            lo = e.est_ord + (730 if status == "吊销" else 60)
            e.closed_on = date.fromordinal(min(self.as_of_ord, lo + int(r() * max(1, self.as_of_ord - lo))))

        # People
        e.legal_rep = legal_rep or dist.random_person(rng)
        age = 22 + int(r() * 33)
        birth = date.fromordinal(max(date(1930, 1, 1).toordinal(),
                                     e.est_ord - age * 365 - int(r() * 365)))
        id_region = region if region != pref.code else pref.counties[0][0]
        e.legal_rep_id = make_id_number(id_region, birth, int(r() * 1000))

        # Size
        if fixed:
            e.capital, e.headcount = (2000.0, 126) if showcase else (500.0, 35)
        elif head == "91":
            big = ctype.startswith("股份")
            e.capital = nice_amount(lognormal(rng, 3000.0 if big else 100.0, 1.0 if big else 1.3))
            e.headcount = max(1, min(300, int(lognormal(rng, 30.0 if big else 6.0, 1.1))))
        elif head == "92":
            e.capital = nice_amount(lognormal(rng, 5.0, 1.0))
            e.headcount = 1 + min(7, int(rng.expovariate(0.7)))
        elif head == "93":
            e.capital = nice_amount(lognormal(rng, 100.0, 1.0))
            e.headcount = 3 + int(r() * 18)
        else:
            e.capital = max(3.0, nice_amount(lognormal(rng, 10.0, 0.7)))
            e.headcount = 2 + int(r() * 9)
        e.revenue = e.headcount * dist.revenue_per_head(division) * lognormal(rng, 1.0, 0.5) * (
            0.5 if head == "92" else 1.0)

        # Address
        road = dist.ROADS[int(r() * len(dist.ROADS))]
        no = 1 + int(rng.expovariate(1 / 120.0))
        if head == "91" and (division in dist.MANUFACTURING or division in ("06", "44")) and r() < 0.6:
            e.address = f"{label}{dist.PARKS[int(r() * len(dist.PARKS))]}{road}{no}号"
        elif head == "91" and r() < 0.35:
            e.address = f"{label}{road}{no}号{2 + int(r() * 20)}层{1 + int(r() * 20):02d}室"
        else:
            e.address = f"{label}{road}{no}号"

        # Months in which the entity existed: from the month of establishment to the month it closed.
        periods = self.periods
        first = 0
        while first < len(periods) and periods[first].end_ord < e.est_ord:
            first += 1
        last = len(periods) - 1
        if e.closed_on is not None:
            c = e.closed_on.toordinal()
            while last >= 0 and periods[last].start_ord > c:
                last -= 1
        e.first, e.last = first, last
        e.showcase, e.risky = showcase, risky
        return e

    def registration(self, e: Entity) -> dict[str, Any]:
        r = self.rng.random
        label = region_label(e.region)
        authority = f"{label}{'民政局' if e.head == '51' else '市场监督管理局'}"
        operating_to = None
        if e.head == "91" and r() < 0.45:
            operating_to = add_years(e.established, (20, 30, 50)[int(r() * 3)]).isoformat()
        if e.closed_on is not None:
            approved = e.closed_on
        elif r() < 0.6:
            approved = self.day(e.est_ord, self.as_of_ord)
        else:
            approved = e.established
        reg_no = None
        if e.established.year < 2016 and r() < 0.6:
            reg_no = f"{e.region}{int(r() * 1e9):09d}"
        scope = dist.INDUSTRY_WORDS[e.division][2]
        if e.head != "51":
            scope += "。" + dist.LEGAL_SCOPE_NOTE
        return {
            "entity_type": e.etype,
            "company_type": e.company_type,
            "legal_representative": e.legal_rep,
            "legal_rep_id_no": e.legal_rep_id,
            "registered_capital": e.capital,
            "capital_currency": "人民币",
            "established_on": e.established.isoformat(),
            "operating_from": e.established.isoformat(),
            "operating_to": operating_to,
            "registration_authority": authority,
            "approved_on": approved.isoformat(),
            "reg_no": reg_no,
            "address": e.address,
            "region": e.region,
            "industry": e.division,
            "status": e.status,
            "closed_on": e.closed_on.isoformat() if e.closed_on else None,
            "business_scope": scope,
        }

    def entity_row(self, e: Entity, now: Any, delivery_id: int | None) -> tuple:
        return (e.code, e.name, e.kind, e.region, e.division, e.established, e.status, e.legal_rep,
                e.legal_rep_id, e.capital, e.address, now, delivery_id)


ENTITY_COLUMNS = ("code", "name", "kind", "region_code", "industry_code", "registered_on", "status", "legal_rep",
                  "legal_rep_id", "registered_capital", "address", "updated_at", "source_delivery_id")
RECORD_COLUMNS = ("entity_code", "category", "record_key", "version", "status", "content", "fingerprint",
                  "period_start", "period_end", "provider", "delivery_id", "row_no", "received_at")


# ---------------------------------------------------------------------------------------------------------
# Writing: bind processors applied once per distinct value, then the driver's executemany
# ---------------------------------------------------------------------------------------------------------

class BulkWriter:
    """Inserts prepared tuples through the driver, converting dates and timestamps as SQLAlchemy would."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        dialect = conn.dialect
        style = dialect.paramstyle
        self.raw = style in ("qmark", "format", "pyformat")
        mark = "?" if style == "qmark" else "%s"
        # Only the fixed column names and placeholders go into the text; every value is a parameter.
        self.entity_sql = (f"INSERT INTO entities ({', '.join(ENTITY_COLUMNS)}) "  # noqa: S608
                           f"VALUES ({', '.join([mark] * len(ENTITY_COLUMNS))})")
        self.record_sql = (f"INSERT INTO credit_records ({', '.join(RECORD_COLUMNS)}) "  # noqa: S608
                           f"VALUES ({', '.join([mark] * len(RECORD_COLUMNS))})")
        rec = CreditRecord.__table__.c
        ent = MarketEntity.__table__.c
        # dialect_impl: a TypeDecorator's own bind_processor leaves out the dialect's conversion (SQLite keeps
        # timestamps as text in SQLAlchemy's format, not in the sqlite3 module's).
        self._date_proc = rec.period_start.type.dialect_impl(dialect).bind_processor(dialect)
        self._dt_proc = rec.received_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._ent_date_proc = ent.registered_on.type.dialect_impl(dialect).bind_processor(dialect)
        self._dates: dict[str, Any] = {}

    def timestamp(self, value: Any) -> Any:
        return self._dt_proc(value) if (self.raw and self._dt_proc) else value

    def day(self, iso: str | None) -> Any:
        """A date column value from an ISO date (memoised: a few thousand distinct days at most)."""
        if iso is None:
            return None
        v = self._dates.get(iso)
        if v is None:
            d = date.fromisoformat(iso)
            v = self._dates[iso] = self._date_proc(d) if (self.raw and self._date_proc) else d
        return v

    def entities(self, rows: list[tuple]) -> None:
        if not rows:
            return
        if self.raw:
            proc = self._ent_date_proc
            if proc is not None:
                rows = [(*r[:5], proc(r[5]), *r[6:]) for r in rows]
            self.conn.exec_driver_sql(self.entity_sql, rows)
        else:
            self.conn.execute(insert(MarketEntity.__table__), [dict(zip(ENTITY_COLUMNS, r, strict=True))
                                                               for r in rows])

    def records(self, rows: list[tuple]) -> None:
        if not rows:
            return
        if self.raw:
            self.conn.exec_driver_sql(self.record_sql, rows)
        else:
            self.conn.execute(insert(CreditRecord.__table__), [dict(zip(RECORD_COLUMNS, r, strict=True))
                                                               for r in rows])

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> dict[str, float]:
        return {}


class ProcessWriter:
    """Runs the inserts in a child Python process with its own connection.

    Generating records is pure Python and so is binding them to a statement; in one process they take turns
    on the interpreter lock, row by row. In two processes they use both cores: this one generates and pickles
    a batch while the child inserts the previous one. Batches go over the child's stdin as pickles (a private
    pipe between two copies of this code); the child commits when told to, once per chunk, and answers the
    final "close" with the first error it met, if any. It is started with `python -c`, so nothing of the
    caller's main script is imported again (as multiprocessing's spawn would).
    """

    def __init__(self, url: str) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self._proc = subprocess.Popen(  # our own interpreter and code, no shell
            [sys.executable, "-c", "from xinyidai.demo.generator import writer_process_main as m; m()", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    def _send(self, kind: str, rows: list[tuple]) -> None:
        try:
            self._proc.stdin.write(_frame((kind, rows)))  # type: ignore[union-attr]
            self._proc.stdin.flush()  # type: ignore[union-attr]
        except OSError as exc:  # BrokenPipeError: the child is gone
            self._proc.wait(10)
            raise RuntimeError(f"演示数据写入进程意外退出（退出码 {self._proc.returncode}）") from exc

    def entities(self, rows: list[tuple]) -> None:
        if rows:
            self._send("entities", rows)

    def records(self, rows: list[tuple]) -> None:
        if rows:
            self._send("records", rows)

    def commit(self) -> None:
        self._send("commit", [])

    def close(self) -> dict[str, float]:
        """Wait for the child; return where its time went, or raise what it hit."""
        reply: dict[str, Any]
        try:
            self._send("close", [])
            self._proc.stdin.close()  # type: ignore[union-attr]
            reply = pickle.load(self._proc.stdout)  # type: ignore[arg-type]
        except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            try:
                self._proc.wait(120)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if reply.get("error"):
            raise RuntimeError(f"演示数据写入进程出错：{reply['error']}")
        return reply.get("timings", {})


def _frame(message: tuple[str, list[tuple]]) -> bytes:
    """Length-prefixed message: marshal (2.5× faster than pickle for rows of text and numbers) or, for values
    marshal does not know (dates for PostgreSQL), pickle."""
    try:
        payload = b"M" + marshal.dumps(message, 4)
    except ValueError:
        payload = b"P" + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(payload).to_bytes(8, "little") + payload


def _unframe(stream: Any) -> tuple[str, list[tuple]]:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("writer input ended")
    size = int.from_bytes(head, "little")
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("writer input truncated")
    body = memoryview(payload)[1:]
    return marshal.loads(body) if payload[:1] == b"M" else pickle.loads(body)


def writer_process_main() -> None:
    """The child side of ProcessWriter: `python -c "...; writer_process_main()" <database url>`."""
    import traceback

    from xinyidai.kit.db import make_engine

    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by accident goes to stderr, not into the reply channel
    requests = sys.stdin.buffer
    engine = make_engine(sys.argv[1])
    error: str | None = None
    spent = {"receive": 0.0, "entities": 0.0, "records": 0.0, "commit": 0.0}
    clock_ = time.perf_counter
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                # A demo build that dies half-way is rebuilt from scratch, so the bulk load need not wait for
                # the disk at every checkpoint.
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
            writer = BulkWriter(conn)
            while True:
                t = clock_()
                kind, rows = _unframe(requests)
                t1 = clock_()
                spent["receive"] += t1 - t
                if kind == "close":
                    break
                if error is not None:
                    continue  # keep reading until told to close, so the parent never blocks
                try:
                    if kind == "entities":
                        writer.entities(rows)
                    elif kind == "records":
                        writer.records(rows)
                    else:
                        conn.commit()
                except Exception:  # reported to the parent
                    error = traceback.format_exc(limit=3)
                    conn.rollback()
                spent[kind] += clock_() - t1
    except Exception:
        error = error or traceback.format_exc(limit=3)
    finally:
        engine.dispose()
    pickle.dump({"error": error, "timings": {f"writer_{k}": round(v, 2) for k, v in spent.items()}}, replies)
    replies.close()


class Sink:
    """Where one category's records go: tuples ready for the writer, counted, with their date span."""

    __slots__ = ("category", "key", "provider", "delivery_id", "rows", "count", "min_start", "max_end",
                 "received_at", "writer")

    def __init__(self, category: str, key: tuple[str, ...], provider: str, delivery_id: int | None,
                 writer: BulkWriter, received_at: Any, rows: list[tuple]) -> None:
        # `rows` is shared by all sinks, so that records leave in the order they were made.
        self.category, self.key, self.provider, self.delivery_id = category, key, provider, delivery_id
        self.writer, self.received_at, self.rows = writer, received_at, rows
        self.count = 0
        self.min_start: str | None = None
        self.max_end: str | None = None

    def emit(self, entity_code: str, content: dict[str, Any], start: str | None, end: str | None) -> None:
        """Add one record dated `start`–`end` (ISO dates, or None for an undated record)."""
        cj = canonical_json(content)
        self.count += 1
        w = self.writer
        self.rows.append((entity_code, self.category, record_key(self.key, content), 1, "current", cj,
                          fingerprint(cj), w.day(start), w.day(end), self.provider, self.delivery_id,
                          self.count + 1, self.received_at))
        if start is not None:
            if self.min_start is None or start < self.min_start:
                self.min_start = start
            if self.max_end is None or end > self.max_end:  # type: ignore[operator]
                self.max_end = end

    def emit_month(self, entity_code: str, content: dict[str, Any], period: tuple) -> None:
        """The monthly hot path. `content` has no empty values, so its canonical JSON is orjson's sorted dump
        (as in `RowValidator.stage_batch`); `period` is a prepared entry of RecordGenerator.pv."""
        raw = _dumps(content, option=_SORT_KEYS)
        h = _SM3.copy()
        h.update(raw)
        self.count += 1
        self.rows.append((entity_code, self.category, record_key(self.key, content), 1, "current",
                          raw.decode("utf-8"), h.hexdigest(), period[1], period[2], self.provider,
                          self.delivery_id, self.count + 1, self.received_at))
        if self.min_start is None or period[3] < self.min_start:
            self.min_start = period[3]
        if self.max_end is None or period[4] > self.max_end:
            self.max_end = period[4]


class NullSink:
    """A category the catalogue in use does not have: records are drawn (to keep the RNG in step) and dropped."""

    count = 0
    min_start = max_end = None

    def emit(self, *args: Any, **kwargs: Any) -> None:
        pass

    emit_month = emit


def params_digest(seed: int, n: int, months: int, as_of: date, category: str) -> str:
    body = orjson.dumps({"generator": "xinyidai.demo", "version": 1, "seed": seed, "entities": n, "months": months,
                         "as_of": as_of.isoformat(), "category": category}, option=orjson.OPT_SORT_KEYS)
    return sm3_hex(body)
