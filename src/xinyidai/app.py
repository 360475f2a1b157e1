"""The node's web application: JSON API (OpenAPI at /docs) and Chinese pages, one error shape for both.

This is the top of the house: it assembles what the domains offer — their routers, their template filters,
their background chores, the navigation over all their pages — and is imported by nothing but the entry
points (`xinyidai serve` runs `asgi`, the tests call `create_app`)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from xinyidai import __version__
from xinyidai.access import api as access_api
from xinyidai.access import gauges as access_gauges
from xinyidai.access import runtime as access_runtime
from xinyidai.access.pages import bank as access_bank_pages
from xinyidai.access.pages import enterprise as access_enterprise_pages
from xinyidai.access.pages import staff as access_staff_pages
from xinyidai.accounts import pages as accounts_pages
from xinyidai.audit import gauges as audit_gauges
from xinyidai.audit import labels as audit_labels
from xinyidai.audit import pages as audit_pages
from xinyidai.catalog import api as catalog_api
from xinyidai.catalog import pages as catalog_pages
from xinyidai.catalog import values as catalog_values
from xinyidai.catalog.schema import load_catalog
from xinyidai.config import Settings, load_settings
from xinyidai.credit import api as credit_api
from xinyidai.credit import gauges as credit_gauges
from xinyidai.credit import pages as credit_pages
from xinyidai.credit import runtime as credit_runtime
from xinyidai.credit.pages import MAX_CSV as OUTCOMES_MAX_BYTES
from xinyidai.entities import api as entities_api
from xinyidai.entities import pages as entities_pages
from xinyidai.incidents import api as incidents_api
from xinyidai.incidents import pages as incidents_pages
from xinyidai.institutions import api as institutions_api
from xinyidai.institutions import pages as institutions_pages
from xinyidai.institutions.authentication import RequestAuthenticator
from xinyidai.institutions.request_auth import OPENAPI_DESCRIPTION
from xinyidai.kit import logs, throttle
from xinyidai.kit.attachments import MAX_BYTES as EVIDENCE_MAX_BYTES
from xinyidai.kit.db import Database
from xinyidai.kit.notify import make_notifier
from xinyidai.lists import api as lists_api
from xinyidai.lists import pages as lists_pages
from xinyidai.lists import runtime as lists_runtime
from xinyidai.lists.keyprojects import MAX_BYTES as KEYPROJECTS_MAX_BYTES
from xinyidai.market import api as market_api
from xinyidai.market import cases as market_cases
from xinyidai.market import runtime as market_runtime
from xinyidai.market.pages import bank as market_bank_pages
from xinyidai.market.pages import enterprise as market_enterprise_pages
from xinyidai.market.pages import feedback as market_feedback_pages
from xinyidai.market.pages import figures as market_figures_pages
from xinyidai.market.pages import staff as market_staff_pages
from xinyidai.network import api as network_api
from xinyidai.network import gauges as network_gauges
from xinyidai.network import pages as network_pages
from xinyidai.network import runtime as network_runtime
from xinyidai.network.envelope import MAX_ENVELOPE_BYTES
from xinyidai.network.runtime import RelayWorker
from xinyidai.oversight import api as oversight_api
from xinyidai.oversight import runtime as oversight_runtime
from xinyidai.oversight.pages import banks as oversight_bank_pages
from xinyidai.oversight.pages import ranking as oversight_ranking_pages
from xinyidai.oversight.pages import reports as oversight_report_pages
from xinyidai.oversight.pages import tasks as oversight_task_pages
from xinyidai.policy import api as policy_api
from xinyidai.policy.evidence import MAX_BYTES as POLICY_EVIDENCE_MAX_BYTES
from xinyidai.policy.pages import bank as policy_bank_pages
from xinyidai.policy.pages import enterprise as policy_enterprise_pages
from xinyidai.policy.pages import figures as policy_figures_pages
from xinyidai.policy.pages import office as policy_office_pages
from xinyidai.quality import runtime as quality_runtime
from xinyidai.quality.pages import monitoring as quality_monitoring_pages
from xinyidai.quality.pages import sources as quality_source_pages
from xinyidai.quality.pages import tickets as quality_ticket_pages
from xinyidai.records import api as records_api
from xinyidai.records import gauges as records_gauges
from xinyidai.records import pages as records_pages
from xinyidai.records.loading import mark_interrupted
from xinyidai.records.runtime import watch_deliveries
from xinyidai.reports import api as reports_api
from xinyidai.reports import pages as reports_pages
from xinyidai.reports.pages import MAX_PDF_UPLOAD
from xinyidai.reports.render import TEMPLATE_FILTERS as REPORT_FILTERS
from xinyidai.rights import runtime as rights_runtime
from xinyidai.rights.evidence import MAX_FILES as EVIDENCE_MAX_FILES
from xinyidai.rights.migration import MAX_FILE_BYTES as MIGRATION_MAX_BYTES
from xinyidai.rights.pages import migration as rights_migration_pages
from xinyidai.rights.pages import objections as rights_objection_pages
from xinyidai.rights.pages import repair as rights_repair_pages
from xinyidai.rights.pages import selfreport as rights_selfreport_pages
from xinyidai.web import health, metrics
from xinyidai.web.deps import Node
from xinyidai.web.errors import ERROR_RESPONSES, install_handlers
from xinyidai.web.headers import SecurityHeaders
from xinyidai.web.limits import BodyLimits, BodyRule
from xinyidai.web.request_context import RequestContext
from xinyidai.web.templating import NavEntry, make_templates

log = logging.getLogger(__name__)

STATIC = resources.files("xinyidai.web") / "static"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")

# Navigation by role: a link is shown only to roles its page admits (the route enforces it regardless).
NAV: list[NavEntry] = [
    ("/", "数据概览", {"operator", "regulator", "security"}),
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
    ("/my/objections", "我的异议", {"enterprise"}),
    ("/my/repairs", "信用修复", {"enterprise"}),
    ("/my/commitments", "信用承诺", {"enterprise"}),
    ("/my/selfreport", "自报信息", {"enterprise"}),
    ("/market", "融资产品", {"enterprise"}),
    ("/my/financing", "我的融资", {"enterprise"}),
    ("/bank", "授权企业", {"bank"}),
    ("/bank/whitelists", "白名单", {"bank"}),
    ("/bank/products", "产品管理", {"bank"}),
    ("/bank/applications", "申请队列", {"bank"}),
    ("/bank/demands", "融资需求", {"bank"}),
    ("/bank/alerts", "贷后预警", {"bank"}),
    ("/bank/feedback", "反馈文件", {"bank"}),
    ("/bank/processors", "数据处理受托方", {"bank"}),
    ("/market/staff", "融资服务", {"operator", "regulator"}),
    ("/access/audit", "访问日志", {"operator", "security", "regulator"}),
    ("/access/alerts", "异常告警", {"operator", "security", "regulator"}),
    ("/audit", "审计日志", {"security", "operator"}),
    ("/incidents", "安全事件", {"security", "operator", "regulator"}),
    ("/network", "节点网络", {"operator", "security", "regulator"}),
    ("/quality", "数据质量", {"operator", "regulator"}),
    ("/quality/sources", "数据来源", {"operator"}),
    ("/quality/tickets", "整改工单", {"operator", "regulator", "department"}),
    ("/department", "本部门报送", {"department"}),
    ("/rights/objections", "异议处理", {"operator", "regulator"}),
    ("/rights/repairs", "信用修复审核", {"operator", "regulator"}),
    ("/rights/commitments", "信用承诺", {"operator", "regulator"}),
    ("/rights/migrations", "旧站迁移", {"operator", "regulator"}),
    ("/department/objections", "异议核查", {"department"}),
    ("/market/figures", "融资统计", {"operator", "regulator"}),
    ("/policy", "政策项目", {"policy", "operator", "regulator"}),
    ("/policy/claims", "申领审核", {"policy"}),
    ("/bank/policy", "政策备案与申领", {"bank"}),
    ("/my/policies", "惠企政策", {"enterprise"}),
    ("/policy/figures", "政策资金统计", {"policy", "operator", "regulator"}),
    ("/oversight", "考核排名", {"regulator", "operator"}),
    ("/oversight/banks", "银行监测", {"regulator", "operator"}),
    ("/oversight/tasks", "督办事项", {"regulator", "operator"}),
    ("/oversight/reports", "进展报告", {"regulator", "operator"}),
]

# What Prometheus scrapes from the database: each module registers its reader in kit.metrics.COLLECTORS.
GAUGES = (records_gauges, network_gauges, access_gauges, audit_gauges, credit_gauges)

# Routes are matched in this order, router by router: the machine-facing hot paths — institutions'
# queries and verifications, peers' envelopes and receipts — come right after the health check.
ROUTERS = (health, metrics, access_api, network_api, catalog_api, catalog_pages, entities_api, entities_pages,
           records_api, records_pages, institutions_api, institutions_pages, accounts_pages,
           rights_migration_pages,  # before access: /my/authorizations/migrated is not an authorization number
           access_enterprise_pages, access_bank_pages, access_staff_pages, audit_pages, network_pages,
           credit_pages, credit_api, reports_pages, reports_api, lists_pages, lists_api, market_enterprise_pages,
           market_bank_pages, market_staff_pages, market_api, market_feedback_pages,
           market_figures_pages, policy_figures_pages, policy_office_pages, policy_bank_pages,
           policy_enterprise_pages, policy_api, incidents_pages, incidents_api, oversight_ranking_pages,
           oversight_bank_pages, oversight_task_pages, oversight_report_pages,
           oversight_api, quality_source_pages, quality_monitoring_pages, quality_ticket_pages,
           rights_objection_pages, rights_repair_pages, rights_selfreport_pages)


KB, MB = 1 << 10, 1 << 20
FORM_SLACK = 256 * KB  # a file upload's form fields and multipart headers around the file itself


def body_rules(settings: Settings) -> list[BodyRule]:
    """How large a body each route takes, first match by path prefix. Routes whose caller needs no log-in
    are `public`; every other route refuses a body from a request that names no one (see web/limits.py)."""
    upload = settings.max_upload_mb * MB + FORM_SLACK
    return [
        BodyRule("/api/v1/deliveries", upload),
        BodyRule("/upload", upload),
        BodyRule("/api/v1/network/inbox", MAX_ENVELOPE_BYTES, public=True,  # signed envelopes from peers
                 code="ENVELOPE_TOO_LARGE", what="报文"),
        BodyRule("/api/v1/network/receipts", 1 * MB, public=True),
        BodyRule("/api/v1/network/applications", 1 * MB, public=True),
        BodyRule("/api/v1/credit/reports/verify", 64 * KB, public=True),
        BodyRule("/reports/verify", MAX_PDF_UPLOAD + FORM_SLACK, public=True),  # a report's PDF, checked
        BodyRule("/keyprojects/import", KEYPROJECTS_MAX_BYTES + FORM_SLACK),
        BodyRule("/credit/outcomes", OUTCOMES_MAX_BYTES + FORM_SLACK),
        BodyRule("/bank/policy", POLICY_EVIDENCE_MAX_BYTES + FORM_SLACK),  # a claim's evidence (PDF or image)
        BodyRule("/oversight/indicators", 256 * KB + FORM_SLACK),  # an indicator system's YAML
        BodyRule("/login", 16 * KB, public=True),
        BodyRule("/register", 64 * KB, public=True),  # and /register/confirm
        BodyRule("/activate", 16 * KB, public=True),  # a migrated account's first log-in, and /activate/code
        BodyRule("/rights/migrations", MIGRATION_MAX_BYTES + FORM_SLACK),  # the old site's file
        # An objection's or a repair application's evidence: up to five files of at most 10 MB each.
        BodyRule("/my/objections", EVIDENCE_MAX_FILES * EVIDENCE_MAX_BYTES + FORM_SLACK),
        BodyRule("/my/repairs", EVIDENCE_MAX_FILES * EVIDENCE_MAX_BYTES + FORM_SLACK),
        BodyRule("/api/", 1 * MB),   # JSON requests: claims, grants, corrections
        BodyRule("/", 1 * MB),       # forms on the pages (an indicator system's YAML is the largest)
    ]


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    db = db or Database(settings.resolved_database_url)
    catalog = load_catalog(settings.catalog_path)
    app = FastAPI(title="xinyidai 信易贷节点接口", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=_lifespan, responses=ERROR_RESPONSES,
                  description="融资信用服务平台节点的数据接口。所有错误均以统一格式返回："
                              "`{\"error\": 代码, \"message\": 中文说明, \"detail\": …}`。\n"
                              + OPENAPI_DESCRIPTION)
    filters = {**catalog_values.template_filters(catalog), **audit_labels.template_filters(catalog),
               **REPORT_FILTERS}
    templates = make_templates(NAV, filters, {"item_text": catalog_values.item_text})
    app.state.node = Node(settings=settings, db=db, catalog=catalog, templates=templates,
                          executor=ThreadPoolExecutor(max_workers=2, thread_name_prefix="delivery"),
                          authenticator=RequestAuthenticator())
    market_cases.NOTIFIER["node"] = make_notifier(settings.notifier, settings.var_dir)  # 催告 by SMS
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    install_handlers(app)
    app.add_middleware(BodyLimits, rules=body_rules(settings),
                       carries_credentials=app.state.node.authenticator.carries_credentials)
    app.add_middleware(SecurityHeaders, csp=CSP)  # outermost: refusals of bodies carry the headers too
    for m in ROUTERS:
        app.include_router(m.router)
    metrics.install(app)  # /metrics registry + request middleware (outermost: body refusals are counted too)
    app.add_middleware(RequestContext)  # outermost of all: every request gets an id and one access event

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="xinyidai 接口文档",
                                   swagger_js_url="/static/vendor/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    return app


@dataclass
class Background:
    """What `start_background` started, for `stop_background` to end."""

    chores: list[asyncio.Task[None]]
    relay: RelayWorker


def start_background(app: FastAPI) -> Background:
    """The node's background work — the relay and the chores over the whole database (access housekeeping,
    stalled deliveries, evaluations, white lists, the market's clocks, connection deadlines, oversight, data
    governance's pulls, nightly rules and tickets, objections' clocks and broken commitments) — in
    the running event loop. One process per node should run it: each web process (`background = "inline"`)
    or the `xinyidai worker` (`"worker"`)."""
    chores = [asyncio.create_task(access_runtime.housekeeping(app)),
              asyncio.create_task(watch_deliveries(app)),
              asyncio.create_task(credit_runtime.chores(app)),
              asyncio.create_task(lists_runtime.chores(app)),
              asyncio.create_task(market_runtime.chores(app)),
              asyncio.create_task(network_runtime.deadline_chores(app)),
              asyncio.create_task(oversight_runtime.chores(app)),
              asyncio.create_task(quality_runtime.chores(app)),
              asyncio.create_task(rights_runtime.chores(app))]
    relay = RelayWorker(app, app.state.node.settings.network_interval_s)
    relay.start()
    return Background(chores, relay)


async def stop_background(work: Background) -> None:
    """Cancel the chores and stop the relay, giving its threads up to 10 s to end the step in hand (each step
    commits on its own, so one cut short loses nothing acknowledged)."""
    work.relay.stop()
    for task in work.chores:
        task.cancel()
    await asyncio.gather(*work.chores, return_exceptions=True)
    await asyncio.to_thread(work.relay.join, 10)


async def _warm_signer(app: FastAPI) -> None:
    """Unseal the node key before the first request needs it (the housekeeping chore does it when inline)."""
    try:
        await asyncio.to_thread(access_runtime.app_signer, app)
    except Exception:  # noqa: BLE001 - the first request that needs it reports the problem
        log.exception("could not load the node key at start-up")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    n: Node = app.state.node
    # Per web process whatever the mode: uploads load in this process's executor, so deliveries left
    # 'processing' at its start are the last run's (the worker does not load deliveries and must not fail
    # them when it restarts alone); refused log-ins are counted in this process's memory, so only it can
    # write their summaries.
    stale = mark_interrupted(n.db)
    if stale:
        log.warning("marked %d interrupted deliveries as failed", stale)
    local = [asyncio.create_task(throttle.flush_periodically(app.state, n.db))]
    if n.settings.background == "inline":
        work: Background | None = start_background(app)
    else:
        work = None
        local.append(asyncio.create_task(_warm_signer(app)))
        log.info("background = worker: the relay and chores run in `xinyidai worker`")
    yield
    if work is not None:
        await stop_background(work)
    for task in local:
        task.cancel()
    throttle.guards(app.state).flush(n.db, everything=True)  # refusals counted but not yet summed up
    n.executor.shutdown(wait=False, cancel_futures=True)


def run_worker() -> None:
    """`xinyidai worker`: the background work of `start_background` with no HTTP server, until SIGTERM or
    SIGINT; then it stops as the web process's lifespan would (the relay's threads joined)."""
    settings = load_settings()
    logs.configure(settings)  # as the web process logs (asgi)
    asyncio.run(_work(create_app(settings)))


async def _work(app: FastAPI) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    n: Node = app.state.node
    work = start_background(app)
    log.info("worker for node %s started: relay every %.1f s and the chores", n.settings.node_code,
             n.settings.network_interval_s)
    await stop.wait()
    log.info("worker stopping")
    await stop_background(work)
    n.executor.shutdown(wait=False, cancel_futures=True)
    n.db.dispose()
    log.info("worker stopped")


def asgi() -> FastAPI:
    """The entry point for uvicorn (`xinyidai serve`): settings from the environment, one app per worker."""
    settings = load_settings()
    logs.configure(settings)
    return create_app(settings)
