"""JSON API of the financing market (融资服务): products, financing needs and quotes, applications and their
decisions, loans and repayment reports, default cases, post-loan alerts, and the banks' feedback files. The
same services and rules as the pages: who sees what is decided inside each service's query, every move is
asked of the flow tables, and a refusal comes back as `{"error", "message", "detail"}` with the flow's state
and allowed next moves in `detail`.

Institutions authenticate as on the sharing API: a logged-in session (with its CSRF token), an API key
(`X-Api-Key`) or a signed request. **Every write by an institution carries `X-Request-Id`**
(`REQUEST_ID_REQUIRED` otherwise) and is idempotent by it (`market.idempotency`): the same id and body is
answered again without being done twice, another body is `REQUEST_ID_REUSED`. Enterprises and staff may send
one too. Amounts are in 元, rates in %, and another party's application, loan or case is not found (404)
rather than forbidden, so its existence is not told.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from xinyidai.entities.models import MarketEntity
from xinyidai.institutions.models import FinancialInstitution
from xinyidai.kit.db import write_lock
from xinyidai.kit.errors import Conflict, InvalidInput
from xinyidai.kit.notify import Notifier, make_notifier
from xinyidai.kit.pagination import PageRequest, paginate
from xinyidai.kit.principal import Principal
from xinyidai.market import (
    alerts,
    applications,
    cases,
    demands,
    feedback,
    figures,
    flows,
    idempotency,
    loans,
    products,
    rules,
)
from xinyidai.market.applications import Actor
from xinyidai.market.idempotency import Answer
from xinyidai.market.models import (
    AlertSubscription,
    Application,
    DefaultCase,
    Demand,
    Loan,
    Product,
    ProductVersion,
    Quote,
    StatusReport,
)
from xinyidai.market.money import fen
from xinyidai.market.schemas import (
    AlertOut,
    ApplicationDetailOut,
    ApplicationIn,
    ApplicationOut,
    ApplicationPreviewIn,
    CancelledOut,
    CaseActionIn,
    CaseDetailOut,
    CaseOut,
    DecisionIn,
    DecisionOut,
    DemandDetailOut,
    DemandIn,
    DemandOut,
    FeedbackFileOut,
    GrantTextOut,
    LoanDetailOut,
    LoanOut,
    PageOut,
    PickIn,
    PostLoanIn,
    PostLoanOut,
    PreviewOut,
    ProductActionIn,
    ProductOut,
    ProductTermsIn,
    ProductVersionOut,
    QuoteIn,
    QuoteOut,
    StatusIn,
    StatusOut,
    SubscriptionIn,
    SubscriptionOut,
    errors,
)
from xinyidai.records.loading import file_digest
from xinyidai.records.uploads import save_upload
from xinyidai.web.deps import db_session, node, require

router = APIRouter(prefix="/api/v1/market", tags=["融资服务"])

PARTIES = ("bank", "enterprise", "operator", "regulator")  # who reads the market (each sees its own rows)
STAFF = ("operator", "regulator")
REQUEST_ID_H = Header(None, alias="X-Request-Id", max_length=64,
                      description="请求编号（金融机构的写操作必填，1–64 个字母、数字或 . _ : -）：同一编号重发同一请求时返回首次结果，"
                                  "不会重复办理；同一编号用于不同内容时拒绝（REQUEST_ID_REUSED）")
PAGE_Q = Query(1, ge=1, le=100_000, description="页码")
# A parameter object may be shared only by parameters of one name: FastAPI names it after the first use.
VERSION_P = Path(ge=1, le=10_000, description="版本号")
MAX_ID = 2**62
SIZE_Q = Query(20, ge=1, le=200, description="每页条数")
SORT_Q = Query(None, max_length=30, description="排序字段")
DESC_Q = Query(True, description="是否倒序")


# ── helpers ─────────────────────────────────────────────────────────────────────────────────────────────

def _answer(status: int, model: type[BaseModel], body: dict[str, Any]) -> Answer:
    """An answer in its documented shape (checked here, as it is also what a repeat will get)."""
    return Answer(status, model.model_validate(body).model_dump(mode="json", by_alias=True))


def _respond(a: Answer) -> JSONResponse:
    return JSONResponse(a.body, status_code=a.status, headers={"Idempotent-Replayed": "true"} if a.replayed else None)


def _write(request: Request, s: Session, p: Principal, request_id: str | None, body: BaseModel | dict[str, Any] | None,
           work: Callable[[], Answer]) -> JSONResponse:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return _respond(idempotency.once(s, p, request_id, f"{request.method} {request.url.path}", data, work))


def _notifier(request: Request) -> Notifier:
    settings = node(request).settings
    return make_notifier(settings.notifier, settings.var_dir)


def _names(s: Session, model: Any, codes: Iterable[str]) -> dict[str, str]:
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    return dict(s.execute(select(model.code, model.name).where(model.code.in_(wanted))).all())


def _versions_out(s: Session, p: Principal, versions: list[ProductVersion]) -> list[dict[str, Any]]:
    """Versions as the API gives them; for an enterprise, each with why it fits (its standing computed once)."""
    prods = {x.id: x for x in s.execute(select(Product).where(Product.id.in_({v.product_id for v in versions})))
             .scalars()} if versions else {}
    insts = _names(s, FinancialInstitution, (x.institution_code for x in prods.values()))
    entity = s.get(MarketEntity, p.org_code) if p.role == "enterprise" and p.org_code else None
    judged = products.standing(s, entity) if entity is not None and versions else None
    out = []
    for v in versions:
        product = prods[v.product_id]
        d = products.version_dict(v, product, insts.get(product.institution_code, ""))
        if entity is not None:
            d["fit"] = [vars(c) for c in products.fit(s, v, entity, judged=judged)]
        out.append(d)
    return out


def _apps_out(s: Session, apps: list[Application]) -> list[dict[str, Any]]:
    if not apps:
        return []
    numbers = dict(s.execute(select(Product.id, Product.number).where(Product.id.in_({a.product_id for a in apps}))
                             ).all())
    names = dict(s.execute(select(ProductVersion.id, ProductVersion.name).where(
        ProductVersion.id.in_({a.product_version_id for a in apps}))).all())
    loan_ids = {a.loan_id for a in apps if a.loan_id}
    loan_nos = dict(s.execute(select(Loan.id, Loan.loan_no).where(Loan.id.in_(loan_ids))).all()) if loan_ids else {}
    insts = _names(s, FinancialInstitution, (a.institution_code for a in apps))
    ents = _names(s, MarketEntity, (a.entity_code for a in apps))
    out = []
    for a in apps:
        d = applications.application_dict(a, product_name=names.get(a.product_version_id, ""),
                                          institution_name=insts.get(a.institution_code, ""),
                                          entity_name=ents.get(a.entity_code, ""))
        d.update(product=numbers.get(a.product_id, ""), loan_no=loan_nos.get(a.loan_id) if a.loan_id else None)
        out.append(d)
    return out


def _app_out(s: Session, app: Application) -> dict[str, Any]:
    return _apps_out(s, [app])[0]


def _kind_of(p: Principal) -> flows.ActorKind | None:
    return None if p.role not in ("bank", "enterprise", "operator") else products.actor_kind(p)


def _case_out(case: DefaultCase) -> dict[str, Any]:
    return cases.case_dict(case)


def _report_out(r: StatusReport) -> dict[str, Any]:
    return {"as_of": r.as_of.isoformat(), "outstanding": r.outstanding_fen / 100,
            "overdue_principal": r.overdue_principal_fen / 100, "overdue_interest": r.overdue_interest_fen / 100,
            "interest_paid": r.interest_paid_fen / 100, "dpd": r.dpd, "risk_class": r.risk_class, "source": r.source,
            "received_at": r.received_at.isoformat()}


# ── products ────────────────────────────────────────────────────────────────────────────────────────────

@router.get("/products", summary="产品列表（企业：每个产品附是否适合本企业及原因）", response_model=PageOut[ProductVersionOut],
            responses=errors(422))
def list_products(kind: str | None = Query(None, max_length=12, description="担保方式（产品类别）"),
                  sector: str | None = Query(None, max_length=10, description="领域标签"),
                  region: str | None = Query(None, max_length=6, description="企业注册地行政区划代码：只列服务该地的产品"),
                  amount: str | None = Query(None, pattern=r"^\d{1,13}(\.\d{1,2})?$",
                                             description="融资金额（元）：只列额度覆盖该金额的产品"),
                  state: str | None = Query(None, max_length=12, description="版本状态（金融机构查看本机构产品时）"),
                  own: bool = Query(False, description="金融机构：只列本机构的产品"),
                  q: str = Query("", max_length=50, description="产品名称关键词"),
                  page: int = PAGE_Q, size: int = SIZE_Q, sort: str | None = SORT_Q, desc: bool = DESC_Q,
                  p: Principal = Depends(require(*PARTIES)),
                  s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = products.search(s, p, PageRequest(page, size, sort, desc), kind=kind, sector=sector, region=region,
                             amount=fen(amount, "融资金额") if amount else None, state=state, own=own, q=q)
    return result.as_dict(_versions_out(s, p, result.items))


@router.get("/products/{number}", summary="一个产品及其各版本（调用方可见的）", response_model=ProductOut,
            responses=errors(404))
def get_product(number: str, p: Principal = Depends(require(*PARTIES)),
                s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    product, versions, inst_name = products.get(s, p, number)
    return {"number": product.number, "institution_code": product.institution_code, "institution_name": inst_name,
            "status": product.status, "versions": _versions_out(s, p, versions)}


def _version_answer(s: Session, p: Principal, v: ProductVersion, status: int = 200) -> Answer:
    return _answer(status, ProductVersionOut, _versions_out(s, p, [v])[0])


@router.post("/products", status_code=201, summary="新建产品（第 1 版，草稿）", response_model=ProductVersionOut,
             responses=errors(409, 422))
def create_product(request: Request, body: ProductTermsIn, request_id: str | None = REQUEST_ID_H,
                   p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                   ) -> JSONResponse:
    def work() -> Answer:
        v = products.create(s, node(request).catalog, p, body.model_dump(), node(request).settings.node_code)
        return _version_answer(s, p, v, 201)
    return _write(request, s, p, request_id, body, work)


@router.put("/products/{number}/versions/{version}", summary="修改草稿版本（已提交或已发布的版本请新建版本）",
            response_model=ProductVersionOut, responses=errors(404, 409, 422))
def edit_product(request: Request, number: str, body: ProductTermsIn, version: int = VERSION_P,
                 request_id: str | None = REQUEST_ID_H, p: Principal = Depends(require("bank")),
                 s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        return _version_answer(s, p, products.edit(s, node(request).catalog, p, number, version, body.model_dump()))
    return _write(request, s, p, request_id, body, work)


@router.post("/products/{number}/versions", status_code=201, summary="新建版本（在用版本发布后修改条款）",
             response_model=ProductVersionOut, responses=errors(404, 409, 422))
def new_product_version(request: Request, number: str, body: ProductTermsIn, request_id: str | None = REQUEST_ID_H,
                        p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                        ) -> JSONResponse:
    def work() -> Answer:
        return _version_answer(s, p, products.new_version(s, node(request).catalog, p, number, body.model_dump()), 201)
    return _write(request, s, p, request_id, body, work)


@router.post("/products/{number}/versions/{version}/actions/{action}",
             summary="产品版本的操作：金融机构 submit / suspend / resume / withdraw；平台 publish / return / suspend / "
                     "resume / withdraw", response_model=ProductVersionOut, responses=errors(404, 409, 422))
def act_on_product(request: Request, number: str,
                   action: Literal["submit", "return", "publish", "suspend", "resume", "withdraw"],
                   body: ProductActionIn | None = None, version: int = VERSION_P, request_id: str | None = REQUEST_ID_H,
                   p: Principal = Depends(require("bank", "operator")),
                   s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    note = body.note if body else ""

    def work() -> Answer:
        return _version_answer(s, p, products.act(s, p, number, version, action, note))
    return _write(request, s, p, request_id, {"note": note}, work)


# ── financing needs and quotes ──────────────────────────────────────────────────────────────────────────

def _demands_out(s: Session, p: Principal, ds: list[Demand]) -> list[dict[str, Any]]:
    if not ds:
        return []
    count = select(Quote.demand_id, func.count()).where(Quote.demand_id.in_({d.id for d in ds}))
    if p.role == "bank":
        count = count.where(Quote.institution_code == p.org_code)
    counts = dict(s.execute(count.group_by(Quote.demand_id)).all())
    ents = _names(s, MarketEntity, (d.entity_code for d in ds))
    return [demands.demand_dict(d, ents.get(d.entity_code, ""), counts.get(d.id, 0)) for d in ds]


def _quotes_out(s: Session, qs: list[Quote]) -> list[dict[str, Any]]:
    names = dict(s.execute(select(ProductVersion.id, ProductVersion.name).where(
        ProductVersion.id.in_({q.product_version_id for q in qs}))).all()) if qs else {}
    insts = _names(s, FinancialInstitution, (q.institution_code for q in qs))
    return [demands.quote_dict(q, insts.get(q.institution_code, ""), names.get(q.product_version_id, "")) for q in qs]


@router.get("/demands", summary="融资需求（企业：本企业的；金融机构：征集中的；平台：全部）",
            response_model=PageOut[DemandOut], responses=errors(422))
def list_demands(state: str | None = Query(None, max_length=10, description="OPEN / MATCHED / CLOSED / EXPIRED"),
                 page: int = PAGE_Q, size: int = SIZE_Q, sort: str | None = SORT_Q, desc: bool = DESC_Q,
                 p: Principal = Depends(require(*PARTIES)), s: Session = Depends(db_session, scope="function")
                 ) -> dict[str, Any]:
    result = demands.search(s, p, PageRequest(page, size, sort, desc), state=state)
    return result.as_dict(_demands_out(s, p, result.items))


@router.get("/demands/{number}", summary="一项融资需求及其报价", response_model=DemandDetailOut, responses=errors(404))
def get_demand(number: str, p: Principal = Depends(require(*PARTIES)),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    d = demands.get(s, p, number)
    return {"demand": _demands_out(s, p, [d])[0], "quotes": _quotes_out(s, demands.quotes(s, p, d))}


@router.post("/demands", status_code=201, summary="发布融资需求（企业）", response_model=DemandOut,
             responses=errors(409, 422))
def publish_demand(request: Request, body: DemandIn, request_id: str | None = REQUEST_ID_H,
                   p: Principal = Depends(require("enterprise")), s: Session = Depends(db_session, scope="function")
                   ) -> JSONResponse:
    def work() -> Answer:
        d = demands.publish(s, p, amount=body.amount, term_months=body.term_months, purpose=body.purpose,
                            kinds=body.kinds, expires_on=body.expires_on.isoformat(),
                            node_code=node(request).settings.node_code)
        return _answer(201, DemandOut, _demands_out(s, p, [d])[0])
    return _write(request, s, p, request_id, body, work)


@router.post("/demands/{number}/close", summary="关闭融资需求（企业或平台）", response_model=DemandOut,
             responses=errors(404, 409, 422))
def close_demand(request: Request, number: str, request_id: str | None = REQUEST_ID_H,
                 p: Principal = Depends(require("enterprise", "operator")),
                 s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        return _answer(200, DemandOut, _demands_out(s, p, [demands.close(s, p, number)])[0])
    return _write(request, s, p, request_id, None, work)


@router.post("/demands/{number}/quotes", status_code=201, summary="对融资需求报价（金融机构，以本机构已发布的产品）",
             response_model=QuoteOut, responses=errors(404, 409, 422))
def quote_demand(request: Request, number: str, body: QuoteIn, request_id: str | None = REQUEST_ID_H,
                 p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                 ) -> JSONResponse:
    def work() -> Answer:
        q = demands.quote(s, p, number, product_number=body.product, amount=body.amount, rate=body.rate,
                          term_months=body.term_months, valid_until=body.valid_until.isoformat(), note=body.note,
                          node_code=node(request).settings.node_code, request_id=request_id)
        return _answer(201, QuoteOut, _quotes_out(s, [q])[0])
    return _write(request, s, p, request_id, body, work)


@router.post("/demands/{number}/quotes/{quote}/preview", summary="选定报价前预览授权书（企业）", response_model=PreviewOut,
             responses=errors(404, 409, 422))
def preview_pick(request: Request, number: str, quote: str, p: Principal = Depends(require("enterprise")),
                 s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    out = demands.pick_preview(s, node(request).catalog, p, number, quote)
    return {"fit": [], "ok": True, **out}


@router.post("/demands/{number}/quotes/{quote}/pick", status_code=201,
             summary="选定报价并确认授权：生成已受理的申请（企业）", response_model=ApplicationOut,
             responses=errors(404, 409, 422))
def pick_quote(request: Request, number: str, quote: str, body: PickIn, request_id: str | None = REQUEST_ID_H,
               p: Principal = Depends(require("enterprise")), s: Session = Depends(db_session, scope="function")
               ) -> JSONResponse:
    def work() -> Answer:
        app = demands.pick(s, node(request).catalog, p, number, quote, body.grant_digest,
                           node(request).settings.node_code)
        return _answer(201, ApplicationOut, _app_out(s, app))
    return _write(request, s, p, request_id, body, work)


# ── applications ────────────────────────────────────────────────────────────────────────────────────────

@router.post("/applications/preview", summary="申请前预览：是否符合条件，以及将要确认的授权书全文和摘要（企业）",
             response_model=PreviewOut, responses=errors(404, 409, 422))
def preview_application(request: Request, body: ApplicationPreviewIn, p: Principal = Depends(require("enterprise")),
                        s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    out = applications.preview(s, node(request).catalog, p, body.product, body.amount, body.term_months, body.purpose)
    return {**out, "amount": out.pop("amount_fen") / 100}


@router.post("/applications", status_code=201, summary="提交申请并确认贷前审查授权（企业）", response_model=ApplicationOut,
             responses=errors(404, 409, 422))
def submit_application(request: Request, body: ApplicationIn, request_id: str | None = REQUEST_ID_H,
                       p: Principal = Depends(require("enterprise")),
                       s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        app = applications.submit(s, node(request).catalog, p, product_number=body.product, amount=body.amount,
                                  term_months=body.term_months, purpose=body.purpose, grant_digest=body.grant_digest,
                                  node_code=node(request).settings.node_code, source="api", request_id=request_id)
        return _answer(201, ApplicationOut, _app_out(s, app))
    return _write(request, s, p, request_id, body, work)


@router.get("/applications", summary="申请列表（金融机构：本机构的受理队列；企业：本企业的；平台：全部）",
            response_model=PageOut[ApplicationOut], responses=errors(422))
def list_applications(state: str | None = Query(None, max_length=16, description="申请状态"),
                      breached: bool = Query(False, description="只列当前环节已超时的"),
                      page: int = PAGE_Q, size: int = SIZE_Q,
                      sort: str | None = Query(None, max_length=30, description="submitted_at / due_at / state / amount"),
                      desc: bool = DESC_Q, p: Principal = Depends(require(*PARTIES)),
                      s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = applications.search(s, p, PageRequest(page, size, sort, desc), state=state, breached=breached)
    return result.as_dict(_apps_out(s, result.items))


@router.get("/applications/{number}", summary="一份申请：详情、时间线、调用方当前可办理的操作",
            response_model=ApplicationDetailOut, responses=errors(404))
def get_application(number: str, p: Principal = Depends(require(*PARTIES)),
                    s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    app = applications.get(s, p, number)
    kind = _kind_of(p)
    yours = [] if kind is None else [{"action": m.action, "label": m.label, "by": sorted(m.actors)}
                                     for m in flows.APPLICATION.moves_from(app.state, kind)]
    return {"application": _app_out(s, app), "timeline": [applications.event_dict(e) for e in applications.timeline(s, app)],
            "yours": yours}


@router.post("/applications/{number}/decisions", summary="办理申请的一步（受理、预授信、授信、放款、撤回……）",
             description="操作顺序由申请流程决定：不符合顺序的操作以 OUT_OF_ORDER、ALREADY_FINAL、ALREADY_DONE 或 "
                         "ACTOR_NOT_ALLOWED 拒绝，detail 给出当前状态和此时可以办理的操作。金融机构须带 X-Request-Id，"
                         "重发时返回首次结果（replayed=true）。",
             response_model=DecisionOut, responses=errors(404, 409, 422))
def decide(request: Request, number: str, body: DecisionIn, request_id: str | None = REQUEST_ID_H,
           p: Principal = Depends(require("bank", "enterprise", "operator")),
           s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        rid = idempotency.request_id_of(p, request_id)
        app = applications.decide(s, node(request).catalog, Actor.of(p, "api"), number, body.action,
                                  body.model_dump(mode="json", exclude_none=True, exclude={"action"}), request_id=rid,
                                  node_code=node(request).settings.node_code, notifier=_notifier(request))
        events = applications.timeline(s, app)
        event = next((e for e in events if rid and e.request_id == rid and e.actor_org == p.org_code), events[-1])
        return _answer(200, DecisionOut, {"application": _app_out(s, app), "event": applications.event_dict(event),
                                          "replayed": False})
    return _write(request, s, p, request_id, body, work)


@router.get("/applications/{number}/authorization", summary="待企业确认的授权书（补充授权或贷后管理授权）",
            response_model=GrantTextOut, responses=errors(404, 409))
def pending_authorization(request: Request, number: str, p: Principal = Depends(require("enterprise")),
                          s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    from xinyidai.access import authorizations

    app = applications.get(s, p, number)
    catalog = node(request).catalog
    if app.state == flows.AUTH_REQUESTED:
        kind, req = "more", applications.more_authorization_request(s, app)
    elif app.state in (flows.GRANTED, flows.DISBURSED) and app.loan_id:
        kind, req = "post_loan", applications.post_loan_request(s, catalog, app, s.get(Loan, app.loan_id))
    else:
        req = None
    if req is None:
        raise Conflict(f"该申请当前为“{flows.APPLICATION.label(app.state)}”，没有待确认的授权书", code="NOTHING_TO_AUTHORIZE")
    text, digest = authorizations.preview(s, catalog, p, req)
    return {"kind": kind, "grant_text": text, "grant_digest": digest}


@router.post("/applications/{number}/post-loan-authorization", status_code=201,
             summary="授信后确认贷后管理授权（企业）：银行随即可接收贷后预警", response_model=PostLoanOut,
             responses=errors(404, 409, 422))
def confirm_post_loan(request: Request, number: str, body: PostLoanIn, request_id: str | None = REQUEST_ID_H,
                      p: Principal = Depends(require("enterprise")),
                      s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        grant = applications.confirm_post_loan(s, node(request).catalog, p, number, body.grant_digest)
        return _answer(201, PostLoanOut, {"authorization": grant})
    return _write(request, s, p, request_id, body, work)


# ── loans and repayment ─────────────────────────────────────────────────────────────────────────────────

LOAN_SORT = {"granted_on": Loan.granted_on, "loan_no": Loan.loan_no, "granted": Loan.granted_fen, "dpd": Loan.dpd}


@router.get("/loans", summary="贷款列表（金融机构：本机构的；企业：本企业的；平台：全部）", response_model=PageOut[LoanOut],
            responses=errors(422))
def list_loans(status: str | None = Query(None, max_length=10, description="GRANTED / DISBURSED / CLOSED"),
               overdue: bool = Query(False, description="只列逾期的"), page: int = PAGE_Q, size: int = SIZE_Q,
               sort: str | None = Query(None, max_length=30, description="granted_on / loan_no / granted / dpd"),
               desc: bool = DESC_Q, p: Principal = Depends(require(*PARTIES)),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    stmt = loans.visible(p)
    if status:
        stmt = stmt.where(Loan.status == status)
    if overdue:
        stmt = stmt.where(Loan.dpd > 0)
    result = paginate(s, stmt, PageRequest(page, size, sort, desc), LOAN_SORT, "granted_on")
    return result.as_dict([loans.loan_dict(x, with_risk=True) for x in result.items])


@router.get("/loans/{loan}", summary="一笔贷款（平台贷款编号或本机构贷款编号）：还款状态、首贷核对、违约案件",
            response_model=LoanDetailOut, responses=errors(404))
def get_loan(loan: str, p: Principal = Depends(require(*PARTIES)),
             s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    x = loans.get(s, p, loan)
    app_no = s.execute(select(Application.number).where(Application.id == x.application_id)).scalar() \
        if x.application_id else None
    found = s.execute(cases.visible(p).where(DefaultCase.loan_id == x.id).order_by(DefaultCase.id)).scalars()
    return {"loan": loans.loan_dict(x, with_risk=True), "application": app_no,
            "reports": [_report_out(r) for r in loans.reports(s, x)],
            "earlier_loans": [e.loan_no for e in loans.earlier_loans(s, x)], "cases": [_case_out(c) for c in found]}


@router.post("/loans/{loan}/status", summary="报告还款状态（金融机构，至少每月一次）",
             description="同一贷款同一统计日期的相同数字重报不作变更（changed=false）；逾期报告会立案或推进违约案件。",
             response_model=StatusOut, responses=errors(404, 409, 422))
def report_status(request: Request, loan: str, body: StatusIn, request_id: str | None = REQUEST_ID_H,
                  p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                  ) -> JSONResponse:
    def work() -> Answer:
        x = loans.get(s, p, loan)
        rep, changed = loans.report_status(
            s, x, as_of=body.as_of, outstanding_fen=fen(body.outstanding, "贷款余额", allow_zero=True),
            overdue_principal_fen=fen(body.overdue_principal, "逾期本金", allow_zero=True),
            overdue_interest_fen=fen(body.overdue_interest, "逾期利息", allow_zero=True),
            interest_paid_fen=fen(body.interest_paid, "本期已付利息", allow_zero=True), dpd=body.dpd,
            risk_class=body.risk_class, source="api", reported_by=p.username)
        case = s.execute(select(DefaultCase).where(DefaultCase.loan_id == x.id).order_by(DefaultCase.id.desc())
                         .limit(1)).scalar_one_or_none()
        return _answer(200, StatusOut, {"loan": loans.loan_dict(x, with_risk=True), "report": _report_out(rep),
                                        "changed": changed, "case": _case_out(case) if case else None})
    return _write(request, s, p, request_id, body, work)


# ── default cases ───────────────────────────────────────────────────────────────────────────────────────

@router.get("/cases", summary="违约案件（金融机构：本机构贷款的；企业：本企业的；平台：全部）", response_model=PageOut[CaseOut],
            responses=errors(422))
def list_cases(state: str | None = Query(None, max_length=14), city: str | None = Query(None, max_length=6),
               open_only: bool = Query(False, alias="open", description="只列在办的"), page: int = PAGE_Q,
               size: int = SIZE_Q, sort: str | None = Query(None, max_length=30, description="opened_at / latest_dpd / state"),
               desc: bool = DESC_Q, p: Principal = Depends(require(*PARTIES)),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = cases.search(s, p, PageRequest(page, size, sort, desc), state=state, city=city, open_only=open_only)
    return result.as_dict([_case_out(c) for c in result.items])


@router.get("/cases/{number}", summary="一个违约案件：时间线与催告记录", response_model=CaseDetailOut, responses=errors(404))
def get_case(number: str, p: Principal = Depends(require(*PARTIES)),
             s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    case = cases.get(s, p, number)
    loan_no = s.execute(select(Loan.loan_no).where(Loan.id == case.loan_id)).scalar_one()
    timeline = [{"seq": e.seq, "action": e.action, "label": flows.DEFAULT_CASE.move(e.action).label,
                 "from_state": e.from_state, "to_state": e.to_state, "actor_kind": e.actor_kind, "actor": e.actor,
                 "at": e.at.isoformat(), "payload": e.payload} for e in cases.timeline(s, case)]
    reminders = [{"step": r.step, "channel": r.channel, "to": r.to_masked, "message": r.message, "at": r.at.isoformat(),
                  "delivered": bool(r.delivered)} for r in cases.reminders(s, case)]
    return {"case": _case_out(case), "loan_no": loan_no, "timeline": timeline, "reminders": reminders}


@router.post("/cases/{number}/actions", summary="办理违约案件的一步（平台催告、升级督办、结案；金融机构纠正、重组、转不良；"
                                                "企业说明情况）", response_model=CaseOut, responses=errors(404, 409, 422))
def act_on_case(request: Request, number: str, body: CaseActionIn, request_id: str | None = REQUEST_ID_H,
                p: Principal = Depends(require("bank", "enterprise", "operator")),
                s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    def work() -> Answer:
        case = cases.act(s, p, number, body.action, body.model_dump(exclude={"action"}))
        return _answer(200, CaseOut, _case_out(case))
    return _write(request, s, p, request_id, body, work)


# ── post-loan alerts ────────────────────────────────────────────────────────────────────────────────────

def _subscription_out(sub: AlertSubscription) -> dict[str, Any]:
    return {"entity_code": sub.entity_code, "institution_code": sub.institution_code, "kinds": sub.kinds,
            "created_at": sub.created_at.isoformat(),
            "cancelled_at": sub.cancelled_at.isoformat() if sub.cancelled_at else None}


@router.post("/alert-subscriptions", status_code=201, summary="订阅企业的贷后预警（须持有有效的贷后管理授权）",
             response_model=SubscriptionOut, responses=errors(409, 422))
def subscribe(request: Request, body: SubscriptionIn, request_id: str | None = REQUEST_ID_H,
              p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
              ) -> JSONResponse:
    def work() -> Answer:
        return _answer(201, SubscriptionOut, _subscription_out(alerts.subscribe_as(s, p, body.entity_code, body.kinds)))
    return _write(request, s, p, request_id, body, work)


@router.delete("/alert-subscriptions/{entity_code}", summary="取消对企业的贷后预警订阅", response_model=CancelledOut,
               responses=errors(409, 422))
def unsubscribe(request: Request, entity_code: str, request_id: str | None = REQUEST_ID_H,
                p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                ) -> JSONResponse:
    def work() -> Answer:
        live = list(s.execute(select(AlertSubscription).where(
            AlertSubscription.institution_code == p.org_code, AlertSubscription.entity_code == entity_code,
            AlertSubscription.cancelled_at.is_(None))).scalars())
        alerts.cancel(s, p, entity_code)
        return _answer(200, CancelledOut, {"entity_code": entity_code,
                                           "cancelled": [_subscription_out(x) for x in live]})
    return _write(request, s, p, request_id, None, work)


@router.get("/alerts", summary="贷后预警（金融机构；只在贷后管理授权有效期内可见，每条均记入企业可查的访问记录）",
            response_model=PageOut[AlertOut], responses=errors(422))
def alert_feed(unread: bool = Query(False, description="只列未读的"), page: int = PAGE_Q, size: int = SIZE_Q,
               desc: bool = DESC_Q, p: Principal = Depends(require("bank")),
               s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    with write_lock(s):  # serving alerts writes access entries to the audit chain
        result = alerts.feed(s, p, PageRequest(page, size, "id", desc), unread=unread)
        out = result.as_dict([alerts.alert_dict(a) for a in result.items])
        s.commit()
    return out


@router.post("/alerts/{alert_id}/read", summary="标记预警为已读", response_model=AlertOut,
             responses=errors(404, 409, 422))
def mark_alert_read(request: Request, alert_id: int = Path(ge=1, le=MAX_ID), request_id: str | None = REQUEST_ID_H,
                    p: Principal = Depends(require("bank")), s: Session = Depends(db_session, scope="function")
                    ) -> JSONResponse:
    def work() -> Answer:
        return _answer(200, AlertOut, alerts.alert_dict(alerts.mark_read(s, p, alert_id)))
    return _write(request, s, p, request_id, None, work)


# ── rules ───────────────────────────────────────────────────────────────────────────────────────────────

@router.get("/reasons", summary="原因代码清单（不予受理 D*、审批不通过 R*、撤回 W*、平台撤销 C*）",
            response_model=dict[str, dict[str, str]], responses=errors())
def reasons(p: Principal = Depends(require(*PARTIES))) -> dict[str, dict[str, str]]:
    return rules.load().reasons


# ── feedback files ──────────────────────────────────────────────────────────────────────────────────────

UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "CSV（UTF-8、GBK 或 GB18030）或 Excel 工作簿（.xlsx）；列见示例文件"}}}}}}}


def _file_answer(s: Session, f: Any) -> Answer:
    body = FeedbackFileOut.model_validate(feedback.file_dict(f, feedback.issues(s, f).items)).model_dump(mode="json")
    if f.status == "accepted":
        return Answer(201, body)
    if f.status == "duplicate":
        return Answer(200, body)
    # A rejected file is kept with its report; the caller gets the report as the error's detail.
    return Answer(422, {"error": f.error_code or "FEEDBACK_INVALID", "message": f.message or "反馈文件未导入",
                        "detail": body})


@router.post("/feedback", status_code=201, summary="上传反馈文件：办理结果（decisions）或还款状态（status）",
             description="整个文件要么全部导入，要么全部不导入：有任何一行错误时返回 422，detail 为文件报告（逐行问题清单），"
                         "该报告也可用 GET /feedback/{id} 查看。与已导入文件完全相同的文件返回 200（duplicate），不作任何变更；"
                         "与已导入内容相同的行计为未变更。",
             response_model=FeedbackFileOut, responses={**errors(409, 413, 422), 200: {
                 "model": FeedbackFileOut, "description": "与已导入的文件相同（duplicate），未作任何变更"}},
             openapi_extra=UPLOAD_BODY)
async def upload_feedback(request: Request, kind: Literal["decisions", "status"] = Query(
                              description="decisions：办理结果；status：还款状态"),
                          request_id: str | None = REQUEST_ID_H, p: Principal = Depends(require("bank")),
                          s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    idempotency.request_id_of(p, request_id)  # refused before the file is read
    n = node(request)
    # The form is parsed here rather than declared: a signed request's signature covers the raw body, which
    # must be read (by authentication) before the form is parsed from it.
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("请选择要上传的文件（表单字段 file）", code="FILE_REQUIRED")
    path, name = await save_upload(upload, n.settings.var_dir, n.settings.max_upload_mb)
    try:
        digest, _size = file_digest(path)
        notifier = _notifier(request)

        def work() -> Answer:
            f = feedback.load(s, n.catalog, p, path=path, filename=name, kind=kind, node_code=n.settings.node_code,
                              notifier=notifier)
            return _file_answer(s, f)
        answer = await run_in_threadpool(idempotency.once, s, p, request_id, f"POST {request.url.path}",
                                         {"kind": kind, "file_digest": digest}, work)
    finally:
        path.unlink(missing_ok=True)
    return _respond(answer)


@router.get("/feedback", summary="本机构上传的反馈文件", response_model=PageOut[FeedbackFileOut], responses=errors(422))
def list_feedback(kind: Literal["decisions", "status"] | None = Query(None), page: int = PAGE_Q, size: int = SIZE_Q,
                  desc: bool = DESC_Q, p: Principal = Depends(require("bank")),
                  s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    result = feedback.search(s, p, PageRequest(page, size, "received_at", desc), kind=kind)
    return result.as_dict([feedback.file_dict(f) for f in result.items])


@router.get("/feedback/{file_id}", summary="一个反馈文件及其逐行问题清单", response_model=FeedbackFileOut,
            responses=errors(404, 422))
def get_feedback(file_id: int = Path(ge=1, le=MAX_ID), p: Principal = Depends(require("bank")),
                 s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    f = feedback.get(s, p, file_id)
    return feedback.file_dict(f, feedback.issues(s, f).items)


@router.get("/figures", tags=["融资统计"], summary="融资统计（授信目标进度、信用贷款与首贷占比等）")
def figures_api(start: str | None = Query(None, alias="from", description="起始月份 YYYY-MM，含"),
                end: str | None = Query(None, alias="to", description="截止月份 YYYY-MM，含"),
                p: Principal = Depends(require("operator", "regulator")),
                s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    """The page's numbers: amounts in 元, shares as fractions (null when nothing was granted), median
    response times in hours. Operators and regulators only."""
    rep = figures.report(s.connection(), figures.Period.parse(start, end))
    return JSONResponse(figures.report_dict(rep), headers={"Cache-Control": "no-store"})
