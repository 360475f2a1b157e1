"""The policy pages of banks and government guarantors (notice point 十四): the running programmes with their
rules in words and the institution's own enrolments and claims; on one programme, enrolment — one loan, a
file of loan numbers, or every loan that qualifies — and the claim forms its kind takes, each with its
evidence; a claim's page with its formula and timeline; a batch's page; a guarantor's guarantee contracts.

Every read goes through a service's query for the acting institution (`enrolments.listing`, `claims.get`,
`guarantees.listing`, …), so another bank's enrolment or claim is simply not found. Forms post, then
redirect with a `done` key the page turns into its message (Post/Redirect/Get); a refusal re-renders the
page with the Chinese message and keeps what was typed."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from xinyidai.access.log import entity_names, institution_names
from xinyidai.accounts.people import names_of
from xinyidai.entities.regions import region_name
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from xinyidai.kit.pagination import MAX_PAGE, Page, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market import flows as market_flows
from xinyidai.market.models import CaseEvent, DefaultCase, Loan
from xinyidai.market.money import fen, wan
from xinyidai.market.pages.common import Fields, fields, is_repeat, page, see_other, wan_fen
from xinyidai.policy import arithmetic, claims, enrolments, evidence, flows, guarantees, programmes, rules
from xinyidai.policy.evidence import Evidence
from xinyidai.policy.models import KINDS, PROGRAMME_STATES, Claim, Enrolment, GuaranteeContract, Programme
from xinyidai.web.deps import db_session, node, require

router = APIRouter(include_in_schema=False)
BANK = require("bank")
SIZE = 20  # rows per page of each table
PICK_LIMIT = 300  # loans or contracts offered in a form's select; the text field takes any other
FILE_MAX_BYTES = 512 * 1024  # a list of loan numbers: ~20,000 numbers, far more than a file may have rows
FILE_MAX_ROWS = 2000  # each row is judged on its own; more is what 备案全部符合条件的贷款 is for
# Column names a file's first row may carry (then it is a header and names the column to read).
FILE_HEADERS = frozenset({"贷款编号", "平台贷款编号", "银行贷款编号", "本行贷款编号", "借据编号", "借据号", "贷款号",
                          "loan_no", "loan_ref", "担保合同编号", "合同编号", "contract_ref"})  # compared lower-cased
SOURCES = {"page": "页面", "api": "接口", "file": "文件", "bulk": "批量"}
BANK_ACTIONS = ("submit", "withdraw", "recover")
DONE = {"enrolled": "已备案。", "drafted": "申领草稿已生成，请核对金额和计算过程后“提交申领”。",
        "submit": "申领已提交，等待政策管理部门初审。", "withdraw": "申领已撤回。",
        "recover": "追偿回款已登记，按补偿比例应返还资金池的部分已记入台账。",
        "batch": "本期批量申领草稿已生成，请核对后“提交批次”。", "batch_submit": "批次已提交，等待政策管理部门审核。",
        "batch_withdraw": "批次中尚未审核的申领已撤回。",
        "batch_empty": "该期间没有可申领的贷款：本机构在本政策备案的贷款在该期间没有补贴天数，或该期间已申领。",
        "recorded": "担保合同已登记。如有担保费补贴政策，可在该政策页面备案本合同。", "compensated": "代偿已登记。",
        "already": "该操作已办理，无需重复。"}
CLAIM_TONES = {flows.DRAFT: "end", flows.SUBMITTED: "wait", flows.REVIEWED: "wait", flows.APPROVED: "turn",
               flows.PAID: "good", flows.REJECTED: "bad", flows.WITHDRAWN: "end"}


# ── small readers of typed input ─────────────────────────────────────────────────────────────────────────

def _date(raw: str, label: str) -> date:
    if not raw:
        raise InvalidInput(f"请填写{label}", code="DATE_REQUIRED")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{label}“{raw}”应写作 YYYY-MM-DD", code="DATE_FORMAT") from None


def _yuan(raw: str, label: str) -> int:
    """An amount typed in 元 → 分."""
    if not raw:
        raise InvalidInput(f"请填写{label}（元）", code="AMOUNT_FORMAT")
    return fen(raw, label)


def _fee_bp(raw: str) -> int:
    """A guarantee fee rate typed in percent a year ("0.8") → basis points; 0–10%, two places at most."""
    text = raw.strip().rstrip("%")
    if not text:
        raise InvalidInput("请填写担保费率（%/年）", code="RATE_FORMAT")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"担保费率“{raw}”不是有效的百分数", code="RATE_FORMAT") from None
    if not d.is_finite() or not Decimal(0) <= d <= Decimal(10) or d.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput(f"担保费率为 {raw}%，须在 0–10% 之间，最多两位小数", code="RATE_FORMAT")
    return int(d * 100)


def _evidence(request: Request, f: Fields, name: str = "evidence") -> Evidence | None:
    """The uploaded attachment, checked by its first bytes and kept; None when no file was chosen (the
    service then says evidence is required)."""
    up = f.form.get(name)
    if not isinstance(up, UploadFile) or not (up.filename or "").strip():
        return None
    data = up.file.read(evidence.MAX_BYTES + 1)  # one byte more than allowed tells "too large" apart
    return evidence.store(node(request).settings.var_dir, up.filename or "", data)


# ── several paged tables on one page ─────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Links:
    """This page's URL with some query values changed: each table pages and sorts by its own parameters
    (`page`, `epage`, `cpage`, …) and keeps the others where they were."""

    path: str
    values: dict[str, str]

    def __call__(self, anchor: str = "", **over: Any) -> str:
        merged = {**self.values, **{k: "" if v is None else str(v) for k, v in over.items()}}
        q = urlencode({k: v for k, v in merged.items() if v != ""})
        return f"{self.path}?{q}" + (f"#{anchor}" if anchor else "")


def _flag(b: bool) -> str:
    return "true" if b else "false"


# ── rows as the tables show them ─────────────────────────────────────────────────────────────────────────

def _claim_state(code: str) -> dict[str, str]:
    return {"code": code, "label": flows.CLAIM.label(code), "tone": CLAIM_TONES.get(code, "end")}


def _enrolment_rows(s: Session, items: list[Enrolment]) -> list[dict[str, Any]]:
    progs = {pr.id: pr for pr in s.execute(select(Programme).where(
        Programme.id.in_({e.programme_id for e in items}))).scalars()} if items else {}
    refs = dict(s.execute(select(GuaranteeContract.id, GuaranteeContract.contract_ref).where(
        GuaranteeContract.id.in_({e.contract_id for e in items if e.contract_id}))).all()) if items else {}
    names = entity_names(s, {e.entity_code for e in items})
    return [{"e": e, "programme": progs[e.programme_id], "kind": KINDS[progs[e.programme_id].kind],
             "contract": refs.get(e.contract_id) if e.contract_id else None,
             "entity": names.get(e.entity_code, e.entity_code), "period": arithmetic.period_text(e.starts_day, e.ends_day) or "",
             "source": SOURCES.get(e.source, e.source)} for e in items]


def _claim_rows(s: Session, items: list[Claim]) -> list[dict[str, Any]]:
    if not items:
        return []
    progs = {pr.id: pr for pr in s.execute(select(Programme).where(
        Programme.id.in_({c.programme_id for c in items}))).scalars()}
    loans = dict(s.execute(select(Enrolment.id, Enrolment.loan_no).where(
        Enrolment.id.in_({c.enrolment_id for c in items}))).all())
    names = entity_names(s, {c.entity_code for c in items})
    insts = institution_names(s, {c.institution_code for c in items})
    return [{"c": c, "programme": progs[c.programme_id], "kind": KINDS[c.kind], "loan_no": loans.get(c.enrolment_id, ""),
             "entity": names.get(c.entity_code, c.entity_code), "institution": insts.get(c.institution_code, ""),
             "period": arithmetic.period_text(c.period_from_day, c.period_to_day) or "", "formula": claims.worked(s, c).formula,
             "state": _claim_state(c.state)} for c in items]


# ── the overview ─────────────────────────────────────────────────────────────────────────────────────────

PROGRAMME_SORT = {"ends_on": Programme.ends_on, "starts_on": Programme.starts_on, "name": Programme.name,
                  "kind": Programme.kind}


def _institution(s: Session, p: Principal) -> tuple[FinancialInstitution, bool]:
    inst = enrolments.institution_of(s, p)
    return inst, inst.kind == enrolments.GUARANTOR_KIND


def _own_kinds(guarantor: bool) -> tuple[str, ...]:
    """The kinds an institution enrols in: a guarantor its contracts in fee subsidies, a lender its loans."""
    return ("guarantee",) if guarantor else ("interest", "pool")


@router.get("/bank/policy", response_class=HTMLResponse)
def overview(request: Request, state: str = "ACTIVE", page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE),
             sort: str | None = None, desc: bool = False, epage: int = Query(1, ge=1, le=MAX_PAGE),
             esort: str | None = None, edesc: bool = True, cpage: int = Query(1, ge=1, le=MAX_PAGE),
             csort: str | None = None, cdesc: bool = True, cstate: str = "", p: Principal = Depends(BANK),
             s: Session = Depends(db_session, scope="function")) -> Response:
    inst, guarantor = _institution(s, p)
    state = state if state in ("ACTIVE", "CLOSED") else "ACTIVE"
    cstate = cstate if cstate in {st.code for st in flows.CLAIM.states} else ""
    progs: Page[Programme] = paginate(s, programmes.visible(p).where(
        Programme.state == state, Programme.kind.in_(_own_kinds(guarantor))),
        PageRequest(page_no, SIZE, sort, desc), PROGRAMME_SORT, "ends_on")
    mine = dict(s.execute(select(Enrolment.programme_id, func.count()).where(
        Enrolment.institution_code == inst.code, Enrolment.programme_id.in_([x.id for x in progs.items]))
        .group_by(Enrolment.programme_id)).all()) if progs.items else {}
    prog_rows = [{"prog": x, "kind": KINDS[x.kind], "region": region_name(x.region_code) or x.region_code,
                  "rules": rules.describe(programmes.rules_of(s, x)), "available": programmes.available_fen(s, x),
                  "mine": int(mine.get(x.id, 0))} for x in progs.items]
    ens = enrolments.listing(s, p, PageRequest(epage, SIZE, esort, edesc))
    cls = claims.listing(s, p, PageRequest(cpage, SIZE, csort, cdesc), state=cstate or None)
    links = Links("/bank/policy", {"state": state, "page": str(progs.page), "sort": progs.sort or "",
                                   "desc": _flag(progs.desc), "epage": str(ens.page), "esort": ens.sort or "",
                                   "edesc": _flag(ens.desc), "cpage": str(cls.page), "csort": cls.sort or "",
                                   "cdesc": _flag(cls.desc), "cstate": cstate})
    return page(request, "policy/bank_overview.html", inst=inst, guarantor=guarantor, state=state,
                states=PROGRAMME_STATES, progs=progs, prog_rows=prog_rows, ens=ens,
                en_rows=_enrolment_rows(s, ens.items), cls=cls, cl_rows=_claim_rows(s, cls.items), links=links,
                cstate=cstate, claim_states=flows.CLAIM.states)


# ── one programme ────────────────────────────────────────────────────────────────────────────────────────

@dataclass
class FileRow:
    row_no: int
    value: str
    status: str  # enrolled / refused / duplicate
    reasons: list[str] = field(default_factory=list)


@dataclass
class FileResult:
    filename: str
    rows: list[FileRow]
    header: str | None  # the column read, when the first row named it

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)


@dataclass(frozen=True)
class Tables:
    """Where the programme page's two tables are: its enrolments (e…) and its claims (c…)."""

    epage: int = 1
    esort: str | None = None
    edesc: bool = True
    cpage: int = 1
    csort: str | None = None
    cdesc: bool = True


def _bulk_text(enrolled: int, refused: str) -> tuple[str, list[tuple[str, int]]]:
    """The message after 备案全部符合条件的贷款, from the counts the redirect carried (codes it does not
    know are left out: only the service's reasons are shown)."""
    out: list[tuple[str, int]] = []
    for part in refused.split(","):
        code, _, n = part.partition(":")
        if code in enrolments.REASONS and n.isdigit() and int(n) > 0:
            out.append((enrolments.REASONS[code], int(n)))
    total = sum(n for _, n in out)
    head = f"已备案 {enrolled} 笔贷款。" + (f"另有 {total} 笔未备案，原因如下。" if total else "本机构没有其他未备案的贷款。")
    return head, out


def _suspension(s: Session, prog: Programme, inst: FinancialInstitution) -> str | None:
    """Why a pool does not take the institution's new enrolments now (its overdue rate), if it does not."""
    if prog.kind != "pool" or prog.state != "ACTIVE":
        return None
    r = programmes.rules_of(s, prog)
    for bank_code in s.execute(select(Loan.bank_code).where(Loan.institution_code == inst.code).distinct()).scalars():
        why = enrolments.suspended(s, prog, r, bank_code)
        if why:
            return why
    return None


def _candidates(s: Session, prog: Programme, inst: FinancialInstitution) -> list[Loan]:
    """The institution's disbursed loans granted in the programme's period and not yet enrolled in it."""
    enrolled = select(Enrolment.loan_id).where(Enrolment.programme_id == prog.id)
    return list(s.execute(select(Loan).where(
        Loan.institution_code == inst.code, Loan.first_disbursed_on.is_not(None),
        Loan.granted_on.between(prog.starts_on, prog.ends_on), Loan.id.not_in(enrolled))
        .order_by(Loan.granted_on.desc(), Loan.id.desc()).limit(PICK_LIMIT)).scalars())


def _enrolled_loans(s: Session, prog: Programme, inst: FinancialInstitution) -> list[Enrolment]:
    return list(s.execute(select(Enrolment).where(Enrolment.programme_id == prog.id,
                                                  Enrolment.institution_code == inst.code)
                          .order_by(Enrolment.enrolled_at.desc(), Enrolment.id.desc()).limit(PICK_LIMIT)).scalars())


def _non_performing(s: Session, prog: Programme, inst: FinancialInstitution) -> list[dict[str, Any]]:
    """Enrolled loans the market classified non-performing (as `claims.non_performing` asks) with no open
    compensation claim: the only loans the compensation form offers."""
    npl = select(DefaultCase.loan_id).join(CaseEvent, CaseEvent.case_id == DefaultCase.id).where(
        CaseEvent.to_state == market_flows.NPL)
    open_claims = select(Claim.enrolment_id).where(Claim.programme_id == prog.id,
                                                   Claim.state.not_in(claims.CLOSED_STATES))
    rows = s.execute(select(Enrolment.loan_no, Enrolment.eligible_fen, Loan.loan_ref, Loan.outstanding_fen,
                            Loan.disbursed_fen, Enrolment.entity_code).join(Loan, Loan.id == Enrolment.loan_id).where(
        Enrolment.programme_id == prog.id, Enrolment.institution_code == inst.code, Enrolment.loan_id.in_(npl),
        Enrolment.id.not_in(open_claims)).order_by(Enrolment.loan_no).limit(PICK_LIMIT)).all()
    names = entity_names(s, {r.entity_code for r in rows})
    return [{"loan_no": r.loan_no, "loan_ref": r.loan_ref, "entity": names.get(r.entity_code, r.entity_code),
             "ceiling": min(r.outstanding_fen if r.outstanding_fen is not None else r.disbursed_fen, r.eligible_fen)}
            for r in rows]


def _contracts(s: Session, prog: Programme, inst: FinancialInstitution) -> tuple[list[GuaranteeContract],
                                                                                    list[GuaranteeContract]]:
    """The guarantor's active contracts not yet enrolled here, and those enrolled here."""
    enrolled_ids = select(Enrolment.contract_id).where(Enrolment.programme_id == prog.id,
                                                       Enrolment.contract_id.is_not(None))
    own = select(GuaranteeContract).where(GuaranteeContract.guarantor_code == inst.code)
    free = list(s.execute(own.where(GuaranteeContract.state == "ACTIVE", GuaranteeContract.id.not_in(enrolled_ids))
                          .order_by(GuaranteeContract.created_at.desc()).limit(PICK_LIMIT)).scalars())
    taken = list(s.execute(own.where(GuaranteeContract.id.in_(enrolled_ids))
                           .order_by(GuaranteeContract.created_at.desc()).limit(PICK_LIMIT)).scalars())
    return free, taken


def _batches(s: Session, prog: Programme, inst: FinancialInstitution) -> list[dict[str, Any]]:
    rows = s.execute(select(Claim.batch, func.count(), func.sum(Claim.amount_fen), func.min(Claim.created_at),
                            func.min(Claim.period_from_day), func.max(Claim.period_to_day))
                     .where(Claim.programme_id == prog.id, Claim.institution_code == inst.code,
                            Claim.batch.is_not(None))
                     .group_by(Claim.batch).order_by(func.min(Claim.created_at).desc()).limit(10)).all()
    return [{"batch": b, "claims": int(n), "amount": int(a or 0), "at": at, "period": arithmetic.period_text(f, t) or ""}
            for b, n, a, at, f, t in rows]


def _programme_page(request: Request, s: Session, p: Principal, number: str, *, t: Tables = Tables(),
                    done: str | None = None, bulk: tuple[str, list[tuple[str, int]]] | None = None,
                    error: DomainError | None = None, form: dict[str, str] | None = None,
                    file_result: FileResult | None = None, loan: str = "") -> Response:
    prog = programmes.get(s, p, number)
    inst, guarantor = _institution(s, p)
    r = programmes.rules_of(s, prog)
    running = prog.state == "ACTIVE"
    ours = (prog.kind == "guarantee") == guarantor  # a lender's programme for a lender, a fee subsidy for a guarantor
    ens = enrolments.listing(s, p, PageRequest(t.epage, SIZE, t.esort, t.edesc), programme_id=prog.id)
    cls = claims.listing(s, p, PageRequest(t.cpage, SIZE, t.csort, t.cdesc), programme_id=prog.id)
    links = Links(f"/bank/policy/{prog.number}", {
        "epage": str(ens.page), "esort": ens.sort or "", "edesc": _flag(ens.desc), "cpage": str(cls.page),
        "csort": cls.sort or "", "cdesc": _flag(cls.desc)})
    ctx: dict[str, Any] = {}
    if running and ours:
        if guarantor:
            ctx["free_contracts"], ctx["enrolled_contracts"] = _contracts(s, prog, inst)
        else:
            ctx["candidates"] = _candidates(s, prog, inst)
            ctx["enrolled"] = _enrolled_loans(s, prog, inst)
            ctx["suspended"] = _suspension(s, prog, inst)
            if prog.kind == "pool":
                ctx["npl"] = _non_performing(s, prog, inst)
    return page(request, "policy/bank_programme.html", error=error, done=done, bulk=bulk, prog=prog,
                kind=KINDS[prog.kind], region=region_name(prog.region_code) or prog.region_code,
                state_label=PROGRAMME_STATES[prog.state], rules=rules.describe(r), source=rules.SOURCES[prog.kind],
                available=programmes.available_fen(s, prog), inst=inst, guarantor=guarantor, running=running,
                ours=ours, ens=ens, en_rows=_enrolment_rows(s, ens.items), cls=cls, cl_rows=_claim_rows(s, cls.items),
                links=links, batches=_batches(s, prog, inst), form=form or {}, file_result=file_result, loan=loan,
                reasons=enrolments.REASONS, max_rows=FILE_MAX_ROWS, max_evidence_mb=evidence.MAX_BYTES >> 20,
                **ctx)


# Before /bank/policy/{number}, which would otherwise take "guarantees" for a programme number.
@router.get("/bank/policy/guarantees", response_class=HTMLResponse)
def guarantees_page(request: Request, done: str = "", page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE),
                    sort: str | None = None, desc: bool = True, p: Principal = Depends(BANK),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    return _guarantees_page(request, s, p, page_no=page_no, sort=sort, desc=desc, done=DONE.get(done))


@router.get("/bank/policy/{number}", response_class=HTMLResponse)
def programme(number: str, request: Request, done: str = "", ref: str = "", enrolled: int = Query(0, ge=0, le=10**9),
              refused: str = Query("", max_length=2000), loan: str = Query("", max_length=64),
              epage: int = Query(1, ge=1, le=MAX_PAGE), esort: str | None = None, edesc: bool = True,
              cpage: int = Query(1, ge=1, le=MAX_PAGE), csort: str | None = None, cdesc: bool = True,
              p: Principal = Depends(BANK), s: Session = Depends(db_session, scope="function")) -> Response:
    message = DONE.get(done)
    if done == "enrolled" and ref:
        message = f"{ref[:64]} 已备案。"
    bulk = _bulk_text(enrolled, refused) if done == "bulk" else None
    return _programme_page(request, s, p, number, t=Tables(epage, esort, edesc, cpage, csort, cdesc), done=message,
                           bulk=bulk, loan=loan)


def _refusal(request: Request, s: Session, p: Principal, number: str, exc: DomainError, form_id: str,
             f: Fields, *names: str) -> Response:
    """The programme page again after a refused form: the message, and what was typed into that form."""
    s.rollback()
    return _programme_page(request, s, p, number, error=exc, form={"id": form_id, **f.pick(*names)})


def _may_enrol(s: Session, p: Principal, number: str) -> tuple[Programme, FinancialInstitution]:
    """The checks that hold for the whole programme, before any loan: running, the institution's kind, a
    pool's suspension — refused once for a file, not once per row."""
    inst = enrolments.institution_of(s, p)
    prog = programmes.get(s, p, number)
    programmes.running(prog)
    if prog.kind == "guarantee" and inst.kind != enrolments.GUARANTOR_KIND:
        raise Forbidden("担保费补贴只能由政府性融资担保机构按担保合同备案", code="NOT_A_GUARANTOR")
    if prog.kind != "guarantee" and inst.kind == enrolments.GUARANTOR_KIND:
        raise Forbidden("担保机构只能备案担保费补贴政策", code="NOT_A_LENDER")
    why = _suspension(s, prog, inst)
    if why:
        raise Conflict(why, code="BANK_SUSPENDED")
    return prog, inst


@router.post("/bank/policy/{number}/enrol", response_class=HTMLResponse)
def enrol(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
          s: Session = Depends(db_session, scope="function")) -> Response:
    """One loan (a lender: `loan_no` typed, else `loan_pick` chosen) or one contract (a guarantor:
    `contract_ref` typed, else `contract_pick`)."""
    try:
        prog = programmes.get(s, p, number)
        if prog.kind == "guarantee":
            ref = f.get("contract_ref") or f.get("contract_pick")
            if not ref:
                raise InvalidInput("请选择或填写担保合同编号", code="CONTRACT_REQUIRED")
            e = enrolments.enrol(s, p, number, ref, contract_ref=ref)
        else:
            ref = f.get("loan_no") or f.get("loan_pick")
            if not ref:
                raise InvalidInput("请选择或填写贷款编号（平台贷款编号 DK-… 或本行贷款编号）", code="LOAN_REQUIRED")
            e = enrolments.enrol(s, p, number, ref)
    except DomainError as exc:
        return _refusal(request, s, p, number, exc, "enrol", f, "loan_no", "loan_pick", "contract_ref",
                        "contract_pick")
    return see_other(f"/bank/policy/{number}?{urlencode({'done': 'enrolled', 'ref': e.loan_no})}#enrolments")


@router.post("/bank/policy/{number}/enrol-all", response_class=HTMLResponse)
def enrol_all(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
              s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        res = enrolments.enrol_all(s, p, number)
    except DomainError as exc:
        return _refusal(request, s, p, number, exc, "enrol-all", f)
    refused = ",".join(f"{code}:{n}" for code, n in sorted(res.refused.items()) if n)
    return see_other(f"/bank/policy/{number}?{urlencode({'done': 'bulk', 'enrolled': res.enrolled, 'refused': refused})}")


def _decode(data: bytes) -> str:
    """A file's text: UTF-8 (with or without BOM), else GBK/GB18030; anything else is refused by name."""
    if b"\x00" in data:
        raise InvalidInput("文件含有空字节，不是 UTF-8 或 GBK 编码的文本：可能是 UTF-16 编码或 Excel 工作簿。"
                           "请另存为 CSV（UTF-8 或 GBK）后重新上传", code="BAD_ENCODING")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("文件标明为 UTF-8，但含有不能按 UTF-8 解码的字节：文件可能混用了编码或已损坏",
                               code="BAD_ENCODING") from None
    for encoding in ("utf-8", "gb18030"):  # strict UTF-8 first: GB18030 would read UTF-8 as mojibake
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("文件编码无法识别：请以 UTF-8 或 GBK/GB18030 编码保存为 CSV 后重新上传", code="BAD_ENCODING")


def _file_rows(data: bytes) -> tuple[list[tuple[int, str]], str | None]:
    """(row number, loan number) of each row that has one, and the header's column name if the first row
    was a header. Blank rows are skipped; a file without a single number is refused."""
    if not data.strip():
        raise InvalidInput("上传的文件是空的", code="FILE_EMPTY")
    text = _decode(data)
    try:
        table = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise InvalidInput(f"文件不能按 CSV 读取：{exc}", code="FILE_FORMAT") from None
    column, header = 0, None
    if table:
        named = [i for i, cell in enumerate(table[0]) if cell.strip().lower() in FILE_HEADERS]
        if named:
            column, header = named[0], table[0][named[0]].strip()
    rows = [(i + 1, cells[column].strip()) for i, cells in enumerate(table)
            if not (header is not None and i == 0) and len(cells) > column and cells[column].strip()]
    if not rows:
        raise InvalidInput("文件中没有可用的行：请每行填写一个贷款编号（平台贷款编号 DK-… 或本行贷款编号），"
                           "可带表头“贷款编号”", code="FILE_NO_ROWS")
    if len(rows) > FILE_MAX_ROWS:
        raise InvalidInput(f"文件有 {len(rows):,} 行，超过每次 {FILE_MAX_ROWS:,} 行：请拆分后上传，"
                           "或使用“备案全部符合条件的贷款”", code="FILE_TOO_MANY_ROWS")
    return rows, header


def _reasons(exc: DomainError) -> list[str]:
    if exc.code == "NOT_ELIGIBLE" and isinstance(exc.detail, dict):
        return [str(r.get("message", "")) for r in exc.detail.get("reasons", [])] or [exc.message]
    return [exc.message]


@router.post("/bank/policy/{number}/enrol-file", response_class=HTMLResponse)
def enrol_file(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
               s: Session = Depends(db_session, scope="function")) -> Response:
    """A CSV of loan numbers, one a row. Each row is enrolled in its own savepoint, so a refused row leaves
    nothing behind and the others stand. The row report is shown at once rather than after a redirect: it
    is not stored, and sending the file again only reports the enrolled rows as already enrolled."""
    up = f.form.get("file")
    name = (up.filename or "") if isinstance(up, UploadFile) else ""
    try:
        if not isinstance(up, UploadFile) or not name.strip():
            raise InvalidInput("请选择要上传的 CSV 文件", code="FILE_REQUIRED")
        data = up.file.read(FILE_MAX_BYTES + 1)
        if len(data) > FILE_MAX_BYTES:
            raise InvalidInput(f"文件超过 {FILE_MAX_BYTES >> 10} KB：请拆分后上传，或使用“备案全部符合条件的贷款”",
                               code="FILE_TOO_LARGE")
        rows, header = _file_rows(data)
        _may_enrol(s, p, number)
    except DomainError as exc:
        return _refusal(request, s, p, number, exc, "enrol-file", f)
    result = FileResult(name[:200], [], header)
    seen: dict[str, int] = {}
    for row_no, value in rows:
        if value in seen:
            result.rows.append(FileRow(row_no, value, "duplicate", [f"与第 {seen[value]} 行重复，未再次备案"]))
            continue
        seen[value] = row_no
        if len(value) > 64:
            result.rows.append(FileRow(row_no, value[:64] + "…", "refused", ["贷款编号过长（至多 64 个字符）"]))
            continue
        try:
            with s.begin_nested():
                e = enrolments.enrol(s, p, number, value, contract_ref=value, source="file")
            result.rows.append(FileRow(row_no, value, "enrolled", [f"已备案 {e.loan_no}，补贴本金 {wan(e.eligible_fen)}"]))
        except DomainError as exc:
            result.rows.append(FileRow(row_no, value, "refused", _reasons(exc)))
    return _programme_page(request, s, p, number, file_result=result)


# ── claims ───────────────────────────────────────────────────────────────────────────────────────────────

@router.post("/bank/policy/{number}/claims/interest", response_class=HTMLResponse)
def claim_interest(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        loan_no = f.get("loan_no")
        if not loan_no:
            raise InvalidInput("请选择或填写已备案的贷款编号", code="LOAN_REQUIRED")
        start, end = _date(f.get("start"), "申领期间开始日"), _date(f.get("end"), "申领期间结束日")
        paid = _yuan(f.get("paid_interest"), "实付利息")
        c = claims.draft_interest(s, p, number, loan_no, start, end, paid, _evidence(request, f))
    except DomainError as exc:
        return _refusal(request, s, p, number, exc, "claim-interest", f, "loan_no", "start", "end", "paid_interest")
    return see_other(f"/bank/policy/claims/{c.number}?done=drafted")


@router.post("/bank/policy/{number}/claims/period", response_class=HTMLResponse)
def claim_period(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        start, end = _date(f.get("start"), "申领期间开始日"), _date(f.get("end"), "申领期间结束日")
        b = claims.claim_period(s, p, number, start, end, _evidence(request, f))
    except DomainError as exc:
        return _refusal(request, s, p, number, exc, "claim-period", f, "start", "end")
    if b.claims == 0:
        return see_other(f"/bank/policy/{number}?done=batch_empty")
    return see_other(f"/bank/policy/{number}/batches/{b.batch}?done=batch")


@router.post("/bank/policy/{number}/claims/guarantee", response_class=HTMLResponse)
def claim_guarantee(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        ref = f.get("contract_ref")
        if not ref:
            raise InvalidInput("请选择已备案的担保合同", code="CONTRACT_REQUIRED")
        start, end = _date(f.get("start"), "补贴期间开始日"), _date(f.get("end"), "补贴期间结束日")
        c = claims.draft_guarantee(s, p, number, ref, start, end, _evidence(request, f))
    except DomainError as exc:
        return _refusal(request, s, p, number, exc, "claim-guarantee", f, "contract_ref", "start", "end")
    return see_other(f"/bank/policy/claims/{c.number}?done=drafted")


@router.post("/bank/policy/{number}/claims/pool", response_class=HTMLResponse)
def claim_pool(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
               s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        loan_no = f.get("loan_no")
        if not loan_no:
            raise InvalidInput("请选择已认定为不良的备案贷款", code="LOAN_REQUIRED")
        c = claims.draft_compensation(s, p, number, loan_no, _yuan(f.get("loss"), "本金损失"), _evidence(request, f))
    except DomainError as exc:
        return _refusal(request, s, p, number, exc, "claim-pool", f, "loan_no", "loss")
    return see_other(f"/bank/policy/claims/{c.number}?done=drafted")


# ── a batch ──────────────────────────────────────────────────────────────────────────────────────────────

BATCH_SORT = {"amount": Claim.amount_fen, "number": Claim.number, "state": Claim.state, "created_at": Claim.created_at}


def _batch_page(request: Request, s: Session, p: Principal, number: str, batch: str, *, page_no: int = 1,
                sort: str | None = None, desc: bool = False, done: str | None = None,
                error: DomainError | None = None) -> Response:
    prog = programmes.get(s, p, number)
    mine = claims.visible(p).where(Claim.programme_id == prog.id, Claim.batch == batch)
    result: Page[Claim] = paginate(s, mine, PageRequest(page_no, SIZE, sort, desc), BATCH_SORT, "number")
    if result.total == 0:
        raise NotFound(f"未找到本机构在该政策的申领批次 {batch}", code="BATCH_NOT_FOUND")
    sub = mine.order_by(None).subquery()
    by_state = {st: (int(n), int(a)) for st, n, a in s.execute(
        select(sub.c.state, func.count(), func.sum(sub.c.amount_fen)).group_by(sub.c.state)).all()}
    links = Links(f"/bank/policy/{prog.number}/batches/{batch}", {"page": str(result.page), "sort": result.sort or "",
                                                                   "desc": _flag(result.desc)})
    first = result.items[0]
    return page(request, "policy/bank_batch.html", error=error, done=done, prog=prog, kind=KINDS[prog.kind],
                batch=batch, cls=result, rows=_claim_rows(s, result.items), links=links,
                by_state=[(_claim_state(st), n, a) for st, (n, a) in sorted(by_state.items())],
                total=sum(a for _, a in by_state.values()),
                may_submit=flows.DRAFT in by_state, may_withdraw=bool({flows.DRAFT, flows.SUBMITTED} & set(by_state)),
                evidence_name=first.evidence_name, sample=first.number)


@router.get("/bank/policy/{number}/batches/{batch}", response_class=HTMLResponse)
def batch_page(number: str, batch: str, request: Request, done: str = "",
               page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), sort: str | None = None, desc: bool = False,
               p: Principal = Depends(BANK), s: Session = Depends(db_session, scope="function")) -> Response:
    return _batch_page(request, s, p, number, batch, page_no=page_no, sort=sort, desc=desc, done=DONE.get(done))


@router.post("/bank/policy/{number}/batches/{batch}/act", response_class=HTMLResponse)
def batch_act(number: str, batch: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
              s: Session = Depends(db_session, scope="function")) -> Response:
    action = f.get("action")
    try:
        if action not in ("submit", "withdraw"):
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        claims.act_batch(s, p, number, batch, action)
    except DomainError as exc:
        s.rollback()
        return _batch_page(request, s, p, number, batch, error=exc)
    return see_other(f"/bank/policy/{number}/batches/{batch}?done=batch_{action}")


# ── one claim ────────────────────────────────────────────────────────────────────────────────────────────

def _timeline(s: Session, claim: Claim) -> list[dict[str, Any]]:
    events = claims.events(s, claim)
    people = names_of(s, {e.actor for e in events})
    rows = []
    for e in events:
        move = flows.CLAIM.move(e.action)
        payload = e.payload or {}
        details = []
        if payload.get("formula"):
            details.append(f"计算：{payload['formula']}")
        if payload.get("batch"):
            details.append(f"批次 {payload['batch']}")
        if payload.get("reason"):
            details.append(f"原因：{payload['reason']}")
        if payload.get("payment_ref"):
            details.append(f"支付凭证号 {payload['payment_ref']}" + (f"，拨付日 {payload['paid_on']}"
                                                                    if payload.get("paid_on") else ""))
        if payload.get("recovered_fen"):
            details.append(f"追偿回款 {wan(int(payload['recovered_fen']))}，返还资金池 {wan(int(payload.get('returned_fen') or 0))}")
        rows.append({"label": move.label, "at": e.at, "by": move.actors_text(), "who": people.get(e.actor, e.actor),
                     "state": flows.CLAIM.label(e.to_state), "details": details})
    return rows


def _claim_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
                error: DomainError | None = None, form: dict[str, str] | None = None) -> Response:
    c = claims.get(s, p, number)
    prog = s.get(Programme, c.programme_id)
    assert prog is not None
    e = s.get(Enrolment, c.enrolment_id)
    contract = s.get(GuaranteeContract, e.contract_id) if e is not None and e.contract_id else None
    moves = [m.action for m in flows.CLAIM.moves_from(c.state, market_flows.ActorKind.BANK)
             if m.action != "recover" or c.kind == "pool"]
    w = claims.worked(s, c)
    people = names_of(s, [c.created_by, c.reviewed_by, c.approved_by])
    return page(request, "policy/bank_claim.html", error=error, done=done, c=c, prog=prog, kind=KINDS[c.kind],
                enrolment=e, contract=contract, entity=entity_names(s, {c.entity_code}).get(c.entity_code, c.entity_code),
                period=arithmetic.period_text(c.period_from_day, c.period_to_day) or "", formula=w.formula,
                split=claims.split_of(s, c), state=_claim_state(c.state), steps=_timeline(s, c), moves=moves,
                people=people, form=form or {}, next_text=flows.CLAIM.next_text(c.state))


@router.get("/bank/policy/claims/{number}", response_class=HTMLResponse)
def claim_page(number: str, request: Request, done: str = "", p: Principal = Depends(BANK),
               s: Session = Depends(db_session, scope="function")) -> Response:
    return _claim_page(request, s, p, number, done=DONE.get(done))


@router.post("/bank/policy/claims/{number}/act", response_class=HTMLResponse)
def claim_act(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
              s: Session = Depends(db_session, scope="function")) -> Response:
    action = f.get("action")
    try:
        if action not in BANK_ACTIONS:
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        recovered = _yuan(f.get("recovered"), "追偿回款金额") if action == "recover" else None
        claims.act(s, p, number, action, recovered_fen=recovered)
    except DomainError as exc:
        s.rollback()
        if is_repeat(exc):
            return see_other(f"/bank/policy/claims/{number}?done=already")
        return _claim_page(request, s, p, number, error=exc, form={"action": action, **f.pick("recovered")})
    return see_other(f"/bank/policy/claims/{number}?done={action}")


# ── a guarantor's contracts ──────────────────────────────────────────────────────────────────────────────

def _guarantees_page(request: Request, s: Session, p: Principal, *, page_no: int = 1, sort: str | None = None,
                     desc: bool = True, done: str | None = None, error: DomainError | None = None,
                     form: dict[str, str] | None = None) -> Response:
    inst = guarantees.guarantor_of(s, p)
    result = guarantees.listing(s, p, PageRequest(page_no, SIZE, sort, desc))
    names = entity_names(s, {c.entity_code for c in result.items})
    enrolled = dict(s.execute(select(Enrolment.contract_id, func.count()).where(
        Enrolment.contract_id.in_([c.id for c in result.items])).group_by(Enrolment.contract_id)).all()) \
        if result.items else {}
    rows = [{"g": c, "entity": names.get(c.entity_code, c.entity_code), "state": guarantees.STATES.get(c.state, c.state),
             "enrolled": int(enrolled.get(c.id, 0))} for c in result.items]
    active = list(s.execute(select(GuaranteeContract).where(
        GuaranteeContract.guarantor_code == inst.code, GuaranteeContract.state == "ACTIVE")
        .order_by(GuaranteeContract.created_at.desc()).limit(PICK_LIMIT)).scalars())
    fee_programmes = list(s.execute(programmes.visible(p).where(Programme.state == "ACTIVE",
                                                                Programme.kind == "guarantee")
                                    .order_by(Programme.ends_on)).scalars())
    links = Links("/bank/policy/guarantees", {"page": str(result.page), "sort": result.sort or "", "desc": _flag(result.desc)})
    return page(request, "policy/bank_guarantees.html", error=error, done=done, inst=inst, cls=result, rows=rows,
                links=links, active=active, form=form or {}, fee_programmes=fee_programmes)


@router.post("/bank/policy/guarantees", response_class=HTMLResponse)
def record_guarantee(request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        loan_no = f.get("loan_no")
        if not loan_no:
            raise InvalidInput("请填写平台贷款编号（DK-…）", code="LOAN_REQUIRED")
        guarantees.record(s, p, loan_no=loan_no, contract_ref=f.get("contract_ref"),
                          covered_fen=wan_fen(f.get("covered"), "担保金额"), fee_bp=_fee_bp(f.get("fee_rate")),
                          starts_on=_date(f.get("starts_on"), "担保开始日"), ends_on=_date(f.get("ends_on"), "担保结束日"),
                          note=f.get("note") or None)
    except DomainError as exc:
        s.rollback()
        return _guarantees_page(request, s, p, error=exc, form={"id": "record", **f.pick(
            "loan_no", "contract_ref", "covered", "fee_rate", "starts_on", "ends_on", "note")})
    return see_other("/bank/policy/guarantees?done=recorded")


@router.post("/bank/policy/guarantees/compensate", response_class=HTMLResponse)
def compensate(request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
               s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        ref = f.get("contract_ref")
        if not ref:
            raise InvalidInput("请选择担保合同", code="CONTRACT_REQUIRED")
        guarantees.compensate(s, p, ref, wan_fen(f.get("amount"), "代偿金额"), _date(f.get("on"), "代偿日期"))
    except DomainError as exc:
        s.rollback()
        return _guarantees_page(request, s, p, error=exc, form={"id": "compensate",
                                                                **f.pick("contract_ref", "amount", "on")})
    return see_other("/bank/policy/guarantees?done=compensated")

