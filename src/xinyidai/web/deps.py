"""Request-scoped dependencies: the node's state, a database session, the acting principal, CSRF.

Deny by default: every route names the roles it admits through `require(...)`; an unauthenticated page
request is redirected to the log-in page, an API request gets 401 in the common error shape.

An `/api/` request may instead authenticate with an institution's API key or signed headers (see
`entities.request_auth`). Such requests skip the CSRF check — a browser cannot attach these headers to a
cross-site request, and they carry no cookie authority — while cookie sessions keep it. A bank user's
session, and every institution credential, is refused while the institution is suspended or revoked and
counts against its per-minute rate limit.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog
from xinyidai.config import Settings
from xinyidai.entities import accounts, request_auth
from xinyidai.entities.accounts import Principal
from xinyidai.entities.request_auth import RateLimiter
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError, Forbidden, Unauthenticated

SESSION_COOKIE = "xyd_session"
LOGIN_CSRF_COOKIE = "xyd_login_csrf"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequired(DomainError):
    """Raised for pages: the handler turns it into a redirect to /login."""

    code = "UNAUTHENTICATED"
    status = 401
    message = "请先登录"


@dataclass
class Node:
    settings: Settings
    db: Database
    catalog: Catalog
    templates: Any
    executor: Any
    rate_limiter: RateLimiter = field(default_factory=RateLimiter)


def node(request: Request) -> Node:
    return request.app.state.node


# Sessions that still hold a connection when their request ends are committed or rolled back here, not in
# the request thread pool: a finish queued behind requests that wait for a pooled connection — held by
# sessions waiting to finish — would never run, and the pool would stall until its timeout.
_finisher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="db-finish")


async def db_session(request: Request) -> AsyncIterator[Session]:
    """A unit of work per request. Declare it as Depends(db_session, scope="function"): FastAPI then commits
    before the response is sent, so a browser following a redirect after a write (log-in!) sees the write.

    An async generator, so that opening the session (no I/O until the first statement) and closing one that
    holds no transaction — routes that commit their own unit of work — stay on the event loop instead of
    costing two thread hand-offs per request."""
    s = request.app.state.node.db.sessions()
    loop = asyncio.get_running_loop()
    try:
        yield s
        if s.in_transaction():
            await loop.run_in_executor(_finisher, s.commit)
    except BaseException:
        if s.in_transaction():
            await loop.run_in_executor(_finisher, s.rollback)
        raise
    finally:
        if s.in_transaction():
            await loop.run_in_executor(_finisher, s.close)
        else:
            s.close()


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _principal(request: Request, s: Session) -> Principal | None:
    if hasattr(request.state, "principal"):
        return request.state.principal
    body: bytes | None = None
    if is_api(request) and request_auth.carries_credentials(request.headers):
        try:
            body = await request.body()
        except RuntimeError:  # a form body was already parsed: a signature over it cannot be checked
            body = None
    # The database work runs in a worker thread, never on the event loop: a query waiting for a lock there
    # would stall every request, including the ones whose commit would release that lock.
    return await run_in_threadpool(_resolve_principal, request, s, body)


def _resolve_principal(request: Request, s: Session, body: bytes | None) -> Principal | None:
    limiter = node(request).rate_limiter
    if is_api(request) and request_auth.carries_credentials(request.headers):
        try:
            principal = request_auth.authenticate(
                s, headers=request.headers, method=request.method, path=request.url.path,
                query=request.url.query, body=body, client=_client(request), limiter=limiter)
        except DomainError:
            s.commit()  # keep the refusal's audit entry
            raise
        s.commit()  # release what authentication wrote (nonce, last use) before the handler runs
        request.state.principal = principal
        request.state.header_auth = True
        request.state.auth_method = "api_key" if request.headers.get(request_auth.H_API_KEY) else "signature"
        return principal
    token = request.cookies.get(SESSION_COOKIE)
    found = accounts.resolve(s, token)
    principal = None
    if found is not None:
        ls, user = found
        principal = accounts.principal_of(user)
        request.state.csrf_token = ls.csrf_token
        request.state.auth_method = "session"
        try:
            request_auth.check_bank_user(s, principal, limiter, method=request.method, path=request.url.path,
                                         client=_client(request))
        except DomainError:
            s.commit()
            raise
    if s.dirty or s.new or s.deleted:
        s.commit()
    request.state.principal = principal
    return principal


async def optional_principal(request: Request,
                             s: Session = Depends(db_session, scope="function")) -> Principal | None:
    return await _principal(request, s)


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting only the named roles (all logged-in users when none are named)."""

    async def dep(request: Request, s: Session = Depends(db_session, scope="function")) -> Principal:
        p = await _principal(request, s)
        if p is None:
            raise Unauthenticated() if is_api(request) else LoginRequired()
        if roles and p.role not in roles:
            raise Forbidden(f"当前角色（{p.role_label}）无权访问此功能", code="ROLE_FORBIDDEN")
        if request.method in UNSAFE and not getattr(request.state, "header_auth", False):
            form_token = None
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await request.form()  # Starlette caches it; the handler's Form() fields reuse it
                value = form.get("csrf_token")
                form_token = value if isinstance(value, str) else None
            check_csrf(request, form_token)
        return p

    return dep


def check_csrf(request: Request, form_token: str | None = None) -> None:
    expected = getattr(request.state, "csrf_token", None)
    given = form_token or request.headers.get("x-csrf-token")
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise Forbidden("页面已过期或请求来源不可信（CSRF 校验失败），请刷新页面后重试", code="CSRF_FAILED")
