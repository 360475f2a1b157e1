"""The market's rules as data (`rules.yaml`): service levels per state with a working-day clock, the closed
lists of reasons, the 催告 schedule, the province's 授信 target. Checked when loaded: a wrong file names
every error and is refused, and the code never holds a deadline or a reason of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from xinyidai.kit import clock
from xinyidai.kit.errors import InvalidInput
from xinyidai.market import flows

REASON_KINDS = ("decline", "reject", "withdraw", "cancel")


class RulesInvalid(InvalidInput):
    code = "MARKET_RULES_INVALID"
    message = "市场规则文件有误"


@dataclass(frozen=True)
class Sla:
    party: str  # bank / enterprise: whose turn the state is
    workdays: bool
    breach_after: int | None
    expire_after: int | None


@dataclass(frozen=True)
class Rules:
    version: str
    target_fen: int
    target_by: date
    sla: dict[str, Sla]
    holidays: frozenset[date]
    workdays: frozenset[date]
    reasons: dict[str, dict[str, str]]
    reminders: tuple[int, ...]

    def reason(self, kind: str, code: str | None, note: str | None) -> tuple[str, str]:
        """The (code, label) of a reason from the closed list of `kind`; a *99 code needs a note."""
        options = self.reasons[kind]
        if not code:
            raise InvalidInput(f"请选择原因代码（{'、'.join(f'{c} {t}' for c, t in options.items())}）",
                               code="REASON_REQUIRED", detail={"allowed": list(options)})
        if code not in options:
            raise InvalidInput(f"原因代码 {code} 不在清单中；可选：{'、'.join(options)}", code="UNKNOWN_REASON",
                               detail={"allowed": list(options)})
        if code.endswith("99") and not (note or "").strip():
            raise InvalidInput(f"选择“{options[code]}”（{code}）时须说明具体原因", code="REASON_NOTE_REQUIRED")
        return code, options[code]

    def is_workday(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def add_days(self, start: datetime, n: int, workdays: bool) -> datetime:
        """The end of the n-th (working) day after `start`'s Beijing date: a deadline a person can read."""
        day = start.astimezone(clock.CHINA_TZ).date()
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            if not workdays or self.is_workday(day):
                counted += 1
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=clock.CHINA_TZ)

    def clock_for(self, state: str, entered: datetime) -> tuple[datetime | None, datetime | None]:
        """(due_at, expire_at) of an application that entered `state` at `entered`."""
        rule = self.sla.get(state)
        if rule is None:
            return None, None
        due = self.add_days(entered, rule.breach_after, rule.workdays) if rule.breach_after else None
        expire = self.add_days(entered, rule.expire_after, rule.workdays) if rule.expire_after else None
        return due, expire


def parse(text: str) -> Rules:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesInvalid(f"市场规则文件不是有效的 YAML：{exc}") from None
    if not isinstance(doc, dict):
        raise RulesInvalid("市场规则文件应为一个映射")
    problems: list[str] = []
    sla: dict[str, Sla] = {}
    for state, spec in (doc.get("sla") or {}).items():
        if state not in flows.PRE_GRANT:
            problems.append(f"sla：{state} 不是授信前的申请状态（{'、'.join(flows.PRE_GRANT)}）")
            continue
        if not isinstance(spec, dict) or spec.get("party") not in ("bank", "enterprise") \
                or spec.get("clock") not in ("workdays", "days"):
            problems.append(f"sla.{state}：须写明 party（bank/enterprise）和 clock（workdays/days）")
            continue
        values = {k: spec.get(k) for k in ("breach_after", "expire_after")}
        if any(v is not None and (not isinstance(v, int) or v < 1) for v in values.values()):
            problems.append(f"sla.{state}：天数须为正整数")
            continue
        if values["breach_after"] and values["expire_after"] and values["breach_after"] >= values["expire_after"]:
            problems.append(f"sla.{state}：超时时限须早于失效时限")
        if spec["party"] == "enterprise" and values["breach_after"]:
            problems.append(f"sla.{state}：企业办理的状态不计机构超时")
        sla[state] = Sla(spec["party"], spec["clock"] == "workdays", values["breach_after"], values["expire_after"])
    reasons = doc.get("reasons") or {}
    for kind in REASON_KINDS:
        lst = reasons.get(kind)
        if not isinstance(lst, dict) or not lst or not all(isinstance(v, str) and v for v in lst.values()):
            problems.append(f"reasons.{kind}：须为“代码: 说明”的非空清单")
    reminders = doc.get("reminders") or []
    if not reminders or sorted(set(reminders)) != list(reminders) or not all(isinstance(d, int) and d >= 1
                                                                              for d in reminders):
        problems.append("reminders：须为递增的正整数天数，如 [1, 7, 15]")
    target = doc.get("target") or {}
    try:
        target_fen = int(round(float(target["amount_yuan"]) * 100))
        target_by = date.fromisoformat(str(target["by"]))
        if target_fen <= 0:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        problems.append("target：须写明 amount_yuan（正数）和 by（YYYY-MM-DD）")
        target_fen, target_by = 0, date.min
    days: dict[str, frozenset[date]] = {}
    for key in ("holidays", "workdays"):
        try:
            days[key] = frozenset(date.fromisoformat(str(d)) for d in doc.get(key) or [])
        except ValueError:
            problems.append(f"{key}：日期须为 YYYY-MM-DD")
            days[key] = frozenset()
    if problems:
        raise RulesInvalid(f"市场规则文件有 {len(problems)} 处错误：" + "；".join(problems), detail=problems)
    return Rules(str(doc.get("version") or ""), target_fen, target_by, sla, days["holidays"], days["workdays"],
                 {k: dict(reasons[k]) for k in REASON_KINDS}, tuple(reminders))


@cache
def load(path: str | None = None) -> Rules:
    """The rules in force: a node's own file when named, else the shipped one (read once per process)."""
    text = Path(path).read_text(encoding="utf-8") if path else \
        (resources.files("xinyidai.market") / "rules.yaml").read_text(encoding="utf-8")
    return parse(text)


def as_dict(r: Rules) -> dict[str, Any]:
    return {"version": r.version, "target_yuan": r.target_fen / 100, "target_by": r.target_by.isoformat(),
            "sla": {k: vars(v) for k, v in r.sla.items()}, "reasons": r.reasons, "reminders": list(r.reminders)}
