"""Request-scoped dependencies: the node's state, a database session, the acting principal, CSRF.

Deny by default: every route names the roles it admits through `require(...)`; an unauthenticated page
request is redirected to the log-in page, an API request gets 401 in the common error shape.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from xinyidai.catalog.schema import Catalog
from xinyidai.config import Settings
from xinyidai.entities import accounts
from xinyidai.entities.accounts import Principal
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


def node(request: Request) -> Node:
    return request.app.state.node


def db_session(request: Request) -> Iterator[Session]:
    """A unit of work per request. Declare it as Depends(db_session, scope="function"): FastAPI then commits
    before the response is sent, so a browser following a redirect after a write (log-in!) sees the write."""
    with request.app.state.node.db.session() as s:
        yield s


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _principal(request: Request, s: Session) -> Principal | None:
    if hasattr(request.state, "principal"):
        return request.state.principal
    token = request.cookies.get(SESSION_COOKIE)
    found = accounts.resolve(s, token)
    principal = None
    if found is not None:
        ls, user = found
        principal = accounts.principal_of(user)
        request.state.csrf_token = ls.csrf_token
    request.state.principal = principal
    return principal


def optional_principal(request: Request, s: Session = Depends(db_session, scope="function")) -> Principal | None:
    return _principal(request, s)


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting only the named roles (all logged-in users when none are named)."""

    async def dep(request: Request, s: Session = Depends(db_session, scope="function")) -> Principal:
        p = _principal(request, s)
        if p is None:
            raise Unauthenticated() if is_api(request) else LoginRequired()
        if roles and p.role not in roles:
            raise Forbidden(f"当前角色（{p.role_label}）无权访问此功能", code="ROLE_FORBIDDEN")
        if request.method in UNSAFE:
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
