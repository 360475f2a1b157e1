"""Each HTTP request's id and its one access event in the operations log (kit.logs).

A pure ASGI middleware (as web/metrics.py's, for the same reason: no task or body copy per request), the
outermost one, so that requests refused before any route — a body too large, a caller naming no one — get
an id and an access event too. It

* takes the client's `X-Request-Id` when it is a plain token (`^[A-Za-z0-9._-]{8,64}$`) the log would show
  unmasked, else draws one, and answers it in the response header `X-Request-Id`. (The market's and policy
  APIs also read the client's header as an idempotency key; that use is theirs and untouched here.)
* binds it, for everything logged while the request runs, in kit.logs' context variable; web.deps names
  the principal there once it is known;
* logs one event per request on `xinyidai.access`: method, path without the query string (queries carry
  search terms and names), route template, status, duration and client address. Probes, /metrics and
  static files answered fine are logged at DEBUG, so a scraper does not fill the log.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from xinyidai.kit import logs
from xinyidai.web.metrics import route_template

log = logging.getLogger(logs.ACCESS_LOGGER)

HEADER = b"x-request-id"
CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
QUIET_PATHS = ("/livez", "/readyz", "/healthz", "/metrics")


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's id when it is well formed and carries nothing the log would mask, else a new one."""
    for name, value in headers:
        if name == HEADER:
            given = value.decode("latin-1")
            if CLIENT_ID.match(given) and logs.REDACTOR.redact(given) == given:
                return given
            break
    return logs.new_request_id()


class RequestContext:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        # Left bound when the request ends: the server's own report of an unhandled error comes after.
        bound = logs.begin_request(rid)
        state = scope.setdefault("state", {})  # request.state, where the authenticator puts the principal
        echo = (HEADER, rid.encode("ascii"))
        status = 500  # what the client gets when the app raises before it answers

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(name == HEADER for name, _ in headers):  # the 500 handler may have named it
                    message = {**message, "headers": [*headers, echo]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if bound.principal is None and state.get("principal") is not None:
                logs.set_principal(state["principal"])
            path = scope["path"]
            quiet = status < 400 and (path in QUIET_PATHS or path.startswith("/static/"))
            ms = round((time.perf_counter() - started) * 1000, 1)
            client = scope.get("client")
            log.log(logging.DEBUG if quiet else logging.INFO, "%s %s %d %.1fms", scope["method"], path, status,
                    ms, extra={"method": scope["method"], "path": path, "route": route_template(scope),
                               "status": status, "duration_ms": ms, "client": client[0] if client else None})
