"""What operators watch: GET /metrics for Prometheus, GET /livez and GET /readyz for the orchestrator.

* `/metrics` — the text exposition format of the application's own registry (`kit.metrics`). It is not
  public: a loopback client (a Prometheus or agent on the same host) is let in, anyone else must send
  `Authorization: Bearer <metrics_token>` (setting `metrics_token`, XINYIDAI_METRICS_TOKEN), compared in
  constant time and never logged; otherwise 403 `METRICS_FORBIDDEN`. With no token configured only loopback
  clients get in. Behind a reverse proxy on the same host every client looks like loopback unless the proxy's
  forwarded client address is trusted: keep /metrics off the proxy (nginx `location = /metrics { deny all; }`)
  or trust the forwarded address.
* `/livez` — the process answers; touches nothing else (no database), so a slow database never gets a live
  process restarted.
* `/readyz` — the node can serve: the database answers, its migrations are at the shipped head, and the
  node's key (when one is configured, var/keys/node.key) can be unsealed. 503 in the house error shape
  `NOT_READY` naming, in codes and Chinese, what is not ready.
* `RequestMetrics` — a pure ASGI middleware counting and timing every HTTP request by the template of the
  route that took it (never the raw path, which carries credit codes).

`/healthz` (web/health.py) stays as it is for the tests and node start-up.

`install(app)` wires all of it into an application whose `app.state.node` is set.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import time
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from xinyidai.kit import migrate
from xinyidai.kit.crypto.keystore import KEY_FILE
from xinyidai.kit.errors import Forbidden
from xinyidai.kit.metrics import UNMATCHED, NodeMetrics
from xinyidai.kit.node_key import node_identity

router = APIRouter()


class RequestMetrics:
    """Counts and times each HTTP request under its route template, method and status (pure ASGI: no
    task or body copy per request, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: Any, metrics: NodeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        status = 500  # what the client gets when the app raises before it answers

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(route_template(scope, root_path), scope["method"], status,
                                 time.perf_counter() - started)


def route_template(scope: dict[str, Any], root_path: str = "") -> str:
    """The path template of the route that took the request (FastAPI puts the route in the scope while
    routing); a mounted app (/static) by its mount point; anything else one `<unmatched>`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    mounted = scope.get("root_path", "")
    if mounted != root_path and mounted.startswith(root_path):
        return mounted[len(root_path):] + "/{path}"
    return UNMATCHED


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _token_matches(request: Request, expected: str) -> bool:
    if not expected:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    state = request.app.state
    if not (_is_loopback(request.client.host if request.client else None)
            or _token_matches(request, state.metrics_token)):
        raise Forbidden("指标接口仅限本机或持有指标令牌的监控系统访问", code="METRICS_FORBIDDEN")
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/livez", include_in_schema=False)
async def livez() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    n = request.app.state.node
    checks = [_database(n.db), _migrations(n.db, shipped_heads())]
    checks.append(_keys(n.settings.var_dir, n.settings.crypto_suite))
    failed = [c for c in checks if not c["ok"]]
    if not failed:
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse({"error": "NOT_READY", "message": "节点尚未就绪：" + "；".join(c["message"] for c in failed),
                         "detail": {"checks": checks}}, status_code=503, headers={"Cache-Control": "no-store"})


def _check(name: str, ok: bool, code: str | None = None, message: str = "") -> dict[str, Any]:
    return {"check": name, "ok": ok, "code": code, "message": message}


def _database(db: Any) -> dict[str, Any]:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return _check("database", False, "DATABASE_UNREACHABLE", f"数据库无法连接（{type(exc).__name__}）")
    return _check("database", True, message="数据库可连接")


def _migrations(db: Any, heads: frozenset[str]) -> dict[str, Any]:
    try:
        current = migrate.current_revision(db.engine)
    except Exception as exc:  # noqa: BLE001
        return _check("migrations", False, "MIGRATIONS_UNKNOWN", f"无法读取数据库迁移版本（{type(exc).__name__}）")
    if current is None:
        return _check("migrations", False, "MIGRATIONS_MISSING", "数据库尚未初始化（未执行迁移）")
    if current not in heads:
        return _check("migrations", False, "MIGRATIONS_BEHIND",
                      f"数据库迁移版本 {current} 不是最新版本 {'/'.join(sorted(heads))}，请先执行迁移")
    return _check("migrations", True, message=f"数据库迁移为最新版本 {current}")


def _keys(var_dir: Path, suite: str) -> dict[str, Any]:
    if not (Path(var_dir) / "keys" / KEY_FILE).exists():
        return _check("keys", True, message="未配置节点密钥")
    try:
        node_identity(var_dir, suite)  # unsealed once per process, then cached
    except Exception as exc:  # noqa: BLE001
        code = getattr(exc, "code", None) or "KEYS_UNAVAILABLE"
        return _check("keys", False, code, "节点密钥无法加载")
    return _check("keys", True, message="节点密钥已加载")


@functools.cache
def shipped_heads() -> frozenset[str]:
    """The head revision(s) of the migrations this code ships (read once per process: ~40 ms)."""
    return frozenset(ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads())


def install(app: FastAPI, *, token: str | None = None) -> NodeMetrics:
    """The metrics registry and the request middleware, on an app whose `state.node` is set; the three routes
    too unless the application already includes this module's `router` (put it first, beside the health
    check: routes are matched in order, and probes come often). `token` overrides the setting
    `metrics_token` (tests). Installed once: a second call only changes the token."""
    held = getattr(app.state, "metrics", None)
    if held is not None:
        if token is not None:
            app.state.metrics_token = token
        return held
    n = app.state.node
    node_metrics = NodeMetrics(n.db)
    app.state.metrics = node_metrics
    app.state.metrics_token = token if token is not None else getattr(n.settings, "metrics_token", "")
    app.add_middleware(RequestMetrics, metrics=node_metrics)
    if not any(getattr(r, "endpoint", None) is metrics or getattr(r, "original_router", None) is router
               for r in app.router.routes):  # FastAPI keeps an included router whole, as `original_router`
        app.include_router(router)
    return node_metrics
