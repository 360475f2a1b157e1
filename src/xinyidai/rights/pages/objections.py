"""Pages of objections (异议): the enterprise's own (/my/objections: its list, the form on one of its records,
each case with its clock, steps, evidence and outcome); the platform's queue (/rights/objections: operators
act, regulators read); a department's cases (/department/objections, with the answer form — for 已更正 the
record's items prefilled, only the items changed are sent to the correction). Evidence is downloaded through
the case, so only those who may see the case get its files.

Writes are POST → redirect → GET with a `done` key; a refused form comes back with the refusal's message and
code, as typed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.accounts.models import User
from xinyidai.catalog.values import category_name
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError, NotFound
from xinyidai.kit.notify import make_notifier
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.network import runtime as network_runtime
from xinyidai.quality import departments
from xinyidai.records.models import CreditRecord
from xinyidai.rights import evidence, objections, workdays
from xinyidai.rights.models import Objection
from xinyidai.rights.pages.common import evidence_response
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import INT64_MAX, PageNo, PageSize, SmallRowId
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
ENTERPRISE = require("enterprise")
STAFF = require("operator", "regulator")
OPERATOR = require("operator")
DEPARTMENT = require("department")
RecordQ = Annotated[int, Query(ge=1, le=INT64_MAX, description="被异议的信用记录编号")]
DONE = {"raised": "异议已提交，该记录已标注“异议处理中”。平台将在 2 个工作日内受理，20 日内办结。",
        "accepted": "异议已受理并转交核查。", "refused": "已决定不予受理，异议标注已解除。",
        "answered": "核查结果已提交，异议已办结。", "concluded": "异议已办结。"}
BASES = {"enterprise": "/my/objections", "operator": "/rights/objections", "regulator": "/rights/objections",
         "department": "/department/objections"}
MAX_FILE_READ = 10 * 1024 * 1024 + 1  # one byte past the limit is enough to refuse it


def _labels() -> dict[str, Any]:
    return {"states": objections.OBJECTION_STATES, "routes": objections.OBJECTION_ROUTES,
            "outcomes": objections.OBJECTION_OUTCOMES, "step_labels": objections.STEP_LABELS}


def _facts(request: Request, rec: CreditRecord | None) -> list[dict[str, Any]]:
    """The record's items in the catalogue's order, as (code, name, value, is_key)."""
    if rec is None:
        return []
    content = json.loads(rec.content)
    try:
        cat = node(request).catalog.category(rec.category)
    except KeyError:
        return [{"code": k, "name": k, "value": _text(v), "key": False} for k, v in content.items()]
    return [{"code": i.code, "name": i.name + (f"（{i.unit}）" if i.unit else ""), "value": _text(content.get(i.code)),
             "key": i.code in cat.key} for i in cat.items]


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _is_admin(s: Session, p: Principal) -> bool:
    u = s.get(User, p.user_id)
    return bool(u is not None and u.org_admin and u.active)


def _clock(o: Objection) -> dict[str, Any]:
    """What the pages say about the deadlines: the 20 days, the current stage's working days, the calendar."""
    today = clock.today()
    years = {d.year for d in (o.due_on, o.stage_due_on) if d is not None}
    return {"today": today, "overdue": objections.is_overdue(o, today),
            "stage_overdue": objections.stage_overdue(o, today),
            "days_left": (o.due_on - today).days if o.state in objections.OPEN else None,
            "workdays_left": (workdays.workdays_between(today, o.stage_due_on)
                              if o.stage_due_on and o.state in objections.OPEN else None),
            "missing_years": sorted(y for y in years if not workdays.known(y))}


# ── the enterprise ────────────────────────────────────────────────────────────────────────────────────

@router.get("/my/objections", response_class=HTMLResponse)
def my_objections(request: Request, page: PageNo = 1, size: PageSize = 20, done: str = "",
                  p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")) -> Response:
    result = objections.listing(s, p, PageRequest(page, size, "raised_at", True))
    return no_store(render(request, "rights/objections_mine.html", page=result, params="", today=clock.today(),
                           done=DONE.get(done), is_admin=_is_admin(s, p), **_labels()))


@dataclass
class RaiseForm:
    record: str = ""
    complaint: str = ""
    wanted: str = ""


def _new_page(request: Request, s: Session, p: Principal, record_id: int, form: RaiseForm,
              error: DomainError | None = None) -> Response:
    rec = s.get(CreditRecord, record_id) if 0 < record_id <= INT64_MAX else None
    if rec is None or rec.entity_code != p.org_code:
        raise NotFound("没有这条关于本企业的信用记录", code="OBJECTION_RECORD_NOT_FOUND")
    today = clock.today()
    return no_store(render(request, "rights/objections_new.html", status_code=error.status if error else 200,
                           rec=rec, facts=_facts(request, rec), form=form, error=error, is_admin=_is_admin(s, p),
                           max_files=evidence.MAX_FILES, due_on=today + timedelta(days=objections.DUE_DAYS),
                           cat_name=category_name(node(request).catalog, rec.category)))


@router.get("/my/objections/new", response_class=HTMLResponse)
def new_objection(request: Request, record: RecordQ, p: Principal = Depends(ENTERPRISE),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _new_page(request, s, p, record, RaiseForm(record=str(record)))


async def uploads(files: list[UploadFile] = File(default=[])) -> list[evidence.Upload]:
    """The uploaded files read (each at most one byte past the limit, which is enough to refuse it)."""
    out = []
    for f in files[: evidence.MAX_FILES + 1]:  # one more than allowed is enough to refuse the lot
        data = await f.read(MAX_FILE_READ)
        if data or f.filename:
            out.append(evidence.Upload(f.filename or "", data))
    return out


@router.post("/my/objections/new", response_class=HTMLResponse)
def raise_objection(request: Request, record: str = Form(""), complaint: str = Form(""), wanted: str = Form(""),
                    files: list[evidence.Upload] = Depends(uploads), p: Principal = Depends(ENTERPRISE),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    form = RaiseForm(record[:20], complaint[:5000], wanted[:5000])
    record_id = int(record) if record.strip().isdigit() and len(record.strip()) <= 18 else 0
    try:
        number = objections.raise_objection(s, p, record_id=record_id, complaint=complaint, wanted=wanted,
                                            files=files).number
    except DomainError as exc:
        s.rollback()
        if exc.code == "OBJECTION_RECORD_NOT_FOUND":
            raise
        return _new_page(request, s, p, record_id, form, exc)
    return RedirectResponse(f"/my/objections/{number}?done=raised", status_code=303)


# ── one case, for whoever may see it ──────────────────────────────────────────────────────────────────

def _detail(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
            error: DomainError | None = None, form: dict[str, Any] | None = None) -> Response:
    o = objections.get(s, p, number)
    rec = objections.record_of(s, o)
    dept = departments.get(s, o.department) if o.department else None
    base = BASES[p.role]
    may_act = p.role == "operator"
    return no_store(render(
        request, "rights/objections_detail.html", status_code=error.status if error else 200, o=o, rec=rec,
        facts=_facts(request, rec), dept=dept, steps=objections.steps(s, o), files=evidence.listing(s, "objection", o.id),
        clock_=_clock(o), base=base, done=done, error=error, form=form or {},
        may_accept=may_act and o.state == "submitted", may_conclude=may_act and o.state in ("routed", "answered"),
        may_answer=p.role == "department" and o.state == "routed",
        depts=departments.listing(s) if may_act and o.state == "submitted" else [],
        suggested=objections.suggested_department(s, o) if may_act and o.state == "submitted" else None,
        relayed=objections.is_relayed(rec), cat_name=category_name(node(request).catalog, o.category),
        **_labels()))


def _evidence(s: Session, p: Principal, number: str, evidence_id: int) -> Response:
    o = objections.get(s, p, number)  # the case first: another's case is not found, nor its files
    ev = evidence.for_case(s, "objection", o.id, evidence_id)
    return evidence_response(o.number, ev)


@router.get("/my/objections/{number}", response_class=HTMLResponse)
def my_objection(request: Request, number: str, done: str = "", p: Principal = Depends(ENTERPRISE),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, number, done=DONE.get(done))


@router.get("/my/objections/{number}/evidence/{evidence_id}")
def my_evidence(number: str, evidence_id: SmallRowId, p: Principal = Depends(ENTERPRISE),
                s: Session = Depends(db_session, scope="function")) -> Response:
    return _evidence(s, p, number, evidence_id)


# ── the platform's queue ──────────────────────────────────────────────────────────────────────────────

@router.get("/rights/objections", response_class=HTMLResponse)
def queue(request: Request, state: str = "", route: str = "", overdue: bool = False, page: PageNo = 1,
          size: PageSize = 20, sort: str | None = None, desc: bool = False, p: Principal = Depends(STAFF),
          s: Session = Depends(db_session, scope="function")) -> Response:
    today = clock.today()
    state, route = state[:12], route[:12]
    result = objections.listing(s, p, PageRequest(page, size, sort or "due_on", desc), state=state or None,
                                route=route or None, overdue=overdue, today=today)
    params = urlencode({k: v for k, v in (("state", state), ("route", route),
                                          ("overdue", "true" if overdue else "")) if v})
    return no_store(render(request, "rights/objections_queue.html", page=result, state=state, route=route,
                           overdue=overdue, params=params, today=today, may_write=p.role == "operator",
                           overdue_count=objections.overdue(s, today),
                           depts={d.code: d for d in departments.listing(s)}, **_labels()))


@router.get("/rights/objections/{number}", response_class=HTMLResponse)
def staff_objection(request: Request, number: str, done: str = "", p: Principal = Depends(STAFF),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, number, done=DONE.get(done))


@router.get("/rights/objections/{number}/evidence/{evidence_id}")
def staff_evidence(number: str, evidence_id: SmallRowId, p: Principal = Depends(STAFF),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    return _evidence(s, p, number, evidence_id)


def _act(request: Request, s: Session, p: Principal, number: str, action: Callable[[], Any], done: str,
         form: dict[str, Any]) -> Response:
    try:
        action()
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc, form=form)
    return RedirectResponse(f"{BASES[p.role]}/{number}?done={done}", status_code=303)


@router.post("/rights/objections/{number}/accept", response_class=HTMLResponse)
def accept(request: Request, number: str, department: str = Form(""), note: str = Form(""),
           p: Principal = Depends(OPERATOR), s: Session = Depends(db_session, scope="function")) -> Response:
    n = node(request)
    ctx = network_runtime.context(request.app)
    notifier = make_notifier(n.settings.notifier, n.settings.var_dir)  # the department's contact is told
    return _act(request, s, p, number, lambda: objections.accept(
        s, p, number, department=department[:40], ctx=ctx, note=note, notifier=notifier), "accepted",
        {"department": department, "note": note})


@router.post("/rights/objections/{number}/refuse", response_class=HTMLResponse)
def refuse(request: Request, number: str, reason: str = Form(""), p: Principal = Depends(OPERATOR),
           s: Session = Depends(db_session, scope="function")) -> Response:
    return _act(request, s, p, number, lambda: objections.refuse(s, p, number, reason), "refused",
                {"reason": reason})


async def item_fields(request: Request) -> dict[str, str]:
    """The record's items as the correction form posts them (`item_<code>`)."""
    form = await request.form()
    return {k[5:65]: v[:2000] for k, v in form.items() if k.startswith("item_") and isinstance(v, str)}


def _changes(request: Request, s: Session, p: Principal, number: str, posted: dict[str, str]) -> dict[str, str]:
    """The items whose value differs from the record's current one: only those go to the correction."""
    o = objections.get(s, p, number)
    current = {f["code"]: f["value"] for f in _facts(request, objections.record_of(s, o)) if not f["key"]}
    return {code: posted[code] for code, before in current.items()
            if code in posted and posted[code].strip() != before.strip()}


@router.post("/rights/objections/{number}/conclude", response_class=HTMLResponse)
def conclude(request: Request, number: str, outcome: str = Form(""), note: str = Form(""),
             posted: dict[str, str] = Depends(item_fields), p: Principal = Depends(OPERATOR),
             s: Session = Depends(db_session, scope="function")) -> Response:
    changes = _changes(request, s, p, number, posted) if outcome == "corrected" else {}
    return _act(request, s, p, number, lambda: objections.conclude(
        s, p, node(request).catalog, number, outcome=outcome, note=note, changes=changes), "concluded",
        {"outcome": outcome, "note": note, "changes": changes})


# ── the department ────────────────────────────────────────────────────────────────────────────────────

@router.get("/department/objections", response_class=HTMLResponse)
def department_objections(request: Request, state: str = "", page: PageNo = 1, size: PageSize = 20,
                          sort: str | None = None, desc: bool = False, p: Principal = Depends(DEPARTMENT),
                          s: Session = Depends(db_session, scope="function")) -> Response:
    today = clock.today()
    state = state[:12]
    result = objections.listing(s, p, PageRequest(page, size, sort or "stage_due_on", desc), state=state or None,
                                today=today)
    params = urlencode({"state": state} if state else {})
    return no_store(render(request, "rights/objections_department.html", page=result, state=state, params=params,
                           today=today, dept=departments.get(s, p.org_code or ""), **_labels()))


@router.get("/department/objections/{number}", response_class=HTMLResponse)
def department_objection(request: Request, number: str, done: str = "", p: Principal = Depends(DEPARTMENT),
                         s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, number, done=DONE.get(done))


@router.get("/department/objections/{number}/evidence/{evidence_id}")
def department_evidence(number: str, evidence_id: SmallRowId, p: Principal = Depends(DEPARTMENT),
                        s: Session = Depends(db_session, scope="function")) -> Response:
    return _evidence(s, p, number, evidence_id)


@router.post("/department/objections/{number}/answer", response_class=HTMLResponse)
def answer(request: Request, number: str, outcome: str = Form(""), statement: str = Form(""),
           posted: dict[str, str] = Depends(item_fields), p: Principal = Depends(DEPARTMENT),
           s: Session = Depends(db_session, scope="function")) -> Response:
    changes = _changes(request, s, p, number, posted) if outcome == "corrected" else {}
    return _act(request, s, p, number, lambda: objections.answer(
        s, p, node(request).catalog, number, outcome=outcome, statement=statement, changes=changes), "answered",
        {"outcome": outcome, "statement": statement, "changes": changes})
