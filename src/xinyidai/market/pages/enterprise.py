"""The enterprise's financing pages: browse products (each card says why it fits or not), apply (form →
preview with the fit and the exact authorization text → confirm with its digest), and 我的融资 — its
applications with their timeline and the moves the flow leaves to it, its financing needs and the quotes
on them, its loans, and its default cases (逾期催告) with a form to explain (说明情况).

Every authorization an enterprise gives here is shown first as the text it confirms; the confirmation
carries that text's digest, and the service refuses it if the text it rebuilds differs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyidai.access import authorizations
from xinyidai.access.log import institution_names
from xinyidai.entities.models import MarketEntity
from xinyidai.kit import clock
from xinyidai.kit.errors import DomainError, InvalidInput
from xinyidai.kit.notify import make_notifier
from xinyidai.kit.pagination import MAX_PAGE, PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market import applications, cases, demands, flows, loans, products
from xinyidai.market.applications import Actor
from xinyidai.market.flows import ActorKind
from xinyidai.market.models import PRODUCT_KINDS, SECTORS, Application, DefaultCase, Loan, ProductVersion
from xinyidai.market.pages.common import (
    Fields,
    application_rows,
    application_timeline,
    application_view,
    case_rows,
    case_timeline,
    fields,
    is_repeat,
    last_day,
    loan_view,
    moves_for,
    new_request_id,
    page,
    query,
    reasons,
    see_other,
    version_view,
    version_views,
    wan_fen,
    yuan_text,
)
from xinyidai.web.deps import db_session, node, require

router = APIRouter(include_in_schema=False)
ENTERPRISE = require("enterprise")
DONE = {"submitted": "申请已提交，并已向银行出具贷前审查授权。银行受理、预授信等每一步都会显示在下方进度中。",
        "withdraw": "申请已撤回。", "accept_offer": "已接受预授信，等待银行授信。",
        "decline_offer": "已不接受该预授信，银行可重新预授信。", "confirm_auth": "补充授权已生效，申请回到银行审查。",
        "post_loan": "贷后管理授权已生效：授权期内银行会收到关于本企业的不利信息预警。",
        "published": "融资需求已发布，已接入的金融机构可以看到并报价。", "closed": "融资需求已关闭。",
        "picked": "已选定报价并提交申请，该银行已受理。", "responded": "情况说明已提交，银行和平台均可看到。",
        "already": "该操作已办理，无需重复。"}
ENTERPRISE_MOVES = ("withdraw", "accept_offer", "decline_offer")
MY_TABS = (("applications", "/my/financing", "融资申请"), ("demands", "/my/financing/demands", "融资需求"),
           ("loans", "/my/financing/loans", "我的贷款"), ("cases", "/my/financing/cases", "逾期催告"))


def _entity(s: Session, p: Principal) -> MarketEntity | None:
    return s.get(MarketEntity, p.org_code) if p.org_code else None


def _needs_standing(v: ProductVersion) -> bool:
    return "min_grade" in v.eligibility or bool(v.eligibility.get("no_serious_dishonesty"))


# ── products ────────────────────────────────────────────────────────────────────────────────────────────

@router.get("/market", response_class=HTMLResponse)
def browse(request: Request, kind: str = "", sector: str = "", amount: str = "", q: str = "", page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), size: int = Query(12, ge=1, le=60), sort: str | None = None, desc: bool = True,
           p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")) -> Response:
    error = None
    amount_fen = None
    if amount.strip():
        try:
            amount_fen = wan_fen(amount, "金额")
        except DomainError as exc:
            error = exc
    result = products.search(s, p, PageRequest(page_no, size, sort, desc), kind=kind or None,
                             sector=sector or None, amount=amount_fen, q=q)
    catalog = node(request).catalog
    cards = version_views(s, result.items, catalog)
    entity = _entity(s, p)
    if entity is not None:
        # One evaluation per page, not per card: fit() reads it for every product that asks for a grade.
        judged = products.standing(s, entity) if any(_needs_standing(v) for v in result.items) else None
        for card in cards:
            card["fit"] = products.fit(s, card["v"], entity, amount_fen=amount_fen, judged=judged)
            card["fits"] = all(c.ok for c in card["fit"])
    params = query(kind=kind, sector=sector, amount=amount, q=q)
    return page(request, "market/browse.html", error=error, page=result, cards=cards, entity=entity, kind=kind,
                sector=sector, amount=amount, q=q, params=params, kinds=PRODUCT_KINDS, sectors=list(SECTORS))


@dataclass
class ApplyForm:
    """The application as typed: amount in 万元, term in months."""

    amount: str = ""
    term_months: str = ""
    purpose: str = ""

    @classmethod
    def posted(cls, f: Fields) -> ApplyForm:
        return cls(f.get("amount"), f.get("term_months"), f.get("purpose"))

    def amount_yuan(self) -> str:
        return yuan_text(wan_fen(self.amount, "申请金额"))


def _product_page(request: Request, s: Session, p: Principal, number: str, form: ApplyForm,
                  error: DomainError | None = None) -> Response:
    v = products.published_version(s, number)
    product, _, inst_name = products.get(s, p, number)
    entity = _entity(s, p)
    fit = products.fit(s, v, entity) if entity is not None else []
    open_app = s.execute(applications.visible(p).where(Application.product_id == product.id,
                                                       Application.state.in_(flows.PRE_GRANT))).scalars().first()
    return page(request, "market/product.html", error=error, view=version_view(v, product, inst_name,
                                                                                node(request).catalog),
                fit=fit, fits=all(c.ok for c in fit), entity=entity, form=form, open_app=open_app)


@router.get("/market/products/{number}", response_class=HTMLResponse)
def product_page(number: str, request: Request, amount: str = "", term_months: str = "", purpose: str = "",
                 p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")) -> Response:
    return _product_page(request, s, p, number, ApplyForm(amount, term_months, purpose))


@router.post("/market/products/{number}/preview", response_class=HTMLResponse)
def apply_preview(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(ENTERPRISE),
                  s: Session = Depends(db_session, scope="function")) -> Response:
    form = ApplyForm.posted(f)
    try:
        pv = applications.preview(s, node(request).catalog, p, number, form.amount_yuan(), form.term_months,
                                  form.purpose)
    except DomainError as exc:
        return _product_page(request, s, p, number, form, exc)
    v = products.published_version(s, number)
    product, _, inst_name = products.get(s, p, number)
    return page(request, "market/apply_preview.html", preview=pv, form=form, request_id=new_request_id(),
                view=version_view(v, product, inst_name, node(request).catalog))


@router.post("/market/products/{number}/apply", response_class=HTMLResponse)
def apply(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(ENTERPRISE),
          s: Session = Depends(db_session, scope="function")) -> Response:
    form = ApplyForm.posted(f)
    try:
        app = applications.submit(s, node(request).catalog, p, product_number=number, amount=form.amount_yuan(),
                                  term_months=form.term_months, purpose=form.purpose,
                                  grant_digest=f.get("grant_digest"), node_code=node(request).settings.node_code,
                                  source="page", request_id=f.get("request_id") or None)
    except DomainError as exc:
        s.rollback()
        return _product_page(request, s, p, number, form, exc)
    return see_other(f"/my/financing/applications/{app.number}?done=submitted")


# ── applications ────────────────────────────────────────────────────────────────────────────────────────

@router.get("/my/financing", response_class=HTMLResponse)
def my_applications(request: Request, state: str = "", page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE),
                    size: int = Query(20, ge=1, le=200), sort: str | None = None, desc: bool = True,
                    p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")) -> Response:
    result = applications.search(s, p, PageRequest(page_no, size, sort, desc), state=state or None)
    return page(request, "market/my_applications.html", tab="applications", tabs=MY_TABS, page=result,
                rows=application_rows(s, result.items), state=state, states=flows.APPLICATION.states,
                params=query(state=state))


def _post_loan_number(s: Session, app: Application) -> str | None:
    """The 贷后管理 authorization the enterprise already gave for this application, if any."""
    for e in applications.timeline(s, app):
        if e.action == "post_loan_auth":
            return (e.payload or {}).get("authorization")
    return None


def _application_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
                      error: DomainError | None = None) -> Response:
    app = applications.get(s, p, number)
    catalog = node(request).catalog
    loan = s.get(Loan, app.loan_id) if app.loan_id else None
    post_loan = _post_loan_number(s, app) if loan is not None else None
    case_items = list(s.execute(cases.visible(p).where(DefaultCase.loan_id == loan.id)).scalars()) if loan else []
    return page(request, "market/my_application.html", error=error, done=done, view=application_view(s, app),
                steps=application_timeline(s, applications.timeline(s, app), catalog),
                moves=moves_for(app, ActorKind.ENTERPRISE), withdraw_reasons=reasons("withdraw"),
                request_id=new_request_id(), loan=loan_view(s, loan) if loan else None, post_loan=post_loan,
                cases=case_rows(s, case_items))


@router.get("/my/financing/applications/{number}", response_class=HTMLResponse)
def my_application(number: str, request: Request, done: str = "", p: Principal = Depends(ENTERPRISE),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    return _application_page(request, s, p, number, done=DONE.get(done))


def _notifier(request: Request) -> Any:
    settings = node(request).settings
    return make_notifier(settings.notifier, settings.var_dir)


@router.post("/my/financing/applications/{number}/act", response_class=HTMLResponse)
def my_application_act(number: str, request: Request, f: Fields = Depends(fields),
                       p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")
                       ) -> Response:
    action = f.get("action")
    body: dict[str, Any] = {}
    if action == "withdraw":
        body = {"reason_code": f.get("reason_code"), "note": f.get("note")}
    elif action == "decline_offer" and f.get("note"):
        body = {"note": f.get("note")}
    try:
        if action not in ENTERPRISE_MOVES:
            raise InvalidInput("该操作不能在此办理", code="UNKNOWN_ACTION")
        applications.decide(s, node(request).catalog, Actor.of(p, "page"), number, action, body,
                            request_id=f.get("request_id") or None, node_code=node(request).settings.node_code,
                            notifier=_notifier(request))
    except DomainError as exc:
        s.rollback()
        if is_repeat(exc):
            return see_other(f"/my/financing/applications/{number}?done=already")
        return _application_page(request, s, p, number, error=exc)
    return see_other(f"/my/financing/applications/{number}?done={action}")


def _confirm_page(request: Request, *, title: str, crumbs: list[tuple[str, str]], intro: str, text: str,
                  digest: str, action: str, hidden: dict[str, str], button: str, back: str,
                  error: DomainError | None = None) -> Response:
    return page(request, "market/confirm_authorization.html", error=error, title=title, crumbs=crumbs,
                intro=intro, text=text, digest=digest, action=action, hidden=hidden, button=button, back=back)


def _more_auth_page(request: Request, s: Session, p: Principal, number: str,
                    error: DomainError | None = None) -> Response:
    app = applications.get(s, p, number)
    if app.state != flows.AUTH_REQUESTED:
        return _application_page(request, s, p, number, error=error or InvalidInput(
            "银行当前没有要求补充授权", code="OUT_OF_ORDER"))
    req = applications.more_authorization_request(s, app)
    if req is None:
        raise InvalidInput("银行尚未要求补充授权", code="OUT_OF_ORDER")
    text, digest = authorizations.preview(s, node(request).catalog, p, req)
    back = f"/my/financing/applications/{number}"
    return _confirm_page(request, title="确认补充授权", crumbs=[("我的融资", "/my/financing"), (number, back)],
                         intro="银行审查本申请需要以下补充授权。请仔细阅读授权书全文，确认后授权立即生效，申请回到银行审查。",
                         text=text, digest=digest, action=f"/my/financing/applications/{number}/authorization",
                         hidden={"request_id": new_request_id()}, button="确认补充授权", back=back, error=error)


@router.get("/my/financing/applications/{number}/authorization", response_class=HTMLResponse)
def more_auth_preview(number: str, request: Request, p: Principal = Depends(ENTERPRISE),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    return _more_auth_page(request, s, p, number)


@router.post("/my/financing/applications/{number}/authorization", response_class=HTMLResponse)
def more_auth_confirm(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(ENTERPRISE),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        applications.decide(s, node(request).catalog, Actor.of(p, "page"), number, "confirm_auth",
                            {"grant_digest": f.get("grant_digest")}, request_id=f.get("request_id") or None,
                            node_code=node(request).settings.node_code)
    except DomainError as exc:
        s.rollback()
        if is_repeat(exc):
            return see_other(f"/my/financing/applications/{number}?done=already")
        return _more_auth_page(request, s, p, number, exc)
    return see_other(f"/my/financing/applications/{number}?done=confirm_auth")


def _post_loan_page(request: Request, s: Session, p: Principal, number: str,
                    error: DomainError | None = None) -> Response:
    app = applications.get(s, p, number)
    loan = s.get(Loan, app.loan_id) if app.loan_id else None
    back = f"/my/financing/applications/{number}"
    if loan is None or app.state not in (flows.GRANTED, flows.DISBURSED):
        return _application_page(request, s, p, number, error=error or InvalidInput(
            "授信后才能授予贷后管理授权", code="OUT_OF_ORDER"))
    req = applications.post_loan_request(s, node(request).catalog, app, loan)
    text, digest = authorizations.preview(s, node(request).catalog, p, req)
    return _confirm_page(request, title="授予贷后管理授权", crumbs=[("我的融资", "/my/financing"), (number, back)],
                         intro="贷款发放后，银行需要在贷款期内了解本企业的经营变化。确认以下授权后，授权期内本企业出现行政处罚、"
                               "被执行、欠税欠费等不利信息时，银行会收到预警；您可以随时在“我的授权”中撤销。",
                         text=text, digest=digest, action=f"/my/financing/applications/{number}/post-loan",
                         hidden={}, button="确认授权", back=back, error=error)


@router.get("/my/financing/applications/{number}/post-loan", response_class=HTMLResponse)
def post_loan_preview(number: str, request: Request, p: Principal = Depends(ENTERPRISE),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    return _post_loan_page(request, s, p, number)


@router.post("/my/financing/applications/{number}/post-loan", response_class=HTMLResponse)
def post_loan_confirm(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(ENTERPRISE),
                      s: Session = Depends(db_session, scope="function")) -> Response:
    app = applications.get(s, p, number)
    if _post_loan_number(s, app) is not None:  # a second click: the first already gave it
        return see_other(f"/my/financing/applications/{number}?done=already")
    try:
        applications.confirm_post_loan(s, node(request).catalog, p, number, f.get("grant_digest"))
    except DomainError as exc:
        s.rollback()
        return _post_loan_page(request, s, p, number, exc)
    return see_other(f"/my/financing/applications/{number}?done=post_loan")


# ── financing needs ─────────────────────────────────────────────────────────────────────────────────────

@dataclass
class DemandForm:
    amount: str = ""
    term_months: str = "12"
    purpose: str = ""
    kinds: list[str] | None = None
    expires_on: str = ""

    @classmethod
    def posted(cls, f: Fields) -> DemandForm:
        return cls(f.get("amount"), f.get("term_months"), f.get("purpose"), f.all("kinds"), f.get("expires_on"))


def _demands_page(request: Request, s: Session, p: Principal, *, state: str = "", page_no: int = 1, size: int = 20,
                  sort: str | None = None, desc: bool = True, form: DemandForm | None = None,
                  done: str | None = None, error: DomainError | None = None) -> Response:
    today = clock.today()
    result = demands.search(s, p, PageRequest(page_no, size, sort, desc), state=state or None)
    rows = [{"d": d, "state_label": flows.DEMAND.label(d.state),
             "quotes": sum(1 for q in demands.quotes(s, p, d) if q.state == "MADE")} for d in result.items]
    form = form or DemandForm(kinds=["纯信用"], expires_on=(today + timedelta(days=14)).isoformat())
    return page(request, "market/my_demands.html", error=error, done=done, tab="demands", tabs=MY_TABS,
                page=result, rows=rows, state=state, states=flows.DEMAND.states, form=form, kinds=PRODUCT_KINDS,
                min_day=(today + timedelta(days=1)).isoformat(),
                max_day=(today + timedelta(days=demands.MAX_DAYS)).isoformat(), params=query(state=state))


@router.get("/my/financing/demands", response_class=HTMLResponse)
def my_demands(request: Request, state: str = "", done: str = "", page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE),
               size: int = Query(20, ge=1, le=200), sort: str | None = None, desc: bool = True,
               p: Principal = Depends(ENTERPRISE), s: Session = Depends(db_session, scope="function")) -> Response:
    return _demands_page(request, s, p, state=state, page_no=page_no, size=size, sort=sort, desc=desc,
                         done=DONE.get(done))


@router.post("/my/financing/demands", response_class=HTMLResponse)
def publish_demand(request: Request, f: Fields = Depends(fields), p: Principal = Depends(ENTERPRISE),
                   s: Session = Depends(db_session, scope="function")) -> Response:
    form = DemandForm.posted(f)
    try:
        d = demands.publish(s, p, amount=yuan_text(wan_fen(form.amount, "需求金额")), term_months=form.term_months,
                            purpose=form.purpose, kinds=form.kinds or [], expires_on=form.expires_on,
                            node_code=node(request).settings.node_code)
    except DomainError as exc:
        s.rollback()
        return _demands_page(request, s, p, form=form, error=exc)
    return see_other(f"/my/financing/demands/{d.number}?done=published")


def _quote_rows(s: Session, quotes: list[Any]) -> list[dict[str, Any]]:
    versions = {v.id: v for v in s.execute(select(ProductVersion).where(
        ProductVersion.id.in_({q.product_version_id for q in quotes}))).scalars()} if quotes else {}
    names = institution_names(s, {q.institution_code for q in quotes})
    now = clock.now()
    labels = {"MADE": "有效", "PICKED": "已选定", "NOT_PICKED": "未选定", "WITHDRAWN": "已撤回", "EXPIRED": "已过期"}
    return [{"q": q, "institution": names.get(q.institution_code, q.institution_code),
             "product": versions[q.product_version_id].name, "kind": versions[q.product_version_id].kind,
             "live": q.state == "MADE" and q.valid_until > now,
             "state_label": labels.get(q.state, q.state) if q.state != "MADE" or q.valid_until > now else "已过期",
             "valid_to": last_day(q.valid_until)} for q in quotes]


def _demand_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
                 error: DomainError | None = None) -> Response:
    d = demands.get(s, p, number)
    app = s.execute(applications.visible(p).where(Application.demand_id == d.id)).scalars().first()
    return page(request, "market/my_demand.html", error=error, done=done, d=d, state_label=flows.DEMAND.label(d.state),
                quotes=_quote_rows(s, demands.quotes(s, p, d)), app=app, expires=last_day(d.expires_at),
                may_close="close" in [m.action for m in flows.DEMAND.moves_from(d.state, ActorKind.ENTERPRISE)])


@router.get("/my/financing/demands/{number}", response_class=HTMLResponse)
def my_demand(number: str, request: Request, done: str = "", p: Principal = Depends(ENTERPRISE),
              s: Session = Depends(db_session, scope="function")) -> Response:
    return _demand_page(request, s, p, number, done=DONE.get(done))


@router.post("/my/financing/demands/{number}/close", response_class=HTMLResponse)
def close_demand(number: str, request: Request, p: Principal = Depends(ENTERPRISE),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        demands.close(s, p, number)
    except DomainError as exc:
        s.rollback()
        return _demand_page(request, s, p, number, error=exc)
    return see_other(f"/my/financing/demands/{number}?done=closed")


def _pick_page(request: Request, s: Session, p: Principal, number: str, quote: str,
               error: DomainError | None = None) -> Response:
    pv = demands.pick_preview(s, node(request).catalog, p, number, quote)
    back = f"/my/financing/demands/{number}"
    return _confirm_page(request, title="选定报价并申请", crumbs=[("我的融资", "/my/financing"), ("融资需求", "/my/financing/demands"),
                                                           (number, back)],
                         intro=f"选定报价 {quote} 后，将向该银行提交融资申请（银行已受理），并出具以下贷前审查授权。"
                               "其他银行的报价将不再有效。",
                         text=pv["grant_text"], digest=pv["grant_digest"],
                         action=f"/my/financing/demands/{number}/pick", hidden={"quote": quote}, button="确认授权并选定",
                         back=back, error=error)


@router.post("/my/financing/demands/{number}/pick/preview", response_class=HTMLResponse)
def pick_preview(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(ENTERPRISE),
                 s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        return _pick_page(request, s, p, number, f.get("quote"))
    except DomainError as exc:
        return _demand_page(request, s, p, number, error=exc)


@router.post("/my/financing/demands/{number}/pick", response_class=HTMLResponse)
def pick(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(ENTERPRISE),
         s: Session = Depends(db_session, scope="function")) -> Response:
    quote = f.get("quote")
    try:
        app = demands.pick(s, node(request).catalog, p, number, quote, f.get("grant_digest"),
                           node(request).settings.node_code)
    except DomainError as exc:
        s.rollback()
        d = demands.get(s, p, number)
        picked = s.execute(applications.visible(p).where(Application.demand_id == d.id)).scalars().first()
        if picked is not None:  # a second click on the same confirmation: the first one picked it
            return see_other(f"/my/financing/applications/{picked.number}?done=already")
        try:
            return _pick_page(request, s, p, number, quote, exc)
        except DomainError:  # the quote itself is gone: back to the need
            return _demand_page(request, s, p, number, error=exc)
    return see_other(f"/my/financing/applications/{app.number}?done=picked")


# ── loans and default cases ─────────────────────────────────────────────────────────────────────────────

@router.get("/my/financing/loans", response_class=HTMLResponse)
def my_loans(request: Request, page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), size: int = Query(20, ge=1, le=200),
             sort: str | None = None, desc: bool = True, p: Principal = Depends(ENTERPRISE),
             s: Session = Depends(db_session, scope="function")) -> Response:
    result = paginate(s, loans.visible(p), PageRequest(page_no, size, sort, desc),
                      {"granted_on": Loan.granted_on, "granted": Loan.granted_fen, "status": Loan.status},
                      "granted_on")
    names = institution_names(s, {x.institution_code for x in result.items})
    numbers = dict(s.execute(select(Application.id, Application.number).where(
        Application.id.in_({x.application_id for x in result.items if x.application_id}))).all())
    rows = [{**loan_view(s, x), "institution": names.get(x.institution_code, x.institution_code),
             "application": numbers.get(x.application_id)} for x in result.items]
    return page(request, "market/my_loans.html", tab="loans", tabs=MY_TABS, page=result, rows=rows, params="")


@router.get("/my/financing/cases", response_class=HTMLResponse)
def my_cases(request: Request, page_no: int = Query(1, alias="page", ge=1, le=MAX_PAGE), size: int = Query(20, ge=1, le=200),
             sort: str | None = None, desc: bool = True, p: Principal = Depends(ENTERPRISE),
             s: Session = Depends(db_session, scope="function")) -> Response:
    result = cases.search(s, p, PageRequest(page_no, size, sort, desc))
    return page(request, "market/my_cases.html", tab="cases", tabs=MY_TABS, page=result,
                rows=case_rows(s, result.items), params="")


def _case_page(request: Request, s: Session, p: Principal, number: str, *, done: str | None = None,
               error: DomainError | None = None, note: str = "") -> Response:
    case = cases.get(s, p, number)
    loan = s.get(Loan, case.loan_id)
    app = s.get(Application, loan.application_id) if loan and loan.application_id else None
    may = [m.action for m in flows.DEFAULT_CASE.moves_from(case.state, ActorKind.ENTERPRISE)]
    return page(request, "market/my_case.html", error=error, done=done, row=case_rows(s, [case])[0],
                steps=case_timeline(s, cases.timeline(s, case)), reminders=cases.reminders(s, case), loan=loan,
                app=app, may_respond="respond" in may, note=note)


@router.get("/my/financing/cases/{number}", response_class=HTMLResponse)
def my_case(number: str, request: Request, done: str = "", p: Principal = Depends(ENTERPRISE),
            s: Session = Depends(db_session, scope="function")) -> Response:
    return _case_page(request, s, p, number, done=DONE.get(done))


@router.post("/my/financing/cases/{number}/respond", response_class=HTMLResponse)
def respond(number: str, request: Request, f: Fields = Depends(fields), p: Principal = Depends(ENTERPRISE),
            s: Session = Depends(db_session, scope="function")) -> Response:
    try:
        cases.act(s, p, number, "respond", {"note": f.get("note")})
    except DomainError as exc:
        s.rollback()
        return _case_page(request, s, p, number, error=exc, note=f.get("note"))
    return see_other(f"/my/financing/cases/{number}?done=responded")

