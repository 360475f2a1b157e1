"""Request-scoped dependencies: the node's state, a database session, the acting principal, CSRF.

Deny by default: every route names the roles it admits through `require(...)` — or, on the institutions'
hot query routes, `caller(...)`, which makes the same checks in the worker thread that then does the work
(see `Caller`); an unauthenticated page request is redirected to the log-in page, an API request gets 401
in the common error shape.

Who sent a request is the `Authenticator`'s answer, which the application factory puts on the node: the
shell knows no accounts or credentials (those domains sit above it), only how to ask. An `/api/` request
may authenticate with an institution's API key or signed headers instead of a session cookie. Such
requests skip the CSRF check — a browser cannot attach these headers to a cross-site request, and they
carry no cookie authority — while cookie sessions keep it.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from xinyidai.config import Settings
from xinyidai.kit import logs
from xinyidai.kit.db import Database
from xinyidai.kit.errors import DomainError, Forbidden, Unauthenticated
from xinyidai.kit.principal import Principal

if TYPE_CHECKING:
    from xinyidai.catalog.schema import Catalog

SESSION_COOKIE = "xyd_session"
LOGIN_CSRF_COOKIE = "xyd_login_csrf"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequired(DomainError):
    """Raised for pages: the handler turns it into a redirect to /login."""

    code = "UNAUTHENTICATED"
    status = 401
    message = "请先登录"


class Authenticator(Protocol):
    """Who sent a request. Asked in a worker thread with the request's own session; sets what it learns on
    `request.state` (principal, csrf_token for a cookie session, header_auth and auth_method)."""

    def carries_credentials(self, headers: Mapping[str, str]) -> bool:
        """The request names an institution's credential (API key or signature headers)."""
        ...

    def is_signed(self, headers: Mapping[str, str]) -> bool:
        """The request carries a signature over its raw body."""
        ...

    def resolve(self, request: Request, s: Session, body: bytes | None, *, same_thread: bool) -> Principal | None:
        """The acting principal, or None for an anonymous request; raises a DomainError on a refusal."""
        ...


@dataclass
class Node:
    settings: Settings
    db: Database
    catalog: Catalog
    templates: Any
    executor: Any
    authenticator: Authenticator


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


async def _signed_body(request: Request) -> bytes | None:
    """The raw body a signed API request's signature covers (read on the event loop, where it arrives)."""
    if not (is_api(request) and node(request).authenticator.is_signed(request.headers)):
        return None
    try:
        return await request.body()
    except RuntimeError:  # a form body was already parsed: a signature over it cannot be checked
        return None


async def _principal(request: Request, s: Session) -> Principal | None:
    if hasattr(request.state, "principal"):
        return request.state.principal
    body = await _signed_body(request)
    # The database work runs in a worker thread, never on the event loop: a query waiting for a lock there
    # would stall every request, including the ones whose commit would release that lock.
    p = await run_in_threadpool(node(request).authenticator.resolve, request, s, body, same_thread=False)
    logs.set_principal(p)  # the operations log names who acts (kit.logs), from here to the access event
    return p


async def optional_principal(request: Request,
                             s: Session = Depends(db_session, scope="function")) -> Principal | None:
    return await _principal(request, s)


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting only the named roles (all logged-in users when none are named)."""

    async def dep(request: Request, s: Session = Depends(db_session, scope="function")) -> Principal:
        p = _admit(request, await _principal(request, s), roles)
        if _needs_csrf(request):
            check_csrf(request, await _form_csrf_token(request))
        return p

    dep.admits = roles  # type: ignore[attr-defined]  # see admit_before_validation
    return dep


def _admit(request: Request, p: Principal | None, roles: tuple[str, ...]) -> Principal:
    if p is None:
        raise Unauthenticated() if is_api(request) else LoginRequired()
    if roles and p.role not in roles:
        raise Forbidden(f"当前角色（{p.role_label}）无权访问此功能", code="ROLE_FORBIDDEN")
    return p


def _needs_csrf(request: Request) -> bool:
    return request.method in UNSAFE and not getattr(request.state, "header_auth", False)


async def _form_csrf_token(request: Request) -> str | None:
    if not request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    form = await request.form()  # Starlette caches it; the handler's Form() fields reuse it
    value = form.get("csrf_token")
    return value if isinstance(value, str) else None


T = TypeVar("T")


# The institutions' API calls run their units of work on a few threads of their own. They are short and
# CPU-bound under the GIL (and on SQLite they queue for one writer): 64 concurrent calls spread over the
# request pool's 40 threads spent their time handing the GIL around — 4 threads served about a tenth more
# calls per second. It also keeps a burst of API traffic from taking every thread the pages need.
_API_WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="api")


@dataclass
class Caller:
    """An API call whose caller is resolved, and whose unit of work runs, in one worker thread.

    The institutions' query routes answer every loan decision. Through `require(...)` and
    `db_session` they cost two thread hand-offs (the principal, then the sync route) and an async
    session dependency on the event loop; together about a fifth of a profile request under load.
    `await caller.run(work)` opens a session, authenticates, admits the roles, checks CSRF for a cookie
    session, runs `work(principal, session)`, then commits what is left and closes the session, all in
    one worker thread. Deny by default holds: `work` is never called unless the caller is admitted."""

    request: Request
    roles: tuple[str, ...]
    body: bytes | None
    form_token: str | None

    async def run(self, work: Callable[[Principal, Session], T]) -> T:
        # In a copy of the request's context: what the work logs carries the request id (kit.logs).
        return await asyncio.get_running_loop().run_in_executor(_API_WORKERS, contextvars.copy_context().run,
                                                                self._unit_of_work, work)

    def _unit_of_work(self, work: Callable[[Principal, Session], T]) -> T:
        request = self.request
        s = node(request).db.sessions()
        try:
            p = request.state.principal if hasattr(request.state, "principal") else \
                node(request).authenticator.resolve(request, s, self.body, same_thread=True)
            logs.set_principal(p)
            p = _admit(request, p, self.roles)
            if _needs_csrf(request):
                check_csrf(request, self.form_token)
            result = work(p, s)
            if s.in_transaction():
                s.commit()
            return result
        except BaseException:
            if s.in_transaction():
                s.rollback()
            raise
        finally:
            s.close()


def caller(*roles: str) -> Callable[..., Any]:
    """A dependency giving the route a `Caller` for the named roles (see `Caller`); for JSON API routes."""

    async def dep(request: Request) -> Caller:
        # What needs the event loop is read here, before the worker thread: the raw body a signature
        # covers and, for a cookie session posting a form, the form's CSRF token.
        body = await _signed_body(request)
        header_auth = is_api(request) and node(request).authenticator.carries_credentials(request.headers)
        form_token = await _form_csrf_token(request) if request.method in UNSAFE and not header_auth else None
        return Caller(request, roles, body, form_token)

    dep.admits = roles  # type: ignore[attr-defined]
    return dep


def _admitted_roles(dependant: Any) -> tuple[str, ...] | None:
    """The roles a route's `require(...)` or `caller(...)` names (empty: any logged-in user); None when the
    route takes anyone."""
    for sub in getattr(dependant, "dependencies", ()):
        roles = getattr(sub.call, "admits", None)
        if roles is None:
            roles = _admitted_roles(sub)
        if roles is not None:
            return roles
    return None


async def admit_before_validation(request: Request) -> None:
    """Authenticate and admit a request that is being refused for its input before its route did so.

    FastAPI parses a JSON body before any dependency runs, and validates the body only after the
    dependencies — but a `Caller` authenticates later still, in its worker thread. Without this a caller
    with no valid credential would learn how its input failed before being told who it is not. Raises what
    the route would have: LoginRequired or Unauthenticated, Forbidden, or the credential's own refusal."""
    roles = _admitted_roles(getattr(request.scope.get("route"), "dependant", None))
    if roles is None:
        return
    if not hasattr(request.state, "principal"):
        body = await _signed_body(request)  # cached: the route read it before failing
        n = node(request)

        def resolve() -> Principal | None:
            with n.db.session() as s:
                return n.authenticator.resolve(request, s, body, same_thread=True)

        await run_in_threadpool(resolve)
    _admit(request, request.state.principal, roles)


def check_csrf(request: Request, form_token: str | None = None) -> None:
    expected = getattr(request.state, "csrf_token", None)
    given = form_token or request.headers.get("x-csrf-token")
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise Forbidden("页面已过期或请求来源不可信（CSRF 校验失败），请刷新页面后重试", code="CSRF_FAILED")
