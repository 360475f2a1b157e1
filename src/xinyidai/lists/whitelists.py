"""White lists (白名单) of enterprises with good credit, fitting industry policy and needing finance, and
their push to institutions and peer platforms (point 13 of the notice).

Rules are data: a YAML/JSON document per rule code (see `whitelist_rules.yaml`, shipped as the default),
versioned — saving an edited document makes a new version and the older ones inactive. A list is made
from one version:

* the latest `ok` public evaluation of each entity dated on or before the list's date and not older than
  `max_age_days` (an entity whose latest good evaluation is stale is left out, not judged on older data);
* its grade at least `min_grade`;
* its feature snapshot of the same date, every feature in `exclude` equal to 0 (an entity without a
  snapshot, or with the feature unknown, is left out: a clean record must be shown, not assumed);
* its industry (the entity's GB/T 4754 code, else the snapshot's) in `industries`; its region code
  starting with one of `regions` when any are given;
* financing need (`financing_need: true`): the entity holds a live authorization (`access.models.
  Authorization`, status active, valid_from <= now < valid_until) of any institution — it has let a lender
  look at its data, i.e. it is applying — or a layer above names it through a registered need signal
  (`NEED_SIGNALS`: the market's open financing needs and applications in progress). Checked at generation
  time: these are current states, not dated facts;
* no registered exclusion signal names it (`EXCLUDE_SIGNALS`: the market's open or non-performing default
  cases). Registration keeps the layering: this module knows no market; the market registers its signals
  the way network envelope kinds register their appliers.

One streamed query does the work (window function for the latest evaluation, joins to entities, snapshots
and a grouped count of live authorizations); the cheap tests run first and a snapshot's JSON is decoded only
for entities that passed them. Each entry keeps its reasons in Chinese; the list keeps an SM3 digest over
its sorted entries, which a receiving node recomputes.

Numbers: `WL-<node>-<rule code>-<yyyymmdd>-<n>` (generated), `KP-<node>-<year>-<n>` (key projects, see
keyprojects.py). Everything before the last two parts is the list's *series*; the previous version of a
list is the one before it in its series, on any node that holds both.

Push: publication delivers the list to each subscribing institution (a `WhiteListDelivery`, seen on its
portal) and queues a `whitelist` envelope for each subscribing peer platform. The receiving node stores
the list under the same number (idempotently: the same list twice changes nothing; another list under a
known number is refused) and delivers it to its own subscribers, never back to the sender.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import orjson
import yaml
from sqlalchemy import Select, and_, func, insert, select, update
from sqlalchemy.orm import Session

from xinyidai.access.models import Authorization
from xinyidai.credit.features import BY_CODE
from xinyidai.credit.models import Evaluation, FeatureSnapshot
from xinyidai.entities.industries import DIVISIONS, SECTIONS
from xinyidai.entities.models import MarketEntity
from xinyidai.entities.regions import region_name
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit import audit, clock
from xinyidai.kit.db import Database
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.kit.spreadsheet import csv_cell
from xinyidai.lists.models import (
    WhiteList,
    WhiteListDelivery,
    WhiteListEntry,
    WhiteListRuleSet,
    WhiteListSubscription,
)
from xinyidai.network import exchange, relay
from xinyidai.network.exchange import ExchangeRefused
from xinyidai.network.models import Peer

GRADES = ("A+", "A", "B+", "B", "C", "D")  # best first
SCHEDULES = {"monthly": "每月1日", "weekly": "每周一"}
LIST_KINDS = {"whitelist": "白名单", "key_projects": "重点项目清单"}
SUBSCRIBER_KINDS = {"institution": "金融机构", "peer": "平台节点"}
MANAGERS = ("operator", "regulator")  # may edit rules, generate, import and manage subscriptions
READERS = MANAGERS  # staff who see every list (a bank user sees those delivered to it)
RULE_KEYS = ("code", "name", "schedule", "description", "min_grade", "max_age_days", "exclude", "industries",
             "regions", "financing_need")
DEFAULT_MAX_AGE_DAYS = 45
# How a clean feature reads in an entry's reasons; others read "<label>为 0".
CLEAN_PHRASES = {"dishonest_listed": "无严重失信", "enforcement_open": "无未结执行", "status_abnormal": "登记状态正常",
                 "serious_penalties_3y": "近3年无较重行政处罚"}
_CODE_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,23}")
_RANGE_RE = re.compile(r"(\d{2})\s*[-~～—]\s*(\d{2})")
_INSERT_CHUNK = 5000
_PEER_OK = ("active", "rectifying")


def rule_error(problems: list[str]) -> InvalidInput:
    return InvalidInput("规则有误：" + "；".join(problems), code="RULE_INVALID", detail={"problems": problems})


# ── rules as data ───────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class RuleSpec:
    code: str
    name: str
    schedule: str | None
    min_grade: str
    industries: tuple[str, ...]
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    exclude: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    financing_need: bool = True
    description: str = ""
    divisions: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def grades(self) -> tuple[str, ...]:
        """The grades that qualify: `min_grade` and better."""
        return GRADES[:GRADES.index(self.min_grade) + 1]

    def spec(self) -> dict[str, Any]:
        """What the rule set's `spec` column holds (code, name and schedule have columns of their own)."""
        return {"description": self.description, "min_grade": self.min_grade,
                "max_age_days": self.max_age_days, "exclude": list(self.exclude),
                "industries": list(self.industries), "regions": list(self.regions),
                "financing_need": self.financing_need}

    def document(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "schedule": self.schedule, **self.spec()}


def _industry_item(v: Any) -> tuple[str, set[str]] | None:
    """A normalised industry item and the divisions it covers, or None if it is not one."""
    if isinstance(v, int) and not isinstance(v, bool):
        v = f"{v:02d}"  # YAML reads an unquoted 13 as a number
    if not isinstance(v, str):
        return None
    t = v.strip().upper()
    if t in SECTIONS:
        return t, {d for d, (_, sec) in DIVISIONS.items() if sec == t}
    if t in DIVISIONS:
        return t, {t}
    m = _RANGE_RE.fullmatch(t)
    if m and m[1] in DIVISIONS and m[2] in DIVISIONS and m[1] <= m[2]:
        return f"{m[1]}-{m[2]}", {d for d in DIVISIONS if m[1] <= d <= m[2]}
    return None


def parse_rules(doc: str | Mapping[str, Any]) -> RuleSpec:
    """Parse and check a rule document (YAML or JSON text, or a mapping); every problem is named."""
    if isinstance(doc, str):
        try:
            doc = yaml.safe_load(doc)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"第 {mark.line + 1} 行" if mark is not None else ""
            raise rule_error([f"不是有效的 YAML/JSON 文档（{where}格式错误）"]) from None
    if not isinstance(doc, Mapping):
        raise rule_error(["规则应为“项: 值”形式的文档"])
    problems: list[str] = []
    unknown = [str(k) for k in doc if k not in RULE_KEYS]
    if unknown:
        problems.append(f"未知的规则项：{'、'.join(unknown)}（可用：{'、'.join(RULE_KEYS)}）")

    code = doc.get("code")
    if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
        problems.append("规则代码 code 应为 2–24 位小写字母、数字或连字符，且不以连字符开头")
    name = doc.get("name")
    if not isinstance(name, str) or not 2 <= len(name.strip()) <= 200:
        problems.append("名单名称 name 应为 2–200 个字")
    schedule = doc.get("schedule")
    if schedule in ("", "none", "null"):
        schedule = None
    if schedule is not None and schedule not in SCHEDULES:
        problems.append(f"生成周期 schedule 应为 monthly（每月1日）、weekly（每周一）或 null（手动），实际为“{schedule}”")
    description = doc.get("description") or ""
    if not isinstance(description, str) or len(description) > 1000:
        problems.append("说明 description 应为不超过 1000 字的文本")

    grade = doc.get("min_grade")
    if grade is None:
        problems.append("缺少最低等级 min_grade")
    elif str(grade) not in GRADES:
        problems.append(f"未知的等级“{grade}”（可用：{'、'.join(GRADES)}）")
    age = doc.get("max_age_days", DEFAULT_MAX_AGE_DAYS)
    if isinstance(age, bool) or not isinstance(age, int) or not 1 <= age <= 3660:
        problems.append("评价时效 max_age_days 应为 1–3660 之间的整数（天）")

    exclude = doc.get("exclude") or []
    if not isinstance(exclude, list):
        problems.append("exclude 应为特征代码的列表")
        exclude = []
    for f in exclude:
        feat = BY_CODE.get(f) if isinstance(f, str) else None
        if feat is None:
            problems.append(f"exclude 中的特征“{f}”不存在")
        elif feat.kind != "num":
            problems.append(f"exclude 中的特征“{f}”（{feat.label}）不是数值，不能要求其为 0")

    raw_ind = doc.get("industries")
    industries: list[str] = []
    divisions: set[str] = set()
    if not isinstance(raw_ind, list) or not raw_ind:
        problems.append("支持行业目录 industries 不能为空")
    else:
        for v in raw_ind:
            item = _industry_item(v)
            if item is None:
                problems.append(f"行业“{v}”不是 GB/T 4754-2017 的门类字母、两位大类代码或大类区间（如 13-43）")
            else:
                industries.append(item[0])
                divisions |= item[1]

    raw_regions = doc.get("regions") or []
    regions: list[str] = []
    if not isinstance(raw_regions, list):
        problems.append("regions 应为行政区划代码前缀的列表")
    else:
        for v in raw_regions:
            t = str(v).strip() if isinstance(v, int | str) and not isinstance(v, bool) else ""
            if not (t.isdigit() and 2 <= len(t) <= 6):
                problems.append(f"地区“{v}”应为 2–6 位数字的行政区划代码前缀")
            else:
                regions.append(t)

    need = doc.get("financing_need", True)
    if not isinstance(need, bool):
        problems.append("financing_need 应为 true 或 false")
    if problems:
        raise rule_error(problems)
    assert isinstance(code, str) and isinstance(name, str)  # for the type checker: checked above
    return RuleSpec(code=code, name=name.strip(), schedule=schedule, min_grade=str(grade),
                    industries=tuple(dict.fromkeys(industries)), max_age_days=age,
                    exclude=tuple(dict.fromkeys(exclude)), regions=tuple(dict.fromkeys(regions)),
                    financing_need=need, description=description.strip(), divisions=frozenset(divisions))


def dump_rules(spec: RuleSpec) -> str:
    return yaml.safe_dump(spec.document(), allow_unicode=True, sort_keys=False, default_flow_style=False)


def default_rules_text() -> str:
    """The shipped default document, with its comments (what a new rule set's form starts from)."""
    return (resources.files("xinyidai.credit") / "whitelist_rules.yaml").read_text(encoding="utf-8")


def spec_of(rs: WhiteListRuleSet) -> RuleSpec:
    return parse_rules({"code": rs.code, "name": rs.name, "schedule": rs.schedule, **rs.spec})


def require_role(actor: Principal | str, roles: Sequence[str]) -> str:
    """The actor's name for the audit entry; a principal must hold one of `roles` (a plain name is the
    node itself: the scheduler, the network)."""
    if isinstance(actor, Principal):
        if actor.role not in roles:
            raise Forbidden(f"当前角色（{actor.role_label}）无权执行此操作", code="ROLE_FORBIDDEN")
        return actor.username
    return actor


def rule_sets(s: Session) -> list[WhiteListRuleSet]:
    """The latest version of each rule code."""
    latest = (select(WhiteListRuleSet.code, func.max(WhiteListRuleSet.version).label("v"))
              .group_by(WhiteListRuleSet.code).subquery())
    return list(s.execute(select(WhiteListRuleSet).join(latest, and_(
        latest.c.code == WhiteListRuleSet.code, latest.c.v == WhiteListRuleSet.version))
        .order_by(WhiteListRuleSet.code)).scalars())


def rule_versions(s: Session, code: str) -> list[WhiteListRuleSet]:
    return list(s.execute(select(WhiteListRuleSet).where(WhiteListRuleSet.code == code)
                          .order_by(WhiteListRuleSet.version.desc())).scalars())


def current_rule_set(s: Session, code: str) -> WhiteListRuleSet:
    versions = rule_versions(s, code)
    if not versions:
        raise NotFound(f"没有代码为 {code} 的白名单规则", code="RULE_NOT_FOUND")
    return versions[0]


def save_rule_set(s: Session, text: str | Mapping[str, Any], actor: Principal | str) -> WhiteListRuleSet:
    """A new version of the rule code the document names (version 1 for a new code); older versions of
    the code become inactive, so only the latest is scheduled."""
    who = require_role(actor, MANAGERS)
    spec = parse_rules(text)
    versions = rule_versions(s, spec.code)
    if versions and spec_of(versions[0]) == spec:
        raise Conflict(f"与当前版本 v{versions[0].version} 完全相同，未保存新版本", code="RULE_UNCHANGED")
    for old in versions:
        old.active = False
    rs = WhiteListRuleSet(code=spec.code, version=(versions[0].version + 1) if versions else 1,
                          name=spec.name, spec=spec.spec(), schedule=spec.schedule, active=True,
                          created_at=clock.now(), created_by=who)
    s.add(rs)
    s.flush()
    audit.record(s, who, "whitelist.rules_saved", f"whitelist_rules:{rs.code}:v{rs.version}",
                 spec=spec.document())
    return rs


# ── generation ──────────────────────────────────────────────────────────────────────────────────────────

def division_of(code: str | None) -> str | None:
    """The 2-digit division of an industry code such as '1310', '13' or 'C1311'."""
    t = (code or "").strip().upper()
    if t[:1].isalpha():
        t = t[1:]
    return t[:2] if len(t) >= 2 and t[:2] in DIVISIONS else None


def _score(v: float | None) -> str:
    return "" if v is None else f"{round(v, 1):g}"


def entries_digest(rows: Iterable[Sequence[Any]]) -> str:
    """SM3 over the entries sorted by entity code, one canonical JSON line each: the same on every node."""
    lines = sorted(json.dumps(list(r), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                   for r in rows)
    return sm3_hex("\n".join(lines).encode("utf-8"))


def entry_row(e: Mapping[str, Any]) -> list[Any]:
    return [e["entity_code"], e["entity_name"], e.get("grade"), e.get("score"), list(e.get("reasons") or []),
            dict(e.get("detail") or {})]


def next_number(s: Session, prefix: str) -> str:
    """`prefix` + the next sequence number among the lists already numbered with it."""
    taken = s.execute(select(WhiteList.number).where(WhiteList.number.like(f"{prefix}-%"))).scalars()
    seq = [int(t[len(prefix) + 1:]) for t in taken if t[len(prefix) + 1:].isdigit()]
    return f"{prefix}-{max(seq, default=0) + 1}"


def series_of(number: str) -> str:
    return number.rsplit("-", 2)[0] if number.startswith("WL-") else number.rsplit("-", 1)[0]


def rule_code_of(wl: WhiteList) -> str | None:
    """A white list's rule code, from its number (the rule row exists only on the node that made it)."""
    if wl.kind != "whitelist":
        return None
    return series_of(wl.number)[len(f"WL-{wl.origin_node}-"):] or None


@dataclass(frozen=True)
class Signal:
    """What a layer above tells a list about entities now: `entities(now)` selects their codes; `label` is
    how an entry's reason (or the funnel) reads it."""

    code: str
    label: str
    entities: Callable[[datetime], Select]


NEED_SIGNALS: dict[str, Signal] = {}
EXCLUDE_SIGNALS: dict[str, Signal] = {}


def _signalled(s: Session, signals: Mapping[str, Signal], now: datetime) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sig in signals.values():
        for code in s.execute(sig.entities(now)).scalars():
            out.setdefault(code, []).append(sig.label)
    return out


@dataclass
class Funnel:
    """How many entities passed each test, in order — shown with the list so an empty one explains itself."""

    evaluated: int = 0  # had an ok public evaluation by the list date (any age)
    fresh: int = 0  # … not older than max_age_days
    grade: int = 0
    region: int = 0
    industry: int = 0
    financing: int = 0
    clean: int = 0

    def steps(self) -> list[tuple[str, int]]:
        return [("有公共信用综合评价结果", self.evaluated), ("评价在时效内", self.fresh), ("等级达标", self.grade),
                ("地区符合", self.region), ("属于支持行业", self.industry), ("存在融资需求", self.financing),
                ("无负面信息", self.clean)]


def _candidates(s: Session, spec: RuleSpec, as_of: date, now: datetime) -> Iterator[Any]:
    """Each entity's latest ok public evaluation within the age limit, with what the other tests need."""
    oldest = as_of - timedelta(days=spec.max_age_days)
    ranked = (select(Evaluation.entity_code, Evaluation.as_of, Evaluation.score, Evaluation.grade,
                     func.row_number().over(
                         partition_by=Evaluation.entity_code,
                         order_by=(Evaluation.as_of.desc(), Evaluation.id.desc())).label("rn"))
              .where(Evaluation.method == "public", Evaluation.status == "ok", Evaluation.as_of <= as_of,
                     Evaluation.as_of >= oldest).subquery())
    live = (select(Authorization.entity_code,
                   func.count(func.distinct(Authorization.institution_code)).label("institutions"))
            .where(Authorization.status == "active", Authorization.valid_from <= now,
                   Authorization.valid_until > now)
            .group_by(Authorization.entity_code).subquery())
    stmt = (select(ranked.c.entity_code, ranked.c.as_of, ranked.c.score, ranked.c.grade, MarketEntity.name,
                   MarketEntity.industry_code, MarketEntity.region_code, FeatureSnapshot.data,
                   live.c.institutions)
            .join(MarketEntity, MarketEntity.code == ranked.c.entity_code)
            .outerjoin(FeatureSnapshot, and_(FeatureSnapshot.entity_code == ranked.c.entity_code,
                                             FeatureSnapshot.as_of == ranked.c.as_of))
            .outerjoin(live, live.c.entity_code == ranked.c.entity_code)
            .where(ranked.c.rn == 1)
            .order_by(ranked.c.entity_code))
    # Core, not the ORM session: plain rows for a scan of every evaluated entity
    yield from s.connection().execute(stmt.execution_options(yield_per=10_000))


def select_entries(s: Session, spec: RuleSpec, as_of: date) -> tuple[list[dict[str, Any]], Funnel]:
    """The entries a rule set gives as of a date (nothing written), and the funnel."""
    funnel = Funnel()
    funnel.evaluated = s.execute(select(func.count(func.distinct(Evaluation.entity_code))).where(
        Evaluation.method == "public", Evaluation.status == "ok", Evaluation.as_of <= as_of)).scalar_one()
    if not funnel.evaluated:
        raise Conflict("尚无信用评价结果，请先运行批量评价", code="NO_EVALUATIONS")
    grades = set(spec.grades)
    now = clock.now()
    needs = _signalled(s, NEED_SIGNALS, now) if spec.financing_need else {}
    excluded = _signalled(s, EXCLUDE_SIGNALS, now)
    out: list[dict[str, Any]] = []
    grade_reason_tail = f"，不低于 {spec.min_grade}"
    clean_reason = "、".join([*(CLEAN_PHRASES.get(f) or f"{BY_CODE[f].label}为 0" for f in spec.exclude),
                              *(f"无{sig.label}" for sig in EXCLUDE_SIGNALS.values())])
    for r in _candidates(s, spec, as_of, now):
        funnel.fresh += 1
        if r.grade not in grades:
            continue
        funnel.grade += 1
        if spec.regions and not any(r.region_code.startswith(p) for p in spec.regions):
            continue
        funnel.region += 1
        feats: dict[str, Any] | None = None
        division = division_of(r.industry_code)
        if division is None and r.data:  # no code in the register: the registration record's
            feats = orjson.loads(r.data)
            division = division_of(str(feats.get("industry") or ""))
        if division not in spec.divisions:
            continue
        funnel.industry += 1
        institutions = int(r.institutions or 0)
        need = needs.get(r.entity_code, [])
        if spec.financing_need and not institutions and not need:
            continue
        funnel.financing += 1
        if spec.exclude:
            if r.data is None:
                continue  # no snapshot of that date: a clean record cannot be shown
            feats = feats if feats is not None else orjson.loads(r.data)
            if any(feats.get(f) != 0 for f in spec.exclude):
                continue
        if r.entity_code in excluded:
            continue
        funnel.clean += 1
        reasons = [f"公共信用综合评价 {r.grade}（{_score(r.score)}分）{grade_reason_tail}"]
        if clean_reason:
            reasons.append(clean_reason)
        reasons.append(f"行业 {division} {DIVISIONS[division][0]} 属于支持目录")
        if spec.regions:
            place = " ".join(x for x in (r.region_code, region_name(r.region_code)) if x)
            reasons.append(f"注册地 {place} 属于名单地区")
        if spec.financing_need:
            said = [f"已授权 {institutions} 家金融机构查询"] if institutions else []
            reasons.append("、".join([*said, *need]) + "，存在融资需求")
        out.append({"entity_code": r.entity_code, "entity_name": r.name, "grade": r.grade,
                    "score": None if r.score is None else round(float(r.score), 2), "reasons": reasons,
                    "detail": {"evaluated_on": r.as_of.isoformat(), "industry": division,
                               "region": r.region_code, "institutions": institutions}})
    return out, funnel


def store_list(s: Session, wl: WhiteList, entries: Sequence[Mapping[str, Any]]) -> None:
    s.add(wl)
    s.flush()
    rows = [{"list_id": wl.id, "entity_code": e["entity_code"], "entity_name": e["entity_name"],
             "grade": e.get("grade"), "score": e.get("score"), "reasons": list(e.get("reasons") or []),
             "detail": dict(e.get("detail") or {})} for e in entries]
    conn = s.connection()  # Core executemany: the ORM's per-row bookkeeping is most of the cost otherwise
    for i in range(0, len(rows), _INSERT_CHUNK):
        conn.execute(insert(WhiteListEntry.__table__), rows[i:i + _INSERT_CHUNK])


def node_code_of(node: relay.NodeContext | str) -> str:
    return node.code if isinstance(node, relay.NodeContext) else node


def generate(s: Session, rule_set: WhiteListRuleSet, as_of: date, actor: Principal | str,
             node: relay.NodeContext | str) -> WhiteList:
    """Make, store and publish a list from one rule-set version as of a date. `node` is this node's
    context (peers subscribed get the list at once) or just its code (peers get it at the next
    `push_pending` round). An empty list is a valid list; no evaluation at all is NO_EVALUATIONS."""
    who = require_role(actor, MANAGERS)
    if not rule_set.active:
        raise Conflict(f"规则 {rule_set.code} v{rule_set.version} 已被新版本取代，请使用当前版本", code="RULE_INACTIVE")
    if as_of > clock.today():
        raise InvalidInput("名单基准日不能晚于今天", code="BAD_DATE")
    spec = spec_of(rule_set)
    entries, funnel = select_entries(s, spec, as_of)
    code = node_code_of(node)
    wl = WhiteList(number=next_number(s, f"WL-{code}-{spec.code}-{as_of:%Y%m%d}"), kind="whitelist",
                   name=spec.name, rule_id=rule_set.id, as_of=as_of, origin_node=code, entries=len(entries),
                   digest=entries_digest(entry_row(e) for e in entries), status="published",
                   created_at=clock.now(), created_by=who)
    store_list(s, wl, entries)
    delivered = publish(s, wl, node)
    audit.record(s, who, "whitelist.generated", f"whitelist:{wl.number}",
                 rule=f"{spec.code}:v{rule_set.version}", as_of=as_of.isoformat(), entries=len(entries),
                 digest=wl.digest, funnel=[[label, n] for label, n in funnel.steps()], delivered=delivered)
    return wl


def generation_funnel(s: Session, wl: WhiteList) -> list[tuple[str, int]]:
    """The funnel recorded when the list was generated here (none for received or imported lists)."""
    ev = s.execute(select(audit.AuditEvent).where(audit.AuditEvent.target == f"whitelist:{wl.number}",
                                                  audit.AuditEvent.action == "whitelist.generated")
                   .limit(1)).scalar_one_or_none()
    return [(str(a), int(b)) for a, b in (ev.detail.get("funnel") or [])] if ev else []


# ── publication and the push ────────────────────────────────────────────────────────────────────────────

def _subscribers(s: Session, wl: WhiteList, kind: str) -> list[WhiteListSubscription]:
    rule = rule_code_of(wl)
    stmt = select(WhiteListSubscription).where(WhiteListSubscription.subscriber_kind == kind,
                                               WhiteListSubscription.list_kind == wl.kind)
    return [sub for sub in s.execute(stmt).scalars() if sub.rule_code in (None, rule)]


def _received_from(wl: WhiteList) -> str | None:
    return wl.created_by[5:] if wl.created_by.startswith("node:") else None


def list_payload(s: Session, wl: WhiteList) -> dict[str, Any]:
    rows = s.execute(select(WhiteListEntry.entity_code, WhiteListEntry.entity_name, WhiteListEntry.grade,
                            WhiteListEntry.score, WhiteListEntry.reasons, WhiteListEntry.detail)
                     .where(WhiteListEntry.list_id == wl.id).order_by(WhiteListEntry.entity_code))
    return {"list": {"number": wl.number, "kind": wl.kind, "name": wl.name, "rule_code": rule_code_of(wl),
                     "year": wl.year, "as_of": wl.as_of.isoformat(), "origin_node": wl.origin_node,
                     "digest": wl.digest, "created_at": wl.created_at.isoformat(),
                     "entries": [list(r) for r in rows]}}


def _push(s: Session, ctx: relay.NodeContext, wl: WhiteList, peer: Peer,
          payload: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = payload or list_payload(s, wl)
    ob = relay.queue(s, ctx, peer, "whitelist", payload, wl.entries, source_ref=wl.number)
    s.add(WhiteListDelivery(list_id=wl.id, subscriber_kind="peer", subscriber=peer.code,
                            delivered_at=clock.now(), outbox_id=ob.id))
    return payload


def _already(s: Session, wl: WhiteList, kind: str) -> set[str]:
    return set(s.execute(select(WhiteListDelivery.subscriber).where(
        WhiteListDelivery.list_id == wl.id, WhiteListDelivery.subscriber_kind == kind)).scalars())


def publish(s: Session, wl: WhiteList, node: relay.NodeContext | str) -> dict[str, int]:
    """Deliver a list to its institution subscribers and (with a context) queue it for its peer subscribers,
    skipping those that already have it, the node it came from and the node that made it."""
    done = {"institutions": 0, "peers": 0}
    have = _already(s, wl, "institution")
    now = clock.now()
    for sub in _subscribers(s, wl, "institution"):
        if sub.subscriber not in have:
            have.add(sub.subscriber)
            s.add(WhiteListDelivery(list_id=wl.id, subscriber_kind="institution", subscriber=sub.subscriber,
                                    delivered_at=now))
            done["institutions"] += 1
    if isinstance(node, relay.NodeContext):
        done["peers"] = _push_to_peers(s, node, wl)
    s.flush()
    return done


def _push_to_peers(s: Session, ctx: relay.NodeContext, wl: WhiteList, *, catching_up: bool = False) -> int:
    have = _already(s, wl, "peer") | {wl.origin_node, _received_from(wl) or ""}
    payload: dict[str, Any] | None = None
    n = 0
    for sub in _subscribers(s, wl, "peer"):
        peer = s.get(Peer, sub.subscriber)
        if sub.subscriber in have or peer is None or peer.status not in _PEER_OK:
            continue
        if catching_up and wl.created_at < sub.created_at:
            continue  # published before the subscription: not owed
        have.add(sub.subscriber)
        payload = _push(s, ctx, wl, peer, payload)
        n += 1
    return n


def push_pending(s: Session, ctx: relay.NodeContext) -> int:
    """Queue for subscribed peers the lists published since they subscribed that they have not got yet
    (lists made while no network context was at hand, or while the peer was not active)."""
    since = s.execute(select(func.min(WhiteListSubscription.created_at))
                      .where(WhiteListSubscription.subscriber_kind == "peer")).scalar_one()
    if since is None:
        return 0
    return sum(_push_to_peers(s, ctx, wl, catching_up=True) for wl in s.execute(
        select(WhiteList).where(WhiteList.status == "published", WhiteList.created_at >= since)
        .order_by(WhiteList.id)).scalars().all())


def has_peer_subscribers(s: Session) -> bool:
    return s.execute(select(WhiteListSubscription.id).where(WhiteListSubscription.subscriber_kind == "peer")
                     .limit(1)).first() is not None


# ── receiving a list from a peer ────────────────────────────────────────────────────────────────────────

def _refuse(message: str, code: str = "PAYLOAD_INVALID") -> ExchangeRefused:
    return ExchangeRefused(message, code=code)


def _parse_received(doc: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not isinstance(doc, Mapping):
        raise _refuse("名单报文缺少 list")
    try:
        head = {"number": str(doc["number"]), "kind": str(doc["kind"]), "name": str(doc["name"]),
                "rule_code": doc.get("rule_code"), "year": doc.get("year"),
                "as_of": date.fromisoformat(doc["as_of"]), "origin_node": str(doc["origin_node"]),
                "digest": str(doc["digest"])}
        raw = doc["entries"]
        if not isinstance(raw, list):
            raise ValueError("entries")
        entries = []
        for r in raw:
            code, name, grade, score, reasons, detail = r
            if not (isinstance(code, str) and 0 < len(code) <= 18
                    and isinstance(name, str) and len(name) <= 200
                    and isinstance(reasons, list) and isinstance(detail, Mapping)
                    and (grade is None or isinstance(grade, str) and len(grade) <= 4)
                    and (score is None or isinstance(score, int | float))):
                raise ValueError(f"entry {str(code)[:18]}")
            entries.append({"entity_code": code, "entity_name": name, "grade": grade, "score": score,
                            "reasons": [str(x) for x in reasons], "detail": dict(detail)})
    except (KeyError, TypeError, ValueError) as exc:
        raise _refuse(f"名单报文格式不正确（{exc}）") from None
    prefix = f"{'WL' if head['kind'] == 'whitelist' else 'KP'}-{head['origin_node']}-"
    if head["kind"] not in LIST_KINDS or not head["number"].startswith(prefix) or len(head["number"]) > 60 \
            or not 0 < len(head["origin_node"]) <= 20 or len(head["name"]) > 200:
        raise _refuse("名单报文的编号、类型或来源节点不正确")  # the number names the node that made the list
    if head["year"] is not None and not isinstance(head["year"], int):
        raise _refuse("名单报文的年度应为整数")
    if len({e["entity_code"] for e in entries}) != len(entries):
        raise _refuse("名单报文中有重复的主体")
    return head, entries


def apply_whitelist(s: Session, ctx: relay.NodeContext, sender: str, payload: Any) -> dict[str, Any]:
    """Store a list a peer pushed (once: the same list again changes nothing) and deliver it to this node's
    subscribers. Refused from a node that is not a peer, and when the entries do not match the digest."""
    peer = s.get(Peer, sender) if sender else None
    if peer is None or peer.relation not in ("parent", "child", "legacy"):
        raise _refuse("只接受相邻节点推送的名单", code="NOT_A_PEER")
    head, entries = _parse_received(payload.get("list") if isinstance(payload, Mapping) else None)
    digest = entries_digest(entry_row(e) for e in entries)
    if digest != head["digest"]:
        raise _refuse("名单内容与摘要不符", code="DIGEST_MISMATCH")
    held = s.execute(select(WhiteList).where(WhiteList.number == head["number"])).scalar_one_or_none()
    if held is not None:
        if held.digest == digest:
            return {"stored": 0, "duplicates": 1}
        raise _refuse(f"本节点已有编号为 {head['number']} 的另一份名单", code="LIST_CONFLICT")
    wl = WhiteList(number=head["number"], kind=head["kind"], name=head["name"], rule_id=None,
                   year=head["year"], as_of=head["as_of"], origin_node=head["origin_node"],
                   entries=len(entries), digest=digest, status="published", created_at=clock.now(),
                   created_by=f"node:{sender}")
    store_list(s, wl, entries)
    delivered = publish(s, wl, ctx)
    audit.record(s, f"node:{sender}", "whitelist.received", f"whitelist:{wl.number}", origin=wl.origin_node,
                 entries=len(entries), digest=digest, delivered=delivered)
    return {"stored": 1, "entries": len(entries), "delivered": delivered["institutions"] + delivered["peers"]}


exchange.APPLIERS["whitelist"] = apply_whitelist


# ── subscriptions ───────────────────────────────────────────────────────────────────────────────────────

def subscriptions(s: Session) -> list[dict[str, Any]]:
    subs = list(s.execute(select(WhiteListSubscription)
                          .order_by(WhiteListSubscription.created_at.desc())).scalars())
    names = _subscriber_names(s, [(x.subscriber_kind, x.subscriber) for x in subs])
    return [{"id": x.id, "subscriber_kind": x.subscriber_kind,
             "kind_label": SUBSCRIBER_KINDS[x.subscriber_kind], "subscriber": x.subscriber,
             "subscriber_name": names.get((x.subscriber_kind, x.subscriber), ""),
             "list_kind": x.list_kind, "list_kind_label": LIST_KINDS.get(x.list_kind, ""),
             "rule_code": x.rule_code, "created_at": x.created_at} for x in subs]


def _subscriber_names(s: Session, subs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    codes = [code for kind, code in subs if kind == "institution"]
    rows = s.execute(select(FinancialInstitution.code, FinancialInstitution.name)
                     .where(FinancialInstitution.code.in_(codes))).all()
    out = {("institution", c): n for c, n in rows}
    out.update({("peer", p.code): p.name for p in s.execute(select(Peer)).scalars()})
    return out


def subscribe(s: Session, actor: Principal | str, subscriber_kind: str, subscriber: str, list_kind: str,
              rule_code: str | None, node: relay.NodeContext | str) -> WhiteListSubscription:
    """Subscribe an institution or a peer to a kind of list (one rule code, or all); it gets the latest
    such list at once and every later one on publication."""
    who = require_role(actor, MANAGERS)
    subscriber = (subscriber or "").strip()
    if subscriber_kind == "institution":
        subscriber = subscriber.upper()
    rule_code = (rule_code or "").strip() or None
    if subscriber_kind not in SUBSCRIBER_KINDS:
        raise InvalidInput("订阅方类型应为金融机构或平台节点", code="BAD_SUBSCRIBER")
    if list_kind not in LIST_KINDS:
        raise InvalidInput("名单类型应为白名单或重点项目清单", code="BAD_LIST_KIND")
    if list_kind == "key_projects":
        rule_code = None
    elif rule_code is not None and not _CODE_RE.fullmatch(rule_code):
        raise InvalidInput("规则代码应为 2–24 位小写字母、数字或连字符", code="BAD_RULE_CODE")
    if subscriber_kind == "institution":
        inst = s.get(FinancialInstitution, subscriber)
        if inst is None or inst.status != "active":
            raise NotFound(f"没有状态正常的金融机构 {subscriber}", code="INSTITUTION_NOT_FOUND")
    else:
        peer = s.get(Peer, subscriber)
        if peer is None or peer.relation not in ("parent", "child"):
            raise NotFound(f"{subscriber} 不是本节点的上级或下级节点", code="PEER_NOT_FOUND")
    dup = s.execute(select(WhiteListSubscription).where(
        WhiteListSubscription.subscriber_kind == subscriber_kind,
        WhiteListSubscription.subscriber == subscriber,
        WhiteListSubscription.list_kind == list_kind, WhiteListSubscription.rule_code.is_(None)
        if rule_code is None else WhiteListSubscription.rule_code == rule_code)).scalar_one_or_none()
    if dup is not None:
        raise Conflict("已有相同的订阅", code="ALREADY_SUBSCRIBED")
    sub = WhiteListSubscription(subscriber_kind=subscriber_kind, subscriber=subscriber, list_kind=list_kind,
                                rule_code=rule_code, created_at=clock.now())
    s.add(sub)
    s.flush()
    latest = next((wl for wl in s.execute(select(WhiteList).where(
        WhiteList.kind == list_kind, WhiteList.status == "published").order_by(WhiteList.id.desc())).scalars()
        if rule_code in (None, rule_code_of(wl))), None)
    if latest is not None:
        publish(s, latest, node)
    audit.record(s, who, "whitelist.subscribed", f"whitelist_subscription:{sub.id}",
                 subscriber_kind=subscriber_kind, subscriber=subscriber, list_kind=list_kind,
                 rule_code=rule_code, first=latest.number if latest else None)
    return sub


def unsubscribe(s: Session, actor: Principal | str, sub_id: int) -> None:
    who = require_role(actor, MANAGERS)
    sub = s.get(WhiteListSubscription, sub_id)
    if sub is None:
        raise NotFound("订阅不存在", code="SUBSCRIPTION_NOT_FOUND")
    s.delete(sub)
    audit.record(s, who, "whitelist.unsubscribed", f"whitelist_subscription:{sub_id}",
                 subscriber_kind=sub.subscriber_kind, subscriber=sub.subscriber, list_kind=sub.list_kind,
                 rule_code=sub.rule_code)


# ── reading: lists, entries, differences, deliveries ────────────────────────────────────────────────────

# Creation and delivery times sort by id: the same order, and ties (one generation, one second) stay stable.
LIST_SORTS = {"number": WhiteList.number, "as_of": WhiteList.as_of, "created_at": WhiteList.id,
              "entries": WhiteList.entries, "name": WhiteList.name, "id": WhiteList.id}
ENTRY_SORTS = {"entity_code": WhiteListEntry.entity_code, "entity_name": WhiteListEntry.entity_name,
               "score": WhiteListEntry.score, "grade": WhiteListEntry.score}


def _is_bank(viewer: Principal) -> bool:
    if viewer.role == "bank":
        return True
    if viewer.role not in READERS:
        raise Forbidden(f"当前角色（{viewer.role_label}）无权查看名单", code="ROLE_FORBIDDEN")
    return False


def visible_lists(s: Session, viewer: Principal, req: PageRequest, kind: str | None = None,
                  series: str | None = None) -> Page:
    """Published lists a viewer may see, paged: staff all of them, a bank user those delivered to its
    institution."""
    stmt = select(WhiteList).where(WhiteList.status == "published")
    if _is_bank(viewer):
        stmt = stmt.join(WhiteListDelivery, and_(WhiteListDelivery.list_id == WhiteList.id,
                                                 WhiteListDelivery.subscriber_kind == "institution",
                                                 WhiteListDelivery.subscriber == (viewer.org_code or "")))
    if kind in LIST_KINDS:
        stmt = stmt.where(WhiteList.kind == kind)
    if series:  # a white list's series is followed by its date: a longer rule code does not match
        pattern = f"{series}-________-%" if series.startswith("WL-") else f"{series}-%"
        stmt = stmt.where(WhiteList.number.like(pattern))
    return paginate(s, stmt, req, LIST_SORTS, "id")


def get_list(s: Session, viewer: Principal, number: str) -> WhiteList:
    """One list, if the viewer may see it (to a bank user, one not delivered to it does not exist)."""
    stmt = select(WhiteList).where(WhiteList.number == number)
    if _is_bank(viewer):
        stmt = stmt.join(WhiteListDelivery, and_(WhiteListDelivery.list_id == WhiteList.id,
                                                 WhiteListDelivery.subscriber_kind == "institution",
                                                 WhiteListDelivery.subscriber == (viewer.org_code or "")))
    wl = s.execute(stmt).scalar_one_or_none()
    if wl is None:
        raise NotFound(f"没有编号为 {number} 的名单", code="LIST_NOT_FOUND")
    return wl


def entries_page(s: Session, wl: WhiteList, req: PageRequest, q: str | None = None) -> Page:
    stmt = select(WhiteListEntry).where(WhiteListEntry.list_id == wl.id)
    q = (q or "").strip()
    if q:
        stmt = stmt.where(WhiteListEntry.entity_code.startswith(q.upper(), autoescape=True)
                          | WhiteListEntry.entity_name.contains(q, autoescape=True))
    return paginate(s, stmt, req, ENTRY_SORTS, "entity_code")


def previous_version(s: Session, wl: WhiteList) -> WhiteList | None:
    """The list before this one in its series (same origin and rule code, or same key-project year)."""
    series = series_of(wl.number)
    for other in s.execute(select(WhiteList).where(WhiteList.number.like(f"{series}-%"), WhiteList.id < wl.id,
                                                   WhiteList.kind == wl.kind)
                           .order_by(WhiteList.id.desc())).scalars():
        if series_of(other.number) == series:
            return other
    return None


@dataclass
class Diff:
    old: WhiteList | None
    new: WhiteList
    added: list[tuple[str, str]]
    removed: list[tuple[str, str]]
    added_total: int
    removed_total: int


def diff(s: Session, old: WhiteList | None, new: WhiteList, limit: int = 1000) -> Diff:
    """Entities on `new` and not on `old` (added) and the reverse (removed), in SQL: lists may be large."""
    def side(a: WhiteList, b: WhiteList | None) -> tuple[list[tuple[str, str]], int]:
        stmt = (select(WhiteListEntry.entity_code, WhiteListEntry.entity_name)
                .where(WhiteListEntry.list_id == a.id))
        if b is not None:
            stmt = stmt.where(WhiteListEntry.entity_code.not_in(
                select(WhiteListEntry.entity_code).where(WhiteListEntry.list_id == b.id)))
        total = s.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = s.execute(stmt.order_by(WhiteListEntry.entity_code).limit(limit)).all()
        return [(r[0], r[1]) for r in rows], total

    added, n_added = side(new, old)
    removed, n_removed = side(old, new) if old is not None else ([], 0)
    return Diff(old, new, added, removed, n_added, n_removed)


def deliveries_of(s: Session, wl: WhiteList) -> list[dict[str, Any]]:
    rows = list(s.execute(select(WhiteListDelivery).where(WhiteListDelivery.list_id == wl.id)
                          .order_by(WhiteListDelivery.delivered_at)).scalars())
    names = _subscriber_names(s, [(d.subscriber_kind, d.subscriber) for d in rows])
    return [{"subscriber_kind": d.subscriber_kind, "kind_label": SUBSCRIBER_KINDS.get(d.subscriber_kind, ""),
             "subscriber": d.subscriber, "name": names.get((d.subscriber_kind, d.subscriber), ""),
             "delivered_at": d.delivered_at, "seen_at": d.seen_at} for d in rows]


DELIVERY_SORTS = {"delivered_at": WhiteListDelivery.id, "as_of": WhiteList.as_of,
                  "number": WhiteList.number, "entries": WhiteList.entries}


def delivered_to(s: Session, viewer: Principal, req: PageRequest) -> Page:
    """(delivery, list) rows delivered to the viewer's institution, newest first by default."""
    if viewer.role != "bank":
        raise Forbidden("只有金融机构用户可以查看推送给本机构的名单", code="ROLE_FORBIDDEN")
    stmt = (select(WhiteListDelivery, WhiteList).join(WhiteList, WhiteList.id == WhiteListDelivery.list_id)
            .where(WhiteListDelivery.subscriber_kind == "institution",
                   WhiteListDelivery.subscriber == (viewer.org_code or "")))
    return paginate(s, stmt, req, DELIVERY_SORTS, "delivered_at", scalars=False)


def mark_seen(s: Session, viewer: Principal, lists: Sequence[WhiteList]) -> int:
    """A bank user has seen these lists: their deliveries to its institution are no longer new."""
    if viewer.role != "bank" or not viewer.org_code or not lists:
        return 0
    ids = [wl.id for wl in lists]
    n = s.execute(update(WhiteListDelivery).where(
        WhiteListDelivery.list_id.in_(ids), WhiteListDelivery.subscriber_kind == "institution",
        WhiteListDelivery.subscriber == viewer.org_code, WhiteListDelivery.seen_at.is_(None))
        .values(seen_at=clock.now()).execution_options(synchronize_session=False)).rowcount
    if n:
        audit.record(s, viewer.username, "whitelist.seen", f"institution:{viewer.org_code}",
                     institution_code=viewer.org_code, lists=[wl.number for wl in lists])
    return n or 0


def unseen_count(s: Session, viewer: Principal) -> int:
    if viewer.role != "bank":
        return 0
    return s.execute(select(func.count()).select_from(WhiteListDelivery).where(
        WhiteListDelivery.subscriber_kind == "institution",
        WhiteListDelivery.subscriber == (viewer.org_code or ""),
        WhiteListDelivery.seen_at.is_(None))).scalar_one()


def list_dict(wl: WhiteList) -> dict[str, Any]:
    return {"number": wl.number, "kind": wl.kind, "kind_label": LIST_KINDS.get(wl.kind, wl.kind),
            "name": wl.name, "rule_code": rule_code_of(wl), "year": wl.year, "as_of": wl.as_of.isoformat(),
            "origin_node": wl.origin_node, "entries": wl.entries, "digest": wl.digest, "status": wl.status,
            "created_at": wl.created_at.isoformat()}


def entry_dict(e: WhiteListEntry) -> dict[str, Any]:
    return {"entity_code": e.entity_code, "entity_name": e.entity_name, "grade": e.grade, "score": e.score,
            "reasons": list(e.reasons or []), "detail": dict(e.detail or {})}


# ── CSV ─────────────────────────────────────────────────────────────────────────────────────────────────

PROJECT_FIELDS = (("name", "项目名称"), ("number", "项目编号"), ("region", "所在地区"),
                  ("total_investment", "总投资（万元）"), ("annual_investment", "年度计划投资（万元）"),
                  ("financing_need", "融资需求（万元）"), ("type", "项目类型"), ("period", "建设年限"))


def csv_text(s: Session, wl: WhiteList) -> str:
    """The list as CSV, UTF-8 with a BOM so Excel opens it as UTF-8. Key projects: one row per project."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    rows = s.execute(select(WhiteListEntry).where(WhiteListEntry.list_id == wl.id)
                     .order_by(WhiteListEntry.entity_code).execution_options(yield_per=5000)).scalars()
    if wl.kind == "key_projects":
        w.writerow(["统一社会信用代码", "建设单位", *(label for _, label in PROJECT_FIELDS)])
        for e in rows:
            for p in (e.detail or {}).get("projects") or []:
                w.writerow([csv_cell(e.entity_code), csv_cell(e.entity_name),
                            *(csv_cell(p.get(k)) for k, _ in PROJECT_FIELDS)])
    else:
        w.writerow(["序号", "统一社会信用代码", "企业名称", "信用等级", "评价得分", "评价基准日", "行业", "地区", "入选理由"])
        for i, e in enumerate(rows, 1):
            d = e.detail or {}
            w.writerow([i, csv_cell(e.entity_code), csv_cell(e.entity_name), csv_cell(e.grade), _score(e.score),
                        csv_cell(d.get("evaluated_on")), csv_cell(d.get("industry")), csv_cell(d.get("region")),
                        csv_cell("；".join(e.reasons or []))])
    return "\ufeff" + buf.getvalue()


# ── the schedule ────────────────────────────────────────────────────────────────────────────────────────

def period_start(schedule: str, today: date) -> date:
    """The first day of the period `today` falls in: the 1st of the month, or the week's Monday."""
    if schedule == "monthly":
        return today.replace(day=1)
    if schedule == "weekly":
        return today - timedelta(days=today.weekday())
    raise ValueError(schedule)


def due_rule_sets(s: Session, now: datetime) -> list[WhiteListRuleSet]:
    """Active scheduled rule sets with no list generated here (by any version of the code) since the start
    of the current period — so a day missed while the node was down is made up the next round."""
    today = now.astimezone(clock.CHINA_TZ).date()
    due = []
    for rs in rule_sets(s):
        if not rs.active or rs.schedule not in SCHEDULES:
            continue
        start = period_start(rs.schedule, today)
        since = datetime.combine(start, datetime.min.time(), clock.CHINA_TZ)
        ids = select(WhiteListRuleSet.id).where(WhiteListRuleSet.code == rs.code)
        made = s.execute(select(WhiteList.id).where(WhiteList.rule_id.in_(ids), WhiteList.created_at >= since)
                         .limit(1)).first()
        if made is None:
            due.append(rs)
    return due


def run_scheduled(db: Database, ctx: relay.NodeContext | None, now: datetime,
                  node_code: str | None = None) -> dict[str, str]:
    """One round of the schedule: generate each due list (each in its own transaction) as of today, then
    queue for subscribed peers what they still lack. Without a network context, `node_code` names the
    node and peers wait for a round with one. Returns {rule code: list number, or the error code}."""
    node: relay.NodeContext | str | None = ctx or node_code
    if node is None:
        raise ValueError("run_scheduled needs the node's context or code")
    done: dict[str, str] = {}
    with db.session() as s:
        due = [(rs.id, rs.code) for rs in due_rule_sets(s, now)]
    for rs_id, code in due:
        try:
            with db.session() as s:
                rs = s.get(WhiteListRuleSet, rs_id)
                assert rs is not None
                done[code] = generate(s, rs, now.astimezone(clock.CHINA_TZ).date(), "scheduler", node).number
        except DomainError as exc:  # e.g. NO_EVALUATIONS: nothing written, tried again next round
            done[code] = exc.code
    if ctx is not None:
        with db.session() as s:
            if push_pending(s, ctx):
                done["_peers"] = "queued"
    return done


__all__ = ["GRADES", "LIST_KINDS", "SCHEDULES", "Diff", "Funnel", "RuleSpec", "apply_whitelist", "csv_text",
           "current_rule_set", "default_rules_text", "delivered_to", "diff", "due_rule_sets", "dump_rules",
           "entries_page", "generate", "get_list", "mark_seen", "parse_rules", "previous_version", "publish",
           "push_pending", "rule_sets", "run_scheduled", "save_rule_set", "select_entries", "subscribe",
           "unsubscribe", "visible_lists"]
