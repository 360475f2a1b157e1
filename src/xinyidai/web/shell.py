"""The shell: log-in and log-out, the overview with charts, the health probe, the audit log."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from xinyidai.entities import accounts
from xinyidai.entities import service as entities_service
from xinyidai.entities.accounts import Principal
from xinyidai.entities.people import names_of
from xinyidai.kit import audit
from xinyidai.kit.errors import DomainError, Forbidden
from xinyidai.kit.node_key import verify_signature
from xinyidai.kit.pagination import PageRequest, paginate
from xinyidai.records import service as records_service
from xinyidai.records.models import DELIVERY_STATUSES
from xinyidai.web.app import render
from xinyidai.web.deps import LOGIN_CSRF_COOKIE, SESSION_COOKIE, db_session, node, require

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz(s: Session = Depends(db_session, scope="function")) -> JSONResponse:
    s.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok"})


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after log-in is a phishing aid."""
    if not target:
        return "/"
    u = urlparse(target)
    if u.scheme or u.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002
    token = secrets.token_urlsafe(24)
    resp = render(request, "auth/login.html", login_csrf=token, next=_safe_next(next), error=None)
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=1800)
    return resp


@router.post("/login", include_in_schema=False)
def login(request: Request, username: str = Form(""), password: str = Form(""), csrf_token: str = Form(""),
          next: str = Form("/"), s: Session = Depends(db_session, scope="function")) -> Response:  # noqa: A002
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        raise Forbidden("登录页面已过期，请刷新后重试", code="CSRF_FAILED")
    n = node(request)
    try:
        token, ls, _user = accounts.authenticate(s, username, password, n.settings.session_ttl_minutes,
                                                 request.headers.get("user-agent"))
    except DomainError as exc:
        s.commit()  # keep the failed-attempt count and its audit entry
        fresh = secrets.token_urlsafe(24)
        resp = render(request, "auth/login.html", status_code=401, login_csrf=fresh, next=_safe_next(next),
                      error=exc.message, username=username)
        resp.set_cookie(LOGIN_CSRF_COOKIE, fresh, httponly=True, samesite="strict", max_age=1800)
        return resp
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                    max_age=n.settings.session_ttl_minutes * 60)
    resp.delete_cookie(LOGIN_CSRF_COOKIE)
    return resp


@router.post("/logout", include_in_schema=False)
def logout(request: Request, _p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> Response:
    accounts.logout(s, request.cookies.get(SESSION_COOKIE))
    audit.record(s, _p.username, "logout", f"user:{_p.username}")
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


def overview_stats(request: Request, s: Session) -> dict[str, Any]:
    catalog = node(request).catalog
    by_region = entities_service.counts_by_region(s)
    by_cat = records_service.counts_by_category(s)
    by_status = records_service.deliveries_by_status(s)
    return {
        "entities": sum(n for _, _, n in by_region),
        "records": sum(by_cat.values()),
        "deliveries": sum(by_status.values()),
        "by_region": [{"code": c, "name": name, "count": n} for c, name, n in by_region],
        "by_category": [{"code": c.code, "name": c.name, "count": by_cat.get(c.code, 0)}
                        for c in catalog.categories],
        "by_provider": [{"name": p, "count": n} for p, n in records_service.counts_by_provider(s, 10)],
        "by_kind": [{"name": k, "count": n} for k, n in entities_service.counts_by_kind(s)],
        "deliveries_by_status": [{"status": k, "name": DELIVERY_STATUSES.get(k, k), "count": n}
                                 for k, n in sorted(by_status.items())],
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def overview(request: Request, p: Principal = Depends(require()), s: Session = Depends(db_session, scope="function")) -> Response:
    stats = overview_stats(request, s)
    recent = records_service.list_deliveries(s, PageRequest(1, 8, "id", True)).items
    return render(request, "overview.html", stats=stats, recent=recent)


@router.get("/api/v1/stats/overview", tags=["统计"], summary="数据概览：主体、记录、交付批次的分布")
def overview_api(request: Request, p: Principal = Depends(require()),
                 s: Session = Depends(db_session, scope="function")) -> dict[str, Any]:
    return overview_stats(request, s)


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request, page: int = 1, action: str = "", verify: bool = False,
               p: Principal = Depends(require("security", "operator")), s: Session = Depends(db_session, scope="function")) -> Response:
    stmt = select(audit.AuditEvent)
    if action:
        stmt = stmt.where(audit.AuditEvent.action.like(f"{action.replace('%', '')[:40]}%"))
    result = paginate(s, stmt, PageRequest(page, 50, "id", True), {"id": audit.AuditEvent.id}, "id")
    chain = audit.verify_chain(s, verify_signature) if verify else None
    return render(request, "kit/audit.html", page=result, action=action, chain=chain,
                  people=names_of(s, {e.actor for e in result.items}))
