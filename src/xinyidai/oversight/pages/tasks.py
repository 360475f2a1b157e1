"""督办 pages (issue 17, notice point 十八): the list of tasks (filtered, sorted, paged; overdue ones marked),
the form a regulator or operator adds a province task with, one task with its timeline and the forms its
state allows, and the follow-ups a run opens (the ranking page posts to `/oversight/runs/{number}/followups`).

Writes are POST → redirect → GET with a `done` key for the message; a refused form comes back as typed, with
the refusal's message, and nothing of it stored (the session is rolled back)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyidai.accounts.people import names_of
from xinyidai.kit import clock
from xinyidai.kit.errors import Conflict, DomainError, InvalidInput
from xinyidai.kit.pagination import PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.oversight import runs, tasks
from xinyidai.oversight.models import TASK_KINDS, TASK_STATES
from xinyidai.web.deps import db_session, require
from xinyidai.web.params import PageNo, PageSize
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
READ = require("regulator", "operator")
DONE = {"added": "督办事项已登记。", "notice": "通知主要任务已登记。", "answered": "整改情况已报送，待另一名监管人员审核。",
        "closed": "督办事项已办结。", "returned": "已退回，责任单位须重新报送整改情况。",
        "followups": "已按考核结果发起督办。", "followups_none": "本次考核结果没有新的督办事项（已发起过或无需督办）。"}


def _labels() -> dict[str, Any]:
    return {"kinds": TASK_KINDS, "states": TASK_STATES, "steps_labels": tasks.STEP_LABELS,
            "cities": {c: runs.city_name(c) for c in runs.cities()}}


def _list_page(request: Request, s: Session, p: Principal, *, state: str = "", kind: str = "", city: str = "",
               run: str = "", overdue: bool = False, req: PageRequest, done: str | None = None,
               error: DomainError | None = None) -> Response:
    try:
        result = tasks.listing(s, state=state or None, kind=kind or None, city=city or None, run=run or None,
                               overdue_only=overdue, page=req)
    except DomainError as exc:
        error, run = exc, ""
        result = tasks.listing(s, state=state or None, kind=kind or None, city=city or None,
                               overdue_only=overdue, page=req)
    params = urlencode({k: v for k, v in (("state", state), ("kind", kind), ("city", city), ("run", run),
                                          ("overdue", "true" if overdue else "")) if v})
    return no_store(render(request, "oversight/tasks.html", status_code=error.status if error else 200,
                           page=result, state=state, kind=kind, city=city, run=run, overdue=overdue, params=params,
                           today=clock.today(), done=done, error=error, may_register=not tasks.any_notice_tasks(s),
                           **_labels()))


@router.get("/oversight/tasks", response_class=HTMLResponse)
def tasks_page(request: Request, state: str = "", kind: str = "", city: str = "", run: str = "",
               overdue: bool = False, page: PageNo = 1, size: PageSize = 20, sort: str | None = None,
               desc: bool = False, done: str = "", p: Principal = Depends(READ),
               s: Session = Depends(db_session, scope="function")) -> Response:
    return _list_page(request, s, p, state=state, kind=kind, city=city, run=run, overdue=overdue,
                      req=PageRequest(page, size, sort or "deadline", desc), done=DONE.get(done))


@router.post("/oversight/tasks/notice", response_class=HTMLResponse)
def register_notice(request: Request, p: Principal = Depends(READ),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        tasks.register_notice_tasks(s, p)
    except DomainError as exc:
        s.rollback()
        return _list_page(request, s, p, req=PageRequest(sort="deadline"), error=exc)
    except IntegrityError:  # registered by someone else at the same moment: theirs stand
        s.rollback()
    return RedirectResponse("/oversight/tasks?kind=notice&done=notice", status_code=303)


@dataclass
class TaskForm:
    """The form as typed, so a refused one is shown again unchanged."""

    title: str = ""
    owner: str = ""
    deadline: str = ""
    detail: str = ""
    clause: str = ""
    city_code: str = ""

    def deadline_date(self) -> date:
        raw = self.deadline.strip()
        if not raw:
            raise InvalidInput("请填写完成时限", code="TASK_DEADLINE_REQUIRED")
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput("完成时限格式不正确（YYYY-MM-DD）", code="TASK_DEADLINE_REQUIRED") from None


def task_form(title: str = Form(""), owner: str = Form(""), deadline: str = Form(""), detail: str = Form(""),
              clause: str = Form(""), city_code: str = Form("")) -> TaskForm:
    return TaskForm(title, owner, deadline, detail, clause, city_code)


def _form_page(request: Request, form: TaskForm, error: DomainError | None = None) -> Response:
    return no_store(render(request, "oversight/task_new.html", status_code=error.status if error else 200,
                           form=form, error=error, today=clock.today().isoformat(), **_labels()))


@router.get("/oversight/tasks/new", response_class=HTMLResponse)
def new_task(request: Request, p: Principal = Depends(READ)) -> Response:
    return _form_page(request, TaskForm())


@router.post("/oversight/tasks/new", response_class=HTMLResponse)
def add_task(request: Request, form: TaskForm = Depends(task_form), p: Principal = Depends(READ),
             s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        t = tasks.add_task(s, p, title=form.title, owner=form.owner, deadline=form.deadline_date(),
                           detail=form.detail, clause=form.clause or None, city_code=form.city_code or None)
    except DomainError as exc:
        s.rollback()
        return _form_page(request, form, exc)
    except IntegrityError:  # another task took the same number at the same moment
        s.rollback()
        return _form_page(request, form, Conflict("另一项任务同时登记，编号冲突，请再提交一次", code="TASK_NUMBER_TAKEN"))
    return RedirectResponse(f"/oversight/tasks/{quote(t.number)}?done=added", status_code=303)


def _detail(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
            error: DomainError | None = None, text: str = "", note: str = "") -> Response:
    d = tasks.detail(s, number)
    t = d.task
    people = names_of(s, {t.created_by, t.answered_by, t.closed_by, *(x.by for x in d.steps)})
    may_answer = p.role in tasks.WRITERS and t.state in ("open", "returned")
    may_review = p.role in tasks.REVIEWERS and t.state == "answered"
    return no_store(render(
        request, "oversight/task.html", status_code=error.status if error else 200, d=d, t=t, people=people,
        done=done, error=error, text=text, note=note, may_answer=may_answer, may_review=may_review,
        may_close=may_review and p.username != t.answered_by, **_labels()))


@router.get("/oversight/tasks/{number}", response_class=HTMLResponse)
def task_page(request: Request, number: str, done: str = "", p: Principal = Depends(READ),
              s: Session = Depends(db_session, scope="function")) -> Response:
    return _detail(request, s, p, number, done=DONE.get(done))


@router.post("/oversight/tasks/{number}/answer", response_class=HTMLResponse)
def answer_task(request: Request, number: str, text: str = Form(""), p: Principal = Depends(READ),
                s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        tasks.answer(s, p, number, text)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc, text=text)
    return RedirectResponse(f"/oversight/tasks/{quote(number)}?done=answered", status_code=303)


@router.post("/oversight/tasks/{number}/close", response_class=HTMLResponse)
def close_task(request: Request, number: str, note: str = Form(""), p: Principal = Depends(READ),
               s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        tasks.close(s, p, number, note)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc, note=note)
    return RedirectResponse(f"/oversight/tasks/{quote(number)}?done=closed", status_code=303)


@router.post("/oversight/tasks/{number}/return", response_class=HTMLResponse)
def return_task(request: Request, number: str, note: str = Form(""), p: Principal = Depends(READ),
                s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        tasks.send_back(s, p, number, note)
    except DomainError as exc:
        s.rollback()
        return _detail(request, s, p, number, error=exc, note=note)
    return RedirectResponse(f"/oversight/tasks/{quote(number)}?done=returned", status_code=303)


@router.post("/oversight/runs/{run_number}/followups", response_class=HTMLResponse)
def open_followups(request: Request, run_number: str, p: Principal = Depends(READ),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        made = tasks.open_followups(s, runs.by_number(s, run_number), p)
    except DomainError as exc:
        s.rollback()
        return _list_page(request, s, p, req=PageRequest(sort="deadline"), error=exc)
    except IntegrityError:  # the same run's follow-ups opened by someone else at the same moment: theirs stand
        s.rollback()
        made = []
    done = "followups" if made else "followups_none"
    return RedirectResponse(f"/oversight/tasks?{urlencode({'run': run_number, 'done': done})}", status_code=303)
