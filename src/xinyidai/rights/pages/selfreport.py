"""Pages of self-reported information (/my/selfreport): the enterprise's entries by category, apart from the
departments' data and labelled 未经部门核实 (a certificate a department's record confirms says so); the form to
add or edit one (the catalogue's items, the key fixed on edit); withdrawal with a reason. Only the verified
administrator writes, and only after signing the self-report commitment (/my/commitments); colleagues read.

Writes are POST → redirect → GET with a `done` key; a refused form comes back as typed with the refusal's
message and code. The write goes through the loader on the node's database (a one-row delivery), outside the
request's session."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from xinyidai.accounts.colleagues import is_administrator
from xinyidai.catalog.schema import Category
from xinyidai.kit.errors import DomainError, NotFound
from xinyidai.kit.principal import Principal
from xinyidai.rights import selfreport
from xinyidai.web.deps import Node, db_session, node, require
from xinyidai.web.params import RowId
from xinyidai.web.templating import no_store, render

router = APIRouter(include_in_schema=False)
ENTERPRISE = require("enterprise")
DONE = {"added": "自报信息已保存，显示为“未经部门核实”。", "edited": "自报信息已修改，原内容作为历史版本保留。",
        "withdrawn": "自报信息已撤回，历史版本仍保留。"}


def _own(p: Principal) -> str:
    if not p.org_code:
        raise NotFound("您的账户尚未关联市场主体", code="NO_ENTITY")
    return p.org_code


@router.get("/my/selfreport", response_class=HTMLResponse)
def selfreport_page(request: Request, done: str = "", history: bool = False, p: Principal = Depends(ENTERPRISE),
                    s: Session = Depends(db_session, scope="function")) -> Response:
    code = _own(p)
    catalog = node(request).catalog
    entries = selfreport.entries(s, catalog, code, history=history)
    return no_store(render(request, "rights/selfreport.html", cats=selfreport.categories(catalog), entries=entries,
                           commitment=selfreport.commitment(s, code), admin=is_administrator(s, p),
                           done=DONE.get(done), history=history, title=selfreport.SECTION_TITLE))


def _form(request: Request, s: Session, p: Principal, cat: Category, values: dict[str, str], *,
          record_id: int | None = None, error: DomainError | None = None) -> Response:
    code = _own(p)
    return no_store(render(request, "rights/selfreport_form.html", status_code=error.status if error else 200,
                           cat=cat, values=values, record_id=record_id, error=error,
                           commitment=selfreport.commitment(s, code), admin=is_administrator(s, p)))


@router.get("/my/selfreport/new", response_class=HTMLResponse)
def new_page(request: Request, category: str = "", p: Principal = Depends(ENTERPRISE),
             s: Session = Depends(db_session, scope="function")) -> Response:
    cat = selfreport.category(node(request).catalog, category)
    return _form(request, s, p, cat, {})


async def _values(request: Request, cat: Category) -> dict[str, str]:
    form = await request.form()
    return {i.code: str(form.get(i.code) or "")[:i.max_length + 100] for i in cat.items}


def _submit(s: Session, n: Node, p: Principal, cat: Category, values: dict[str, str], record_id: int | None) -> None:
    """Off the event loop (the loader is blocking work); the request's own transaction (the log-in's reads)
    ends first, so the loader's connection never waits on it."""
    s.commit()
    selfreport.submit(n.db, n.catalog, p, cat.code, values, record_id=record_id)


@router.post("/my/selfreport/new", response_class=HTMLResponse)
async def add(request: Request, category: str = Form(""), p: Principal = Depends(ENTERPRISE),
              s: Session = Depends(db_session, scope="function")) -> Response:
    n = node(request)
    cat = selfreport.category(n.catalog, category)
    values = await _values(request, cat)
    try:
        await run_in_threadpool(_submit, s, n, p, cat, values, None)
    except DomainError as exc:
        return _form(request, s, p, cat, values, error=exc)
    return RedirectResponse(f"/my/selfreport?done=added#cat-{cat.code}", status_code=303)


def _current(request: Request, s: Session, p: Principal, record_id: int) -> tuple[Category, Any]:
    catalog = node(request).catalog
    for code, rows in selfreport.entries(s, catalog, _own(p)).items():
        for e in rows:
            if e.record.id == record_id:
                return selfreport.category(catalog, code), e
    raise NotFound("未找到本企业的这条自报信息（或已不是现行版本）", code="SELF_REPORT_NOT_FOUND")


@router.get("/my/selfreport/{record_id}/edit", response_class=HTMLResponse)
def edit_page(record_id: RowId, request: Request, p: Principal = Depends(ENTERPRISE),
              s: Session = Depends(db_session, scope="function")) -> Response:
    cat, e = _current(request, s, p, record_id)
    values = {k: "" if v is None else str(v) for k, v in e.content.items()}
    return _form(request, s, p, cat, values, record_id=record_id)


@router.post("/my/selfreport/{record_id}/edit", response_class=HTMLResponse)
async def edit(record_id: RowId, request: Request, p: Principal = Depends(ENTERPRISE),
               s: Session = Depends(db_session, scope="function")) -> Response:
    n = node(request)
    cat, _ = _current(request, s, p, record_id)
    values = await _values(request, cat)
    try:
        await run_in_threadpool(_submit, s, n, p, cat, values, record_id)
    except DomainError as exc:
        return _form(request, s, p, cat, values, record_id=record_id, error=exc)
    return RedirectResponse(f"/my/selfreport?done=edited#cat-{cat.code}", status_code=303)


@router.post("/my/selfreport/{record_id}/withdraw", response_class=HTMLResponse)
def withdraw(record_id: RowId, request: Request, reason: str = Form(""), p: Principal = Depends(ENTERPRISE),
             s: Session = Depends(db_session, scope="function")) -> Response:
    catalog = node(request).catalog
    try:
        r = selfreport.withdraw(s, catalog, p, record_id, reason)
    except DomainError as exc:
        s.rollback()
        code = _own(p)
        return no_store(render(request, "rights/selfreport.html", status_code=exc.status,
                               cats=selfreport.categories(catalog), entries=selfreport.entries(s, catalog, code),
                               commitment=selfreport.commitment(s, code), admin=is_administrator(s, p),
                               done=None, history=False, title=selfreport.SECTION_TITLE, error=exc))
    return RedirectResponse(f"/my/selfreport?done=withdrawn#cat-{r.category}", status_code=303)
