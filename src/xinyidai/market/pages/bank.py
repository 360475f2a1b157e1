"""The bank's financing pages: its products and their versions (draft, edit, submit for review, suspend,
withdraw, new version), the application queue with service-level badges, one application with a form for
each move the flow leaves to the bank now, the loan with its repayment reports and the first-loan
cross-check, open financing needs to quote on, and the post-loan alert feed.

Decisions go through `applications.decide` with `Actor.of(p, "page")` and the request id the form was
rendered with, so a double-click moves nothing twice."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.access.log import entity_names
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError, InvalidInput, NotFound
from xinyidai.kit.notify import make_notifier
from xinyidai.kit.pagination import MAX_PAGE, PageRequest
from xinyidai.kit.principal import Principal
from xinyidai.market import alerts, applications, cases, demands, flows, loans, products
from xinyidai.market.applications import Actor
from xinyidai.market.flows import ActorKind
from xinyidai.market.models import GUARANTEE_TYPES, RISK_CLASSES, DefaultCase, Loan, Product, Quote
from xinyidai.market.pages.common import (
    Fields,
    ProductForm,
    application_rows,
    application_timeline,
    application_view,
    case_rows,
    fields,
    grantable_categories,
    is_repeat,
    last_day,
    loan_view,
    moves_for,
    new_request_id,
    page,
    product_form_choices,
    query,
    reasons,
    see_other,
    state_counts,
    version_view,
    version_views,
    wan_fen,
    yuan_text,
)
from xinyidai.web.deps import db_session, node, require
from xinyidai.web.params import RowId, SmallRowId

router = APIRouter(include_in_schema=False)
BANK = require("bank")
DONE = {"created": "产品草稿已保存。核对无误后请“提交审核”，平台审核发布后企业即可申请。", "edited": "草稿已保存。",
        "version": "新版本草稿已保存；提交审核并发布后将取代现行版本。", "submit": "已提交平台审核。",
        "suspend": "产品已暂停，暂不受理新申请。", "resume": "产品已恢复受理。", "withdraw": "已下架。",
        "accept": "已受理。", "decline": "已不予受理。", "request_auth": "已请企业补充授权。", "offer": "预授信已发出，等待企业确认。",
        "grant": "已授信。请在放款后登记放款金额，并按月报送还款状态。", "disburse": "放款已登记。", "close": "已结清/终止。",
        "reject": "已审批不通过。", "status": "还款状态已报送。", "quoted": "报价已提交，企业可在其融资需求中看到。",
        "read": "已标为已读。", "already": "该操作已办理，无需重复。"}
OFFER_DAYS = 7  # an offer's validity the form proposes (the enterprise has 10 days to answer at most)
BANK_MOVES = ("accept", "decline", "request_auth", "offer", "grant", "disburse", "close", "reject")


def _months_after(d: date, months: int) -> date:
    """The same day `months` later (the last of the month when it has no such day): a term's maturity."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(d.day, last))


def _inst(p: Principal) -> str:
    return p.org_code or "-"


# ── products ────────────────────────────────────────────────────────────────────────────────────────────

@router.get("/bank/products", response_class=HTMLResponse)
def bank_products(request: Request, state: str = "", q: str = "", page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE),
                  size: int = Query(20, ge=1, le=200), sort: str | None = None, desc: bool = True,
                  p: Principal = Depends(BANK), s: Session = Depends(db_session, scope="function")) -> Response:
    result = products.search(s, p, PageRequest(page_no, size, sort, desc), state=state or None, own=True, q=q)
    return page(request, "market/bank_products.html", page=result,
                rows=version_views(s, result.items, node(request).catalog), state=state, q=q,
                states=flows.PRODUCT.states, params=query(state=state, q=q))


def _form_page(request: Request, form: ProductForm, *, action: str, title: str, crumbs: list[tuple[str, str]],
               error: DomainError | None = None) -> Response:
    return page(request, "market/bank_product_form.html", error=error, form=form, action=action, title=title,
                crumbs=crumbs, **product_form_choices(node(request).catalog))


@router.get("/bank/products/new", response_class=HTMLResponse)
def new_product(request: Request, p: Principal = Depends(BANK)) -> Response:
    form = ProductForm(regions=[], sectors=[], industries=[], auth_categories=["tax", "social_insurance"])
    return _form_page(request, form, action="/bank/products", title="新建产品", crumbs=[("产品管理", "/bank/products")])


@router.post("/bank/products", response_class=HTMLResponse)
def create_product(request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    form = ProductForm.posted(f)
    try:
        v = products.create(s, node(request).catalog, p, form.terms(), node(request).settings.node_code)
        number = s.get(Product, v.product_id).number
    except DomainError as exc:
        s.rollback()
        return _form_page(request, form, action="/bank/products", title="新建产品",
                          crumbs=[("产品管理", "/bank/products")], error=exc)
    return see_other(f"/bank/products/{number}?done=created")


def _own(s: Session, p: Principal, number: str) -> tuple[Product, list[Any], str]:
    product, versions, inst_name = products.get(s, p, number)
    if product.institution_code != p.org_code:  # another bank's published product is not ours to manage
        raise NotFound(f"未找到产品 {number}（或该产品不属于本机构）", code="PRODUCT_NOT_FOUND")
    return product, versions, inst_name


def _product_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
                  error: DomainError | None = None) -> Response:
    product, versions, inst_name = _own(s, p, number)
    catalog = node(request).catalog
    views = []
    for v in versions:
        moves = [m.action for m in flows.PRODUCT.moves_from(v.state, ActorKind.BANK)]
        if v.state == flows.SUSPENDED and v.suspended_by == "operator":
            moves = [m for m in moves if m != "resume"]  # the platform's suspension is the platform's to lift
        views.append({**version_view(v, product, inst_name, catalog), "moves": moves})
    pending = any(v.state in (flows.DRAFT, flows.REVIEW) for v in versions)
    return page(request, "market/bank_product.html", error=error, done=done, product=product, versions=views,
                status_label=flows.PRODUCT.label(product.status) if product.status else "",
                may_version=not pending and product.status != flows.WITHDRAWN and product.live_version_id is not None,
                move_labels={m.action: m.label for m in flows.PRODUCT.moves})


@router.get("/bank/products/{number}", response_class=HTMLResponse)
def bank_product(number: str, request: Request, done: str = "", p: Principal = Depends(BANK),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    return _product_page(request, s, p, number, done=DONE.get(done))


@router.get("/bank/products/{number}/versions/new", response_class=HTMLResponse)
def new_version_form(number: str, request: Request, p: Principal = Depends(BANK),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    _, versions, _ = _own(s, p, number)
    return _form_page(request, ProductForm.of(versions[0]), action=f"/bank/products/{number}/versions",
                      title=f"新建版本（第 {versions[0].version + 1} 版）",
                      crumbs=[("产品管理", "/bank/products"), (number, f"/bank/products/{number}")])


@router.post("/bank/products/{number}/versions", response_class=HTMLResponse)
def create_version(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    form = ProductForm.posted(f)
    try:
        products.new_version(s, node(request).catalog, p, number, form.terms())
    except DomainError as exc:
        s.rollback()
        return _form_page(request, form, action=f"/bank/products/{number}/versions", title="新建版本",
                          crumbs=[("产品管理", "/bank/products"), (number, f"/bank/products/{number}")], error=exc)
    return see_other(f"/bank/products/{number}?done=version")


@router.get("/bank/products/{number}/versions/{version}/edit", response_class=HTMLResponse)
def edit_form(number: str, version: SmallRowId, request: Request, p: Principal = Depends(BANK),
              s: Session = Depends(db_session, scope="function")) -> Response:
    _, versions, _ = _own(s, p, number)
    v = next((x for x in versions if x.version == version), None)
    if v is None:
        raise NotFound(f"产品 {number} 没有第 {version} 版", code="PRODUCT_VERSION_NOT_FOUND")
    return _form_page(request, ProductForm.of(v), action=f"/bank/products/{number}/versions/{version}/edit",
                      title=f"修改草稿（第 {version} 版）",
                      crumbs=[("产品管理", "/bank/products"), (number, f"/bank/products/{number}")])


@router.post("/bank/products/{number}/versions/{version}/edit", response_class=HTMLResponse)
def edit_product(number: str, version: SmallRowId, request: Request, f: Fields = Depends(fields),
                 p: Principal = Depends(BANK), s: Session = Depends(db_session, scope="function")) -> Response:
    form = ProductForm.posted(f)
    try:
        products.edit(s, node(request).catalog, p, number, version, form.terms())
    except DomainError as exc:
        s.rollback()
        return _form_page(request, form, action=f"/bank/products/{number}/versions/{version}/edit",
                          title=f"修改草稿（第 {version} 版）",
                          crumbs=[("产品管理", "/bank/products"), (number, f"/bank/products/{number}")], error=exc)
    return see_other(f"/bank/products/{number}?done=edited")


@router.post("/bank/products/{number}/versions/{version}/act", response_class=HTMLResponse)
def product_act(number: str, version: SmallRowId, request: Request, f: Fields = Depends(fields),
                p: Principal = Depends(BANK), s: Session = Depends(db_session, scope="function")) -> Response:
    action = f.get("action")
    try:
        if action not in ("submit", "suspend", "resume", "withdraw"):
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        products.act(s, p, number, version, action, f.get("note"))
    except DomainError as exc:
        s.rollback()
        if is_repeat(exc):
            return see_other(f"/bank/products/{number}?done=already")
        return _product_page(request, s, p, number, error=exc)
    return see_other(f"/bank/products/{number}?done={action}")


# ── the application queue ───────────────────────────────────────────────────────────────────────────────

@router.get("/bank/applications", response_class=HTMLResponse)
def queue(request: Request, state: str = "", breached: bool = False, page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE),
          size: int = Query(20, ge=1, le=200), sort: str | None = None, desc: bool = True, p: Principal = Depends(BANK),
          s: Session = Depends(db_session, scope="function")) -> Response:
    result = applications.search(s, p, PageRequest(page_no, size, sort, desc), state=state or None, breached=breached)
    counts = state_counts(s, applications.visible(p))
    n_breached = applications.search(s, p, PageRequest(1, 1), breached=True).total
    return page(request, "market/bank_applications.html", page=result, rows=application_rows(s, result.items),
                state=state, breached=breached, counts=counts, n_breached=n_breached,
                states=flows.APPLICATION.states, params=query(state=state, breached="true" if breached else ""))


def _application_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
                      error: DomainError | None = None, form: dict[str, str] | None = None) -> Response:
    app = applications.get(s, p, number)
    catalog = node(request).catalog
    loan = s.get(Loan, app.loan_id) if app.loan_id else None
    case_items = list(s.execute(cases.visible(p).where(DefaultCase.loan_id == loan.id)).scalars()) if loan else []
    return page(request, "market/bank_application.html", error=error, done=done, view=application_view(s, app),
                steps=application_timeline(s, applications.timeline(s, app), catalog),
                moves=moves_for(app, ActorKind.BANK), request_id=new_request_id(), form=form or {},
                decline_reasons=reasons("decline"), reject_reasons=reasons("reject"),
                categories=grantable_categories(catalog), guarantee_types=GUARANTEE_TYPES, risk_classes=RISK_CLASSES,
                loan=loan_view(s, loan, institution=p.org_code) if loan else None, cases=case_rows(s, case_items),
                today=clock.today().isoformat(),
                offer_default_until=(clock.today() + timedelta(days=OFFER_DAYS)).isoformat(),
                matures_default=_months_after(clock.today(), app.offer_term_months or app.term_months).isoformat())


@router.get("/bank/applications/{number}", response_class=HTMLResponse)
def bank_application(number: str, request: Request, done: str = "", p: Principal = Depends(BANK),
                     s: Session = Depends(db_session, scope="function")) -> Response:
    return _application_page(request, s, p, number, done=DONE.get(done))


def _decision_body(action: str, f: Fields) -> dict[str, Any]:
    """What each move needs, from its form (amounts typed in 万元 go to the service in 元)."""
    if action in ("decline", "reject"):
        return {"reason_code": f.get("reason_code"), "note": f.get("note")}
    if action == "request_auth":
        return {"categories": f.all("categories"), "mode": f.get("mode"), "note": f.get("note")}
    if action == "offer":
        return {"amount": yuan_text(wan_fen(f.get("amount"), "预授信额度")), "rate": f.get("rate"),
                "term_months": f.get("term_months"), "valid_until": f.get("valid_until"), "note": f.get("note")}
    if action == "grant":
        return {"amount": yuan_text(wan_fen(f.get("amount"), "授信金额")), "guarantee_type": f.get("guarantee_type"),
                "loan_ref": f.get("loan_ref"), "first_loan": f.get("first_loan"), "matures_on": f.get("matures_on"),
                "rate": f.get("rate"), "term_months": f.get("term_months")}
    if action == "disburse":
        return {"amount": yuan_text(wan_fen(f.get("amount"), "放款金额"))}
    if action == "close":
        return {"note": f.get("note")}
    return {}


@router.post("/bank/applications/{number}/act", response_class=HTMLResponse)
def decide(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
           s: Session = Depends(db_session, scope="function")) -> Response:
    action = f.get("action")
    settings = node(request).settings
    try:
        if action not in BANK_MOVES:
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        applications.decide(s, node(request).catalog, Actor.of(p, "page"), number, action, _decision_body(action, f),
                            request_id=f.get("request_id") or None, node_code=settings.node_code,
                            notifier=make_notifier(settings.notifier, settings.var_dir))
    except DomainError as exc:
        s.rollback()
        if is_repeat(exc):
            return see_other(f"/bank/applications/{number}?done=already")
        return _application_page(request, s, p, number, error=exc, form={"action": action, **{
            k: f.get(k) for k in ("amount", "rate", "term_months", "valid_until", "loan_ref", "matures_on",
                                  "guarantee_type", "first_loan", "reason_code", "note", "mode")}})
    return see_other(f"/bank/applications/{number}?done={action}")


def _day(raw: str, label: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{label}应写作 YYYY-MM-DD", code="DATE_FORMAT") from None


def _dpd(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput("逾期天数须为整数", code="DPD_FORMAT") from None


@router.post("/bank/applications/{number}/status", response_class=HTMLResponse)
def report_status(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    app = applications.get(s, p, number)
    try:
        if app.loan_id is None:
            raise InvalidInput("该申请尚未授信，没有贷款", code="OUT_OF_ORDER")
        loan = loans.get(s, p, s.get(Loan, app.loan_id).loan_no)
        loans.report_status(s, loan, as_of=_day(f.get("as_of"), "统计日期"),
                            outstanding_fen=wan_fen(f.get("outstanding"), "贷款余额", allow_zero=True),
                            overdue_principal_fen=wan_fen(f.get("overdue_principal") or "0", "逾期本金", allow_zero=True),
                            overdue_interest_fen=wan_fen(f.get("overdue_interest") or "0", "逾期利息", allow_zero=True),
                            interest_paid_fen=wan_fen(f.get("interest_paid") or "0", "本期已付利息", allow_zero=True),
                            dpd=_dpd(f.get("dpd") or "0"), risk_class=f.get("risk_class") or None, source="page",
                            reported_by=p.username)
    except DomainError as exc:
        s.rollback()
        return _application_page(request, s, p, number, error=exc, form={"action": "status", **f.pick(
            "as_of", "outstanding", "overdue_principal", "overdue_interest", "interest_paid", "dpd", "risk_class")})
    return see_other(f"/bank/applications/{number}?done=status#loan")


# ── financing needs ─────────────────────────────────────────────────────────────────────────────────────

def _my_quotes(s: Session, p: Principal, demand_ids: set[int]) -> dict[int, Quote]:
    if not demand_ids:
        return {}
    rows = s.execute(select(Quote).where(Quote.institution_code == _inst(p), Quote.demand_id.in_(demand_ids),
                                         Quote.state == "MADE")).scalars()
    return {q.demand_id: q for q in rows}


@router.get("/bank/demands", response_class=HTMLResponse)
def bank_demands(request: Request, page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), size: int = Query(20, ge=1, le=200),
                 sort: str | None = None, desc: bool = True, p: Principal = Depends(BANK),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    result = demands.search(s, p, PageRequest(page_no, size, sort, desc))
    names = entity_names(s, {d.entity_code for d in result.items})
    mine = _my_quotes(s, p, {d.id for d in result.items})
    rows = [{"d": d, "entity": names.get(d.entity_code, d.entity_code), "mine": mine.get(d.id),
             "expires": last_day(d.expires_at)} for d in result.items]
    return page(request, "market/bank_demands.html", page=result, rows=rows, params="")


def _demand_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
                 error: DomainError | None = None, form: dict[str, str] | None = None) -> Response:
    d = demands.get(s, p, number)
    own = products.search(s, p, PageRequest(1, 100, "name"), state=flows.PUBLISHED, own=True).items
    offers = version_views(s, [v for v in own if v.kind in d.kinds], node(request).catalog)
    return page(request, "market/bank_demand.html", error=error, done=done, d=d,
                entity=entity_names(s, {d.entity_code}).get(d.entity_code, d.entity_code),
                expires=last_day(d.expires_at), quotes=demands.quotes(s, p, d), products=offers,
                form=form or {"term_months": str(d.term_months)}, request_id=new_request_id(),
                today=clock.today().isoformat())


@router.get("/bank/demands/{number}", response_class=HTMLResponse)
def bank_demand(number: str, request: Request, done: str = "", p: Principal = Depends(BANK),
                s: Session = Depends(db_session, scope="function")) -> Response:
    return _demand_page(request, s, p, number, done=DONE.get(done))


@router.post("/bank/demands/{number}/quote", response_class=HTMLResponse)
def quote(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(BANK),
          s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        demands.quote(s, p, number, product_number=f.get("product"),
                      amount=yuan_text(wan_fen(f.get("amount"), "报价金额")), rate=f.get("rate"),
                      term_months=f.get("term_months"), valid_until=f.get("valid_until"), note=f.get("note"),
                      node_code=node(request).settings.node_code, request_id=f.get("request_id") or None)
    except DomainError as exc:
        s.rollback()
        return _demand_page(request, s, p, number, error=exc,
                            form=f.pick("product", "amount", "rate", "term_months", "valid_until", "note"))
    return see_other(f"/bank/demands/{number}?done=quoted")


# ── post-loan alerts ────────────────────────────────────────────────────────────────────────────────────

@router.get("/bank/alerts", response_class=HTMLResponse)
def bank_alerts(request: Request, unread: bool = False, done: str = "", page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE),
                size: int = Query(20, ge=1, le=200), p: Principal = Depends(BANK),
                s: Session = Depends(db_session, scope="function")) -> Response:
    result = alerts.feed(s, p, PageRequest(page_no, size, "id", True), unread=unread)
    names = entity_names(s, {a.entity_code for a in result.items})
    rows = [{"a": a, "entity": names.get(a.entity_code, a.entity_code), "kind_label": alerts.KINDS.get(a.kind, a.kind)}
            for a in result.items]
    return page(request, "market/bank_alerts.html", page=result, rows=rows, unread=unread, done=DONE.get(done),
                params=query(unread="true" if unread else ""))


@router.post("/bank/alerts/{alert_id}/read")
def alert_read(alert_id: RowId, f: Fields = Depends(fields), p: Principal = Depends(BANK),
               s: Session = Depends(db_session, scope="function")) -> Response:
    alerts.mark_read(s, p, alert_id)
    back = "/bank/alerts?unread=true&done=read" if f.get("unread") == "true" else "/bank/alerts?done=read"
    return see_other(back)
