"""The finance office's pages (政策管理人员): the programmes of its division as a paged list; the form that
creates one, its rules pre-filled with the kind's defaults beside the scheme they come from; one programme
with its money, rules and their versions, enrolments, claims, claim batches and ledger; the queue of claims
waiting for the office, and one claim with its figures, evidence, timeline and the moves the two-officer
flow leaves to this officer now.

The operator and the regulator read every programme through the same pages, without the forms. A claim's
evidence is served here to anyone the claim is visible to: the bank's and the enterprise's pages link to it.

Rates are typed in percent and amounts in 万元; the page turns them into the rules' basis points and 分,
and `rules.parse` (inside the services) decides whether they hold together."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from xinyidai.access.log import entity_names, institution_names
from xinyidai.accounts.people import names_of
from xinyidai.credit.indicators import GRADE_ORDER
from xinyidai.entities.regions import HEILONGJIANG_COUNTIES, HEILONGJIANG_PREFECTURES, region_name
from xinyidai.kit import clock
from xinyidai.kit.errors import Conflict, DomainError, InvalidInput, NotFound
from xinyidai.kit.pagination import MAX_PAGE, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market.flows import ActorKind, AlreadyDone
from xinyidai.market.models import Loan
from xinyidai.market.money import yuan
from xinyidai.market.pages.common import (
    Fields,
    fields,
    page,
    query,
    see_other,
    state_counts,
    wan_fen,
    wan_value,
)
from xinyidai.policy import arithmetic, claims, evidence, flows, ledger, programmes, rules
from xinyidai.policy.models import (
    KINDS,
    PROGRAMME_STATES,
    Claim,
    Enrolment,
    GuaranteeContract,
    LedgerEntry,
    Programme,
    RuleVersion,
)
from xinyidai.policy.rules import LEVELS, Rules
from xinyidai.records import pages as record_pages
from xinyidai.web.deps import db_session, node, require

router = APIRouter(include_in_schema=False)
READ = require("policy", "operator", "regulator")
# A finance officer starts at his programmes, not at the province's data overview (which he may not read).
record_pages.HOMES["policy"] = "/policy"
OFFICER = require("policy")
# The evidence link is shared with the banks' and enterprises' pages; `claims.get` decides who sees what.
EVIDENCE_READERS = require("policy", "operator", "regulator", "bank", "enterprise")

DONE = {"created": "政策项目草稿已保存。核对规则后点“启动实施”，预算记入政策资金后银行即可备案。",
        "start": "政策已启动实施，预算已记入政策资金账户。", "close": "政策已结束，不再受理新的备案和申领。",
        "rules": "已保存新版本规则；此后的备案和申领按新版本办理，此前的保持原版本。",
        "contribute": "注资已入账。", "review": "已初审通过，待另一名工作人员复核。", "approve": "已复核通过，待登记拨付。",
        "reject": "已退回申领机构。", "pay": "拨付已登记，资金已从政策账户付出。", "already": "该操作已办理，无需重复。",
        "batch_review": "批次中的申领已初审通过。", "batch_approve": "批次中的申领已复核通过。",
        "batch_reject": "批次中的申领已退回。", "batch_pay": "批次拨付已登记。"}
OFFICE_MOVES = ("review", "approve", "reject", "pay")
TABS = ("claims", "batches", "enrolments", "ledger", "rules")
WAITING = (flows.SUBMITTED, flows.REVIEWED)  # what the office still has to decide
BLOCKED = "须由另一名工作人员复核"
PROGRAMME_SORTS = {"name": Programme.name, "kind": Programme.kind, "region": Programme.region_code,
                   "starts_on": Programme.starts_on, "budget": Programme.budget_fen, "state": Programme.state,
                   "created_at": Programme.created_at}
ENROLMENT_SORTS = {"enrolled_at": Enrolment.enrolled_at, "eligible": Enrolment.eligible_fen,
                   "loan_no": Enrolment.loan_no}
LEDGER_SORTS = {"at": LedgerEntry.id, "account": LedgerEntry.account}
BATCH_SORTS = {"created_at": func.min(Claim.created_at), "amount": func.sum(Claim.amount_fen),
               "claims": func.count()}
CLAIM_TONES = {flows.DRAFT: "end", flows.SUBMITTED: "turn", flows.REVIEWED: "turn", flows.APPROVED: "wait",
               flows.PAID: "good", flows.REJECTED: "bad", flows.WITHDRAWN: "end"}
PROGRAMME_TONES = {"DRAFT": "end", "ACTIVE": "good", "CLOSED": "end"}


# ── the rules as a form ─────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class RuleField:
    """One kind-specific rule on the form. unit: pct (typed in %, kept in bp), wan (万元 → 分), int, basis.
    `optional`: left empty it reads as 0, which the rules take as "不设"."""

    key: str
    label: str
    unit: str
    hint: str = ""
    optional: bool = False


KIND_FIELDS: dict[str, tuple[RuleField, ...]] = {
    "interest": (RuleField("rate_bp", "贴息比例（个百分点/年）", "pct", "如 1 即按年利率 1 个百分点贴息，不超过贷款利率"),
                 RuleField("cap_fen", "单户贴息本金上限（万元）", "wan", "同一企业在本政策备案的贴息本金合计"),
                 RuleField("max_days", "最长贴息期限（天）", "int", "自首次放款日起算"),
                 RuleField("day_basis", "计息天数基准", "basis")),
    "guarantee": (RuleField("rate_bp", "补贴比例（担保金额的 %/年）", "pct", "补贴不超过同期担保费"),
                  RuleField("fee_ceiling_bp", "担保费率上限（%）", "pct", "担保费率高于此的合同不予补贴；不填为不设上限",
                            optional=True),
                  RuleField("max_days", "最长补贴期限（天）", "int", "自担保开始日起算"),
                  RuleField("day_basis", "计息天数基准", "basis")),
    "pool": (RuleField("share_bp", "损失补偿比例（%）", "pct", "不良贷款本金损失中由资金池补偿的比例"),
             RuleField("credit_share_bp", "信用贷款补偿比例（%）", "pct", "不填为同一般比例；不低于一般比例", optional=True),
             RuleField("first_share_bp", "首贷补偿比例（%）", "pct", "不填为同一般比例；不低于一般比例", optional=True),
             RuleField("bank_cap_fen", "单家银行年度补偿上限（万元）", "wan", "不填为不设上限", optional=True),
             RuleField("suspend_overdue_bp", "暂停新增备案的逾期率（%）", "pct", "银行在本政策的逾期率高于此即暂停备案；不填为不暂停",
                       optional=True)),
}
FLAGS = (("credit_only", "仅限信用贷款"), ("first_only", "仅限首贷"), ("allow_stacking", "允许与同类政策叠加享受"))


def pct_text(bp: int) -> str:
    """Basis points as a person types a percentage: 100 → "1", 50 → "0.5"."""
    return format((Decimal(bp) / 100).normalize(), "f")


def rule_values(r: Rules) -> dict[str, str]:
    """A version's rules as the form shows them, keyed `<kind>.<rule>`."""
    k = r.kind
    out: dict[str, str] = {}
    for fld in KIND_FIELDS[k]:
        n = int(getattr(r, fld.key))
        if fld.optional and n == 0:
            out[f"{k}.{fld.key}"] = ""
        elif fld.unit == "pct":
            out[f"{k}.{fld.key}"] = pct_text(n)
        elif fld.unit == "wan":
            out[f"{k}.{fld.key}"] = wan_value(n)
        else:
            out[f"{k}.{fld.key}"] = str(n)
    out[f"{k}.industries"] = " ".join(r.industries)
    out[f"{k}.min_grade"] = r.min_grade or ""
    for flag, _ in FLAGS:
        out[f"{k}.{flag}"] = "yes" if getattr(r, flag) else ""
    for level in LEVELS:
        out[f"{k}.split.{level}"] = pct_text(r.split[level]) if level in r.split else ""
    return out


def posted_values(f: Fields, kind: str) -> dict[str, str]:
    """What was typed for the kind's rules, to show again if the form is refused."""
    names = [fld.key for fld in KIND_FIELDS.get(kind, ())] + ["industries", "min_grade"] + [k for k, _ in FLAGS]
    out = {f"{kind}.{n}": f.get(f"{kind}.{n}") for n in names}
    out.update({f"{kind}.split.{lv}": f.get(f"{kind}.split.{lv}") for lv in LEVELS})
    return out


def _bad(key: str, message: str) -> InvalidInput:
    return InvalidInput(message, code="RULE_FORMAT", detail={"rule": key})


def _bp(text: str, key: str, label: str) -> int:
    t = text.replace("%", "").replace("％", "").strip()
    try:
        d = Decimal(t)
    except InvalidOperation:
        raise _bad(key, f"{label}“{text}”不是有效的百分数") from None
    if not d.is_finite():  # before any arithmetic: a signalling NaN raises on use
        raise _bad(key, f"{label}“{text}”不是有效的百分数")
    scaled = d * 100
    if scaled != scaled.to_integral_value():
        raise _bad(key, f"{label}“{text}”最多精确到 0.01（个百分点）")
    return int(scaled)


def raw_rules(values: dict[str, str], kind: str) -> dict[str, Any]:
    """The typed form → the rules' own units (bp, 分, days), for `rules.parse` to judge."""
    raw: dict[str, Any] = {}
    for fld in KIND_FIELDS[kind]:
        text = values.get(f"{kind}.{fld.key}", "").strip()
        label = fld.label.split("（")[0]
        if not text:
            if not fld.optional:
                raise _bad(fld.key, f"请填写{label}")
            raw[fld.key] = 0
        elif fld.unit == "pct":
            raw[fld.key] = _bp(text, fld.key, label)
        elif fld.unit == "wan":
            try:
                raw[fld.key] = wan_fen(text, label, allow_zero=fld.optional)
            except InvalidInput as exc:
                raise _bad(fld.key, exc.message) from None
        else:
            raw[fld.key] = text  # the rules read integers from text and say what is wrong with it
    raw["industries"] = values.get(f"{kind}.industries", "").replace("、", ",")
    raw["min_grade"] = values.get(f"{kind}.min_grade") or None
    for flag, _ in FLAGS:
        raw[flag] = values.get(f"{kind}.{flag}") == "yes"
    split = {}
    for level in LEVELS:
        text = values.get(f"{kind}.split.{level}", "").strip()
        share = _bp(text, "split", f"{level}财政分担比例") if text else 0
        if share:  # a level left empty or at 0 does not share the cost
            split[level] = share
    raw["split"] = split
    return raw


def region_choices(division: str) -> dict[str, str]:
    """The officer's division and the divisions right under it: a province's prefectures, a city's
    districts and counties."""
    out = {division: region_name(division) or division}
    if division.endswith("0000"):
        out.update({c: n for c, (n, _) in HEILONGJIANG_PREFECTURES.items() if c[:2] == division[:2]})
    elif division.endswith("00"):
        out.update(HEILONGJIANG_COUNTIES.get(division, {}))
    return out


def _date(text: str, label: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{label}“{text}”应写作 YYYY-MM-DD", code="DATE_FORMAT") from None


# ── shared views ────────────────────────────────────────────────────────────────────────────────────────

def _may_act(p: Principal) -> bool:
    return p.role == "policy"


def _waiting(s: Session, p: Principal) -> int:
    """Claims the office still has to decide, across what `p` sees (the headline of the list pages)."""
    return int(s.execute(select(func.count()).select_from(
        claims.visible(p).where(Claim.state.in_(WAITING)).order_by(None).subquery())).scalar_one())


def _common(s: Session, p: Principal) -> dict[str, Any]:
    return {"may_act": _may_act(p),
            "kinds": KINDS, "programme_states": PROGRAMME_STATES, "claim_label": flows.CLAIM.label,
            "claim_tones": CLAIM_TONES, "programme_tones": PROGRAMME_TONES, "region_name": region_name,
            "pct": lambda b: f"{pct_text(b)}%", "yuan": lambda f: f"{yuan(f)} 元", "blocked_text": BLOCKED}


def _period(c: Claim) -> str:
    return arithmetic.period_text(c.period_from_day, c.period_to_day) or "不适用"


def claim_rows(s: Session, p: Principal, items: list[Claim]) -> list[dict[str, Any]]:
    """A page of claims with their programme, institution and enterprise named (three queries, not 3n)."""
    if not items:
        return []
    progs = {x.id: x for x in s.execute(select(Programme).where(
        Programme.id.in_({c.programme_id for c in items}))).scalars()}
    insts = institution_names(s, {c.institution_code for c in items})
    ents = entity_names(s, {c.entity_code for c in items})
    return [{"c": c, "programme": progs[c.programme_id], "institution": insts.get(c.institution_code, c.institution_code),
             "entity": ents.get(c.entity_code, c.entity_code), "period": _period(c),
             "state_label": flows.CLAIM.label(c.state),
             "blocked": c.state == flows.REVIEWED and c.reviewed_by == p.username} for c in items]


def _money_of(s: Session, ids: set[int]) -> dict[int, tuple[int, int]]:
    """Per programme of a page: (paid out, money in hand less what pending claims hold), in two queries."""
    if not ids:
        return {}
    acc = LedgerEntry.account
    rows = s.execute(select(LedgerEntry.programme_id,
                            func.sum(case((acc.like("payout:%"), LedgerEntry.debit_fen - LedgerEntry.credit_fen), else_=0)),
                            func.sum(case((acc == ledger.FUND, LedgerEntry.debit_fen - LedgerEntry.credit_fen), else_=0)))
                     .where(LedgerEntry.programme_id.in_(ids)).group_by(LedgerEntry.programme_id)).all()
    held = dict(s.execute(select(Claim.programme_id, func.sum(Claim.amount_fen)).where(
        Claim.programme_id.in_(ids), Claim.state.in_(programmes.PENDING)).group_by(Claim.programme_id)).all())
    return {pid: (int(paid or 0), int(fund or 0) - int(held.get(pid) or 0)) for pid, paid, fund in rows}


# ── the programmes ──────────────────────────────────────────────────────────────────────────────────────

@router.get("/policy", response_class=HTMLResponse)
def programme_list(request: Request, state: str = "", kind: str = "", q: str = "",
                   page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), size: int = Query(20, ge=1, le=200),
                   sort: str | None = None, desc: bool = True, p: Principal = Depends(READ),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    stmt = programmes.visible(p)
    if state in PROGRAMME_STATES:
        stmt = stmt.where(Programme.state == state)
    if kind in KINDS:
        stmt = stmt.where(Programme.kind == kind)
    if q.strip():
        stmt = stmt.where(Programme.name.contains(q.strip(), autoescape=True))
    result = paginate(s, stmt, PageRequest(page_no, size, sort or "created_at", desc), PROGRAMME_SORTS, "created_at")
    money = _money_of(s, {x.id for x in result.items})
    rows = [{"prog": x, "paid": money.get(x.id, (0, 0))[0], "available": money.get(x.id, (0, 0))[1]}
            for x in result.items]
    division = p.org_code if p.role == "policy" else None
    return page(request, "policy/office_programmes.html", **_common(s, p), waiting=_waiting(s, p), page=result,
                rows=rows, state=state, kind=kind, q=q, division=division, params=query(state=state, kind=kind, q=q))


def _new_form(p: Principal, kind: str) -> dict[str, str]:
    today = clock.today()
    form = {"kind": kind, "name": "", "region_code": programmes.officer_region(p), "starts_on": today.isoformat(),
            "ends_on": (date(today.year + 1, today.month, 1) - timedelta(days=1)).isoformat(), "budget": ""}
    for k in KINDS:
        form.update(rule_values(rules.defaults(k)))
    return form


def _form_page(request: Request, s: Session, p: Principal, form: dict[str, str], *,
               error: DomainError | None = None) -> Response:
    return page(request, "policy/office_programme_form.html", **_common(s, p), error=error, form=form,
                regions=region_choices(programmes.officer_region(p)), sources=rules.SOURCES, kind_fields=KIND_FIELDS,
                flags=FLAGS, levels=LEVELS, grades=GRADE_ORDER, bad_rule=_bad_rule(error))


def _bad_rule(error: DomainError | None) -> str:
    detail = error.detail if error is not None else None
    return str(detail.get("rule", "")) if isinstance(detail, dict) else ""


@router.get("/policy/new", response_class=HTMLResponse)
def new_programme(request: Request, kind: str = "interest", p: Principal = Depends(OFFICER),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _form_page(request, s, p, _new_form(p, kind if kind in KINDS else "interest"))


@router.post("/policy/new", response_class=HTMLResponse)
def create_programme(request: Request, f: Fields = Depends(fields), p: Principal = Depends(OFFICER),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    kind = f.get("kind")
    form = _new_form(p, kind if kind in KINDS else "interest")
    form.update(f.pick("kind", "name", "region_code", "starts_on", "ends_on", "budget"))
    if kind in KINDS:
        form.update(posted_values(f, kind))
    try:
        if kind not in KINDS:
            raise InvalidInput("请选择政策类型：贷款贴息、担保费补贴或风险补偿", code="BAD_POLICY_KIND")
        prog = programmes.create(s, p, kind=kind, name=form["name"], region_code=form["region_code"],
                                 starts_on=_date(form["starts_on"], "开始日期"), ends_on=_date(form["ends_on"], "结束日期"),
                                 budget_fen=wan_fen(form["budget"], "预算"), raw_rules=raw_rules(form, kind))
        number = prog.number
    except DomainError as exc:
        s.rollback()
        return _form_page(request, s, p, form, error=exc)
    return see_other(f"/policy/{number}?done=created")


def _versions(s: Session, prog: Programme) -> list[dict[str, Any]]:
    vs = programmes.versions(s, prog)
    people = names_of(s, {v.created_by for v in vs})
    return [{"v": v, "by": people.get(v.created_by, v.created_by), "current": v.version == prog.rule_version,
             "words": rules.describe(rules.parse(v.rules, prog.kind))} for v in vs]


def _enrolment_rows(s: Session, items: list[Enrolment]) -> list[dict[str, Any]]:
    insts = institution_names(s, {e.institution_code for e in items})
    ents = entity_names(s, {e.entity_code for e in items})
    return [{"e": e, "institution": insts.get(e.institution_code, e.institution_code),
             "entity": ents.get(e.entity_code, e.entity_code),
             "period": f"{arithmetic.from_day(e.starts_day)} 至 {arithmetic.from_day(e.ends_day - 1)}"} for e in items]


def account_label(account: str, insts: dict[str, str]) -> str:
    if account == ledger.FUND:
        return "政策资金"
    if account == ledger.BUDGET:
        return "财政预算拨入"
    head, _, rest = account.partition(":")
    words = {"contrib": "出资", "payout": "拨付", "recovery": "追偿返还"}
    return f"{words.get(head, head)}：{insts.get(rest, rest)}" if rest else account


def _ledger_rows(s: Session, items: list[LedgerEntry]) -> list[dict[str, Any]]:
    codes = {e.account.partition(":")[2] for e in items if e.account.startswith(("payout:", "recovery:"))}
    insts = institution_names(s, codes)
    people = names_of(s, {e.actor for e in items})
    claim_numbers = dict(s.execute(select(Claim.id, Claim.number).where(
        Claim.id.in_({e.claim_id for e in items if e.claim_id}))).all()) if any(e.claim_id for e in items) else {}
    return [{"l": e, "account": account_label(e.account, insts), "by": people.get(e.actor, e.actor),
             "claim": claim_numbers.get(e.claim_id) if e.claim_id else None} for e in items]


def batch_moves(states: dict[str, int], reviewers: set[str], p: Principal) -> tuple[list[str], bool]:
    """The batch moves open to this officer (the states its claims are in), and whether the two-officer
    rule keeps him from approving: he reviewed one of the claims waiting for approval."""
    if not _may_act(p):
        return [], False
    moves = [a for a in OFFICE_MOVES if flows.CLAIM.move(a).sources & set(states)]
    blocked = "approve" in moves and p.username in reviewers
    return [a for a in moves if not (a == "approve" and blocked)], blocked


def _batches(s: Session, p: Principal, prog: Programme, req: PageRequest) -> tuple[Any, list[dict[str, Any]]]:
    mine = claims.visible(p).with_only_columns(Claim.id).where(Claim.programme_id == prog.id,
                                                                Claim.batch.is_not(None))
    stmt = (select(Claim.batch, func.count(), func.coalesce(func.sum(Claim.amount_fen), 0),
                   func.min(Claim.created_at), func.min(Claim.institution_code))
            .where(Claim.id.in_(mine)).group_by(Claim.batch))
    result = paginate(s, stmt, req, BATCH_SORTS, "created_at", scalars=False)
    names = [r[0] for r in result.items]
    states: dict[str, dict[str, int]] = {b: {} for b in names}
    sums: dict[str, dict[str, int]] = {b: {} for b in names}
    reviewers: dict[str, set[str]] = {b: set() for b in names}
    if names:
        for b, st, n, total in s.execute(select(Claim.batch, Claim.state, func.count(), func.sum(Claim.amount_fen))
                                         .where(Claim.id.in_(mine), Claim.batch.in_(names))
                                         .group_by(Claim.batch, Claim.state)).all():
            states[b][st], sums[b][st] = int(n), int(total or 0)
        for b, who in s.execute(select(Claim.batch, Claim.reviewed_by).where(
                Claim.id.in_(mine), Claim.batch.in_(names), Claim.state == flows.REVIEWED,
                Claim.reviewed_by.is_not(None)).distinct()).all():
            reviewers[b].add(who)
    insts = institution_names(s, {r[4] for r in result.items})
    rows = []
    for b, n, total, first, inst in result.items:
        moves, blocked = batch_moves(states[b], reviewers[b], p)
        rows.append({"batch": b, "claims": int(n), "amount": int(total), "created_at": first,
                     "institution": insts.get(inst, inst), "states": states[b], "sums": sums[b], "moves": moves,
                     "blocked": blocked})
    return result, rows


def _programme_page(request: Request, s: Session, p: Principal, number: str, *, tab: str = "claims",
                    state: str = "", batch: str = "", page_no: int = 1, size: int = 20, sort: str | None = None, desc: bool = True,
                    done: str | None = None, error: DomainError | None = None,
                    form: dict[str, str] | None = None, contribution: dict[str, str] | None = None) -> Response:
    prog = programmes.get(s, p, number)
    tab = tab if tab in TABS else "claims"
    current = programmes.rules_of(s, prog)
    totals = ledger.totals(s, prog.id)
    pending = programmes.pending_fen(s, prog.id)
    in_programme = claims.visible(p).where(Claim.programme_id == prog.id)
    ctx: dict[str, Any] = {"prog": prog, "tab": tab, "rules_words": rules.describe(current),
                           "source": rules.SOURCES[prog.kind], "totals": totals, "pending": pending,
                           "available": totals.balance_fen - pending, "balanced": totals.debits_fen == totals.credits_fen,
                           "claim_counts": state_counts(s, in_programme),
                           "enrolled": int(s.execute(select(func.count()).where(Enrolment.programme_id == prog.id))
                                           .scalar_one()),
                           "creator": names_of(s, {prog.created_by}).get(prog.created_by, prog.created_by),
                           "form": form or rule_values(current), "contribution": contribution or {},
                           "kind_fields": KIND_FIELDS, "flags": FLAGS,
                           "levels": LEVELS, "grades": GRADE_ORDER, "bad_rule": _bad_rule(error), "state": state,
                           "batch": batch,
                           "claim_states": flows.CLAIM.states, "versions": _versions(s, prog) if tab == "rules" else []}
    req = PageRequest(page_no, size, sort, desc)
    if tab == "claims":
        stmt = in_programme.where(Claim.state == state) if state else in_programme
        if batch:
            stmt = stmt.where(Claim.batch == batch)
        result = paginate(s, stmt, req, claims.SORTABLE, "created_at")
        ctx.update(page=result, rows=claim_rows(s, p, result.items), params=query(tab=tab, state=state, batch=batch))
    elif tab == "batches":
        result, rows = _batches(s, p, prog, req)
        ctx.update(page=result, rows=rows, params=query(tab=tab))
    elif tab == "enrolments":
        result = paginate(s, select(Enrolment).where(Enrolment.programme_id == prog.id), req, ENROLMENT_SORTS,
                          "enrolled_at")
        ctx.update(page=result, rows=_enrolment_rows(s, result.items), params=query(tab=tab))
    elif tab == "ledger":
        result = paginate(s, select(LedgerEntry).where(LedgerEntry.programme_id == prog.id), req, LEDGER_SORTS, "at")
        ctx.update(page=result, rows=_ledger_rows(s, result.items), params=query(tab=tab),
                   unbalanced=ledger.unbalanced_transactions(s, prog.id))
    return page(request, "policy/office_programme.html", **_common(s, p), error=error, done=done, **ctx)


@router.get("/policy/claims", response_class=HTMLResponse)
def claim_queue(request: Request, state: str = "", q: str = "", page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE),
                size: int = Query(20, ge=1, le=200), sort: str | None = None, desc: bool = False,
                p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    """What waits for the office (submitted or reviewed, oldest first), or the claims in one state ("ALL":
    every state), across the programmes the officer manages."""
    stmt = claims.visible(p)
    if state == "":
        stmt = stmt.where(Claim.state.in_(WAITING))
    elif state != "ALL":
        stmt = stmt.where(Claim.state == state)
    if q.strip():
        stmt = stmt.where(Claim.number.contains(q.strip().upper(), autoescape=True))
    result = paginate(s, stmt, PageRequest(page_no, size, sort, desc), claims.SORTABLE, "created_at")
    return page(request, "policy/office_claims.html", **_common(s, p), page=result,
                rows=claim_rows(s, p, result.items), state=state, q=q, claim_states=flows.CLAIM.states,
                counts=state_counts(s, claims.visible(p)), params=query(state=state, q=q))


@router.get("/policy/claims/{number}/evidence")
def claim_evidence(number: str, request: Request, p: Principal = Depends(EVIDENCE_READERS),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    """The file the claim names, checked against the digest it was recorded with."""
    c = claims.get(s, p, number)
    if not c.evidence_path:
        raise NotFound(f"申领 {number} 没有上传凭证", code="EVIDENCE_NOT_FOUND")
    root = Path(node(request).settings.var_dir).resolve()
    path = (root / c.evidence_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound("凭证文件不在本节点的存储中", code="EVIDENCE_NOT_FOUND")
    data = path.read_bytes()
    if c.evidence_sha256 and hashlib.sha256(data).hexdigest() != c.evidence_sha256:
        raise Conflict("凭证文件与申领登记的摘要不一致，可能已被改动；请联系平台运营方核查", code="EVIDENCE_TAMPERED")
    ext = c.evidence_path.rsplit(".", 1)[-1]
    name = c.evidence_name or f"凭证.{ext}"
    return Response(data, media_type=evidence.media_type(c.evidence_path), headers={
        "Content-Disposition": f"attachment; filename=\"{c.number}.{ext}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "no-store"})


def _timeline(s: Session, c: Claim) -> tuple[list[dict[str, Any]], str | None]:
    """The claim's steps in words, and the formula its "create" step recorded."""
    evs = claims.events(s, c)
    people = names_of(s, {e.actor for e in evs})
    steps, formula = [], None
    for e in evs:
        pl = e.payload or {}
        if e.action == "create":
            formula = pl.get("formula")
        details = []
        if pl.get("batch") and e.action != "create":
            details.append(f"批量办理（批次 {pl['batch']}）")
        if pl.get("reason"):
            details.append(f"退回原因：{pl['reason']}")
        if pl.get("payment_ref"):
            details.append(f"支付凭证号 {pl['payment_ref']}，支付日期 {pl.get('paid_on')}")
        if pl.get("recovered_fen"):
            details.append(f"追偿回款 {yuan(pl['recovered_fen'])} 元，按比例返还资金池 {yuan(pl.get('returned_fen') or 0)} 元")
        steps.append({"label": flows.CLAIM.move(e.action).label, "at": e.at, "who": people.get(e.actor, e.actor),
                      "by": "政策管理部门" if e.action in OFFICE_MOVES else "申领机构",
                      "state": flows.CLAIM.label(e.to_state), "details": details, "recorded": None})
    return steps, formula


def _claim_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
                error: DomainError | None = None, form: dict[str, str] | None = None) -> Response:
    c = claims.get(s, p, number)
    prog = s.get(Programme, c.programme_id)
    assert prog is not None
    enrolment = s.get(Enrolment, c.enrolment_id)
    loan = s.get(Loan, enrolment.loan_id) if enrolment else None
    contract = s.get(GuaranteeContract, enrolment.contract_id) if enrolment and enrolment.contract_id else None
    rule_row = s.execute(select(RuleVersion).where(RuleVersion.programme_id == prog.id,
                                                  RuleVersion.version == c.rule_version)).scalar_one()
    steps, formula = _timeline(s, c)
    worked = claims.worked(s, c)  # the amount and formula again from the claim's own figures
    people = names_of(s, {c.reviewed_by, c.approved_by, c.created_by})
    moves = [m.action for m in flows.CLAIM.moves_from(c.state, ActorKind.POLICY)] if _may_act(p) else []
    blocked = "approve" in moves and c.reviewed_by == p.username
    insts = institution_names(s, {c.institution_code, c.bank_code})
    return page(request, "policy/office_claim.html", **_common(s, p), error=error, done=done,
                c=c, prog=prog, row=claim_rows(s, p, [c])[0], loan=loan, contract=contract, rule_row=rule_row,
                formula=formula or worked.formula, bulk=formula is None, recomputed=worked.amount_fen,
                split=claims.split_of(s, c), steps=steps, people=people, bank=insts.get(c.bank_code, c.bank_code),
                moves=[a for a in moves if not (a == "approve" and blocked)], blocked=blocked,
                form=form or {}, today=clock.today().isoformat())


@router.get("/policy/claims/{number}", response_class=HTMLResponse)
def claim_page(number: str, request: Request, done: str = "", p: Principal = Depends(READ),
               s: Session = Depends(db_session, scope="function")) -> Response:
    return _claim_page(request, s, p, number, done=DONE.get(done))


@router.post("/policy/claims/{number}/act", response_class=HTMLResponse)
def claim_act(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(OFFICER),
              s: Session = Depends(db_session, scope="function")) -> Response:
    action = f.get("action")
    body = f.pick("reason", "payment_ref", "paid_on")
    try:
        if action not in OFFICE_MOVES:
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        paid_on = None
        if action == "pay" and body["paid_on"]:
            paid_on = _date(body["paid_on"], "支付日期")
            if paid_on > clock.today():
                raise InvalidInput(f"支付日期 {paid_on} 晚于今天：请在资金付出后登记", code="BAD_DATE")
        claims.act(s, p, number, action, reason=body["reason"], payment_ref=body["payment_ref"], paid_on=paid_on)
    except DomainError as exc:
        s.rollback()
        # A second click on a review or approval changes nothing and says so; a second payment is refused
        # in words, so nobody believes a second payment reference was recorded.
        if isinstance(exc, AlreadyDone) and action != "pay":
            return see_other(f"/policy/claims/{number}?done=already")
        return _claim_page(request, s, p, number, error=exc, form={"action": action, **body})
    return see_other(f"/policy/claims/{number}?done={action}")


@router.get("/policy/{number}", response_class=HTMLResponse)
def programme_page(number: str, request: Request, tab: str = "claims", state: str = "", batch: str = "",
                   done: str = "",
                   page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), size: int = Query(20, ge=1, le=200),
                   sort: str | None = None, desc: bool = True, p: Principal = Depends(READ),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    return _programme_page(request, s, p, number, tab=tab, state=state, batch=batch, page_no=page_no, size=size, sort=sort,
                           desc=desc, done=DONE.get(done))


@router.post("/policy/{number}/act", response_class=HTMLResponse)
def programme_act(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(OFFICER),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    """Start or close the programme, or take a contribution into it."""
    action = f.get("action")
    form = f.pick("party", "amount")
    try:
        if action == "start":
            programmes.start(s, p, number)
        elif action == "close":
            programmes.close(s, p, number)
        elif action == "contribute":
            programmes.contribute(s, p, number, form["party"], wan_fen(form["amount"], "注资金额"))
        else:
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
    except DomainError as exc:
        s.rollback()
        return _programme_page(request, s, p, number, error=exc, tab="ledger" if action == "contribute" else "claims",
                               contribution=form)
    return see_other(f"/policy/{number}?done={action}" + ("&tab=ledger" if action == "contribute" else ""))


@router.post("/policy/{number}/rules", response_class=HTMLResponse)
def revise_rules(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(OFFICER),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    prog = programmes.get(s, p, number)
    values = {**posted_values(f, prog.kind), "note": f.get("note")}
    try:
        if not 2 <= len(values["note"]) <= 200:
            raise InvalidInput("请说明修改规则的原因（2–200 字），将记入规则版本", code="NOTE_REQUIRED")
        programmes.revise(s, p, number, raw_rules(values, prog.kind), values["note"])
    except DomainError as exc:
        s.rollback()
        return _programme_page(request, s, p, number, tab="rules", error=exc, form=values)
    return see_other(f"/policy/{number}?done=rules&tab=rules")


@router.post("/policy/{number}/batches/{batch}/act", response_class=HTMLResponse)
def batch_act(number: str, batch: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(OFFICER),
              s: Session = Depends(db_session, scope="function")) -> Response:
    action = f.get("action")
    try:
        if action not in OFFICE_MOVES:
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        claims.act_batch(s, p, number, batch, action, payment_ref=f.get("payment_ref"), reason=f.get("reason"))
    except DomainError as exc:
        s.rollback()
        return _programme_page(request, s, p, number, tab="batches", error=exc)
    return see_other(f"/policy/{number}?done=batch_{action}&tab=batches")
