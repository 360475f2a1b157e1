"""The oversight indicator system as data: a versioned YAML (the default is `indicators.yaml`), checked on load
with every problem named at once, kept in the database by version so a run can always say what it used."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyidai.kit import audit, clock
from xinyidai.kit.digest import sm3_hex
from xinyidai.kit.errors import Conflict, InvalidInput, NotFound
from xinyidai.oversight.measures import MEASURES
from xinyidai.oversight.models import IndicatorSystemVersion

DIRECTIONS = {"higher": "越高越好", "lower": "越低越好"}
METHODS = {"target": "目标值比", "minmax": "市（地）间极差"}
_TOP = {"version", "name", "groups", "indicators", "followup"}
_IND = {"code", "name", "group", "clause", "measure", "unit", "direction", "weight", "normalise"}


class IndicatorsInvalid(InvalidInput):
    code = "OVERSIGHT_INDICATORS_INVALID"
    message = "考核指标体系文件不符合要求"


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    group: str
    clause: str
    measure: str
    unit: str
    direction: str
    weight: float
    method: str
    target: float | None


@dataclass(frozen=True)
class System:
    version: str
    name: str
    groups: dict[str, tuple[str, str]]  # code → (name, clause)
    indicators: tuple[Indicator, ...]
    bottom_places: int
    deadline_days: int
    spec: dict[str, Any]

    @property
    def digest(self) -> str:
        return digest_of(self.spec)

    def indicator(self, code: str) -> Indicator:
        for i in self.indicators:
            if i.code == code:
                return i
        raise NotFound(f"指标体系 {self.version} 中没有指标 {code}", code="INDICATOR_UNKNOWN")


def digest_of(spec: dict[str, Any]) -> str:
    return sm3_hex(json.dumps(spec, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode())


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v) or math.isinf(v):
        return None
    return float(v)


def parse(spec: Any) -> System:
    """Check a system and build it; every error found is listed in one refusal (`detail.errors`)."""
    if not isinstance(spec, dict):
        raise IndicatorsInvalid("考核指标体系应为一个 YAML 映射（键: 值）")
    errors: list[str] = []
    for key in sorted(set(spec) - _TOP):
        errors.append(f"未知的配置项 {key}")
    version, name = spec.get("version"), spec.get("name")
    if not isinstance(version, str | int | float) or not str(version).strip() or len(str(version)) > 40:
        errors.append("缺少版本号 version（不超过 40 个字符）")
    if not isinstance(name, str) or not name.strip():
        errors.append("缺少名称 name")
    groups: dict[str, tuple[str, str]] = {}
    for i, g in enumerate(spec.get("groups") or []):
        if not isinstance(g, dict) or not g.get("code") or not g.get("name"):
            errors.append(f"第 {i + 1} 个分组缺少 code 或 name")
            continue
        if str(g["code"]) in groups:
            errors.append(f"分组 {g['code']} 重复")
        groups[str(g["code"])] = (str(g["name"]), str(g.get("clause") or "十七"))
    if not groups:
        errors.append("缺少分组 groups")
    inds: list[Indicator] = []
    seen: set[str] = set()
    raw_list = spec.get("indicators")
    if not isinstance(raw_list, list) or not raw_list:
        errors.append("缺少指标 indicators")
        raw_list = []
    for i, raw in enumerate(raw_list):
        where = f"第 {i + 1} 个指标"
        if not isinstance(raw, dict):
            errors.append(f"{where}应为映射")
            continue
        code = str(raw.get("code") or "").strip()
        where = f"指标 {code}" if code else where
        if not code:
            errors.append(f"{where}缺少 code")
        elif code in seen:
            errors.append(f"指标代码 {code} 重复")
        seen.add(code)
        for key in sorted(set(raw) - _IND):
            errors.append(f"{where}：未知的配置项 {key}")
        if not raw.get("name"):
            errors.append(f"{where}缺少名称 name")
        if str(raw.get("group")) not in groups:
            errors.append(f"{where}的分组 {raw.get('group')!r} 不在 groups 中")
        measure = raw.get("measure")
        if measure not in MEASURES:
            errors.append(f"{where}的计算方法 {measure!r} 不存在；可用：{'、'.join(sorted(MEASURES))}")
        direction = raw.get("direction")
        if direction is None:
            errors.append(f"{where}缺少方向 direction（higher 或 lower）")
        elif direction not in DIRECTIONS:
            errors.append(f"{where}的方向 {direction!r} 应为 higher 或 lower")
        weight = _number(raw.get("weight"))
        if weight is None or weight <= 0:
            errors.append(f"{where}的权重 weight 应为正数")
        norm = raw.get("normalise")
        method, target = None, None
        if not isinstance(norm, dict) or norm.get("method") not in METHODS:
            errors.append(f"{where}的标准化方法 normalise.method 应为 target 或 minmax")
        else:
            method = norm["method"]
            if method == "target":
                target = _number(norm.get("target"))
                if target is None or target <= 0:
                    errors.append(f"{where}的目标值 normalise.target 应为正数")
        if code and measure in MEASURES and weight and method and direction in DIRECTIONS:
            group = str(raw.get("group"))
            inds.append(Indicator(code, str(raw.get("name") or ""), group,
                                  str(raw.get("clause") or groups.get(group, ("", "十七"))[1]), str(measure),
                                  str(raw.get("unit") or MEASURES[measure].unit), str(direction), float(weight),
                                  str(method), target))
    total = sum(_number(r.get("weight")) or 0 for r in raw_list if isinstance(r, dict))
    if raw_list and abs(total - 1) > 1e-6:
        errors.append(f"各指标权重之和应为 1，实际为 {total:g}")
    follow = spec.get("followup") or {}
    bottom = follow.get("bottom_places", 3) if isinstance(follow, dict) else None
    days = follow.get("deadline_days", 30) if isinstance(follow, dict) else None
    if not isinstance(bottom, int) or isinstance(bottom, bool) or not 0 <= bottom <= 13:
        errors.append("followup.bottom_places 应为 0 至 13 的整数")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
        errors.append("followup.deadline_days 应为 1 至 365 的整数")
    if errors:
        raise IndicatorsInvalid(f"考核指标体系有 {len(errors)} 处错误：{errors[0]}" + ("等" if len(errors) > 1 else ""),
                                detail={"errors": errors})
    return System(str(version), str(name), groups, tuple(inds), int(bottom), int(days), spec)


def load_text(text: str | bytes) -> System:
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise IndicatorsInvalid(f"不是有效的 YAML：{str(e).splitlines()[0]}") from None
    return parse(spec)


def default() -> System:
    return load_text((resources.files("xinyidai.oversight") / "indicators.yaml").read_text(encoding="utf-8"))


def load_file(path: Path) -> System:
    return load_text(path.read_bytes())


# ── kept versions ───────────────────────────────────────────────────────────────────────────────────────

def store(s: Session, system: System, actor: str, *, activate: bool = True) -> IndicatorSystemVersion:
    """Keep a version. The same version twice with the same content is a no-op; with other content it is
    refused (a changed system is a new version)."""
    held = s.execute(select(IndicatorSystemVersion).where(IndicatorSystemVersion.version == system.version)
                     ).scalar_one_or_none()
    if held is not None:
        if held.digest != system.digest:
            raise Conflict(f"指标体系版本 {system.version} 已存在且内容不同；修改指标体系请使用新的版本号",
                           code="INDICATORS_VERSION_TAKEN")
    else:
        held = IndicatorSystemVersion(version=system.version, name=system.name, spec=system.spec,
                                      digest=system.digest, active=0, loaded_by=actor, loaded_at=clock.now())
        s.add(held)
        s.flush()
        audit.record(s, actor, "oversight.indicators.loaded", f"oversight-indicators:{system.version}",
                     digest=system.digest, indicators=len(system.indicators))
    if activate and not held.active:
        s.execute(update(IndicatorSystemVersion).values(active=0))
        held.active = 1
        audit.record(s, actor, "oversight.indicators.activated", f"oversight-indicators:{system.version}")
    return held


def active(s: Session) -> System:
    """The system in force: the active stored version, or the shipped default (stored on first use)."""
    held = s.execute(select(IndicatorSystemVersion).where(IndicatorSystemVersion.active == 1)).scalar_one_or_none()
    if held is None:
        return parse(store(s, default(), "system").spec)
    return parse(held.spec)


def version(s: Session, v: str) -> System:
    held = s.execute(select(IndicatorSystemVersion).where(IndicatorSystemVersion.version == v)).scalar_one_or_none()
    if held is None:
        raise NotFound(f"没有版本为 {v} 的考核指标体系", code="INDICATORS_VERSION_UNKNOWN")
    return parse(held.spec)


def versions(s: Session) -> list[IndicatorSystemVersion]:
    return list(s.execute(select(IndicatorSystemVersion).order_by(IndicatorSystemVersion.loaded_at.desc())).scalars())
