"""The public credit evaluation (公共信用综合评价): an indicator system as data, checked on load, applied to a
table of features in one vectorised pass (one entity or a million go the same way, so a page and a batch
can never disagree)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import polars as pl
import yaml

from xinyidai.credit.features import BY_CODE, show_value
from xinyidai.kit.errors import InvalidInput

METHODS = {"base": "基础分加减分", "weighted": "维度加权"}
GRADE_ORDER = ("A+", "A", "B+", "B", "C", "D")


class IndicatorSystemInvalid(InvalidInput):
    code = "INDICATORS_INVALID"
    message = "指标体系文件不符合要求"


@dataclass(frozen=True)
class Rule:
    points: float
    note: str
    lo: float | None = None  # numeric: [lo, hi)
    hi: float | None = None
    values: tuple[str, ...] | None = None  # categorical

    def describe(self) -> str:
        if self.values is not None:
            return "、".join(self.values)
        if self.lo is not None and self.hi is not None:
            return f"[{_fmt(self.lo)}, {_fmt(self.hi)})"
        return f"≥{_fmt(self.lo)}" if self.lo is not None else f"<{_fmt(self.hi)}"


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    feature: str
    dimension: str
    rules: tuple[Rule, ...]
    missing: float = 0.0


@dataclass(frozen=True)
class Band:
    grade: str
    lo: float
    hi: float
    label: str


@dataclass
class IndicatorSystem:
    version: str
    name: str
    method: str
    base: float
    lo: float
    hi: float
    bands: tuple[Band, ...]
    dimensions: dict[str, tuple[str, float, float]]  # code → (name, weight, base) — weight/base for 'weighted'
    indicators: tuple[Indicator, ...]
    spec: dict[str, Any] = field(repr=False, default_factory=dict)

    def indicator(self, code: str) -> Indicator:
        for i in self.indicators:
            if i.code == code:
                return i
        raise KeyError(code)

    def grade_of(self, score: float | None) -> str | None:
        if score is None:
            return None
        for b in self.bands:
            if b.lo <= score < b.hi:
                return b.grade
        return None

    def band(self, grade: str) -> Band | None:
        return next((b for b in self.bands if b.grade == grade), None)


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
        raise IndicatorSystemInvalid(f"{where} 应为数值，实际为 {v!r}")
    return float(v)


def parse(spec: Any) -> IndicatorSystem:
    """Check an indicator system and build it. Every problem is named: unknown features, overlapping or
    gapped grade bands, overlapping rule ranges, weights that do not add up."""
    if not isinstance(spec, dict):
        raise IndicatorSystemInvalid("指标体系应为一个对象（YAML 映射）")
    unknown_keys = set(spec) - {"version", "name", "method", "base", "min", "max", "grades", "dimensions"}
    if unknown_keys:
        raise IndicatorSystemInvalid(f"未知的配置项：{'、'.join(sorted(unknown_keys))}")
    for key in ("version", "name", "grades", "dimensions"):
        if not spec.get(key):
            raise IndicatorSystemInvalid(f"缺少必填项 {key}")
    method = spec.get("method", "base")
    if method not in METHODS:
        raise IndicatorSystemInvalid(f"评价方法应为 base（基础分加减分）或 weighted（维度加权），实际为 {method!r}")
    lo, hi = _num(spec.get("min", 0), "min"), _num(spec.get("max", 1000), "max")
    base = _num(spec.get("base", 0 if method == "weighted" else (lo + hi) / 2), "base")
    bands = _bands(spec["grades"], lo, hi)
    dims: dict[str, tuple[str, float, float]] = {}
    indicators: list[Indicator] = []
    seen: set[str] = set()
    for d in spec["dimensions"]:
        if not isinstance(d, dict) or not d.get("code") or not d.get("name"):
            raise IndicatorSystemInvalid("每个维度需要 code 和 name")
        dcode = str(d["code"])
        if dcode in dims:
            raise IndicatorSystemInvalid(f"维度 {dcode} 重复")
        weight = _num(d.get("weight", 0), f"维度 {dcode} 的 weight")
        dims[dcode] = (str(d["name"]), weight, _num(d.get("base", 60), f"维度 {dcode} 的 base"))
        for raw in d.get("indicators") or []:
            ind = _indicator(raw, dcode)
            if ind.code in seen:
                raise IndicatorSystemInvalid(f"指标 {ind.code} 重复")
            seen.add(ind.code)
            indicators.append(ind)
    if not indicators:
        raise IndicatorSystemInvalid("指标体系中没有任何指标")
    if method == "weighted":
        total = sum(w for _, w, _ in dims.values())
        if abs(total - 1) > 1e-6:
            raise IndicatorSystemInvalid(f"维度权重之和应为 1，实际为 {total:g}")
    return IndicatorSystem(str(spec["version"]), str(spec["name"]), method, base, lo, hi, bands, dims,
                           tuple(indicators), spec)


def _bands(raw: Any, lo: float, hi: float) -> tuple[Band, ...]:
    if not isinstance(raw, list):
        raise IndicatorSystemInvalid("grades 应为等级列表")
    bands = []
    for g in raw:
        if not isinstance(g, dict) or "grade" not in g:
            raise IndicatorSystemInvalid("每个等级需要 grade、min、max")
        grade = str(g["grade"])
        if grade not in GRADE_ORDER:
            raise IndicatorSystemInvalid(f"未知等级 {grade}，应为 {'、'.join(GRADE_ORDER)} 之一")
        b = Band(grade, _num(g.get("min"), f"等级 {grade} 的 min"), _num(g.get("max"), f"等级 {grade} 的 max"),
                 str(g.get("label", "")))
        if b.lo >= b.hi:
            raise IndicatorSystemInvalid(f"等级 {grade} 的分数区间 [{_fmt(b.lo)}, {_fmt(b.hi)}) 为空")
        bands.append(b)
    if len({b.grade for b in bands}) != len(bands):
        raise IndicatorSystemInvalid("等级重复")
    ordered = sorted(bands, key=lambda b: b.lo)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.lo < a.hi:
            raise IndicatorSystemInvalid(f"等级区间重叠：{a.grade} [{_fmt(a.lo)}, {_fmt(a.hi)}) 与 "
                                         f"{b.grade} [{_fmt(b.lo)}, {_fmt(b.hi)})")
        if b.lo > a.hi:
            raise IndicatorSystemInvalid(f"等级区间不连续：{_fmt(a.hi)} 至 {_fmt(b.lo)} 之间的分数没有等级")
    if ordered[0].lo > lo or ordered[-1].hi <= hi:
        raise IndicatorSystemInvalid(f"等级区间应覆盖全部分数 [{_fmt(lo)}, {_fmt(hi)}]")
    by_rank = [b.grade for b in sorted(bands, key=lambda b: -b.lo)]
    if by_rank != [g for g in GRADE_ORDER if g in by_rank]:
        raise IndicatorSystemInvalid("等级顺序应为分数越高等级越高（A+ 最高，D 最低）")
    return tuple(sorted(bands, key=lambda b: -b.lo))


def _indicator(raw: Any, dimension: str) -> Indicator:
    if not isinstance(raw, dict) or not raw.get("code") or not raw.get("feature"):
        raise IndicatorSystemInvalid(f"维度 {dimension} 中的指标需要 code、name、feature 和 rules")
    code, feat = str(raw["code"]), str(raw["feature"])
    if feat not in BY_CODE:
        raise IndicatorSystemInvalid(f"指标 {code} 使用了未知特征 {feat}", detail={"known": sorted(BY_CODE)})
    kind = BY_CODE[feat].kind
    rules: list[Rule] = []
    for r in raw.get("rules") or []:
        if not isinstance(r, dict) or "points" not in r:
            raise IndicatorSystemInvalid(f"指标 {code} 的规则需要 points")
        pts, note = _num(r["points"], f"指标 {code} 的 points"), str(r.get("note", ""))
        if kind == "cat":
            vals = r.get("values")
            if not isinstance(vals, list) or not vals:
                raise IndicatorSystemInvalid(f"指标 {code} 是分类特征，规则应列出 values")
            rules.append(Rule(pts, note, values=tuple(str(v) for v in vals)))
        else:
            if "values" in r:
                raise IndicatorSystemInvalid(f"指标 {code} 是数值特征，规则应使用 min/max 而非 values")
            rlo = _num(r["min"], f"指标 {code} 的 min") if "min" in r else None
            rhi = _num(r["max"], f"指标 {code} 的 max") if "max" in r else None
            if rlo is None and rhi is None:
                raise IndicatorSystemInvalid(f"指标 {code} 的规则需要 min 或 max")
            if rlo is not None and rhi is not None and rlo >= rhi:
                raise IndicatorSystemInvalid(f"指标 {code} 的区间 [{_fmt(rlo)}, {_fmt(rhi)}) 为空")
            rules.append(Rule(pts, note, rlo, rhi))
    if not rules:
        raise IndicatorSystemInvalid(f"指标 {code} 没有评分规则")
    if kind == "cat":
        taken: set[str] = set()
        for r in rules:
            clash = taken & set(r.values or ())
            if clash:
                raise IndicatorSystemInvalid(f"指标 {code} 的规则重复匹配取值 {'、'.join(sorted(clash))}")
            taken |= set(r.values or ())
    else:
        spans = sorted(((r.lo if r.lo is not None else -math.inf), (r.hi if r.hi is not None else math.inf))
                       for r in rules)
        for (_, a_hi), (b_lo, _) in zip(spans, spans[1:], strict=False):
            if b_lo < a_hi:
                raise IndicatorSystemInvalid(f"指标 {code} 的规则区间重叠")
    return Indicator(code, str(raw.get("name") or code), feat, dimension, tuple(rules),
                     _num(raw.get("missing", 0), f"指标 {code} 的 missing"))


def default_spec() -> dict[str, Any]:
    return yaml.safe_load((resources.files("xinyidai.credit") / "indicators.yaml").read_text("utf-8"))


def load_text(text: str) -> IndicatorSystem:
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IndicatorSystemInvalid(f"YAML 格式错误：{exc}") from None
    return parse(spec)


# ── applying it to a table of features ──────────────────────────────────────────────────────────────────

def _points_expr(ind: Indicator) -> pl.Expr:
    col = pl.col(ind.feature)
    expr: Any = None
    for r in ind.rules:
        if r.values is not None:
            cond = col.is_in(list(r.values))
        else:
            cond = pl.lit(True)
            if r.lo is not None:
                cond = cond & (col >= r.lo)
            if r.hi is not None:
                cond = cond & (col < r.hi)
        expr = (pl.when(cond) if expr is None else expr.when(cond)).then(pl.lit(r.points))
    return (pl.when(col.is_null()).then(pl.lit(ind.missing))
            .otherwise(expr.otherwise(pl.lit(0.0)))).cast(pl.Float64).alias(f"p__{ind.code}")


def apply(system: IndicatorSystem, frame: pl.DataFrame) -> pl.DataFrame:
    """Score every row of `frame` (one column per feature, `records` = how many records they rest on).
    Adds `score`, `grade`, `status` (ok / insufficient) and `moves` ("code:+30;code:-80", biggest first)."""
    points = frame.select([_points_expr(i) for i in system.indicators])
    if system.method == "weighted":
        total = pl.lit(0.0)
        for dcode, (_, weight, dbase) in system.dimensions.items():
            dim_cols = [f"p__{i.code}" for i in system.indicators if i.dimension == dcode]
            dim = (pl.lit(dbase) + pl.sum_horizontal(dim_cols)) if dim_cols else pl.lit(dbase)
            total = total + weight * dim.clip(0, 100)
        raw = total * (system.hi / 100)
    else:
        raw = pl.lit(system.base) + pl.sum_horizontal([f"p__{i.code}" for i in system.indicators])
    score = raw.clip(system.lo, system.hi).round(1)
    grade: Any = None
    for b in system.bands:
        cond = (pl.col("score") >= b.lo) & (pl.col("score") < b.hi)
        grade = (pl.when(cond) if grade is None else grade.when(cond)).then(pl.lit(b.grade))
    # Moves: "code:points" of every indicator that scored, built column-wise so a million rows cost a few
    # vector passes, not a Python loop; `explain` orders them by effect when a person reads them.
    whole = all(r.points.is_integer() for i in system.indicators for r in i.rules)
    moves = pl.concat_str([pl.when(pl.col(f"p__{i.code}") != 0)
                           .then(pl.lit(f"{i.code}:") + (pl.col(f"p__{i.code}").cast(pl.Int64) if whole
                                                         else pl.col(f"p__{i.code}")).cast(pl.Utf8))
                           for i in system.indicators], separator=";", ignore_nulls=True)
    out = pl.concat([frame.select("entity_code", "records"), points], how="horizontal").with_columns(
        score=score, moves=moves)
    insufficient = pl.col("records") <= 0
    out = out.with_columns(
        score=pl.when(insufficient).then(pl.lit(None, pl.Float64)).otherwise(pl.col("score")),
        grade=pl.when(insufficient).then(pl.lit(None, pl.Utf8)).otherwise(grade.otherwise(pl.lit(None, pl.Utf8))),
        status=pl.when(insufficient).then(pl.lit("insufficient")).otherwise(pl.lit("ok")),
        moves=pl.when(insufficient).then(pl.lit(None, pl.Utf8)).otherwise(pl.col("moves")))
    return out


def explain(system: IndicatorSystem, features: dict[str, Any], moves: str | None) -> list[dict[str, Any]]:
    """The indicators that moved the score, in words: name, the feature's value, points and the rule's note."""
    out = []
    for part in (moves or "").split(";"):
        if ":" not in part:
            continue
        code, pts = part.rsplit(":", 1)
        try:
            ind = system.indicator(code)
        except KeyError:
            continue
        value = features.get(ind.feature)
        rule = _matching_rule(ind, value)
        feat = BY_CODE[ind.feature]
        shown = show_value(feat, value)
        out.append({"indicator": code, "name": ind.name, "dimension": system.dimensions[ind.dimension][0],
                    "feature": feat.label, "value": shown, "unit": feat.unit, "points": float(pts),
                    "note": (rule.note if rule else ("数据缺失" if value is None else ""))})
    return sorted(out, key=lambda e: -abs(e["points"]))


def _matching_rule(ind: Indicator, value: Any) -> Rule | None:
    if value is None:
        return None
    for r in ind.rules:
        if r.values is not None:
            if str(value) in r.values:
                return r
        elif (r.lo is None or value >= r.lo) and (r.hi is None or value < r.hi):
            return r
    return None


def reason_lines(explained: list[dict[str, Any]], limit: int | None = None) -> list[str]:
    lines = []
    for e in explained[:limit]:
        sign = "+" if e["points"] > 0 else ""
        value = f"{e['value']}{e['unit']}" if e["value"] != "未知" else "未知"
        lines.append(f"{e['name']}（{e['feature']}：{value}）{sign}{_fmt(e['points'])}分"
                     + (f"：{e['note']}" if e["note"] else ""))
    return lines
