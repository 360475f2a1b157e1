"""Pages of credit repair (信用修复) and credit commitments (信用承诺).

The enterprise: /my/repairs (its penalty-like records with their publication windows, and its applications),
/my/repairs/new?record= (the record's facts, grounds, evidence and the repair commitment to confirm, in one
form), /my/repairs/{number}; /my/commitments (its commitments; sign a general one: preview → confirm with the
text's digest). The platform: /rights/repairs (the queue; operators decide, regulators read) and
/rights/repairs/{number} (evidence downloads, approve / refuse with a reason); /rights/commitments (broken ones
flagged). Evidence is downloaded through the application, so only those who may see it get its files.

Writes are POST → redirect → GET with a `done` key; a refused form comes back with the refusal's message and
code, as typed."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.catalog import publication
from xinyidai.catalog.publication import STATE_LABELS
from xinyidai.catalog.values import item_text
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError
from xinyidai.kit.notify import make_notifier
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.records.models import CreditRecord
from xinyidai.rights import commitments, evidence, repair
from xinyidai.rights.commitments import CommitmentRequest
from xinyidai.rights.models import COMMITMENT_KINDS, REPAIR_STATES, RepairApplication
from xinyidai.rights.pages.common import evidence_response
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import INT64_MAX, PageNo, PageSize, SmallRowId
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
ENTERPRISE = require("enterprise")
STAFF = require("operator", "regulator")
OPERATOR = require("operator")
RecordQ = Annotated[int, Query(ge=1, le=INT64_MAX, description="申请信用修复的信用记录编号")]
RecordF = Annotated[int, Form(ge=1, le=INT64_MAX, description="申请信用修复的信用记录编号")]
DONE = {"submitted": "信用修复申请已提交，信用修复承诺书已签署。平台审核后将在此告知结果。",
        "approved": "已同意信用修复：该记录自今日起停止公示，不再计入公共信用评价；已通知提供部门。",
        "refused": "已决定不予修复，理由已告知企业。", "withdrawn": "申请已撤回。",
        "signed": "信用承诺书已签署，平台已保存承诺书全文及其 SM3 摘要。"}
MAX_FILE_READ = 10 * 1024 * 1024 + 1  # one byte past the limit is enough to refuse it


def _labels() -> dict[str, Any]:
    return {"states": REPAIR_STATES, "step_labels": repair.STEP_LABELS, "window_states": STATE_LABELS,
            "kinds": COMMITMENT_KINDS}


def _names(s: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(s.execute(select(MarketEntity.code, MarketEntity.name).where(MarketEntity.code.in_(sorted(codes)))).all())


def _facts(request: Request, rec: CreditRecord | None) -> list[tuple[str, str]]:
    """The record's filled items in the catalogue's order, as people read them."""
    if rec is None:
        return []
    content = json.loads(rec.content)
    try:
        cat = node(request).catalog.category(rec.category)
    except KeyError:
        return [(k, str(v)) for k, v in content.items()]
    return [(i.name, item_text(i, content[i.code])) for i in cat.items if content.get(i.code) not in (None, "")]


async def uploads(files: list[UploadFile] = File(default=[])) -> list[evidence.Upload]:
    """The uploaded files read (each at most one byte past the limit, which is enough to refuse it)."""
    out = []
    for f in files[: evidence.MAX_FILES + 1]:  # one more than allowed is enough to refuse the lot
        data = await f.read(MAX_FILE_READ)
        if data or f.filename:
            out.append(evidence.Upload(f.filename or "", data))
    return out


def _download(s: Session, p: Principal, number: str, evidence_id: int) -> Response:
    a = repair.get(s, p, number)  # the application first: another's is not found, nor its files
    ev = evidence.for_case(s, repair.CASE, a.id, evidence_id)
    return evidence_response(a.number, ev)


# ── the enterprise: its records and applications ──────────────────────────────────────────────────────

@router.get("/my/repairs", response_class=HTMLResponse)
def my_repairs(request: Request, page: PageNo = 1, size: PageSize = 20, done: str = "",
               p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")) -> Response:
    today = clock.today()
    rows = repair.penalty_records(s, node(request).catalog, p.org_code or "", today)
    apps = repair.listing(s, p, PageRequest(page, size, "applied_at", True))
    return no_store(render(request, "rights/repair_mine.html", rows=rows, page=apps, params="", today=today,
                           done=DONE.get(done), is_admin=_is_admin(s, p), **_labels()))


def _is_admin(s: Session, p: Principal) -> bool:
    try:
        commitments.own_administrator(s, p)
    except DomainError:
        return False
    return True


def _new_page(request: Request, s: Session, p: Principal, record_id: int, grounds: str = "",
              error: DomainError | None = None) -> Response:
    """The form, or the reason the record cannot be applied for (too early: the date it can)."""
    e = text = digest = None
    try:
        e, text, digest = repair.preview_commitment(s, node(request).catalog, p, record_id)
    except DomainError as exc:
        s.rollback()
        if exc.code == "REPAIR_RECORD_NOT_FOUND":
            raise
        error = error or exc
    rec = e.record if e else repair.current_version(s, p.org_code or "", record_id)
    cat = node(request).catalog.category(rec.category)
    return no_store(render(request, "rights/repair_new.html", status_code=error.status if error else 200,
                           rec=rec, cat=cat, facts=_facts(request, rec), eligible=e, text=text, digest=digest,
                           grounds=grounds, error=error, max_files=evidence.MAX_FILES, **_labels()))


@router.get("/my/repairs/new", response_class=HTMLResponse)
def new_repair(request: Request, record: RecordQ, p: Principal = Depends(ENTERPRISE),
               s: Session = Depends(db_session, scope="function")) -> Response:
    return _new_page(request, s, p, record)


@router.post("/my/repairs/new", response_class=HTMLResponse)
def apply_repair(request: Request, record: RecordF, grounds: str = Form(""), text_digest: str = Form(""),
                 files: list[evidence.Upload] = Depends(uploads), p: Principal = Depends(ENTERPRISE),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        number = repair.apply(s, node(request).catalog, p, record, grounds=grounds[:4000], files=files,
                              commitment_digest=text_digest[:64]).number
    except DomainError as exc:
        s.rollback()
        if exc.code == "REPAIR_RECORD_NOT_FOUND":
            raise
        return _new_page(request, s, p, record, grounds[:4000], exc)
    return RedirectResponse(f"/my/repairs/{number}?done=submitted", status_code=303)


def _detail(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
            error: DomainError | None = None, note: str = "") -> Response:
    a = repair.get(s, p, number)
    catalog = node(request).catalog
    rec = s.get(CreditRecord, a.new_record_id or a.record_id)
    cat = catalog.category(a.category)
    window = publication.window(cat, json.loads(rec.content)) if rec is not None else None
    staff = p.role != "enterprise"
    return no_store(render(
        request, "rights/repair_detail.html", status_code=error.status if error else 200, a=a, rec=rec, cat=cat,
        facts=_facts(request, rec), window=window, today=clock.today(), steps=repair.steps(s, a),
        files=evidence.listing(s, repair.CASE, a.id), commitment=repair.commitment_of(s, a),
        entity_name=_names(s, {a.entity_code}).get(a.entity_code, ""), done=done, error=error, note=note,
        base="/rights/repairs" if staff else "/my/repairs", staff=staff,
        may_decide=p.role == "operator" and a.state in repair.OPEN,
        may_withdraw=p.role == "enterprise" and a.state in repair.OPEN and _is_admin(s, p), **_labels()))


@router.get("/my/repairs/{number}", response_class=HTMLResponse)
def my_repair(request: Request, number: str, done: str = "", p: Principal = Depends(ENTERPRISE),
              s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, number, done=DONE.get(done))


@router.get("/my/repairs/{number}/evidence/{evidence_id}")
def my_evidence(number: str, evidence_id: SmallRowId, p: Principal = Depends(ENTERPRISE),
                s: Session = Depends(db_session, scope="function")) -> Response:
    return _download(s, p, number, evidence_id)


@router.post("/my/repairs/{number}/withdraw", response_class=HTMLResponse)
def withdraw_repair(request: Request, number: str, p: Principal = Depends(ENTERPRISE),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        repair.withdraw(s, p, number)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc)
    return RedirectResponse(f"/my/repairs/{number}?done=withdrawn", status_code=303)


# ── the platform: the queue and the decision ──────────────────────────────────────────────────────────

@router.get("/rights/repairs", response_class=HTMLResponse)
def repair_queue(request: Request, state: str = "", page: PageNo = 1, size: PageSize = 20, sort: str | None = None,
                 desc: bool = True, done: str = "", p: Principal = Depends(STAFF),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    state = state if state in REPAIR_STATES else ""
    result = repair.listing(s, p, PageRequest(page, size, sort, desc), state=state or None)
    items: list[RepairApplication] = result.items
    return no_store(render(request, "rights/repair_queue.html", page=result, state=state,
                           params=urlencode({"state": state} if state else {}), done=DONE.get(done),
                           names=_names(s, {a.entity_code for a in items}), **_labels()))


@router.get("/rights/repairs/{number}", response_class=HTMLResponse)
def staff_repair(request: Request, number: str, done: str = "", p: Principal = Depends(STAFF),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, number, done=DONE.get(done))


@router.get("/rights/repairs/{number}/evidence/{evidence_id}")
def staff_evidence(number: str, evidence_id: SmallRowId, p: Principal = Depends(STAFF),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    return _download(s, p, number, evidence_id)


@router.post("/rights/repairs/{number}/approve", response_class=HTMLResponse)
def approve_repair(request: Request, number: str, note: str = Form(""), p: Principal = Depends(OPERATOR),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    n = node(request)
    try:
        repair.approve(s, n.catalog, p, number, note[:4000], make_notifier(n.settings.notifier, n.settings.var_dir))
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc, note=note[:4000])
    return RedirectResponse(f"/rights/repairs/{number}?done=approved", status_code=303)


@router.post("/rights/repairs/{number}/refuse", response_class=HTMLResponse)
def refuse_repair(request: Request, number: str, note: str = Form(""), p: Principal = Depends(OPERATOR),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        repair.refuse(s, p, number, note[:4000])
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc, note=note[:4000])
    return RedirectResponse(f"/rights/repairs/{number}?done=refused", status_code=303)


# ── commitments ───────────────────────────────────────────────────────────────────────────────────────

def _scope_choices(request: Request) -> list[Any]:
    """Categories a general commitment may cover: those with a publication window (the negative ones)."""
    cats = [c for c in node(request).catalog.categories if c.publication is not None]
    return cats or list(node(request).catalog.categories)


def _my_commitments(request: Request, s: Session, p: Principal, *, page: int = 1, size: int = 20,
                    done: str | None = None, error: DomainError | None = None,
                    scope: list[str] | None = None) -> Response:
    result = commitments.listing(s, p, PageRequest(page, size, "confirmed_at", True))
    return no_store(render(request, "rights/commitment_mine.html", status_code=error.status if error else 200,
                           page=result, params="", today=clock.today(), done=done, error=error,
                           is_admin=_is_admin(s, p), choices=_scope_choices(request),
                           scope=scope if scope is not None else ["penalty"], **_labels()))


@router.get("/my/commitments", response_class=HTMLResponse)
def my_commitments(request: Request, page: PageNo = 1, size: PageSize = 20, done: str = "",
                   p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")) -> Response:
    return _my_commitments(request, s, p, page=page, size=size, done=DONE.get(done))


@router.post("/my/commitments/preview", response_class=HTMLResponse)
def preview_commitment(request: Request, scope: list[str] = Form([]), p: Principal = Depends(ENTERPRISE),
                       s: Session = Depends(db_session, scope="function")) -> Response:
    scope = [c[:40] for c in scope[:50]]
    try:
        text, digest = commitments.preview(s, node(request).catalog, p, CommitmentRequest("general", tuple(scope)))
    except DomainError as exc:
        return _my_commitments(request, s, p, error=exc, scope=scope)
    return no_store(render(request, "rights/commitment_preview.html", text=text, digest=digest, scope=scope))


@router.post("/my/commitments", response_class=HTMLResponse)
def sign_commitment(request: Request, scope: list[str] = Form([]), text_digest: str = Form(""),
                    p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")) -> Response:
    scope = [c[:40] for c in scope[:50]]
    try:
        c = commitments.confirm(s, node(request).catalog, p, CommitmentRequest("general", tuple(scope)),
                                text_digest[:64])
        number = c.number
    except DomainError as exc:
        s.rollback()
        return _my_commitments(request, s, p, error=exc, scope=scope)
    return RedirectResponse(f"/my/commitments/{number}?done=signed", status_code=303)


def _commitment_page(request: Request, s: Session, p: Principal, number: str, done: str | None = None) -> Response:
    c = commitments.get(s, p, number)
    broken = s.get(CreditRecord, c.broken_record_id) if c.broken_record_id else None
    staff = p.role != "enterprise"
    return no_store(render(request, "rights/commitment_detail.html", c=c, broken=broken,
                           broken_facts=_facts(request, broken), live=commitments.is_live(c, clock.today()),
                           entity_name=_names(s, {c.entity_code}).get(c.entity_code, ""), done=done,
                           base="/rights/commitments" if staff else "/my/commitments", staff=staff, **_labels()))


@router.get("/my/commitments/{number}", response_class=HTMLResponse)
def my_commitment(request: Request, number: str, done: str = "", p: Principal = Depends(ENTERPRISE),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _commitment_page(request, s, p, number, DONE.get(done))


@router.get("/rights/commitments", response_class=HTMLResponse)
def commitment_list(request: Request, broken: bool = False, kind: str = "", page: PageNo = 1, size: PageSize = 20,
                    sort: str | None = None, desc: bool = True, p: Principal = Depends(STAFF),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    kind = kind if kind in COMMITMENT_KINDS else ""
    result = commitments.listing(s, p, PageRequest(page, size, sort, desc), broken=broken, kind=kind or None)
    params = urlencode({k: v for k, v in (("broken", "true" if broken else ""), ("kind", kind)) if v})
    return no_store(render(request, "rights/commitment_list.html", page=result, broken=broken, kind=kind,
                           params=params, today=clock.today(),
                           names=_names(s, {c.entity_code for c in result.items}), **_labels()))


@router.get("/rights/commitments/{number}", response_class=HTMLResponse)
def staff_commitment(request: Request, number: str, p: Principal = Depends(STAFF),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    return _commitment_page(request, s, p, number)
