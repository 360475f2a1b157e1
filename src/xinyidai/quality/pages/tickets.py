"""Pages of the tickets (整改工单): for the platform's operators (who write) and regulators (who read) the
paged list with its filters, a ticket with its steps, its finding or feedback note and the department's
answers, the re-check / close / reopen actions, the form to open a ticket by judgement and the route a finding
is sent to its department by; for a department's staff (/department) its own tickets, where it answers, its
deliveries, its latest scores and an upload form whose provider is fixed to its name.

Writes are POST → redirect → GET with a `done` key for the message; a refused form comes back with the
refusal's message and code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.pagination import PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.network import exchange
from xinyidai.network import runtime as network_runtime
from xinyidai.network.exchange import FEEDBACK_STATUSES
from xinyidai.network.models import FeedbackNote
from xinyidai.quality import departments, scorecards, tickets
from xinyidai.quality.models import (
    DIMENSIONS,
    SEVERITIES,
    TICKET_ORIGINS,
    TICKET_STATES,
    Department,
    Finding,
    Ticket,
)
from xinyidai.records.models import DELIVERY_STATUSES, Delivery
from xinyidai.records.submit import submit_upload
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import PageNo, PageSize, RowId
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
READ = require("operator", "regulator", "department")
WRITE = require("operator")
DEPARTMENT = require("department")
DONE = {"opened": "整改工单已开具，已通知数据提供部门。", "answered": "答复已提交，等待平台复核。",
        "closed": "工单已关闭。", "reopened": "工单已重新打开，退回部门继续整改。",
        "rechecked": "复核已完成。", "feedback": "质量反馈已发出，将逐级送达加载该记录的节点；处理结果会报回这里。", "uploaded": "文件已接收，正在校验入库；完成后可在下方“本部门报送”中选用来答复工单。"}


def _cat_names(request: Request) -> dict[str, str]:
    return {c.code: c.name for c in node(request).catalog.categories}


def _labels() -> dict[str, Any]:
    return {"states": TICKET_STATES, "origins": TICKET_ORIGINS, "severities": SEVERITIES,
            "step_labels": tickets.STEP_LABELS, "delivery_statuses": DELIVERY_STATUSES}


# ── the operators' and regulators' list ────────────────────────────────────────────────────────────────

@router.get("/quality/tickets", response_class=HTMLResponse)
def tickets_page(request: Request, state: str = "", department: str = "", overdue: bool = False, page: PageNo = 1,
                 size: PageSize = 20, sort: str | None = None, desc: bool = True, done: str = "",
                 p: Principal = Depends(READ), s: Session = Depends(db_session, scope="function")) -> Response:
    if p.role == "department":
        return RedirectResponse("/department", status_code=303)
    return _tickets_page(request, s, p, state=state, department=department, overdue=overdue, page=page, size=size,
                         sort=sort, desc=desc, done=DONE.get(done))


def _tickets_page(request: Request, s: Session, p: Principal, *, state: str = "", department: str = "",
                  overdue: bool = False, page: int = 1, size: int = 20, sort: str | None = None, desc: bool = True,
                  done: str | None = None, error: DomainError | None = None,
                  feedback: dict[str, str] | None = None) -> Response:
    today = clock.today()
    result = tickets.listing(s, p, PageRequest(page, size, sort, desc), state=state or None,
                             department=department or None, overdue=overdue, today=today)
    params = urlencode({k: v for k, v in (("state", state), ("department", department),
                                          ("overdue", "true" if overdue else "")) if v})
    depts = departments.listing(s)
    return no_store(render(request, "quality/tickets.html", page=result, state=state, department=department,
                           overdue=overdue, params=params, today=today, depts={d.code: d for d in depts},
                           may_write=p.role == "operator", unmatched=tickets.unmatched_feedback(s),
                           orphans=tickets.providers_without_department(s),
                           raised=tickets.raised_feedback(s, node(request).settings.node_code),
                           feedback_states=FEEDBACK_STATUSES, done=done, error=error, feedback=feedback or {},
                           status_code=error.status if error else 200, **_labels()))


@router.post("/quality/feedback", response_class=HTMLResponse)
def raise_feedback(request: Request, entity_code: str = Form(""), category: str = Form(""), record_key: str = Form(""),
                   problem: str = Form(""), p: Principal = Depends(WRITE),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    """A problem in a record a child node sent: the note goes down, node by node, to where it was loaded."""
    try:
        exchange.raise_feedback(s, network_runtime.context(request.app), entity_code.strip(), category.strip(),
                                record_key.strip() or None, problem, actor=p.username)
    except DomainError as exc:
        s.rollback()
        form = {"entity_code": entity_code, "category": category, "record_key": record_key, "problem": problem}
        return _tickets_page(request, s, p, error=exc, feedback=form)
    return RedirectResponse("/quality/tickets?done=feedback#raised", status_code=303)


# ── opening by judgement, and from a finding ───────────────────────────────────────────────────────────

@dataclass
class JudgementForm:
    department: str = ""
    category: str = ""
    entity_code: str = ""
    record_key: str = ""
    severity: str = "medium"
    title: str = ""
    description: str = ""
    due_days: str = "15"

    def days(self) -> int:
        if not self.due_days.strip().isdigit():
            raise InvalidInput("整改期限应为 1–365 天", code="BAD_DUE_DAYS")
        return int(self.due_days)


def judgement_form(department: str = Form(""), category: str = Form(""), entity_code: str = Form(""),
                   record_key: str = Form(""), severity: str = Form("medium"), title: str = Form(""),
                   description: str = Form(""), due_days: str = Form("15")) -> JudgementForm:
    return JudgementForm(department, category, entity_code, record_key, severity, title, description, due_days)


def _new_page(request: Request, s: Session, form: JudgementForm, error: DomainError | None = None) -> Response:
    return no_store(render(request, "quality/tickets_new.html", status_code=error.status if error else 200,
                           form=form, error=error, depts=departments.listing(s), **_labels()))


@router.get("/quality/tickets/new", response_class=HTMLResponse)
def new_ticket(request: Request, department: str = "", p: Principal = Depends(WRITE),
               s: Session = Depends(db_session, scope="function")) -> Response:
    return _new_page(request, s, JudgementForm(department=department[:40]))


@router.post("/quality/tickets/new", response_class=HTMLResponse)
def open_ticket(request: Request, form: JudgementForm = Depends(judgement_form), p: Principal = Depends(WRITE),
                s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        t = tickets.open_by_judgement(s, p, department=form.department, title=form.title,
                                      description=form.description, due_days=form.days(), severity=form.severity,
                                      category=form.category, entity_code=form.entity_code,
                                      record_key=form.record_key, catalog=node(request).catalog)
        number = t.number
    except DomainError as exc:
        s.rollback()
        return _new_page(request, s, form, exc)
    return RedirectResponse(f"/quality/tickets/{number}?done=opened", status_code=303)


@router.post("/quality/findings/{finding_id}/ticket", response_class=HTMLResponse)
def ticket_from_finding(request: Request, finding_id: RowId, note: str = Form(""), due_days: str = Form(""),
                        p: Principal = Depends(WRITE), s: Session = Depends(db_session, scope="function")) -> Response:
    days = int(due_days) if due_days.strip().isdigit() else None
    try:
        t = tickets.open_from_finding(s, p, finding_id, note[:2000], days)
        number = t.number
    except DomainError as exc:
        s.rollback()
        existing = (exc.detail or {}).get("number") if isinstance(exc.detail, dict) else None
        if existing:
            return RedirectResponse(f"/quality/tickets/{existing}", status_code=303)
        raise
    return RedirectResponse(f"/quality/tickets/{number}?done=opened", status_code=303)


# ── one ticket ────────────────────────────────────────────────────────────────────────────────────────

def _detail(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
            error: DomainError | None = None, text: str = "") -> Response:
    t = tickets.get(s, p, number)
    dept = departments.get(s, t.department)
    finding = s.get(Finding, t.finding_id) if t.finding_id else None
    sample = json.loads(finding.sample or "[]") if finding is not None else []
    note = (s.execute(select(FeedbackNote).where(FeedbackNote.external_id == t.feedback_id)).scalar_one_or_none()
            if t.feedback_id else None)
    may_answer = p.role == "department" and t.state == "open"
    return no_store(render(
        request, "quality/tickets_detail.html", status_code=error.status if error else 200, t=t, dept=dept,
        steps=tickets.steps(s, t), finding=finding, sample=sample[:20], note=note, done=done, error=error,
        text=text, overdue=tickets.is_overdue(t), may_write=p.role == "operator", may_answer=may_answer,
        deliveries=tickets.answerable_deliveries(s, t) if may_answer else [],
        back="/department" if p.role == "department" else "/quality/tickets", cat_names=_cat_names(request),
        **_labels()))


@router.get("/quality/tickets/{number}", response_class=HTMLResponse)
def ticket_page(request: Request, number: str, done: str = "", p: Principal = Depends(READ),
                s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, number, done=DONE.get(done))


def _act(request: Request, s: Session, p: Principal, number: str, action: Any, done: str, text: str = "",
         ) -> Response:
    try:
        action()
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc, text=text)
    return RedirectResponse(f"/quality/tickets/{number}?done={done}", status_code=303)


@router.post("/quality/tickets/{number}/close", response_class=HTMLResponse)
def close_ticket(request: Request, number: str, reason: str = Form(""), p: Principal = Depends(WRITE),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    return _act(request, s, p, number, lambda: tickets.close(s, p, number, reason), "closed", reason)


@router.post("/quality/tickets/{number}/reopen", response_class=HTMLResponse)
def reopen_ticket(request: Request, number: str, reason: str = Form(""), p: Principal = Depends(WRITE),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _act(request, s, p, number, lambda: tickets.reopen(s, p, number, reason), "reopened", reason)


@router.post("/quality/tickets/{number}/recheck", response_class=HTMLResponse)
def recheck_ticket(request: Request, number: str, p: Principal = Depends(WRITE),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    """The rule runs in its own transactions (it commits its run and findings), so this session only reads."""
    s.rollback()
    n = node(request)
    try:
        t = tickets.recheck(n.db, n.catalog, p, number)
    except DomainError as exc:
        return _detail(request, s, p, number, error=exc)
    return RedirectResponse(f"/quality/tickets/{number}?done={'closed' if t.state == 'closed' else 'reopened'}",
                            status_code=303)


@router.post("/quality/tickets/{number}/answer", response_class=HTMLResponse)
def answer_ticket(request: Request, number: str, kind: str = Form(""), delivery_id: str = Form(""),
                  text: str = Form(""), p: Principal = Depends(DEPARTMENT),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    did = int(delivery_id) if delivery_id.strip().isdigit() and len(delivery_id.strip()) <= 18 else None
    return _act(request, s, p, number,
                lambda: tickets.answer(s, p, number, kind=kind, delivery_id=did, text=text), "answered", text)


# ── the department's own pages ─────────────────────────────────────────────────────────────────────────

def _department_page(request: Request, s: Session, p: Principal, *, page: int, size: int, done: str | None = None,
                     error: DomainError | None = None, category: str = "") -> Response:
    dept = departments.get(s, p.org_code or "")
    today = clock.today()
    mine = list(s.execute(tickets.readable(p).order_by(
        case((Ticket.state == "open", 0), (Ticket.state == "answered", 1), else_=2), Ticket.due_on, Ticket.id)
        .limit(200)).scalars())
    if not category:  # the upload form starts on the category the department delivers (most recently)
        category = s.execute(select(Delivery.category).where(Delivery.provider == dept.name)
                             .order_by(Delivery.id.desc()).limit(1)).scalar_one_or_none() or ""
    delivered = paginate(s, select(Delivery).where(Delivery.provider == dept.name), PageRequest(page, size, "id", True),
                         {"id": Delivery.id}, "id")
    return no_store(render(request, "quality/department.html", status_code=error.status if error else 200,
                           dept=dept, tickets=mine, today=today, soon=today + timedelta(days=tickets.REMIND_DAYS),
                           deliveries=delivered, scores=_scores(s, dept), done=done, error=error,
                           category=category, cat_names=_cat_names(request),
                           dimension_names={"overall": "综合", **DIMENSIONS}, **_labels()))


def _scores(s: Session, dept: Department) -> dict[str, Any] | None:
    """The department's scores at the latest full run, overall first."""
    run, rows = scorecards.latest(s)
    order = {d: i for i, d in enumerate(["overall", *DIMENSIONS])}
    mine = sorted((r for r in rows if r.provider == dept.name), key=lambda r: order.get(r.dimension, 99))
    if run is None or not mine:
        return None
    return {"run": run, "rows": mine}


@router.get("/department", response_class=HTMLResponse)
def department_home(request: Request, done: str = "", page: PageNo = 1, size: PageSize = 20,
                    p: Principal = Depends(DEPARTMENT), s: Session = Depends(db_session, scope="function")) -> Response:
    return _department_page(request, s, p, page=page, size=size, done=DONE.get(done))


@router.post("/department/upload", response_class=HTMLResponse)
async def department_upload(request: Request, file: UploadFile = File(...), category: str = Form(...),
                            p: Principal = Depends(DEPARTMENT)) -> Response:
    """A new delivery whose provider is the department's own name (never what the form says)."""
    n = node(request)
    with n.db.session() as s:
        name = departments.get(s, p.org_code or "").name
    try:
        await submit_upload(n, p, file, category=category, provider=name, threshold=None, source="upload")
    except DomainError as exc:
        with n.db.session() as s:
            return _department_page(request, s, p, page=1, size=20, error=exc, category=category)
    return RedirectResponse("/department?done=uploaded#deliveries", status_code=303)

