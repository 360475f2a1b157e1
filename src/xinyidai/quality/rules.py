"""Quality rules as data: a YAML file, checked whole on load, kept as numbered versions.

A rule names its dimension (GB/T 36344), its kind (one set-based computation in `checks.py`), its severity, the
category and item where the kind needs them, and its parameters, each checked for type and range. A file with
any mistake is refused whole with every mistake listed (rule id + Chinese reason); nothing is stored.

The default set is generated from the node's catalogue (`default_text`):
  - timeliness `last_delivery` for each category with a fixed frequency (不定期 has none), grace 3 days;
  - continuity `missing_months` for each monthly category whose records carry a period (dimension 完整性);
  - completeness `fill_rate` for each item: expected 1.0 for required items (any gap is a loader bypass or a
    relayed record), 0.6 for optional ones (optional items are often truly empty; a provider below 60 % is
    leaving most of them out), so the default does not flood the page with every sparse optional field;
  - consistency `after_deregistration`, `headcount_ratio` (factor 3), `key_conflict`;
  - conformity `rejected_share_drift` per category (latest delivery vs mean of previous 5, factor 3, ≥ 5 %);
  - accessibility `source_failing` after 24 hours;
  - consistency `self_report_conflict`: an enterprise's self-reported certificate contradicting the department's
    record with the same number.
The enterprise's own categories (企业自报信息) get none of the per-category rules: nobody owes them on a schedule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog, Category, load_catalog
from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import InvalidInput
from xinyidai.quality.models import DIMENSIONS, SEVERITIES, RuleSet

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")
TICKET_LEVELS = ("high", "medium", "low", "never")
# Days between deliveries a category's frequency promises; 不定期 promises nothing.
FREQUENCY_DAYS = {"实时": 1, "每日": 1, "每周": 7, "每月": 31, "每季": 92, "每年": 366}
SELF_REPORTED = "企业自报信息"  # the catalogue group of what enterprises state about themselves


def department_categories(catalog: Catalog) -> list[Category]:
    """The categories departments deliver: the ones timeliness, continuity, fill and drift rules watch."""
    return [c for c in catalog.categories if c.group != SELF_REPORTED]


@dataclass(frozen=True)
class Param:
    type: type  # int or float
    low: float
    high: float
    required: bool = False
    default: float | None = None
    low_open: bool = False  # the low end excluded (a factor > 1)
    reason: str = ""


@dataclass(frozen=True)
class Kind:
    label: str
    category: str  # required / optional / none
    item: bool
    params: dict[str, Param]
    monthly: bool = False  # the category must be monthly with a period


KINDS: dict[str, Kind] = {
    "last_delivery": Kind("最近交付时效", "required", False,
                          {"grace_days": Param(int, 0, 365, default=3, reason="宽限天数")}),
    "missing_months": Kind("月度连续性", "required", False,
                           {"lag_months": Param(int, 0, 24, reason="滞后月数")}, monthly=True),
    "fill_rate": Kind("字段填充率", "required", True,
                      {"expected": Param(float, 0, 1, required=True, reason="期望填充率")}),
    "after_deregistration": Kind("注销后仍有记录", "optional", False,
                                 {"grace_days": Param(int, 0, 365, default=0, reason="宽限天数")}),
    "headcount_ratio": Kind("社保与公积金人数偏差", "none", False,
                            {"factor": Param(float, 1, 1000, required=True, low_open=True, reason="倍数")}),
    "key_conflict": Kind("多来源同键不同值", "optional", False, {}),
    "rejected_share_drift": Kind("拒收比例突增", "optional", False,
                                 {"history": Param(int, 1, 100, default=5, reason="历史批次数"),
                                  "factor": Param(float, 1, 1000, default=3, low_open=True, reason="倍数"),
                                  "min_share": Param(float, 0, 1, default=0.05, reason="最低拒收比例")}),
    "source_failing": Kind("数据来源持续失败", "none", False,
                           {"hours": Param(float, 0, 8760, default=24, low_open=True, reason="小时数")}),
    "self_report_conflict": Kind("企业自报证书与部门记录不一致", "none", False, {}),
}


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    dimension: str
    kind: str
    severity: str
    category: str | None = None
    item: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    ticket: bool = True

    @property
    def dimension_label(self) -> str:
        return DIMENSIONS.get(self.dimension, self.dimension)


@dataclass(frozen=True)
class Rules:
    version: int | None
    name: str
    open_at: str
    due_days: int
    rules: tuple[Rule, ...]

    def by_id(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _check_params(rid: str, kind: Kind, raw: Any, errors: list[str]) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.append(f"规则 {rid}：params 必须是键值映射")
        return {}
    out: dict[str, Any] = {}
    for name in raw:
        if name not in kind.params:
            errors.append(f"规则 {rid}：未知参数 {name}（{kind.label}可用：{', '.join(kind.params) or '无'}）")
    for name, p in kind.params.items():
        v = raw.get(name)
        if v is None:
            if p.required:
                errors.append(f"规则 {rid}：缺少参数 {name}（{p.reason}）")
            elif p.default is not None:
                out[name] = p.type(p.default)
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or (p.type is int and not isinstance(v, int)):
            errors.append(f"规则 {rid}：参数 {name}（{p.reason}）应为{'整数' if p.type is int else '数值'}，实为 {v!r}")
            continue
        low_ok = v > p.low if p.low_open else v >= p.low
        if not low_ok or v > p.high:
            lo = f"大于 {p.low:g}" if p.low_open else f"不小于 {p.low:g}"
            errors.append(f"规则 {rid}：参数 {name}（{p.reason}）超出范围，应{lo}且不大于 {p.high:g}，实为 {v:g}")
            continue
        out[name] = p.type(v)
    return out


def parse(text: str, catalog: Catalog) -> Rules:
    """The checked rule set, or InvalidInput RULES_INVALID with every mistake in detail["errors"]."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark is not None else ""
        raise InvalidInput(f"规则文件不是有效的 YAML{where}", code="RULES_INVALID",
                           detail={"errors": [f"YAML 格式错误{where}"]}) from None
    errors: list[str] = []
    if not isinstance(doc, dict):
        raise InvalidInput("规则文件应为 YAML 映射（version、name、tickets、rules）", code="RULES_INVALID",
                           detail={"errors": ["文件顶层不是映射"]})
    for key in doc:
        if key not in ("version", "name", "tickets", "rules"):
            errors.append(f"文件：未知的顶层键 {key}")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append("文件：缺少规则集名称 name")
        name = ""
    tickets = doc.get("tickets") or {}
    if not isinstance(tickets, dict):
        errors.append("文件：tickets 必须是映射（open_at、due_days）")
        tickets = {}
    open_at = tickets.get("open_at", "high")
    if open_at not in TICKET_LEVELS:
        errors.append(f"文件：tickets.open_at 应为 {'/'.join(TICKET_LEVELS)} 之一，实为 {open_at!r}")
    due_days = tickets.get("due_days", 15)
    if isinstance(due_days, bool) or not isinstance(due_days, int) or not 1 <= due_days <= 90:
        errors.append(f"文件：tickets.due_days 应为 1 至 90 的整数，实为 {due_days!r}")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        errors.append("文件：rules 必须是非空列表")
        raw_rules = []
    seen: set[str] = set()
    out: list[Rule] = []
    for n, raw in enumerate(raw_rules, 1):
        if not isinstance(raw, dict):
            errors.append(f"第 {n} 条规则：应为映射")
            continue
        rid = raw.get("id")
        if not isinstance(rid, str) or not ID_RE.match(rid):
            errors.append(f"第 {n} 条规则：id {rid!r} 应为小写字母、数字、._- 组成的标识")
            rid = f"#{n}"
        elif rid in seen:
            errors.append(f"规则 {rid}：id 重复")
        seen.add(rid)
        for key in raw:
            if key not in ("id", "name", "dimension", "kind", "severity", "category", "item", "params", "ticket"):
                errors.append(f"规则 {rid}：未知的键 {key}")
        rname = raw.get("name")
        if not isinstance(rname, str) or not rname.strip():
            errors.append(f"规则 {rid}：缺少名称 name")
        dim = raw.get("dimension")
        if dim not in DIMENSIONS:
            errors.append(f"规则 {rid}：未知的质量维度 {dim!r}（应为 {'、'.join(DIMENSIONS)} 之一）")
        sev = raw.get("severity")
        if sev not in SEVERITIES:
            errors.append(f"规则 {rid}：未知的严重程度 {sev!r}（应为 {'、'.join(SEVERITIES)} 之一）")
        ticket = raw.get("ticket", True)
        if not isinstance(ticket, bool):
            errors.append(f"规则 {rid}：ticket 应为 true 或 false")
        kind_code = raw.get("kind")
        kind = KINDS.get(kind_code) if isinstance(kind_code, str) else None
        if kind is None:
            errors.append(f"规则 {rid}：未知的规则类型 {kind_code!r}（应为 {'、'.join(KINDS)} 之一）")
            continue
        cat_code, item_code = raw.get("category"), raw.get("item")
        cat = None
        if cat_code is not None:
            if kind.category == "none":
                errors.append(f"规则 {rid}：{kind.label}规则不应指定类别")
            else:
                try:
                    cat = catalog.category(str(cat_code))
                except KeyError:
                    errors.append(f"规则 {rid}：目录中没有类别 {cat_code!r}")
        elif kind.category == "required":
            errors.append(f"规则 {rid}：{kind.label}规则必须指定类别 category")
        if kind.item:
            if item_code is None:
                errors.append(f"规则 {rid}：{kind.label}规则必须指定字段 item")
            elif cat is not None and str(item_code) not in {i.code for i in cat.items}:
                errors.append(f"规则 {rid}：类别 {cat.code} 中没有字段 {item_code!r}")
        elif item_code is not None:
            errors.append(f"规则 {rid}：{kind.label}规则不应指定字段")
        if kind.monthly and cat is not None and (cat.frequency != "每月" or not cat.period):
            errors.append(f"规则 {rid}：类别 {cat.code} 不是按月报送且带期间的类别，不能检查月度连续性")
        if kind_code == "last_delivery" and cat is not None and cat.frequency not in FREQUENCY_DAYS:
            errors.append(f"规则 {rid}：类别 {cat.code} 的更新频率为{cat.frequency}，无法检查时效")
        params = _check_params(rid, kind, raw.get("params"), errors)
        out.append(Rule(id=rid, name=str(rname or ""), dimension=str(dim), kind=kind_code, severity=str(sev),
                        category=cat.code if cat else None, item=str(item_code) if kind.item and item_code else None,
                        params=params, ticket=bool(ticket)))
    if errors:
        raise InvalidInput(f"规则文件有 {len(errors)} 处错误：{errors[0]}" + ("等" if len(errors) > 1 else ""),
                           code="RULES_INVALID", detail={"errors": errors})
    return Rules(version=None, name=str(name), open_at=str(open_at), due_days=int(due_days), rules=tuple(out))


def _q(text: str) -> str:
    """A YAML scalar quoted when needed (names carry Chinese and brackets)."""
    return yaml.safe_dump(text, allow_unicode=True, default_flow_style=True).strip().removesuffix("...").strip()


def default_text(catalog: Catalog) -> str:
    """The default rule set generated from the catalogue, as a commented YAML a person can edit and load."""
    lines = [
        "# 信易贷 数据质量规则集（由数据目录自动生成的默认规则）",
        "# 维度（GB/T 36344）：conformity 规范性 / completeness 完整性 / accuracy 准确性 / consistency 一致性 /",
        "#                     timeliness 时效性 / accessibility 可访问性",
        "# 严重程度：high 严重 / medium 一般 / low 提示；ticket: false 的规则不开整改工单",
        "version: 1",
        f"name: {_q(catalog.name + ' 默认质量规则')}",
        "tickets:",
        "  open_at: high      # 达到该严重程度的发现自动开具整改工单（high|medium|low|never）",
        "  due_days: 15       # 整改期限（天，1–90）",
        "rules:",
    ]

    def rule(rid: str, name: str, dim: str, kind: str, sev: str, cat: str | None = None, item: str | None = None,
             params: dict[str, Any] | None = None, ticket: bool = True) -> None:
        lines.append(f"  - id: {rid}")
        lines.append(f"    name: {_q(name)}")
        lines.append(f"    dimension: {dim}")
        lines.append(f"    kind: {kind}")
        lines.append(f"    severity: {sev}")
        if cat:
            lines.append(f"    category: {cat}")
        if item:
            lines.append(f"    item: {item}")
        if params:
            lines.append("    params: {" + ", ".join(f"{k}: {v}" for k, v in params.items()) + "}")
        if not ticket:
            lines.append("    ticket: false")

    lines.append("  # ── 时效性：各提供方最近一次交付与更新频率（加宽限天数）")
    for c in department_categories(catalog):
        if c.frequency in FREQUENCY_DAYS:
            rule(f"timeliness.{c.code}", f"{c.name}按{c.frequency}更新", "timeliness", "last_delivery", "medium",
                 c.code, params={"grace_days": 3})
    lines.append("  # ── 连续性：按月报送类别中每个主体首末月份之间缺失的月份")
    for c in department_categories(catalog):
        if c.frequency == "每月" and c.period:
            rule(f"continuity.{c.code}", f"{c.name}月度连续", "completeness", "missing_months", "medium", c.code)
    lines.append("  # ── 完整性：各字段填充率（必填字段期望 1.0，选填字段期望 0.6）")
    for c in department_categories(catalog):
        for i in c.items:
            rule(f"fill.{c.code}.{i.code}", f"{c.name}·{i.name}填充率", "completeness", "fill_rate",
                 "high" if i.required else "low", c.code, i.code,
                 {"expected": 1.0 if i.required else 0.6}, ticket=i.required)
    lines.append("  # ── 一致性：跨来源比对")
    rule("consistency.after_deregistration", "注销或吊销后仍有新记录", "consistency", "after_deregistration", "high")
    rule("consistency.headcount", "社保参保人数与公积金缴存人数偏差过大", "consistency", "headcount_ratio", "medium",
         params={"factor": 3})
    rule("consistency.key_conflict", "不同提供方同一记录键取值不同", "consistency", "key_conflict", "medium")
    rule("consistency.self_report", "企业自报资质证书与部门记录不一致", "consistency", "self_report_conflict",
         "medium", ticket=False)
    lines.append("  # ── 规范性：拒收比例相对自身历史突增")
    for c in department_categories(catalog):
        rule(f"drift.{c.code}", f"{c.name}拒收比例突增", "conformity", "rejected_share_drift", "medium", c.code,
             params={"history": 5, "factor": 3, "min_share": 0.05})
    lines.append("  # ── 可访问性：前置库或接口持续失败")
    rule("access.source_failing", "数据来源持续失败超过 24 小时", "accessibility", "source_failing", "high",
         params={"hours": 24})
    return "\n".join(lines) + "\n"


def _latest(s: Session) -> RuleSet | None:
    return s.scalars(select(RuleSet).order_by(RuleSet.version.desc()).limit(1)).first()


def store(s: Session, text: str, actor: str, note: str | None = None, *, catalog: Catalog | None = None) -> RuleSet:
    """Check `text` and keep it as the next version (the active one). Refused with RULES_INVALID when wrong,
    RULES_UNCHANGED when identical to the active version; nothing is stored either way."""
    catalog = catalog or load_catalog()
    parsed = parse(text, catalog)
    digest = sm3_hex(text.encode("utf-8"))
    latest = _latest(s)
    if latest is not None and latest.digest == digest:
        raise InvalidInput(f"与当前生效的第 {latest.version} 版完全相同，未保存新版本", code="RULES_UNCHANGED")
    version = (s.scalar(select(func.max(RuleSet.version))) or 0) + 1
    row = RuleSet(version=version, digest=digest, text=text, rules=len(parsed.rules),
                  note=(note or None) and note[:200], loaded_by=actor, loaded_at=clock.now())
    s.add(row)
    s.flush()
    audit.record(s, actor, "quality.rules.load", f"rules:{version}", version=version, rules=len(parsed.rules),
                 digest=digest, note=note)
    return row


def active(s: Session, catalog: Catalog | None = None) -> Rules:
    """The parsed active (latest) rule set; the first use stores the catalogue's default as version 1."""
    catalog = catalog or load_catalog()
    row = _latest(s)
    if row is None:
        row = store(s, default_text(catalog), "system", "由数据目录生成的默认规则", catalog=catalog)
    parsed = parse(row.text, catalog)
    return Rules(version=row.version, name=parsed.name, open_at=parsed.open_at, due_days=parsed.due_days,
                 rules=parsed.rules)


def versions(s: Session) -> list[RuleSet]:
    return list(s.scalars(select(RuleSet).order_by(RuleSet.version.desc())))
