"""The platform's financing service pages (融资服务), in three tabs: product review (publish, return with a
note, suspend), every application with its timeline (the operator may cancel one before 授信), and the
default cases of the city offices — filtered by city and state, each with its timeline and reminders, and
the office's moves: remind, escalate or record the 约谈 (time, place, attendees, what was agreed), close.

The operator acts; the regulator reads the same pages without the forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.pagination import MAX_PAGE, PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.market import applications, cases, flows, products
from xinyidai.market.applications import Actor
from xinyidai.market.flows import ActorKind
from xinyidai.market.models import Application, Loan
from xinyidai.market.pages.common import (
    CITIES,
    STAFF_ROLES,
    Fields,
    application_rows,
    application_timeline,
    application_view,
    case_rows,
    case_timeline,
    fields,
    is_repeat,
    loan_view,
    moves_for,
    new_request_id,
    page,
    query,
    reasons,
    see_other,
    version_view,
    version_views,
)
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import SmallRowId

router = APIRouter(include_in_schema=False)
STAFF = require(*STAFF_ROLES)
OPERATOR = require("operator")
TABS = (("products", "/market/staff", "产品审核"), ("applications", "/market/staff/applications", "申请"),
        ("cases", "/market/staff/cases", "违约案件"))
DONE = {"publish": "已审核发布，企业现在可以申请该产品。", "return": "已退回银行修改。", "suspend": "产品已暂停受理。",
        "resume": "产品已恢复受理。", "withdraw": "产品已下架。", "cancel": "申请已撤销。", "remind": "已催告企业。",
        "escalate": "已升级督办，约谈记录已保存。", "interview": "约谈记录已保存。", "close": "案件已结案。",
        "already": "该操作已办理，无需重复。"}
PRODUCT_MOVES = ("publish", "return", "suspend", "resume", "withdraw")
CASE_MOVES = ("remind", "escalate", "interview", "close")


def _tab_counts(s: Session, p: Principal) -> dict[str, int]:
    """What waits for the office on each tab: versions to review, breached applications, open cases."""
    return {"products": products.review_queue(s) if p.role == "operator" else 0,
            "applications": applications.search(s, p, PageRequest(1, 1), breached=True).total,
            "cases": cases.search(s, p, PageRequest(1, 1), open_only=True).total}


def _common(s: Session, p: Principal, tab: str) -> dict[str, Any]:
    return {"tab": tab, "tabs": TABS, "tab_counts": _tab_counts(s, p), "may_act": p.role == "operator"}


# ── product review ──────────────────────────────────────────────────────────────────────────────────────

@router.get("/market/staff", response_class=HTMLResponse)
def review_queue(request: Request, state: str | None = None, q: str = "", page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE),
                 size: int = Query(20, ge=1, le=200), sort: str | None = None, desc: bool = True,
                 p: Principal = Depends(STAFF), s: Session = Depends(db_session, scope="function")) -> Response:
    if state is None:  # the operator starts at what waits for review; the regulator sees published products
        state = flows.REVIEW if p.role == "operator" else flows.PUBLISHED
    result = products.search(s, p, PageRequest(page_no, size, sort, desc), state=state or None, q=q)
    return page(request, "market/staff_products.html", **_common(s, p, "products"), page=result,
                rows=version_views(s, result.items, node(request).catalog), state=state, q=q,
                states=[st for st in flows.PRODUCT.states if st.code != flows.DRAFT], params=query(state=state, q=q))


def _product_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
                  error: DomainError | None = None) -> Response:
    product, versions, inst_name = products.get(s, p, number)
    catalog = node(request).catalog
    order = {a: i for i, a in enumerate(PRODUCT_MOVES)}  # the decision first, the rarer moves after it
    views = [{**version_view(v, product, inst_name, catalog),
              "moves": sorted((m.action for m in flows.PRODUCT.moves_from(v.state, ActorKind.OPERATOR)),
                              key=lambda a: order.get(a, len(order)))} for v in versions]
    live = next((x for x in views if x["v"].id == product.live_version_id), None)
    return page(request, "market/staff_product.html", **_common(s, p, "products"), error=error, done=done,
                product=product, versions=views, live=live, move_labels={m.action: m.label for m in flows.PRODUCT.moves})


@router.get("/market/staff/products/{number}", response_class=HTMLResponse)
def staff_product(number: str, request: Request, done: str = "", p: Principal = Depends(STAFF),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    return _product_page(request, s, p, number, done=DONE.get(done))


@router.post("/market/staff/products/{number}/versions/{version}/act", response_class=HTMLResponse)
def product_act(number: str, version: SmallRowId, request: Request, f: Fields = Depends(fields),
                p: Principal = Depends(OPERATOR), s: Session = Depends(db_session, scope="function")) -> Response:
    action = f.get("action")
    try:
        if action not in PRODUCT_MOVES:
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        if action == "suspend" and not f.get("note"):
            raise InvalidInput("暂停产品须说明原因（银行和企业都会看到）", code="REASON_REQUIRED")
        products.act(s, p, number, version, action, f.get("note"))
    except DomainError as exc:
        s.rollback()
        if is_repeat(exc):
            return see_other(f"/market/staff/products/{number}?done=already")
        return _product_page(request, s, p, number, error=exc)
    return see_other(f"/market/staff/products/{number}?done={action}")


# ── applications ────────────────────────────────────────────────────────────────────────────────────────

@router.get("/market/staff/applications", response_class=HTMLResponse)
def staff_applications(request: Request, state: str = "", breached: bool = False,
                       page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), size: int = Query(20, ge=1, le=200), sort: str | None = None,
                       desc: bool = True, p: Principal = Depends(STAFF),
                       s: Session = Depends(db_session, scope="function")) -> Response:
    result = applications.search(s, p, PageRequest(page_no, size, sort, desc), state=state or None, breached=breached)
    return page(request, "market/staff_applications.html", **_common(s, p, "applications"), page=result,
                rows=application_rows(s, result.items), state=state, breached=breached,
                states=flows.APPLICATION.states, params=query(state=state, breached="true" if breached else ""))


def _application_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
                      error: DomainError | None = None) -> Response:
    app = applications.get(s, p, number)
    loan = s.get(Loan, app.loan_id) if app.loan_id else None
    return page(request, "market/staff_application.html", **_common(s, p, "applications"), error=error, done=done,
                view=application_view(s, app),
                steps=application_timeline(s, applications.timeline(s, app), node(request).catalog),
                moves=moves_for(app, ActorKind.OPERATOR), cancel_reasons=reasons("cancel"),
                request_id=new_request_id(), loan=loan_view(s, loan) if loan else None)


@router.get("/market/staff/applications/{number}", response_class=HTMLResponse)
def staff_application(number: str, request: Request, done: str = "", p: Principal = Depends(STAFF),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    return _application_page(request, s, p, number, done=DONE.get(done))


@router.post("/market/staff/applications/{number}/act", response_class=HTMLResponse)
def staff_application_act(number: str, request: Request, f: Fields = Depends(fields),
                          p: Principal = Depends(OPERATOR), s: Session = Depends(db_session, scope="function")
                          ) -> Response:
    action = f.get("action")
    try:
        if action != "cancel":
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        applications.decide(s, node(request).catalog, Actor.of(p, "page"), number, "cancel",
                            {"reason_code": f.get("reason_code"), "note": f.get("note")},
                            request_id=f.get("request_id") or None, node_code=node(request).settings.node_code)
    except DomainError as exc:
        s.rollback()
        if is_repeat(exc):
            return see_other(f"/market/staff/applications/{number}?done=already")
        return _application_page(request, s, p, number, error=exc)
    return see_other(f"/market/staff/applications/{number}?done=cancel")


# ── default cases ───────────────────────────────────────────────────────────────────────────────────────

@router.get("/market/staff/cases", response_class=HTMLResponse)
def staff_cases(request: Request, city: str = "", state: str = "", open_only: bool = False,
                page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), size: int = Query(20, ge=1, le=200), sort: str | None = None,
                desc: bool = True, p: Principal = Depends(STAFF),
                s: Session = Depends(db_session, scope="function")) -> Response:
    result = cases.search(s, p, PageRequest(page_no, size, sort, desc), state=state or None, city=city or None,
                          open_only=open_only)
    return page(request, "market/staff_cases.html", **_common(s, p, "cases"), page=result,
                rows=case_rows(s, result.items), city=city, state=state, open_only=open_only, cities=CITIES,
                states=flows.DEFAULT_CASE.states,
                params=query(city=city, state=state, open_only="true" if open_only else ""))


def _case_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
               error: DomainError | None = None, form: dict[str, str] | None = None) -> Response:
    case = cases.get(s, p, number)
    loan = s.get(Loan, case.loan_id)
    app = s.get(Application, loan.application_id) if loan and loan.application_id else None
    return page(request, "market/staff_case.html", **_common(s, p, "cases"), error=error, done=done,
                row=case_rows(s, [case])[0], steps=case_timeline(s, cases.timeline(s, case)),
                reminders=cases.reminders(s, case), loan=loan_view(s, loan) if loan else None, app=app,
                moves=[m.action for m in flows.DEFAULT_CASE.moves_from(case.state, ActorKind.OPERATOR)],
                escalate_dpd=flows.ESCALATE_DPD, form=form or {})


@router.get("/market/staff/cases/{number}", response_class=HTMLResponse)
def staff_case(number: str, request: Request, done: str = "", p: Principal = Depends(STAFF),
               s: Session = Depends(db_session, scope="function")) -> Response:
    return _case_page(request, s, p, number, done=DONE.get(done))


@router.post("/market/staff/cases/{number}/act", response_class=HTMLResponse)
def staff_case_act(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(OPERATOR),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    action = f.get("action")
    body = f.pick("note", "held_on", "place", "attendees", "agreed")
    try:
        if action not in CASE_MOVES:
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        cases.act(s, p, number, action, body)
    except DomainError as exc:
        s.rollback()
        if is_repeat(exc):
            return see_other(f"/market/staff/cases/{number}?done=already")
        return _case_page(request, s, p, number, error=exc, form={"action": action, **body})
    return see_other(f"/market/staff/cases/{number}?done={action}")

