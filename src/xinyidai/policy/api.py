"""JSON API of policy money (政策资金, notice point 十四): programmes of interest subsidies (贷款贴息), guarantee-fee
subsidies (担保费补贴) and risk-compensation pools (风险补偿) with their versioned rules and ledger; banks'
enrolments (备案) and claims (申领); government guarantors' contracts. The same services as the pages: who sees
what is decided inside each service's query, the claim's moves are asked of its flow table, and a refusal
comes back as `{"error", "message", "detail"}`.

Who calls: a policy officer (role `policy`, his account's division code) manages his division's programmes and
reviews their claims — the review and the approval by two different officers; a bank or a government guarantor
(role `bank`) enrols its loans or contracts and claims; an enterprise reads the programmes and its own loans'
enrolments and claims; the operator and the regulator read everything.

Institutions authenticate as on the market's API (session with CSRF token, `X-Api-Key` or a signed request).
**Every write by an institution carries `X-Request-Id`** (`REQUEST_ID_REQUIRED` otherwise) and is idempotent by
it (`market.idempotency`): the same id and body is answered again (`Idempotent-Replayed: true`) without being
done twice, another body is `REQUEST_ID_REUSED`; officers may send one too. Amounts are in 元 and rates in %
(see `schemas`); another institution's enrolment, claim or contract is not found (404) rather than forbidden.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.entities.regions import region_name
from xinyidai.kit import clock
from xinyidai.kit.errors import InvalidInput
from xinyidai.kit.pagination import PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market import idempotency
from xinyidai.market.idempotency import Answer
from xinyidai.market.money import MAX_FEN, fen
from xinyidai.market.schemas import PageOut
from xinyidai.policy import (
    arithmetic,
    claims,
    enrolments,
    evidence,
    flows,
    guarantees,
    ledger,
    programmes,
    rules,
)
from xinyidai.policy.evidence import Evidence
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
from xinyidai.policy.rules import Rules
from xinyidai.policy.schemas import (
    EVIDENCE_MAX_BYTES,
    BatchActionIn,
    BatchOut,
    BulkEnrolmentOut,
    ClaimActionIn,
    ClaimDetailOut,
    ClaimIn,
    ClaimOut,
    CompensationIn,
    ContributionIn,
    ContributionOut,
    EnrolmentIn,
    EnrolmentOut,
    EvidenceIn,
    GuaranteeClaimIn,
    GuaranteeIn,
    GuaranteeOut,
    InterestClaimIn,
    LedgerOut,
    PeriodClaimIn,
    ProgrammeDetailOut,
    ProgrammeIn,
    ProgrammeOut,
    RulesIn,
    RulesRevisionIn,
    errors,
)
from xinyidai.web.deps import db_session, node, require

router = APIRouter(prefix="/api/v1/policy", tags=["政策资金"])

READERS = ("policy", "bank", "enterprise", "operator", "regulator")  # each sees its own rows
LEDGER_READERS = ("policy", "operator", "regulator")
ClaimState = Literal["DRAFT", "SUBMITTED", "REVIEWED", "APPROVED", "PAID", "REJECTED", "WITHDRAWN"]  # the payouts to every institution: not for banks
REQUEST_ID_H = Header(None, alias="X-Request-Id", max_length=64,
                      description="请求编号（金融机构的写操作必填，1–64 个字母、数字或 . _ : -）：同一编号重发同一请求时返回首次结果，"
                                  "不会重复办理；同一编号用于不同内容时拒绝（REQUEST_ID_REUSED）")
PAGE_Q = Query(1, ge=1, le=100_000, description="页码")
SIZE_Q = Query(20, ge=1, le=200, description="每页条数")
DESC_Q = Query(True, description="是否倒序")
WRITE_ERRORS = errors(404, 409, 413, 422)


# ── units: the API's 元 and % against the tables' 分 and basis points ───────────────────────────────────

def _yuan(f: int | None) -> str | None:
    return None if f is None else f"{Decimal(f) / 100:.2f}"


def _pct(b: int | None) -> str | None:
    return None if b is None else f"{Decimal(b) / 100:.2f}"


def _fen(value: Any, field: str, *, allow_zero: bool = False) -> int:
    try:
        return fen(value, field, allow_zero=allow_zero)
    except ArithmeticError:  # "1e999999" overflows the decimal context before it could be refused as too large
        raise InvalidInput(f"{field}“{value}”不是有效的金额（单位元，最多两位小数）", code="AMOUNT_FORMAT") from None


def _bp(value: Any, field: str) -> int:
    """A percentage ("1.5", 1.5) → basis points (150): at most two places; the range is the caller's."""
    try:
        d = Decimal(str(value).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        d = Decimal("NaN")
    if not d.is_finite() or d.as_tuple().exponent < -2 or abs(d) >= 10**6:  # type: ignore[operator]
        raise InvalidInput(f"{field}“{value}”不是有效的百分数（最多两位小数）", code="RATE_FORMAT",
                           detail={"field": field})
    return int(d * 100)


# Each rule the API names: the rules' own key, its unit there, and the range `rules.parse` accepts — stated
# here in the API's units, so a refusal says "10%" and not "1000".
RULE_UNITS: dict[str, tuple[str, str, int, int]] = {
    "rate": ("rate_bp", "pct", 1, rules.MAX_RATE_BP),
    "cap": ("cap_fen", "yuan", 1, rules.MAX_CAP_FEN),
    "max_days": ("max_days", "int", 1, 3660),
    "day_basis": ("day_basis", "int", 360, 365),
    "fee_ceiling": ("fee_ceiling_bp", "pct", 0, 1000),
    "share": ("share_bp", "pct", 1, 10_000),
    "credit_share": ("credit_share_bp", "pct", 0, 10_000),
    "first_share": ("first_share_bp", "pct", 0, 10_000),
    "bank_cap": ("bank_cap_fen", "yuan", 0, MAX_FEN),
    "suspend_overdue": ("suspend_overdue_bp", "pct", 0, 10_000),
}
API_NAME = {key: name for name, (key, *_) in RULE_UNITS.items()}
SAME_NAME = ("industries", "min_grade", "credit_only", "first_only", "allow_stacking", "split")


def _shown(unit: str, n: int) -> str:
    return {"pct": f"{Decimal(n) / 100:g}%", "yuan": f"{Decimal(n) / 100:,.2f} 元"}.get(unit, str(n))


def _rule_value(name: str, value: Any) -> int:
    key, unit, low, high = RULE_UNITS[name]
    label = rules.LABELS.get(key, name)
    if unit == "pct":
        n = _bp(value, label)
    elif unit == "yuan":
        n = _fen(value, label, allow_zero=True)
    else:
        n = int(value)
    if not low <= n <= high:
        raise InvalidInput(f"{label}为 {_shown(unit, n)}，须在 {_shown(unit, low)} 至 {_shown(unit, high)} 之间",
                           code="RULES_CONTRADICT", detail={"rule": name})
    return n


def _split_share(level: str, value: Any) -> int:
    n = _bp(value, f"{level}财政分担比例")
    if not 1 <= n <= 10_000:
        raise InvalidInput(f"{level}财政分担比例为 {_shown('pct', n)}，须在 0.01% 至 100% 之间", code="RULES_CONTRADICT",
                           detail={"rule": "split"})
    return n


def _raw_rules(kind: str, body: RulesIn) -> dict[str, Any]:
    """The rules in the rules' units (basis points, 分) from what the API took in; what was left out is left
    to the kind's defaults, and a rule of another kind is refused by its API name."""
    given = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None or k == "min_grade"}
    allowed = set(SAME_NAME) | {name for name, (key, *_) in RULE_UNITS.items() if key in rules.KIND_KEYS[kind]}
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise InvalidInput(f"{KINDS[kind]}政策没有这些规则：{'、'.join(unknown)}", code="RULES_UNKNOWN_KEY",
                           detail={"unknown": unknown})
    raw: dict[str, Any] = {}
    for name, value in given.items():
        if name in RULE_UNITS:
            raw[RULE_UNITS[name][0]] = _rule_value(name, value)
        elif name == "split":
            raw["split"] = {level: _split_share(level, share) for level, share in value.items()}
        else:
            raw[name] = value
    return raw


@contextmanager
def _api_rule_names() -> Iterator[None]:
    """A refusal of `rules.parse` names the rule by the API's name, as the caller sent it."""
    try:
        yield
    except InvalidInput as exc:
        if isinstance(exc.detail, dict) and exc.detail.get("rule") in API_NAME:
            exc.detail = {**exc.detail, "rule": API_NAME[exc.detail["rule"]]}
        raise


def _rules_out(r: Rules) -> dict[str, Any]:
    doc = r.as_dict()
    out: dict[str, Any] = {k: doc[k] for k in ("kind", "industries", "min_grade", "credit_only", "first_only",
                                                "allow_stacking")}
    out["split"] = {level: _pct(share) for level, share in r.split.items()}
    for name, (key, unit, _, _) in RULE_UNITS.items():
        if key in doc:
            out[name] = _pct(doc[key]) if unit == "pct" else _yuan(doc[key]) if unit == "yuan" else doc[key]
    return out


# ── shapes ──────────────────────────────────────────────────────────────────────────────────────────────

def _programme_out(prog: Programme) -> dict[str, Any]:
    return {"number": prog.number, "kind": prog.kind, "kind_label": KINDS[prog.kind], "name": prog.name,
            "region_code": prog.region_code, "region_name": region_name(prog.region_code) or "",
            "starts_on": prog.starts_on, "ends_on": prog.ends_on, "budget": _yuan(prog.budget_fen),
            "state": prog.state, "state_label": PROGRAMME_STATES[prog.state], "rule_version": prog.rule_version,
            "created_by": prog.created_by, "created_at": prog.created_at.isoformat(),
            "updated_at": prog.updated_at.isoformat()}


def _money(s: Session, prog: Programme) -> dict[str, Any]:
    t = ledger.totals(s, prog.id)
    pending = programmes.pending_fen(s, prog.id)
    return {"budget": _yuan(prog.budget_fen), "contributed": _yuan(t.contributed_fen), "paid": _yuan(t.paid_fen),
            "recovered": _yuan(t.recovered_fen), "balance": _yuan(t.balance_fen), "pending": _yuan(pending),
            "available": _yuan(t.balance_fen - pending),
            "balanced": t.debits_fen == t.credits_fen and not ledger.unbalanced_transactions(s, prog.id)}


def _detail(s: Session, prog: Programme) -> dict[str, Any]:
    current = programmes.rules_of(s, prog)
    versions = [{"version": v.version, "digest": v.digest, "note": v.note, "created_by": v.created_by,
                 "created_at": v.created_at.isoformat(), "rules": _rules_out(rules.parse(v.rules, prog.kind))}
                for v in programmes.versions(s, prog)]
    return {"programme": _programme_out(prog), "rules": _rules_out(current),
            "rules_text": [{"label": k, "value": v} for k, v in rules.describe(current)],
            "source": rules.SOURCES[prog.kind], "versions": versions, "money": _money(s, prog)}


def _numbers(s: Session, model: Any, ids: set[int]) -> dict[int, str]:
    """Numbers of rows of `model` by id, in one query."""
    return dict(s.execute(select(model.id, model.number).where(model.id.in_(ids))).all()) if ids else {}


def _enrolments_out(s: Session, es: list[Enrolment]) -> list[dict[str, Any]]:
    progs = _numbers(s, Programme, {e.programme_id for e in es})
    contracts = _numbers(s, GuaranteeContract, {e.contract_id for e in es if e.contract_id})
    return [{"programme": progs[e.programme_id], "loan_no": e.loan_no, "institution_code": e.institution_code,
             "bank_code": e.bank_code, "entity_code": e.entity_code, "city_code": e.city_code,
             "contract": contracts.get(e.contract_id) if e.contract_id else None, "eligible": _yuan(e.eligible_fen),
             "starts_on": arithmetic.from_day(e.starts_day), "ends_on": arithmetic.from_day(e.ends_day - 1),
             "rule_version": e.rule_version, "source": e.source, "enrolled_by": e.enrolled_by,
             "enrolled_at": e.enrolled_at.isoformat()} for e in es]


def _next(c: Claim) -> list[dict[str, Any]]:
    return [{"action": m.action, "label": m.label, "by": sorted(m.actors)} for m in flows.CLAIM.moves_from(c.state)
            if m.action != "recover" or c.kind == "pool"]


def _claims_out(s: Session, cs: list[Claim]) -> list[dict[str, Any]]:
    if not cs:
        return []
    progs = _numbers(s, Programme, {c.programme_id for c in cs})
    rows = s.execute(select(Enrolment.id, Enrolment.loan_no, Enrolment.contract_id).where(
        Enrolment.id.in_({c.enrolment_id for c in cs}))).all()
    loan_nos = {i: no for i, no, _ in rows}
    contract_of = {i: cid for i, _, cid in rows if cid}
    contracts = _numbers(s, GuaranteeContract, set(contract_of.values()))
    out = []
    for c in cs:
        cid = contract_of.get(c.enrolment_id)
        out.append({
            "number": c.number, "programme": progs[c.programme_id], "kind": c.kind, "kind_label": KINDS[c.kind],
            "state": c.state, "state_label": flows.CLAIM.label(c.state), "institution_code": c.institution_code,
            "bank_code": c.bank_code, "entity_code": c.entity_code, "city_code": c.city_code,
            "loan_no": loan_nos.get(c.enrolment_id), "contract": contracts.get(cid) if cid else None,
            "period_start": arithmetic.from_day(c.period_from_day) if c.period_from_day else None,
            "period_end": arithmetic.from_day(c.period_to_day - 1) if c.period_to_day else None,
            "days": c.days, "basis": _yuan(c.basis_fen), "paid_interest": _yuan(c.paid_interest_fen),
            "rate": _pct(c.rate_bp), "amount": _yuan(c.amount_fen), "rule_version": c.rule_version,
            "evidence_name": c.evidence_name, "evidence_sha256": c.evidence_sha256, "batch": c.batch,
            "reviewed_by": c.reviewed_by, "approved_by": c.approved_by, "payment_ref": c.payment_ref,
            "paid_on": c.paid_on, "reason": c.reason, "recovered": _yuan(c.recovered_fen),
            "returned": _yuan(c.returned_fen), "created_by": c.created_by, "created_at": c.created_at.isoformat(),
            "updated_at": c.updated_at.isoformat(), "next": _next(c)})
    return out


def _claim_detail(s: Session, c: Claim) -> dict[str, Any]:
    w = claims.worked(s, c)
    digest = s.execute(select(RuleVersion.digest).where(RuleVersion.programme_id == c.programme_id,
                                                        RuleVersion.version == c.rule_version)).scalar_one()
    timeline = [{"seq": e.seq, "action": e.action, "label": flows.CLAIM.move(e.action).label,
                 "from_state": e.from_state, "to_state": e.to_state, "actor": e.actor, "at": e.at.isoformat(),
                 "payload": e.payload} for e in claims.events(s, c)]
    return {"claim": _claims_out(s, [c])[0], "formula": w.formula, "recomputed": _yuan(w.amount_fen),
            "rule_digest": digest, "split": [{"level": k, "amount": _yuan(v)} for k, v in claims.split_of(s, c).items()],
            "timeline": timeline}


def _guarantee_out(g: GuaranteeContract) -> dict[str, Any]:
    return {"number": g.number, "guarantor_code": g.guarantor_code, "contract_ref": g.contract_ref,
            "loan_no": g.loan_no, "entity_code": g.entity_code, "covered": _yuan(g.covered_fen), "fee": _pct(g.fee_bp),
            "starts_on": g.starts_on, "ends_on": g.ends_on, "state": g.state, "state_label": guarantees.STATES[g.state],
            "compensated": _yuan(g.compensated_fen), "compensated_on": g.compensated_on, "note": g.note,
            "created_by": g.created_by, "created_at": g.created_at.isoformat()}


def _evidence(request: Request, ev: EvidenceIn | None) -> Evidence | None:
    """The attachment decoded and kept (by its digest, so a resend keeps it once); `evidence.store` decides
    whether it is a PDF or an image."""
    if ev is None:
        return None
    try:
        # Line breaks are allowed: many encoders wrap base64 at 76 characters.
        data = base64.b64decode("".join(ev.content_base64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("凭证内容不是有效的 base64 编码", code="EVIDENCE_ENCODING") from None
    if len(data) > EVIDENCE_MAX_BYTES:
        raise InvalidInput(f"凭证超过 {EVIDENCE_MAX_BYTES // 1024} KB：请压缩后重发，或在页面上传（不超过 10 MB）",
                           code="EVIDENCE_TOO_LARGE")
    return evidence.store(Path(node(request).settings.var_dir), ev.filename, data)


# ── writes ──────────────────────────────────────────────────────────────────────────────────────────────

def _answer(status: int, model: type[BaseModel], body: dict[str, Any]) -> Answer:
    """An answer in its documented shape (checked here, as it is also what a repeat will get)."""
    return Answer(status, model.model_validate(body).model_dump(mode="json"))


def _write(request: Request, s: Session, p: Principal, request_id: str | None, body: BaseModel | None,
           work: Callable[[], Answer]) -> JSONResponse:
    data = body.model_dump(mode="json") if body is not None else None
    a = idempotency.once(s, p, request_id, f"{request.method} {request.url.path}", data, work)
    return JSONResponse(a.body, status_code=a.status, headers={"Idempotent-Replayed": "true"} if a.replayed else None)


# ── programmes ──────────────────────────────────────────────────────────────────────────────────────────

PROGRAMME_SORT = {"created_at": Programme.created_at, "starts_on": Programme.starts_on,
                  "budget": Programme.budget_fen, "number": Programme.number, "name": Programme.name}


@router.get("/programmes", summary="政策项目（政策管理人员：本辖区的；金融机构与企业：实施中和已结束的；平台：全部）",
            response_model=PageOut[ProgrammeOut], responses=errors(422))
def list_programmes(kind: Literal["interest", "guarantee", "pool"] | None = Query(None, description="政策类型"),
                    state: Literal["DRAFT", "ACTIVE", "CLOSED"] | None = Query(None, description="状态"),
                    page: int = PAGE_Q, size: int = SIZE_Q,
                    sort: str | None = Query(None, max_length=30, description="created_at / starts_on / budget / number / name"),
                    desc: bool = DESC_Q, p: Principal = Depends(require(*READERS)),
                    s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    stmt = programmes.visible(p)
    if kind:
        stmt = stmt.where(Programme.kind == kind)
    if state:
        stmt = stmt.where(Programme.state == state)
    result = paginate(s, stmt, PageRequest(page, size, sort, desc), PROGRAMME_SORT, "created_at")
    return result.as_dict([_programme_out(x) for x in result.items])


@router.post("/programmes", status_code=201, summary="新建政策项目（政策管理人员；草稿，规则第 1 版）",
             description="规则以 API 单位给出：比例为 %，金额为元；未给出的规则取该类型的默认值（见返回的 source）。"
                         "自相矛盾的规则以 RULES_CONTRADICT 拒绝，detail.rule 为规则名。",
             response_model=ProgrammeDetailOut, responses=WRITE_ERRORS)
def create_programme(request: Request, body: ProgrammeIn, request_id: str | None = REQUEST_ID_H,
                     p: Principal = Depends(require("policy")),
                     s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        with _api_rule_names():
            prog = programmes.create(s, p, kind=body.kind, name=body.name, region_code=body.region_code,
                                     starts_on=body.starts_on, ends_on=body.ends_on,
                                     budget_fen=_fen(body.budget, "预算"), raw_rules=_raw_rules(body.kind, body.rules))
        return _answer(201, ProgrammeDetailOut, _detail(s, prog))
    return _write(request, s, p, request_id, body, work)


@router.get("/programmes/{number}", summary="一个政策项目：规则、规则版本与资金（预算、已拨付、占用、可用、余额）",
            response_model=ProgrammeDetailOut, responses=errors(404))
def get_programme(number: str, p: Principal = Depends(require(*READERS)),
                  s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return _detail(s, programmes.get(s, p, number))


@router.post("/programmes/{number}/rules", status_code=201,
             summary="新版本规则（政策管理人员）：此后的备案和申领按新版本，此前的保持原版本",
             response_model=ProgrammeDetailOut, responses=WRITE_ERRORS)
def revise_rules(request: Request, number: str, body: RulesRevisionIn, request_id: str | None = REQUEST_ID_H,
                 p: Principal = Depends(require("policy")),
                 s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        prog = programmes.managed(s, p, number)
        with _api_rule_names():
            programmes.revise(s, p, number, _raw_rules(prog.kind, body.rules), body.note.strip() or None)
        return _answer(201, ProgrammeDetailOut, _detail(s, prog))
    return _write(request, s, p, request_id, body, work)


@router.post("/programmes/{number}/start", summary="启动实施（政策管理人员）：预算记入政策资金",
             response_model=ProgrammeDetailOut, responses=WRITE_ERRORS)
def start_programme(request: Request, number: str, request_id: str | None = REQUEST_ID_H,
                    p: Principal = Depends(require("policy")),
                    s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        return _answer(200, ProgrammeDetailOut, _detail(s, programmes.start(s, p, number)))
    return _write(request, s, p, request_id, None, work)


@router.post("/programmes/{number}/close", summary="结束政策（政策管理人员）：不再受理备案和申领，已提交的申领照常办理",
             response_model=ProgrammeDetailOut, responses=WRITE_ERRORS)
def close_programme(request: Request, number: str, request_id: str | None = REQUEST_ID_H,
                    p: Principal = Depends(require("policy")),
                    s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        return _answer(200, ProgrammeDetailOut, _detail(s, programmes.close(s, p, number)))
    return _write(request, s, p, request_id, None, work)


@router.post("/programmes/{number}/contributions", status_code=201,
             summary="注资（政策管理人员）：资金池的出资方（财政、合作银行、担保机构）资金入账",
             response_model=ContributionOut, responses=WRITE_ERRORS)
def contribute(request: Request, number: str, body: ContributionIn, request_id: str | None = REQUEST_ID_H,
               p: Principal = Depends(require("policy")),
               s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        amount = _fen(body.amount, "注资金额")
        txn = programmes.contribute(s, p, number, body.party, amount)
        prog = programmes.get(s, p, number)
        return _answer(201, ContributionOut, {"txn": txn, "party": body.party.strip(), "amount": _yuan(amount),
                                              "money": _money(s, prog)})
    return _write(request, s, p, request_id, body, work)


# ── enrolments ──────────────────────────────────────────────────────────────────────────────────────────

@router.post("/programmes/{number}/enrolments", status_code=201,
             summary="备案一笔贷款（金融机构）或一份担保合同（政府性融资担保机构）",
             description="不符合条件时返回 422 NOT_ELIGIBLE，detail.reasons 逐条给出原因代码与说明"
                         "（ALREADY_ENROLLED、OUT_OF_PERIOD、OUT_OF_REGION、INDUSTRY_NOT_ELIGIBLE、NOT_CREDIT_LOAN、"
                         "NOT_FIRST_LOAN、GRADE_TOO_LOW、STACKING_FORBIDDEN、ENTERPRISE_CAP_REACHED …）；"
                         "他行贷款为 404 LOAN_NOT_FOUND。",
             response_model=EnrolmentOut, responses=WRITE_ERRORS)
def enrol(request: Request, number: str, body: EnrolmentIn, request_id: str | None = REQUEST_ID_H,
          p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        e = enrolments.enrol(s, p, number, body.loan_no, contract_ref=body.contract_ref, source="api")
        return _answer(201, EnrolmentOut, _enrolments_out(s, [e])[0])
    return _write(request, s, p, request_id, body, work)


@router.post("/programmes/{number}/enrolments/all", summary="备案本机构全部符合条件的贷款（贴息、风险补偿）",
             description="已备案的和不符合条件的贷款跳过，按原因计数返回；单户上限按授信先后占用。",
             response_model=BulkEnrolmentOut, responses=WRITE_ERRORS)
def enrol_all(request: Request, number: str, request_id: str | None = REQUEST_ID_H,
              p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
              ) -> JSONResponse:
    def work() -> Answer:
        res = enrolments.enrol_all(s, p, number)
        refused = [{"code": code, "message": enrolments.REASONS.get(code, code), "loans": n}
                   for code, n in sorted(res.refused.items())]
        return _answer(200, BulkEnrolmentOut, {"enrolled": res.enrolled, "refused": refused})
    return _write(request, s, p, request_id, None, work)


@router.get("/programmes/{number}/enrolments",
            summary="政策项目的备案（金融机构：本机构的；企业：本企业的；政策管理人员与平台：全部）",
            response_model=PageOut[EnrolmentOut], responses=errors(404, 422))
def list_enrolments(number: str, page: int = PAGE_Q, size: int = SIZE_Q,
                    sort: str | None = Query(None, max_length=30, description="enrolled_at / eligible / loan_no"),
                    desc: bool = DESC_Q, p: Principal = Depends(require(*READERS)),
                    s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    prog = programmes.get(s, p, number)
    result = enrolments.listing(s, p, PageRequest(page, size, sort, desc), programme_id=prog.id)
    return result.as_dict(_enrolments_out(s, result.items))


# ── claims ──────────────────────────────────────────────────────────────────────────────────────────────

@router.post("/programmes/{number}/claims", status_code=201, summary="新建申领（草稿；提交用 actions 的 submit）",
             description="请求体按政策类型：interest（loan_no、start、end、paid_interest、evidence）、guarantee"
                         "（contract_ref、start、end）、pool（loan_no、loss、evidence）。kind 须与政策类型一致（WRONG_KIND）。"
                         f"凭证以 base64 放在请求体中，解码后不超过 {EVIDENCE_MAX_BYTES // 1024} KB"
                         "（请求体上限 1 MB）；按内容识别 PDF、PNG、JPG。",
             response_model=ClaimDetailOut, responses=WRITE_ERRORS)
def draft_claim(request: Request, number: str, body: ClaimIn, request_id: str | None = REQUEST_ID_H,
                p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                ) -> JSONResponse:
    def work() -> Answer:
        prog = programmes.get(s, p, number)
        if prog.kind != body.kind:
            raise InvalidInput(f"该政策为{KINDS[prog.kind]}，申领的 kind 应为 {prog.kind}", code="WRONG_KIND")
        ev = _evidence(request, body.evidence)
        if isinstance(body, InterestClaimIn):
            c = claims.draft_interest(s, p, number, body.loan_no, body.start, body.end,
                                      paid_interest_fen=_fen(body.paid_interest, "实付利息"), ev=ev, source="api")
        elif isinstance(body, GuaranteeClaimIn):
            c = claims.draft_guarantee(s, p, number, body.contract_ref, body.start, body.end, ev=ev, source="api")
        else:
            c = claims.draft_compensation(s, p, number, body.loan_no, _fen(body.loss, "本金损失"), ev, source="api")
        return _answer(201, ClaimDetailOut, _claim_detail(s, c))
    return _write(request, s, p, request_id, body, work)


@router.post("/programmes/{number}/claims/period", status_code=201,
             summary="按结息期间批量生成贴息申领（本机构在该政策备案的全部贷款；草稿，按批次提交）",
             description="该期间已申领的贷款和期间内没有补贴天数的贷款跳过；返回批次编号、笔数与合计。",
             response_model=BatchOut, responses=WRITE_ERRORS)
def claim_period(request: Request, number: str, body: PeriodClaimIn, request_id: str | None = REQUEST_ID_H,
                 p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                 ) -> JSONResponse:
    def work() -> Answer:
        prog = programmes.get(s, p, number)
        if prog.kind != "interest":
            raise InvalidInput("批量申领仅适用于贷款贴息", code="WRONG_KIND")
        b = claims.claim_period(s, p, number, body.start, body.end, _evidence(request, body.evidence))
        return _answer(201, BatchOut, {"programme": number, "batch": b.batch, "claims": b.claims,
                                       "amount": _yuan(b.amount_fen)})
    return _write(request, s, p, request_id, body, work)


@router.post("/programmes/{number}/batches/{batch}/actions",
             summary="对一个批次办理同一操作（申领机构：submit、withdraw；政策管理部门：review、approve、reject、pay）",
             response_model=BatchOut, responses=WRITE_ERRORS)
def act_on_batch(request: Request, number: str, batch: str, body: BatchActionIn,
                 request_id: str | None = REQUEST_ID_H, p: Principal = Depends(require("bank", "policy")),
                 s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        b = claims.act_batch(s, p, number, batch, body.action, payment_ref=body.payment_ref, reason=body.reason)
        return _answer(200, BatchOut, {"programme": number, "batch": b.batch, "claims": b.claims,
                                       "amount": _yuan(b.amount_fen)})
    return _write(request, s, p, request_id, body, work)


@router.get("/claims", summary="申领（金融机构：本机构的；企业：本企业贷款的；政策管理人员：本辖区政策的；平台：全部）",
            response_model=PageOut[ClaimOut], responses=errors(404, 422))
def list_claims(programme: str | None = Query(None, max_length=40, description="政策项目编号"),
                state: ClaimState | None = Query(None, description="申领状态"),
                kind: Literal["interest", "guarantee", "pool"] | None = Query(None, description="政策类型"),
                batch: str | None = Query(None, max_length=40, description="批次编号"),
                page: int = PAGE_Q, size: int = SIZE_Q,
                sort: str | None = Query(None, max_length=30, description="created_at / amount / state / number"),
                desc: bool = DESC_Q, p: Principal = Depends(require(*READERS)),
                s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    stmt = claims.visible(p)
    if programme:
        stmt = stmt.where(Claim.programme_id == programmes.get(s, p, programme).id)
    if state:
        stmt = stmt.where(Claim.state == state)
    if kind:
        stmt = stmt.where(Claim.kind == kind)
    if batch:
        stmt = stmt.where(Claim.batch == batch)
    result = paginate(s, stmt, PageRequest(page, size, sort, desc), claims.SORTABLE, "created_at")
    return result.as_dict(_claims_out(s, result.items))


@router.get("/claims/{number}", summary="一笔申领：计算过程、重算结果、各级财政分担与时间线",
            response_model=ClaimDetailOut, responses=errors(404))
def get_claim(number: str, p: Principal = Depends(require(*READERS)),
              s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return _claim_detail(s, claims.get(s, p, number))


@router.post("/claims/{number}/actions", summary="办理申领的一步（提交、撤回、初审、复核、退回、拨付、追偿回款）",
             description="操作顺序由申领流程决定：不符合顺序的以 OUT_OF_ORDER、ALREADY_FINAL、ALREADY_DONE（如重复拨付）"
                         "或 ACTOR_NOT_ALLOWED 拒绝，detail 给出当前状态和可办理的操作；复核须由初审以外的另一名工作人员"
                         "办理（SAME_OFFICER）；提交时核对剩余资金（BUDGET_EXCEEDED）与单家银行年度上限（BANK_CAP_EXCEEDED）。",
             response_model=ClaimDetailOut, responses=WRITE_ERRORS)
def act_on_claim(request: Request, number: str, body: ClaimActionIn, request_id: str | None = REQUEST_ID_H,
                 p: Principal = Depends(require("bank", "policy")),
                 s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        if body.paid_on is not None and body.paid_on > clock.today():
            raise InvalidInput(f"支付日期 {body.paid_on} 晚于今天：请在资金付出后登记", code="BAD_DATE")
        recovered = _fen(body.recovered, "追偿回款") if body.recovered is not None else None
        c = claims.act(s, p, number, body.action, reason=body.reason, payment_ref=body.payment_ref,
                       paid_on=body.paid_on, recovered_fen=recovered)
        return _answer(200, ClaimDetailOut, _claim_detail(s, c))
    return _write(request, s, p, request_id, body, work)


# ── guarantees ──────────────────────────────────────────────────────────────────────────────────────────

@router.post("/guarantees", status_code=201, summary="登记担保合同（政府性融资担保机构）",
             response_model=GuaranteeOut, responses=WRITE_ERRORS)
def record_guarantee(request: Request, body: GuaranteeIn, request_id: str | None = REQUEST_ID_H,
                     p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                     ) -> JSONResponse:
    def work() -> Answer:
        g = guarantees.record(s, p, loan_no=body.loan_no, contract_ref=body.contract_ref,
                              covered_fen=_fen(body.covered, "担保金额"), fee_bp=_bp(body.fee, "担保费率"),
                              starts_on=body.starts_on, ends_on=body.ends_on, note=body.note)
        return _answer(201, GuaranteeOut, _guarantee_out(g))
    return _write(request, s, p, request_id, body, work)


@router.get("/guarantees", summary="担保合同（担保机构：本机构的；企业：本企业的；政策管理人员与平台：全部）",
            response_model=PageOut[GuaranteeOut], responses=errors(422))
def list_guarantees(page: int = PAGE_Q, size: int = SIZE_Q,
                    sort: str | None = Query(None, max_length=30, description="created_at / covered / starts_on"),
                    desc: bool = DESC_Q, p: Principal = Depends(require(*READERS)),
                    s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = guarantees.listing(s, p, PageRequest(page, size, sort, desc))
    return result.as_dict([_guarantee_out(g) for g in result.items])


@router.post("/guarantees/{ref}/compensation", summary="登记代偿（担保机构：代借款人向银行清偿，一份合同一次）",
             response_model=GuaranteeOut, responses=WRITE_ERRORS)
def compensate(request: Request, ref: str, body: CompensationIn, request_id: str | None = REQUEST_ID_H,
               p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
               ) -> JSONResponse:
    def work() -> Answer:
        g = guarantees.compensate(s, p, ref, _fen(body.amount, "代偿金额"), body.on)
        return _answer(200, GuaranteeOut, _guarantee_out(g))
    return _write(request, s, p, request_id, body, work)


# ── the ledger ──────────────────────────────────────────────────────────────────────────────────────────

LEDGER_SORT = {"at": LedgerEntry.id, "account": LedgerEntry.account}


@router.get("/ledger/{number}", summary="政策项目的资金账簿（复式记账）：逐行明细、资金合计，以及账簿是否平衡",
            response_model=LedgerOut, responses=errors(404, 422))
def get_ledger(number: str, page: int = PAGE_Q, size: int = SIZE_Q,
               sort: str | None = Query(None, max_length=30, description="at / account"),
               desc: bool = Query(False, description="是否倒序（默认按记账先后）"),
               p: Principal = Depends(require(*LEDGER_READERS)),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    prog = programmes.get(s, p, number)
    result = paginate(s, select(LedgerEntry).where(LedgerEntry.programme_id == prog.id),
                      PageRequest(page, size, sort, desc), LEDGER_SORT, "at")
    claim_numbers = _numbers(s, Claim, {x.claim_id for x in result.items if x.claim_id})
    lines = [{"txn": x.txn, "account": x.account, "debit": _yuan(x.debit_fen), "credit": _yuan(x.credit_fen),
              "claim": claim_numbers.get(x.claim_id) if x.claim_id else None, "memo": x.memo, "actor": x.actor,
              "at": x.at.isoformat()} for x in result.items]
    t = ledger.totals(s, prog.id)
    unbalanced = ledger.unbalanced_transactions(s, prog.id)
    return {**result.as_dict(lines), "programme": prog.number, "money": _money(s, prog),
            "debits": _yuan(t.debits_fen), "credits": _yuan(t.credits_fen),
            "balanced": t.debits_fen == t.credits_fen and not unbalanced, "unbalanced": unbalanced}
