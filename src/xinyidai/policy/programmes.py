"""Programmes: a city's (or the province's) finance office creates one — kind, region, period, budget and its
rules — and starts it; every change of rules is a new version, and each enrolment and claim names the version
it used. Starting a programme puts its budget into its ledger; a pool also takes contributions.

Who sees what: a policy officer manages the programmes of his division and the divisions under it; the
platform's operator and the regulator read all; banks, guarantors and enterprises read those running."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from xinyidai.entities.regions import is_valid_region, region_name
from xinyidai.kit import audit, clock
from xinyidai.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from xinyidai.kit.principal import Principal
from xinyidai.market.money import MAX_FEN, wan
from xinyidai.policy import flows, ledger, rules
from xinyidai.policy.models import KINDS, PROGRAMME_STATES, Claim, Programme, RuleVersion
from xinyidai.policy.rules import Rules

READERS = ("operator", "regulator", "security")
PENDING = (flows.SUBMITTED, flows.REVIEWED, flows.APPROVED)  # hold money not yet paid


def covers(region: str | None, code: str) -> bool:
    """Does an office of `region` (province, prefecture or county code) reach `code`?"""
    if not region or not is_valid_region(region):
        return False
    if region.endswith("0000"):
        return code[:2] == region[:2]
    if region.endswith("00"):
        return code[:4] == region[:4]
    return code == region


def officer_region(p: Principal) -> str:
    if p.role != "policy" or not p.org_code or not is_valid_region(p.org_code):
        raise Forbidden("只有政策管理人员（账户须登记所在行政区划）可以管理政策", code="ROLE_FORBIDDEN")
    return p.org_code


def visible(p: Principal) -> Select:
    """The programmes `p` may see, as a query (the check lives in the query, not after it)."""
    q = select(Programme)
    if p.role in READERS:
        return q
    if p.role == "policy":
        region = officer_region(p)
        if region.endswith("0000"):
            return q.where(Programme.region_code.like(region[:2] + "%"))
        if region.endswith("00"):
            return q.where(Programme.region_code.like(region[:4] + "%"))
        return q.where(Programme.region_code == region)
    if p.role in ("bank", "enterprise"):
        return q.where(Programme.state != "DRAFT")
    return q.where(Programme.id < 0)


def get(s: Session, p: Principal, number: str) -> Programme:
    prog = s.execute(visible(p).where(Programme.number == number)).scalar_one_or_none()
    if prog is None:
        raise NotFound(f"未找到政策项目 {number}", code="PROGRAMME_NOT_FOUND")
    return prog


def managed(s: Session, p: Principal, number: str) -> Programme:
    """A programme `p` may change: his division's."""
    officer_region(p)
    return get(s, p, number)


def rules_of(s: Session, prog: Programme, version: int | None = None) -> Rules:
    raw = s.execute(select(RuleVersion.rules).where(RuleVersion.programme_id == prog.id,
                                                    RuleVersion.version == (version or prog.rule_version))).scalar_one()
    return rules.parse(raw, prog.kind)


def versions(s: Session, prog: Programme) -> list[RuleVersion]:
    return list(s.execute(select(RuleVersion).where(RuleVersion.programme_id == prog.id)
                          .order_by(RuleVersion.version.desc())).scalars())


@dataclass(frozen=True)
class Terms:
    kind: str
    name: str
    region_code: str
    starts_on: date
    ends_on: date
    budget_fen: int


def check_terms(kind: str, name: str, region_code: str, starts_on: date, ends_on: date, budget_fen: int,
                officer: str) -> Terms:
    if kind not in KINDS:
        raise InvalidInput(f"未知的政策类型“{kind}”，应为：{'、'.join(f'{v} {k}' for k, v in KINDS.items())}",
                           code="BAD_POLICY_KIND")
    name = (name or "").strip()
    if not 2 <= len(name) <= 100:
        raise InvalidInput("政策项目名称须为 2–100 个字", code="BAD_NAME")
    if not is_valid_region(region_code):
        raise InvalidInput(f"行政区划代码“{region_code}”不符合GB/T 2260", code="BAD_REGION")
    if not covers(officer, region_code):
        raise Forbidden(f"{region_name(region_code) or region_code}不在本部门（{region_name(officer) or officer}）"
                        "管辖范围内", code="REGION_NOT_MANAGED")
    if ends_on < starts_on:
        raise InvalidInput(f"政策期限的结束日 {ends_on} 早于开始日 {starts_on}", code="BAD_PERIOD")
    if (ends_on - starts_on).days > 3660:
        raise InvalidInput("政策期限不能超过 10 年", code="BAD_PERIOD")
    if not 0 < budget_fen <= MAX_FEN:
        raise InvalidInput("预算须大于 0", code="BAD_BUDGET")
    return Terms(kind, name, region_code, starts_on, ends_on, budget_fen)


def _add_version(s: Session, prog: Programme, r: Rules, actor: str, note: str | None) -> RuleVersion:
    doc, digest = rules.canonical(r)
    n = (s.execute(select(func.max(RuleVersion.version)).where(RuleVersion.programme_id == prog.id)).scalar() or 0) + 1
    v = RuleVersion(programme_id=prog.id, version=n, rules=doc, digest=digest, note=(note or None) and note[:200],
                    created_by=actor, created_at=clock.now())
    s.add(v)
    prog.rule_version, prog.updated_at = n, clock.now()
    s.flush()
    return v


def create(s: Session, p: Principal, *, kind: str, name: str, region_code: str, starts_on: date, ends_on: date,
           budget_fen: int, raw_rules: dict[str, Any]) -> Programme:
    """A new programme, a draft with rule version 1 (the kind's defaults where the rules say nothing)."""
    t = check_terms(kind, name, region_code, starts_on, ends_on, budget_fen, officer_region(p))
    r = rules.parse(raw_rules, kind)
    now = clock.now()
    prog = Programme(number=f"ZC-{region_code}-{now.astimezone(clock.CHINA_TZ):%Y%m%d}-{secrets.token_hex(4).upper()}",
                     kind=t.kind, name=t.name, region_code=t.region_code, starts_on=t.starts_on, ends_on=t.ends_on,
                     budget_fen=t.budget_fen, state="DRAFT", rule_version=0, created_by=p.username, created_at=now,
                     updated_at=now)
    s.add(prog)
    s.flush()
    _add_version(s, prog, r, p.username, "初始规则")
    audit.record(s, p.username, "policy.programme.created", f"programme:{prog.number}", kind=kind,
                 region=region_code, budget_fen=budget_fen)
    return prog


def revise(s: Session, p: Principal, number: str, raw_rules: dict[str, Any], note: str | None = None) -> RuleVersion:
    """New rules from now on: enrolments and claims made before keep the version they used."""
    prog = managed(s, p, number)
    if prog.state == "CLOSED":
        raise Conflict("政策项目已结束，不能再修改规则", code="PROGRAMME_CLOSED")
    r = rules.parse(raw_rules, prog.kind)
    if rules.canonical(r)[1] == s.execute(select(RuleVersion.digest).where(
            RuleVersion.programme_id == prog.id, RuleVersion.version == prog.rule_version)).scalar():
        raise Conflict("规则与现行版本相同，无需新建版本", code="RULES_UNCHANGED")
    v = _add_version(s, prog, r, p.username, note)
    audit.record(s, p.username, "policy.rules.revised", f"programme:{prog.number}", version=v.version, digest=v.digest)
    return v


def start(s: Session, p: Principal, number: str) -> Programme:
    """Draft → running: the budget enters the ledger (fund debit, budget credit)."""
    prog = managed(s, p, number)
    if prog.state != "DRAFT":
        raise Conflict(f"政策项目当前为“{PROGRAMME_STATES[prog.state]}”，不能再启动", code="PROGRAMME_NOT_DRAFT")
    prog.state, prog.updated_at = "ACTIVE", clock.now()
    ledger.transfer(s, prog.id, ledger.FUND, ledger.BUDGET, prog.budget_fen, f"{prog.name} 预算 {wan(prog.budget_fen)}",
                    p.username)
    audit.record(s, p.username, "policy.programme.started", f"programme:{prog.number}", budget_fen=prog.budget_fen)
    return prog


def close(s: Session, p: Principal, number: str) -> Programme:
    """Running → ended: no more enrolments or claims; claims already submitted still run their course."""
    prog = managed(s, p, number)
    if prog.state != "ACTIVE":
        raise Conflict(f"政策项目当前为“{PROGRAMME_STATES[prog.state]}”，只有实施中的项目可以结束",
                       code="PROGRAMME_NOT_ACTIVE")
    prog.state, prog.updated_at = "CLOSED", clock.now()
    audit.record(s, p.username, "policy.programme.closed", f"programme:{prog.number}")
    return prog


def contribute(s: Session, p: Principal, number: str, party: str, amount_fen: int) -> str:
    """Money into a running programme from a named party (a pool's co-funders: 财政、合作银行、担保机构)."""
    prog = managed(s, p, number)
    if prog.state != "ACTIVE":
        raise Conflict("只有实施中的政策项目可以注资", code="PROGRAMME_NOT_ACTIVE")
    party = (party or "").strip()
    if not 2 <= len(party) <= 30:
        raise InvalidInput("出资方名称须为 2–30 个字", code="BAD_PARTY")
    if not 0 < amount_fen <= MAX_FEN:
        raise InvalidInput("注资金额须大于 0", code="BAD_AMOUNT")
    txn = ledger.transfer(s, prog.id, ledger.FUND, f"contrib:{party}", amount_fen, f"{party} 注资 {wan(amount_fen)}",
                          p.username)
    audit.record(s, p.username, "policy.programme.contribution", f"programme:{prog.number}", party=party,
                 amount_fen=amount_fen, txn=txn)
    return txn


def pending_fen(s: Session, programme_id: int) -> int:
    """Claims submitted and not yet paid or refused: money promised but still in the fund."""
    return int(s.execute(select(func.coalesce(func.sum(Claim.amount_fen), 0)).where(
        Claim.programme_id == programme_id, Claim.state.in_(PENDING))).scalar_one())


def available_fen(s: Session, prog: Programme) -> int:
    """What a new claim may still take: money in hand less what pending claims hold."""
    return ledger.fund_balance(s, prog.id) - pending_fen(s, prog.id)


def running(prog: Programme) -> None:
    if prog.state != "ACTIVE":
        raise Conflict(f"政策项目“{prog.name}”当前为“{PROGRAMME_STATES[prog.state]}”，不受理备案和申领",
                       code="PROGRAMME_NOT_ACTIVE")
