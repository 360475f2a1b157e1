"""The node's web application: JSON API (OpenAPI at /docs) and Chinese pages, one error shape for both."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from xinyidai import __version__
from xinyidai.catalog.schema import Item, load_catalog
from xinyidai.config import Settings
from xinyidai.entities.industries import industry_name
from xinyidai.entities.models import USER_ROLES
from xinyidai.entities.regions import region_name
from xinyidai.entities.request_auth import OPENAPI_DESCRIPTION
from xinyidai.kit import clock
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError
from xinyidai.records.loading import mark_interrupted
from xinyidai.web.audit_labels import action_label, detail_lines
from xinyidai.web.deps import LoginRequired, Node, is_api

log = logging.getLogger(__name__)

STATIC = resources.files("xinyidai.web") / "static"
TEMPLATES = resources.files("xinyidai.web") / "templates"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")

# Navigation by role: a link is shown only to roles its page admits (the route enforces it regardless).
NAV = [
    ("/", "数据概览", {"operator", "regulator", "security", "bank", "enterprise"}),
    ("/entities", "市场主体", {"operator", "regulator", "security"}),
    ("/deliveries", "交付批次", {"operator", "regulator"}),
    ("/upload", "数据报送", {"operator"}),
    ("/catalog", "信息清单", {"operator", "regulator", "security", "bank", "enterprise"}),
    ("/my", "我的信用信息", {"enterprise"}),
    ("/credit", "信用评价", {"operator", "regulator", "security"}),
    ("/whitelists", "白名单", {"operator", "regulator"}),
    ("/institutions", "金融机构", {"operator", "regulator", "security"}),
    ("/my/credit", "我的信用评价", {"enterprise"}),
    ("/my/colleagues", "同事账户", {"enterprise"}),
    ("/my/authorizations", "我的授权", {"enterprise"}),
    ("/my/accesses", "谁查看了我的数据", {"enterprise"}),
    ("/bank", "授权企业", {"bank"}),
    ("/bank/whitelists", "白名单", {"bank"}),
    ("/access/audit", "访问日志", {"operator", "security", "regulator"}),
    ("/access/alerts", "异常告警", {"operator", "security", "regulator"}),
    ("/audit", "审计日志", {"security", "operator"}),
    ("/network", "节点网络", {"operator", "security", "regulator"}),
]


def nav_active(path: str, role: str | None) -> str | None:
    """The navigation entry a page belongs to: the longest one whose path prefixes it (so /bank/whitelists
    lights 白名单, not 授权企业 at /bank)."""
    best = None
    for href, _, roles in NAV:
        if role in roles and (path == href or (href != "/" and path.startswith(href.rstrip("/") + "/"))) \
                and (best is None or len(href) > len(best)):
            best = href
    return best


def _fmt_dt(v: datetime | None) -> str:
    return v.astimezone(clock.CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S") if v else ""


def _fmt_int(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else ("" if v is None else str(v))


def mask_id(v: Any) -> str:
    """ID numbers on screen: region and last two characters only (GB/T 35273 minimisation)."""
    t = "" if v is None else str(v)
    return t[:6] + "*" * max(0, len(t) - 8) + t[-2:] if len(t) > 8 else "*" * len(t)


def _number(v: Any) -> Decimal | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        n = Decimal(str(v).strip())
    except (InvalidOperation, ValueError):
        return None
    return n if n.is_finite() else None


def item_text(item: Item, v: Any, *, unit: bool = True) -> str:
    """One catalogue item's value as every page shows it (an entity's records, a record's history, the bank's
    profile and detail): amounts and other decimals with thousands separators and two decimals, counts with
    separators, the unit after a space, codes of regions and industries as names. A banded amount
    ("10万～50万元") is text that already names its unit, and is shown as it is."""
    if v is None or v == "":
        return ""
    if v is True or v is False:
        return "是" if v else "否"
    if item.type == "region":
        return region_name(str(v)) or str(v)
    if item.type == "industry":
        return industry_name(str(v)) or str(v)
    n = _number(v) if item.type in ("decimal", "integer") else None
    if n is None:
        return str(v)
    text = f"{n:,.2f}" if item.type == "decimal" else f"{n:,.0f}"
    return f"{text} {item.unit}" if unit and item.unit else text


def make_templates(catalog) -> Jinja2Templates:  # noqa: ANN001
    t = Jinja2Templates(directory=str(TEMPLATES))
    t.env.filters.update(dt=_fmt_dt, n=_fmt_int, region=lambda c: region_name(c) or c or "",
                         industry=lambda c: (industry_name(c) or c) if c else "",
                         category=lambda c: _category_name(catalog, c), urlq=lambda v: quote(str(v)),
                         mask_id=mask_id)
    t.env.globals.update(NAV=NAV, ROLES=USER_ROLES, version=__version__, nav_active=nav_active, item_text=item_text)
    t.env.filters.update(audit_action=action_label,
                         audit_detail=lambda d: detail_lines(d, lambda c: _category_name(catalog, c)))
    from xinyidai.credit.render import register_filters

    register_filters(t.env)
    return t


def _category_name(catalog, code: str) -> str:  # noqa: ANN001
    try:
        return catalog.category(code).name
    except KeyError:
        return code


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    n: Node = request.app.state.node
    principal = getattr(request.state, "principal", None)
    ctx.update(request=request, principal=principal, csrf_token=getattr(request.state, "csrf_token", ""),
               node_name=n.settings.node_name, node_code=n.settings.node_code, catalog=n.catalog)
    return n.templates.TemplateResponse(request, template, ctx, status_code=status_code)


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    db = db or Database(settings.resolved_database_url)
    catalog = load_catalog(settings.catalog_path)
    app = FastAPI(title="xinyidai 信易贷节点接口", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=_lifespan,
                  description="融资信用服务平台节点的数据接口。所有错误均以统一格式返回："
                              "`{\"error\": 代码, \"message\": 中文说明, \"detail\": …}`。\n"
                              + OPENAPI_DESCRIPTION)
    app.state.node = Node(settings=settings, db=db, catalog=catalog, templates=make_templates(catalog),
                          executor=ThreadPoolExecutor(max_workers=2, thread_name_prefix="delivery"))
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    _install_handlers(app)
    _install_headers(app)

    from xinyidai.access import api as access_api
    from xinyidai.access import pages_bank, pages_enterprise, pages_staff
    from xinyidai.catalog import api as catalog_api
    from xinyidai.catalog import pages as catalog_pages
    from xinyidai.credit import api as credit_api
    from xinyidai.credit import model_pages, whitelist_api, whitelist_pages
    from xinyidai.credit import pages as credit_pages
    from xinyidai.entities import api as entities_api
    from xinyidai.entities import institution_api, institution_pages, registration_pages
    from xinyidai.entities import pages as entities_pages
    from xinyidai.network import api as network_api
    from xinyidai.network import exchange_api
    from xinyidai.network import pages as network_pages
    from xinyidai.records import api as records_api
    from xinyidai.records import pages as records_pages
    from xinyidai.web import shell

    # Routes are matched in this order, router by router: the machine-facing hot paths — institutions'
    # queries and verifications, peers' envelopes and receipts — come right after the health check.
    for m in (shell, access_api, network_api, catalog_api, catalog_pages, entities_api, entities_pages,
              records_api, records_pages, institution_api, institution_pages, registration_pages,
              pages_enterprise, pages_bank, pages_staff, network_pages, exchange_api,
              credit_pages, credit_api, model_pages, whitelist_pages, whitelist_api):
        app.include_router(m.router)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="xinyidai 接口文档",
                                   swagger_js_url="/static/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    n: Node = app.state.node
    stale = mark_interrupted(n.db)
    if stale:
        log.warning("marked %d interrupted deliveries as failed", stale)
    from xinyidai.access.runtime import housekeeping

    chores = asyncio.create_task(housekeeping(app))
    from xinyidai.credit.runtime import chores as credit_chores

    credit = asyncio.create_task(credit_chores(app))
    from xinyidai.network.runtime import RelayWorker

    relay = RelayWorker(app, n.settings.network_interval_s)
    relay.start()
    yield
    relay.stop()
    chores.cancel()
    credit.cancel()
    n.executor.shutdown(wait=False, cancel_futures=True)


def _error_response(request: Request, status: int, body: dict[str, Any]) -> Response:
    if is_api(request) or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(body, status_code=status)
    return render(request, "kit/error.html", status_code=status, error=body)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return _error_response(request, exc.status, exc.to_dict())

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        detail = [{"field": ".".join(str(p) for p in e.get("loc", ())[1:]), "message": e.get("msg")}
                  for e in exc.errors()]
        return _error_response(request, 422, {"error": "INVALID_INPUT", "message": "请求参数不符合要求",
                                              "detail": detail})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: ("NOT_FOUND", "未找到所请求的页面或资源"), 405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
                 413: ("PAYLOAD_TOO_LARGE", "上传内容过大")}
        code, msg = codes.get(exc.status_code, ("HTTP_ERROR", str(exc.detail)))
        return _error_response(request, exc.status_code, {"error": code, "message": msg, "detail": None})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error_response(request, 500, {"error": "INTERNAL_ERROR",
                                              "message": "服务器内部错误，已记录，请稍后重试或联系平台运维人员",
                                              "detail": None})


def _install_headers(app: FastAPI) -> None:
    from xinyidai.web.headers import SecurityHeaders

    app.add_middleware(SecurityHeaders, csp=CSP)
